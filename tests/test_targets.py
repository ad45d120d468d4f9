"""Validation of the values remediation commands act on."""

import pytest

from poundcake.scope import St2Host, normalize_host, unit_in_scope
from poundcake.targets import TargetRejected, absolute_path, cleanup_targets, validate

ELSEWHERE = St2Host(names=("st2-box",), resolve=lambda name: ())
ANY_HOST = {"allowed_hosts": ["*"]}


def check(kind, host, labels, config):
    return validate(kind, host, labels, {**ANY_HOST, **config}, ELSEWHERE)


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
        unit_in_scope(value)


@pytest.mark.parametrize("value", HOSTILE + ["web-1:99999999", "-web", "web..1", "web_1"])
def test_hostile_hosts_are_rejected(value):
    with pytest.raises(TargetRejected):
        normalize_host(value)


@pytest.mark.parametrize(
    "instance, host",
    [
        ("web-1:9100", "web-1"),
        ("db.example.com", "db.example.com"),
        ("10.0.0.7:9100", "10.0.0.7"),
        ("Web-1.Example.COM.:9256", "web-1.example.com"),
        ("[::1]:9100", "::1"),
        ("[2001:DB8::0:1]:9100", "2001:db8::1"),
    ],
)
def test_instance_label_yields_its_normalized_host(instance, host):
    assert normalize_host(instance) == host


@pytest.mark.parametrize("value", ["/var/../etc", "relative/path", "/tmp/$(x)", "/a b", "/a;b"])
def test_unsafe_paths_are_rejected(value):
    with pytest.raises(TargetRejected):
        absolute_path(value)


def test_paths_are_normalised_without_trailing_slash():
    assert absolute_path("/var/log/") == "/var/log"
    assert absolute_path("/") == "/"


def test_allowed_services_restricts_restarts():
    assert unit_in_scope("nginx", ["nginx"]) == "nginx.service"
    assert unit_in_scope("nginx.service", ["nginx"]) == "nginx.service"
    with pytest.raises(TargetRejected, match="allowed_services"):
        unit_in_scope("postgresql", ["nginx"])


def test_cleanup_targets_refuse_broad_or_bad_entries():
    assert cleanup_targets([{"path": "/var/log/app", "older_than_days": 3}])[0].older_than_days == 3
    for bad in ([{"path": "/"}], [{"path": "/etc"}], [{"path": "/x", "older_than_days": 0}], ["x"]):
        with pytest.raises(TargetRejected):
            cleanup_targets(bad)


def test_process_restart_needs_service_and_severity():
    config = {"restart_severities": ["critical"]}
    labels = {"service": "nginx", "severity": "critical"}
    assert check("process", "h", labels, config)["restart"] is True
    assert check("process", "h", {**labels, "severity": "warning"}, config)["restart"] is False
    assert check("process", "h", {"severity": "critical"}, config) == {
        "host": "h",
        "restart": False,
        "service": "",
    }


def test_disk_target_carries_only_validated_values():
    config = {"disk_cleanup_paths": [{"path": "/var/log/app/", "older_than_days": 14}]}
    target = check("disk", "web-1:9100", {"mountpoint": "/var"}, config)
    assert target == {
        "host": "web-1",
        "mountpoint": "/var",
        "journal_vacuum_size": "500M",
        "cleanup": [{"path": "/var/log/app", "older_than_days": 14}],
        "diagnosis_timeout": 20,
    }
    with pytest.raises(TargetRejected, match="journal_vacuum_size"):
        check("disk", "h", {}, {"journal_vacuum_size": "1G; reboot"})


def test_labels_must_be_strings_and_kind_known():
    with pytest.raises(TargetRejected):
        check("service", "h", {"service": 1}, {})
    with pytest.raises(TargetRejected, match="unknown target kind"):
        check("reboot", "h", {}, {})


def test_the_host_goes_through_the_scope_again():
    with pytest.raises(TargetRejected, match="allowed_hosts"):
        validate("service", "web-1", {"service": "nginx"}, {}, ELSEWHERE)
    with pytest.raises(TargetRejected, match="st2 host"):
        check("service", "st2-box", {"service": "nginx"}, {})


def test_a_long_hostile_path_is_refused_at_once():
    import time

    started = time.monotonic()
    with pytest.raises(TargetRejected):
        absolute_path("/" + "a" * 5000 + "!")
    with pytest.raises(TargetRejected):
        absolute_path("/var\n")
    assert time.monotonic() - started < 0.5  # no backtracking blow-up
