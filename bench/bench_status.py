#!/usr/bin/env python3
"""Status latency and idle cost (issue 3, "Benchmarks"). Prints figures; asserts nothing about time.

* daemon event -> Snapshot signal: a state change pushed by the fakes (fake `mullvad` CLI and fake
  LocalAPI) until the in-process Monitor emits `snapshot_changed` with it;
* netlink link change -> Snapshot signal: `ip link set tailscale0 up|down` while the fake tailscaled's
  status changed silently (no bus message): the watcher's hint makes the Tailscale source re-read;
* the same two, until the matching line of a `watch --json` subprocess arrives;
* CPU seconds and RSS of an idle `watch` with both daemons up.

Runs as root in a private network namespace (re-executes itself under `unshare -n`), so `ip link`
never touches the host. Usage: sudo .venv/bin/python bench/bench_status.py [--events 200] [--idle-seconds 60]
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PAUSE_S = 0.30  # longer than the Tailscale source's 250 ms debounce: every event is a fresh burst


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def report(name: str, ms: list[float]) -> None:
    if not ms:
        print(f"{name:52s} no samples")
        return
    print(
        f"{name:52s} n={len(ms):3d}  p50 {statistics.median(ms):7.2f} ms  p95 {pct(ms, 95):7.2f} ms"
        f"  max {max(ms):7.2f} ms",
        flush=True,
    )


def in_fresh_netns() -> bool:
    names = [n for _i, n in socket.if_nameindex()]
    return names == ["lo"]


# -- the fakes ------------------------------------------------------------------------------------------


class Fakes:
    """The fake tailscaled (in-process threads) and the fake mullvad CLI (a script with a control file)."""

    def __init__(self, workdir: Path) -> None:
        from tests.fakes.fake_localapi import FakeLocalApi
        from tests.fakes.fake_mullvad import FakeMullvad

        self.ts_sock = str(workdir / "ts.sock")
        self.tailscale = FakeLocalApi(self.ts_sock, "running").start()
        self.mullvad = FakeMullvad(workdir / "mullvad", state="connected")
        self.mullvad_cli = str(self.mullvad.cli)

    def tailscale_event(self, running: bool) -> None:
        self.tailscale.set_status("running" if running else "stopped")
        self.tailscale.push_state(6 if running else 4)

    def tailscale_silent(self, running: bool) -> None:
        self.tailscale.set_status("running" if running else "stopped")

    def mullvad_event(self, connected: bool) -> None:
        self.mullvad.set_state("connected" if connected else "disconnected")

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "MTT_MULLVAD_CLI": self.mullvad_cli,
            "MTT_TAILSCALE_SOCKET": self.ts_sock,
            "MTT_TAILSCALE_CLI": "/nonexistent/tailscale",
        }

    def stop(self) -> None:
        self.tailscale.stop()


# -- in-process: Monitor -------------------------------------------------------------------------------


class InProcess:
    def __init__(self, fakes: Fakes, workdir: Path) -> None:
        from PyQt6.QtCore import QCoreApplication

        from tray_app.monitor import Monitor
        from tray_app.rootside.bypass_run import HelperCommand

        self.app = QCoreApplication.instance() or QCoreApplication(["bench"])
        helper = HelperCommand(
            helper="tray_app.helper",
            use_pkexec=False,
            prefix=("env", f"MTT_STATE_DIR={workdir / 'state'}", sys.executable, "-m"),
        )
        self.monitor = Monitor.create(fakes.mullvad_cli, fakes.ts_sock, None, helper=helper)
        self.last: Any = None
        self.arrived: float = 0.0
        self.monitor.snapshot_changed.connect(self._on_snapshot)
        self.monitor.start()
        self.spin_until(lambda: self.monitor.is_ready, 15)

    def _on_snapshot(self, snap: Any) -> None:
        self.last = snap
        self.arrived = time.perf_counter()

    def spin(self, seconds: float) -> None:
        from PyQt6.QtCore import QEventLoop, QTimer

        loop = QEventLoop()
        QTimer.singleShot(int(seconds * 1000), loop.quit)
        loop.exec()

    def spin_until(self, pred: Callable[[], bool], timeout: float) -> None:
        from PyQt6.QtCore import QEventLoop, QTimer

        if pred():
            return
        loop = QEventLoop()
        ok = [False]

        def check(*_: object) -> None:
            if pred():
                ok[0] = True
                loop.quit()

        self.monitor.snapshot_changed.connect(check)
        self.monitor.ready.connect(check)
        QTimer.singleShot(int(timeout * 1000), loop.quit)
        loop.exec()
        self.monitor.snapshot_changed.disconnect(check)
        self.monitor.ready.disconnect(check)
        if not ok[0] and not pred():
            raise TimeoutError("no matching snapshot")

    def measure(
        self, n: int, trigger: Callable[[int], None], matches: Callable[[Any, int], bool]
    ) -> list[float]:
        out = []
        for i in range(n):
            t0 = time.perf_counter()
            trigger(i)
            self.spin_until(lambda i=i: self.last is not None and matches(self.last, i), 5)
            out.append((self.arrived - t0) * 1000)
            self.spin(PAUSE_S)
        return out

    def stop(self) -> None:
        self.monitor.stop()


# -- subprocess: watch --json ------------------------------------------------------------------------


class Watch:
    def __init__(self, fakes: Fakes) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tray_app", "watch", "--json"],
            cwd=str(ROOT),
            env=fakes.env(),
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[tuple[float, dict[str, Any]]] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        self.first = self.next(20)

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put((time.perf_counter(), json.loads(line)))

    def next(self, timeout: float) -> dict[str, Any]:
        return self.lines.get(timeout=timeout)[1]

    def measure(
        self, n: int, trigger: Callable[[int], None], matches: Callable[[dict[str, Any], int], bool]
    ) -> list[float]:
        out = []
        for i in range(n):
            t0 = time.perf_counter()
            trigger(i)
            while True:
                t, obj = self.lines.get(timeout=5)
                if matches(obj, i):
                    break
            out.append((t - t0) * 1000)
            time.sleep(PAUSE_S)
        return out

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_kib(self) -> tuple[int, int]:
        vals = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                vals[key] = int(rest.split()[0])
        return vals["VmRSS"], vals["VmHWM"]

    def stop(self) -> int:
        self.proc.terminate()
        return self.proc.wait(10)


# -- main ---------------------------------------------------------------------------------------------


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True)


def ip_async(*args: str) -> None:
    # not waited for here: the Qt loop must keep running while `ip` does its work
    threading.Thread(target=subprocess.run, args=(["ip", *args],), kwargs={"check": True}).start()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=200, help="events per measurement (default 200)")
    parser.add_argument("--idle-seconds", type=float, default=60, help="idle `watch` window (default 60)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench_status needs root (a private network namespace for `ip link`)", file=sys.stderr)
        return 2
    if not in_fresh_netns():
        return subprocess.call(["unshare", "-n", sys.executable, *sys.argv])
    ip("link", "set", "lo", "up")
    ip("link", "add", "tailscale0", "type", "veth", "peer", "name", "tailscale0-p")
    ip("link", "set", "tailscale0", "up")

    workdir = Path(tempfile.mkdtemp(prefix="mtt-bench-", dir="/tmp"))
    fakes = Fakes(workdir)
    n = args.events + args.events % 2  # even: every row ends where it started (up, connected, running)
    print(f"bench_status: {n} events per row, pause {PAUSE_S * 1000:.0f} ms between events", flush=True)
    try:
        inproc = InProcess(fakes, workdir)
        report(
            "Tailscale bus event -> Snapshot signal",
            inproc.measure(
                n,
                lambda i: fakes.tailscale_event(i % 2 == 1),
                lambda s, i: (s.tailscale.state == "running") == (i % 2 == 1),
            ),
        )
        report(
            "Mullvad event -> Snapshot signal",
            inproc.measure(
                n,
                lambda i: fakes.mullvad_event(i % 2 == 1),
                lambda s, i: (s.mullvad.state == "connected") == (i % 2 == 1),
            ),
        )

        def link_flip(i: int) -> None:
            fakes.tailscale_silent(i % 2 == 1)
            ip_async("link", "set", "tailscale0", "up" if i % 2 else "down")

        report(
            "netlink link change -> Snapshot signal",
            inproc.measure(n, link_flip, lambda s, i: (s.tailscale.state == "running") == (i % 2 == 1)),
        )
        inproc.stop()
        fakes.tailscale_event(True)
        fakes.mullvad_event(True)
        ip("link", "set", "tailscale0", "up")

        watch = Watch(fakes)
        report(
            "Tailscale bus event -> `watch --json` line",
            watch.measure(
                n,
                lambda i: fakes.tailscale_event(i % 2 == 1),
                lambda o, i: (o["tailscale"]["state"] == "running") == (i % 2 == 1),
            ),
        )
        report(
            "Mullvad event -> `watch --json` line",
            watch.measure(
                n,
                lambda i: fakes.mullvad_event(i % 2 == 1),
                lambda o, i: (o["mullvad"]["state"] == "connected") == (i % 2 == 1),
            ),
        )

        def link_flip_w(i: int) -> None:
            fakes.tailscale_silent(i % 2 == 1)
            ip_async("link", "set", "tailscale0", "up" if i % 2 == 1 else "down")

        report(
            "netlink link change -> `watch --json` line",
            watch.measure(
                n, link_flip_w, lambda o, i: (o["tailscale"]["state"] == "running") == (i % 2 == 1)
            ),
        )
        fakes.tailscale_event(True)
        fakes.mullvad_event(True)
        time.sleep(1.0)  # let the last debounce and bypass reads finish
        cpu0, t0 = watch.cpu_seconds(), time.monotonic()
        time.sleep(args.idle_seconds)
        cpu1, t1 = watch.cpu_seconds(), time.monotonic()
        rss, hwm = watch.rss_kib()
        print(
            f"idle `watch` (both daemons up): {cpu1 - cpu0:.3f} CPU s over {t1 - t0:.1f} s"
            f" ({(cpu1 - cpu0) / (t1 - t0) * 100:.3f} % of a core); RSS {rss / 1024:.1f} MiB (peak {hwm / 1024:.1f} MiB)",
            flush=True,
        )
        rc = watch.stop()
        print(f"`watch` exit code after SIGTERM: {rc}")
    finally:
        fakes.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
