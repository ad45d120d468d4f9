"""Validation of the values remediation commands act on."""

import pytest

from poundcake.targets import (
    TargetRejected,
    absolute_path,
    cleanup_targets,
    host_from_instance,
    service_name,
    validate,
)

HOSTILE = [
    "nginx; touch /tmp/pwned",
    "$(reboot)",
    "`reboot`",
    "nginx && rm -rf /",
    "nginx|sh",
    "nginx\nreboot",
    "-rf",
    "../../etc/passwd",
    "nginx > /etc/passwd",
    "a b",
    "",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_service_names_are_rejected(value):
    with pytest.raises(TargetRejected):
        service_name(value)


@pytest.mark.parametrize("value", HOSTILE + ["web-1:99999999", "-web", "web..1", "web_1"])
def test_hostile_hosts_are_rejected(value):
    with pytest.raises(TargetRejected):
        host_from_instance(value)


@pytest.mark.parametrize(
    "instance, host",
    [("web-1:9100", "web-1"), ("db.example.com", "db.example.com"), ("10.0.0.7:9100", "10.0.0.7")],
)
def test_instance_label_yields_its_host(instance, host):
    assert host_from_instance(instance) == host


@pytest.mark.parametrize("value", ["/var/../etc", "relative/path", "/tmp/$(x)", "/a b", "/a;b"])
def test_unsafe_paths_are_rejected(value):
    with pytest.raises(TargetRejected):
        absolute_path(value)


def test_paths_are_normalised_without_trailing_slash():
    assert absolute_path("/var/log/") == "/var/log"
    assert absolute_path("/") == "/"


def test_allowed_services_restricts_restarts():
    assert service_name("nginx", ["nginx"]) == "nginx"
    with pytest.raises(TargetRejected, match="allowed_services"):
        service_name("sshd", ["nginx"])


def test_cleanup_targets_refuse_broad_or_bad_entries():
    assert cleanup_targets([{"path": "/var/log/app", "older_than_days": 3}])[0].older_than_days == 3
    for bad in ([{"path": "/"}], [{"path": "/etc"}], [{"path": "/x", "older_than_days": 0}], ["x"]):
        with pytest.raises(TargetRejected):
            cleanup_targets(bad)


def test_process_restart_needs_service_and_severity():
    config = {"restart_severities": ["critical"]}
    labels = {"service": "nginx", "severity": "critical"}
    assert validate("process", "h", labels, config)["restart"] is True
    assert validate("process", "h", {**labels, "severity": "warning"}, config)["restart"] is False
    assert validate("process", "h", {"severity": "critical"}, config) == {
        "host": "h",
        "restart": False,
        "service": "",
    }


def test_disk_target_carries_only_validated_values():
    config = {"disk_cleanup_paths": [{"path": "/var/log/app/", "older_than_days": 14}]}
    target = validate("disk", "web-1:9100", {"mountpoint": "/var"}, config)
    assert target == {
        "host": "web-1",
        "mountpoint": "/var",
        "journal_vacuum_size": "500M",
        "cleanup": [{"path": "/var/log/app", "older_than_days": 14}],
    }
    with pytest.raises(TargetRejected, match="journal_vacuum_size"):
        validate("disk", "h", {}, {"journal_vacuum_size": "1G; reboot"})


def test_labels_must_be_strings_and_kind_known():
    with pytest.raises(TargetRejected):
        validate("service", "h", {"service": 1}, {})
    with pytest.raises(TargetRejected, match="unknown target kind"):
        validate("reboot", "h", {}, {})
