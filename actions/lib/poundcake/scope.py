"""The scope an operator declared: which hosts and units a remediation may touch.

Checked at the one door every remediation the pack starts goes through
(``record_alert``/``admit_remediation`` inside ``process_alert``, before
``remediate`` is requested), for the shipped workflows and an operator's own
alike. Beyond the scope, default-deny:

- a host is allowed only when ``allowed_hosts`` lists it (glob patterns such
  as ``web-*.example.com``, or CIDRs such as ``10.1.0.0/16``); a fresh
  install remediates nothing;
- the st2 host itself (``localhost``, 127.0.0.0/8, ``::1``, its own names and
  addresses) is refused unless ``allowed_hosts`` lists it by exactly the
  name the alert uses: no glob or CIDR ever reaches it;
- a unit is a ``.service`` (a plain name means ``<name>.service``), never one
  on :data:`DENIED_UNITS`, and one of ``allowed_services`` when that is set.

A host is *normalized* (lowercase, no port, no trailing dot) so that the
per-host concurrency policy sees one machine as one key, whatever port or
case its alert's ``instance`` label carries.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
import socket
from typing import Any, Callable, FrozenSet, Iterable, List, Mapping, Optional, Sequence, Set

# host[:port], [v6]:port, or a bare IPv6 address (no shell metacharacter in any).
_INSTANCE = re.compile(
    r"^(?:\[(?P<v6>[0-9A-Fa-f:.]{2,45})\]|(?P<name>[A-Za-z0-9.-]{1,254}))(?::(?P<port>[0-9]{1,5}))?\Z"
)
_NUMERIC = re.compile(r"^(?:0x[0-9a-f]+|[0-9]+)(?:\.(?:0x[0-9a-f]+|[0-9]+)){0,3}\Z")
_BARE_V6 = re.compile(r"^[0-9A-Fa-f:.]{2,45}\Z")
HOST = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9-]{1,63})*\Z")
UNIT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@:-]{0,240}\Z")
UNIT_SUFFIXES = (
    ".service",
    ".socket",
    ".target",
    ".mount",
    ".automount",
    ".swap",
    ".timer",
    ".path",
    ".slice",
    ".scope",
    ".device",
)
# Units that keep a machine reachable and st2 running: no label and no config
# entry makes them a remediation's target (matched on the name without
# ``.service``, case-insensitively).
DENIED_UNITS = (
    "ssh",
    "sshd",
    "ssh@*",
    "sshd@*",
    "systemd-*",
    "dbus",
    "dbus-*",
    "dbus.*",
    "networking",
    "network",
    "network-*",
    "networkmanager",
    "networkmanager-*",
    "wpa_supplicant",
    "getty@*",
    "serial-getty@*",
    "container-getty@*",
    "console-getty",
    "autovt@*",
    "user@*",
    "user-runtime-dir@*",
    "init",
    "emergency",
    "rescue",
    "reboot",
    "poweroff",
    "halt",
    "kexec",
    "shutdown",
    "polkit",
    "st2*",
    "mongod",
    "mongodb",
    "rabbitmq-server",
    "redis-server",
    "redis",
    "redis-server@*",
)
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


class TargetRejected(ValueError):
    """An alert value failed validation; nothing may run on it."""


class OutOfScope(TargetRejected):
    """A remediation would touch what the operator did not allow; nothing runs."""


def normalize_host(instance: Any) -> str:
    """The machine an ``instance`` label names: lowercase, no port, no trailing dot."""
    if not isinstance(instance, str):
        raise TargetRejected(f"host {instance!r} is not a string")
    if _BARE_V6.match(instance) and instance.count(":") >= 2:
        return _v6(instance, instance)
    match = _INSTANCE.match(instance)
    if not match:
        raise TargetRejected(
            f"host {instance!r} is not a hostname or IP address (optionally with :port)"
        )
    if match.group("v6"):
        return _v6(match.group("v6"), instance)
    host = match.group("name").lower().rstrip(".")
    if not host or not HOST.match(host) or ".." in host:
        raise TargetRejected(f"host {instance!r} is not a hostname or IP address")
    return _dotted_quad(host) or host


def _dotted_quad(host: str) -> Optional[str]:
    """The canonical form of an IPv4 address spelt as libc also reads it
    (``127.1``, ``2130706433``, ``0x7f.0.0.1``), so that no spelling gets
    past a CIDR, the st2-host check or the per-host policy; None for a name."""
    if not _NUMERIC.match(host):
        return None
    try:
        return socket.inet_ntoa(socket.inet_aton(host))
    except OSError:
        return None


def _v6(text: str, instance: str) -> str:
    try:
        return str(ipaddress.IPv6Address(text))
    except ValueError:
        raise TargetRejected(f"host {instance!r} is not a valid IPv6 address") from None


class St2Host:
    """What names and addresses the machine running st2 answers to.

    ``resolve`` maps a name to its addresses (``socket.getaddrinfo`` by
    default; tests pass their own), so a label naming an alias of this
    machine is caught too.
    """

    def __init__(
        self,
        names: Iterable[str] = (),
        addresses: Iterable[str] = (),
        resolve: Optional[Callable[[str], Sequence[str]]] = None,
    ) -> None:
        self._resolve = resolve or _resolve
        self.names: Set[str] = {n.lower().rstrip(".") for n in names if n} | set(LOOPBACK_NAMES)
        self.addresses: Set[ipaddress._BaseAddress] = set()
        for address in addresses:
            self._add_address(address)
        for name in list(self.names):
            for address in self._resolve(name):
                self._add_address(address)

    @classmethod
    def here(cls) -> St2Host:
        """This machine: its host name, FQDN, what they resolve to, and the
        addresses of its interfaces (a name may not resolve to them)."""
        return cls(names=(socket.gethostname(), socket.getfqdn()), addresses=local_addresses())

    def _add_address(self, address: str) -> None:
        try:
            self.addresses.add(ipaddress.ip_address(address.split("%", 1)[0]))
        except ValueError:
            pass

    def is_me(self, host: str) -> bool:
        """Whether ``host`` (normalized) is this machine, by name, address or resolution."""
        if host in self.names:
            return True
        candidates = [host] if _is_address(host) else list(self._resolve(host))
        for text in candidates:
            try:
                address = ipaddress.ip_address(text.split("%", 1)[0])
            except ValueError:
                continue
            mapped = getattr(address, "ipv4_mapped", None)
            for candidate in (address, mapped) if mapped else (address,):
                # 0.0.0.0 and :: reach this machine too
                if candidate.is_loopback or candidate.is_unspecified or candidate in self.addresses:
                    return True
        return False


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def local_addresses() -> List[str]:
    """The addresses of this machine's interfaces, read from Linux's /proc
    (IPv4: the LOCAL entries of fib_trie; IPv6: if_inet6); none elsewhere."""
    found: List[str] = []
    try:
        with open("/proc/net/fib_trie") as fp:
            lines = fp.read().splitlines()
        for previous, line in zip(lines, lines[1:]):
            if "/32 host LOCAL" in line:
                found.append(previous.split()[-1])
    except OSError:
        pass
    try:
        with open("/proc/net/if_inet6") as fp:
            for line in fp:
                raw = line.split()[0]
                found.append(":".join(raw[i : i + 4] for i in range(0, 32, 4)))
    except (OSError, IndexError):
        pass
    return found


def _resolve(name: str) -> Sequence[str]:
    try:
        infos = socket.getaddrinfo(name, None)
    except (OSError, UnicodeError):
        return ()
    return sorted({info[4][0] for info in infos})


def host_in_scope(instance: Any, config: Mapping[str, Any], st2_host: St2Host) -> str:
    """The normalized host of ``instance`` if ``allowed_hosts`` admits it.

    Raises :class:`OutOfScope` (or :class:`TargetRejected` for a malformed value).
    """
    host = normalize_host(instance)
    patterns = [p for p in config.get("allowed_hosts") or () if isinstance(p, str)]
    if not patterns:
        raise OutOfScope(
            f"host {host} is not in allowed_hosts: the pack config allows no host yet "
            '(add e.g. allowed_hosts: ["web-*.example.com", "10.1.0.0/16"])'
        )
    exact = {p.lower().rstrip(".") for p in patterns}
    if host in exact:
        return host
    if st2_host.is_me(host):
        raise OutOfScope(
            f"host {host} is the st2 host itself: refused unless allowed_hosts lists "
            f"exactly {host!r}"
        )
    if any(_matches(host, p) for p in patterns):
        return host
    raise OutOfScope(f"host {host} is not in allowed_hosts")


def _matches(host: str, pattern: str) -> bool:
    pattern = pattern.strip().lower().rstrip(".")
    if "/" in pattern:
        try:
            network = ipaddress.ip_network(pattern, strict=False)
            return _is_address(host) and ipaddress.ip_address(host) in network
        except ValueError:
            return False
    return fnmatch.fnmatchcase(host, pattern)


def unit_in_scope(value: Any, allowed: Sequence[str] = ()) -> str:
    """The ``.service`` unit a label names, if the scope admits it."""
    if not isinstance(value, str) or not UNIT.match(value):
        raise TargetRejected(
            f"service {value!r} is not a valid unit name (letters, digits and _ . @ : - only)"
        )
    unit = _as_service(value)
    if unit is None:
        raise OutOfScope(f"unit {value!r} is not a .service unit: only services are restarted")
    base = unit[: -len(".service")].lower()
    denied = next((p for p in DENIED_UNITS if fnmatch.fnmatchcase(base, p)), None)
    if denied:
        raise OutOfScope(
            f"unit {unit} is on the built-in deny-list ({denied}): it keeps machines "
            "reachable or st2 running, and no label or config entry makes it a target"
        )
    if allowed and unit not in _allowed_units(allowed):
        raise OutOfScope(f"unit {unit} is not in the config's allowed_services")
    return unit


def _as_service(name: str) -> Optional[str]:
    for suffix in UNIT_SUFFIXES:
        if name.endswith(suffix):
            return name if suffix == ".service" else None
    return name + ".service"


def _allowed_units(allowed: Sequence[str]) -> FrozenSet[str]:
    return frozenset(u for u in (_as_service(a) for a in allowed if isinstance(a, str)) if u)
