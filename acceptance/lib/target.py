"""The remediation target: a host reached over SSH whose systemd is a shim.

``core.remote`` and ``core.remote_sudo`` log in as the pack's ``ssh_user``
and run ``systemctl``/``journalctl`` by name: PATH for an SSH command and
sudo's ``secure_path`` both put ``/usr/local/bin`` before ``/usr/bin``, so
shims installed there answer instead of systemd. Each shim appends every
call (argv and uid) to a JSON-lines log and keeps unit state in files, so a
test can set a unit down, make its restart fail or take time, and afterwards
prove exactly what ran, and as whom.

The suite runs on the target host itself (the st2 kit's loopback sshd, or a
throwaway host named by ``ACCEPTANCE_TARGET_HOST`` that this machine is), as
root: it installs the shims, and removes them at the end. Never point it at
a host whose systemctl matters.

A unit is a state file or, with ``process_unit``, a real process: ``start``
and ``restart`` spawn its command in a session of its own and keep its pid,
``stop`` ends it, and the unit is active while that pid lives. The demo kills
one to start an outage that Prometheus sees and the pack's restart ends.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from typing import Dict, List, Optional

SHIM_MARK = "poundcake-acceptance-shim"

SHIM = r"""#!/usr/bin/env python3
# {mark}: records each call; keeps unit state in files or runs a unit's process (never systemd)
import json, os, subprocess, sys, time
STATE = {state!r}
name = os.path.basename(sys.argv[0])
args = sys.argv[1:]
with open(os.path.join(STATE, "calls.jsonl"), "a") as log:
    call = {{"tool": name, "args": args, "uid": os.getuid(), "at": time.time()}}
    log.write(json.dumps(call) + "\n")
if name == "journalctl":
    print("Vacuuming done, freed 0B of archived journals.")
    sys.exit(0)
words = [a for a in args if not a.startswith("-")]
verb, units = (words[0], words[1:]) if words else ("", [])
unit = units[0] if units else ""
if unit.endswith(".service"):  # the pack names units in full; state files are plain names
    unit = unit[: -len(".service")]
path = os.path.join(STATE, "units", unit)
def pid():
    # the unit's process while it lives (a zombie is dead), else None
    try:
        with open(path + ".pid") as fp:
            number = int(fp.read())
        with open(f"/proc/{{number}}/stat") as fp:
            alive = fp.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, ValueError, IndexError):
        return None
    return number if alive else None
def state():
    if os.path.exists(path + ".exec"):  # a real process: active while it lives
        if pid():
            return "active"
        return "failed" if os.path.exists(path + ".pid") else "inactive"
    try:
        with open(path) as fp:
            return fp.read().strip()
    except OSError:
        return None
def set_state(value):
    with open(path, "w") as fp:
        fp.write(value)
def stop():
    number = pid()
    if number:
        os.kill(number, 15)
        for _ in range(50):
            if not pid():
                break
            time.sleep(0.1)
    if os.path.exists(path + ".pid"):
        os.remove(path + ".pid")
def spawn():
    with open(path + ".exec") as fp:
        argv = json.load(fp)
    with open(path + ".log", "ab") as out:
        child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=subprocess.STDOUT, start_new_session=True)
    with open(path + ".pid", "w") as fp:
        fp.write(str(child.pid))
    time.sleep(0.3)
    if child.poll() is not None:
        print(f"Job for {{unit}}.service failed: exit {{child.returncode}}.", file=sys.stderr)
        sys.exit(1)
now = state()
if os.path.exists(path + ".exec") and verb in ("start", "stop", "restart"):
    if verb != "start":
        stop()
    if verb != "stop" and not pid():
        spawn()
    sys.exit(0)
if verb == "status":
    print(f"* {{unit}}.service\n     Active: {{now or 'inactive (dead)'}}")
    sys.exit(0 if now == "active" else 3)
if verb == "is-active":
    if "--quiet" not in args:
        print(now or "inactive")
    sys.exit(0 if now == "active" else 3)
if verb == "restart":
    if now is None:
        print(f"Failed to restart {{unit}}: Unit {{unit}}.service not found.", file=sys.stderr)
        sys.exit(5)
    try:
        with open(path + ".restart") as fp:
            how = fp.read().strip()
    except OSError:
        how = "ok"
    if how.startswith("slow:"):
        time.sleep(float(how.split(":", 1)[1]))
    if how == "fail":
        set_state("failed")
        print(f"Job for {{unit}}.service failed.", file=sys.stderr)
        sys.exit(1)
    set_state("active")
    sys.exit(0)
