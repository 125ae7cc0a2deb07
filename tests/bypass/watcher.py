"""Run the reconciler (`python -m tray_app.helper watch`) in a test namespace the way its unit does: root with
only CAP_NET_ADMIN and no new privileges (setpriv), readiness over a NOTIFY_SOCKET the test listens on."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tests.infra.netns import NetNS

BOOT_PRIVS = ("setpriv", "--bounding-set=-all,+net_admin", "--inh-caps=-all", "--no-new-privs")
STATUS_FILE = "bypass-status.json"
SUMMARY = re.compile(
    r"(\d+) event batches, (\d+) checks, (\d+) applies, (\d+) repairs, (\d+) forged messages ignored"
)


def wait_for(what: str, cond: Callable[[], bool], timeout: float = 5.0, step: float = 0.005) -> float:
    """Seconds until `cond()` held; AssertionError naming `what` after `timeout`."""
    t0 = time.monotonic()
    while True:
        if cond():
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(step)


class Watcher:
    """`ns` is a NetNS or the name of an existing namespace (the replica's host)."""

    def __init__(
        self, ns: NetNS | str, env: dict[str, str], run_dir: Path, privs: tuple[str, ...] = BOOT_PRIVS
    ) -> None:
        self.ns = ns if isinstance(ns, NetNS) else None
        prefix = ["ip", "netns", "exec", ns if isinstance(ns, str) else ns.name]
        self.run_dir = run_dir
        self.notify_path = run_dir.parent / f"notify-{os.getpid()}-{time.monotonic_ns()}.sock"
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(str(self.notify_path))
        self.notify.settimeout(30)
        self._err_path = run_dir.parent / f"watch-{time.monotonic_ns()}.err"
        self._err = self._err_path.open("w")
        env = {**env, "MTT_RUN_DIR": str(run_dir), "NOTIFY_SOCKET": str(self.notify_path)}
        self.proc = subprocess.Popen(
            [*prefix, *privs, sys.executable, "-m", "tray_app.helper", "watch"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self._err,  # a file: a pipe nobody reads would block a chatty reconciler
        )
        self.summary: tuple[int, ...] | None = None
        self.stderr = ""

    def ready(self) -> str:
        """The first sd_notify datagram (READY=1 once the saved choice is applied)."""
        data = self.notify.recv(4096).decode()
        assert "READY=1" in data, data
        return data

    @property
    def status_path(self) -> Path:
        return self.run_dir / STATUS_FILE

    def published(self) -> dict[str, Any] | None:
        try:
            out: dict[str, Any] = json.loads(self.status_path.read_text())
        except FileNotFoundError:
            return None
        return out

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        finally:
            self._close()
        m = SUMMARY.search(self.stderr)
        self.summary = tuple(int(g) for g in m.groups()) if m else None
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._close()

    def _close(self) -> None:
        self.notify.close()
        self.notify_path.unlink(missing_ok=True)
        if not self._err.closed:
            self._err.close()
            self.stderr = self._err_path.read_text()
            self._err_path.unlink(missing_ok=True)

    def socket_ports(self) -> dict[int, int]:
        """Netlink protocol -> port id of the reconciler's sockets (/proc/net/netlink inside the namespace)."""
        inodes = set()
        for fd in Path(f"/proc/{self._helper_pid()}/fd").iterdir():
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
        assert self.ns is not None
        table = self.ns.run("cat", "/proc/net/netlink").stdout.splitlines()[1:]
        return {int(cols[1]): int(cols[2]) for cols in (ln.split() for ln in table) if cols[-1] in inodes}

    def _helper_pid(self) -> int:
        # `ip netns exec` execs setpriv, which execs python: the Popen pid is the helper's.
        return self.proc.pid


@contextlib.contextmanager
def watching(ns: NetNS | str, env: dict[str, str]) -> Iterator[Watcher]:
    """A reconciler that is ready (READY=1 received), with its run directory in a temporary directory every
    user can traverse; killed and cleaned up afterwards."""
    d = Path(tempfile.mkdtemp(prefix="mtt-watch-"))
    d.chmod(0o755)
    (d / "run").mkdir(mode=0o755)
    w = Watcher(ns, env, d / "run")
    try:
        w.ready()
        yield w
    finally:
        w.kill()
        shutil.rmtree(d, ignore_errors=True)
