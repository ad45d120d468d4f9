"""The scope an operator declares: hosts and units a remediation may touch."""

import pytest

from poundcake.scope import DENIED_UNITS, OutOfScope, St2Host, host_in_scope, unit_in_scope

ADDRESSES = {"st2-box": ["10.9.8.7"], "alias-of-st2": ["10.9.8.7"], "web-1": ["10.1.0.5"]}


def st2_host():
    return St2Host(
        names=("st2-box", "st2-box.example.com"),
        resolve=lambda name: ADDRESSES.get(name, ()),
    )


def allowed(instance, *patterns):
    return host_in_scope(instance, {"allowed_hosts": list(patterns)}, st2_host())


def test_a_fresh_install_allows_no_host_and_says_what_to_add():
    with pytest.raises(OutOfScope, match="allows no host yet .*allowed_hosts"):
        allowed("web-1:9100")


@pytest.mark.parametrize(
    "instance, patterns",
    [
        ("web-1:9100", ["web-*"]),
        ("WEB-1.example.com.:9256", ["web-*.example.com"]),
        ("10.1.0.5:9100", ["10.1.0.0/16"]),
        ("[2001:db8::5]:9100", ["2001:db8::/32"]),
        ("db-3", ["web-*", "db-3"]),
    ],
)
def test_globs_cidrs_and_names_admit_their_hosts(instance, patterns):
    assert allowed(instance, *patterns)


@pytest.mark.parametrize("instance", ["web-1", "10.2.0.5:9100", "db-1.example.com"])
def test_hosts_outside_the_patterns_are_refused(instance):
    with pytest.raises(OutOfScope, match="not in allowed_hosts"):
        allowed(instance, "web-9*", "10.1.0.0/16", "*.example.org")


@pytest.mark.parametrize(
    "instance",
    [
        "localhost:9100",
        "LOCALHOST.:9100",
        "127.0.0.1:9100",
        "127.3.4.5",
        "[::1]:9100",
        "::1",
        "[::ffff:127.0.0.1]:9100",
        "st2-box:9100",
        "st2-box.example.com",
        "10.9.8.7:9100",
        "alias-of-st2",
        "ip6-localhost",
    ],
)
def test_the_st2_host_is_refused_under_every_name_and_address_a_glob_or_cidr_reaches(instance):
    with pytest.raises(OutOfScope, match="st2 host itself"):
        allowed(instance, "*", "0.0.0.0/0", "::/0")


def test_the_st2_host_is_allowed_only_by_exactly_its_name():
    assert allowed("localhost:9100", "localhost") == "localhost"
    with pytest.raises(OutOfScope, match="st2 host itself"):
        allowed("127.0.0.1:9100", "localhost")
    assert allowed("[::1]:9100", "::1") == "::1"


@pytest.mark.parametrize(
    "name, unit",
    [
        ("nginx", "nginx.service"),
        ("nginx.service", "nginx.service"),
        ("php7.4-fpm", "php7.4-fpm.service"),
    ],
)
def test_a_plain_name_means_its_service(name, unit):
    assert unit_in_scope(name) == unit


@pytest.mark.parametrize(
    "name", ["reboot.target", "data.mount", "docker.socket", "fstrim.timer", "user.slice"]
)
def test_only_service_units_are_in_scope(name):
    with pytest.raises(OutOfScope, match="not a .service unit"):
        unit_in_scope(name)


@pytest.mark.parametrize(
    "name",
    [
        "sshd",
        "ssh.service",
        "systemd-networkd",
        "systemd-journald.service",
        "dbus",
        "networking",
        "NetworkManager",
        "getty@tty1",
        "serial-getty@ttyS0.service",
        "user@1000.service",
        "st2api",
        "st2actionrunner.service",
        "mongod",
        "rabbitmq-server",
        "redis-server",
        "reboot",
        "poweroff.service",
    ],
)
def test_the_built_in_deny_list_holds_whatever_the_config_allows(name):
    with pytest.raises(OutOfScope, match="deny-list"):
        unit_in_scope(name, [name])


def test_the_deny_list_names_the_units_the_issue_requires():
    for pattern in ("ssh", "sshd", "systemd-*", "dbus", "networking", "getty@*", "st2*", "user@*"):
        assert pattern in DENIED_UNITS


@pytest.mark.parametrize("value", ["rescue\n", "sshd\n", "nginx\nreboot", "nginx\r"])
def test_a_trailing_newline_never_slips_past_the_patterns(value):
    with pytest.raises(OutOfScope.__mro__[1]):  # TargetRejected
        unit_in_scope(value)


@pytest.mark.parametrize("instance", ["0.0.0.0:9100", "[::]:9100", "2130706433", "127.1"])
def test_every_spelling_of_this_machine_is_the_st2_host(instance):
    here = St2Host(names=("st2-box",), addresses=("192.0.2.2",))
    with pytest.raises(OutOfScope, match="st2 host itself"):
        host_in_scope(instance, {"allowed_hosts": ["*", "0.0.0.0/0", "::/0"]}, here)


def test_the_st2_hosts_interface_address_is_refused_though_no_name_resolves_to_it():
    here = St2Host(names=("st2-box",), addresses=("192.0.2.2",), resolve=lambda name: ())
    with pytest.raises(OutOfScope, match="st2 host itself"):
        host_in_scope("192.0.2.2:9100", {"allowed_hosts": ["192.0.2.0/24"]}, here)
    with pytest.raises(OutOfScope, match="st2 host itself"):
        host_in_scope("[::ffff:192.0.2.2]:9100", {"allowed_hosts": ["*"]}, here)