print(f"shim: unsupported systemctl {{args}}", file=sys.stderr)
sys.exit(2)
"""


class Target:
    def __init__(self, host: str, ssh_user: str, shim_dir: str, work_dir: str) -> None:
        self.host = host
        self.ssh_user = ssh_user
        self.shim_dir = shim_dir
        self.work_dir = work_dir
        self.state_dir = os.path.join(work_dir, "systemd")
        self.disk_dir = os.path.join(work_dir, "disk")

    # ----------------------------------------------------------- set-up
    def install(self) -> None:
        if os.getuid() != 0:
            raise RuntimeError(
                "the acceptance suite installs systemctl/journalctl shims: run it as root"
            )
        os.makedirs(os.path.join(self.state_dir, "units"), exist_ok=True)
        for path in (self.work_dir, self.state_dir, os.path.join(self.state_dir, "units")):
            os.chmod(path, 0o777)  # the shim runs as ssh_user and, under sudo, as root
        log = os.path.join(self.state_dir, "calls.jsonl")
        open(log, "a").close()
        os.chmod(log, 0o666)
        for tool in ("systemctl", "journalctl"):
            path = os.path.join(self.shim_dir, tool)
            if os.path.exists(path) and SHIM_MARK not in open(path, errors="replace").read():
                raise RuntimeError(
                    f"{path} exists and is not the suite's shim: refusing to replace it"
                )
            with open(path, "w") as fp:
                fp.write(SHIM.format(mark=SHIM_MARK, state=self.state_dir))
            os.chmod(path, 0o755)

    def uninstall(self) -> None:
        for tool in ("systemctl", "journalctl"):
            path = os.path.join(self.shim_dir, tool)
            if os.path.exists(path) and SHIM_MARK in open(path, errors="replace").read():
                os.remove(path)

    # ------------------------------------------------------------ units
    def unit(self, name: str, state: str = "failed", restart: str = "ok") -> None:
        """A unit in ``state`` whose restart is ``ok``, ``fail`` or ``slow:<seconds>``."""
        path = os.path.join(self.state_dir, "units", name)
        with open(path, "w") as fp:
            fp.write(state)
        with open(path + ".restart", "w") as fp:
            fp.write(restart)
        for p in (path, path + ".restart"):
            os.chmod(p, 0o666)

    def process_unit(self, name: str, argv: List[str]) -> None:
        """A unit backed by a real process running ``argv`` (as root when the
        pack's sudo restart starts it); its output goes to ``units/<name>.log``."""
        path = os.path.join(self.state_dir, "units", name)
        with open(path + ".exec", "w") as fp:
            json.dump(argv, fp)
        os.chmod(path + ".exec", 0o644)

    def systemctl(self, *args: str) -> subprocess.CompletedProcess:
        """Run the shim here, as the pack does over SSH (the call is logged too)."""
        tool = os.path.join(self.shim_dir, "systemctl")
        return subprocess.run([tool, *args], capture_output=True, text=True, timeout=30)

    def unit_pid(self, name: str) -> Optional[int]:
        try:
            with open(os.path.join(self.state_dir, "units", name + ".pid")) as fp:
                return int(fp.read())
        except (OSError, ValueError):
            return None

    def crash_unit(self, name: str) -> int:
        """SIGKILL a process unit's process, as a crash would; returns its pid."""
        pid = self.unit_pid(name)
        if pid is None:
            raise RuntimeError(f"{name} has no process to kill (start it first)")
        os.kill(pid, signal.SIGKILL)
        return pid

    def unit_state(self, name: str) -> Optional[str]:
        try:
            with open(os.path.join(self.state_dir, "units", name)) as fp:
                return fp.read().strip()
        except OSError:
            return None

    def calls(self, mentioning: str = "", since: float = 0) -> List[Dict]:
        """Shim calls after ``since`` whose arguments mention ``mentioning``."""
        with open(os.path.join(self.state_dir, "calls.jsonl")) as fp:
            calls = [json.loads(line) for line in fp if line.strip()]
        return [
            c
            for c in calls
            if c["at"] >= since and (not mentioning or any(mentioning in a for a in c["args"]))
        ]

    def call_count(self) -> int:
        return len(self.calls())

    # ------------------------------------------------------------- disk
    def disk_area(self, case: str, old_mb: int = 20, files: int = 3) -> Dict[str, str]:
        """A mountpoint-like folder: old and new files in the cleanup path, and
        an old file outside it that must survive."""
        root = os.path.join(self.disk_dir, case)
        cleanup, keep = os.path.join(root, "cleanup"), os.path.join(root, "keep")
        os.makedirs(cleanup, exist_ok=True)
        os.makedirs(keep, exist_ok=True)
        month_ago = time.time() - 30 * 86400
        chunk = b"\0" * (1 << 20)
        for i in range(files):
            self._file(os.path.join(cleanup, f"old-{i}.log"), chunk, old_mb, month_ago)
        self._file(os.path.join(cleanup, "new.log"), chunk, 1, None)
        self._file(os.path.join(keep, "old-elsewhere.log"), chunk, 1, month_ago)
        return {"root": root, "cleanup": cleanup, "keep": keep}

    @staticmethod
    def _file(path: str, chunk: bytes, mb: int, mtime: Optional[float]) -> None:
        with open(path, "wb") as fp:
            for _ in range(mb):
                fp.write(chunk)
        if mtime is not None:
            os.utime(path, (mtime, mtime))
