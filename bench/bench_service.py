#!/usr/bin/env python3
"""The bypass service's cost (issue 13, "One bypass service"). Prints figures; asserts nothing about time.

The real helper of this checkout runs as root inside a private network namespace (tests/tray/bypass_lab.py:
`tailscale0`, table-52 routes, its own state directory), without pkexec and without a reconciler, so every
read is a helper process. Measured through `rootside.service.BypassService`, as the tray uses it:
* toggle -> state: `toggle(on)` until `state_changed` brings the new state, and the helper runs it took;
* a burst (a terminal's `bypass on`, 8 table-52 routes, then hints as a Mullvad reconnect sends them) -> the
  status runs it took, and the time from the burst's end to the state.

    sudo .venv/bin/python bench/bench_service.py [--runs 20]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def p95(values: list[float]) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(0.95 * (len(s) - 1)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20, help="toggles each way (default 20)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print(
            "bench_service: needs root (a private network namespace and nft): run it with sudo",
            file=sys.stderr,
        )
        return 2
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PyQt6.QtCore import QCoreApplication, QElapsedTimer, QEventLoop, QTimer

    from tests.infra.netns import NetNS
    from tests.tray.bypass_lab import BypassLab
    from tray_app.core.model import BypassState
    from tray_app.rootside.service import READ_DEBOUNCE_MS, BypassService

    app = QCoreApplication(sys.argv)
    ns = NetNS("mtt-bench")
    tmp = Path(tempfile.mkdtemp(prefix="mtt-bench-service-"))
    os.environ["MTT_STATUS_FILE"] = str(tmp / "run" / "bypass-status.json")  # no reconciler publishes here
    try:
        lab = BypassLab(ns, tmp / "state")
        service = BypassService(lab.command, state_dir=str(lab.state_dir))
        runs: list[str] = []
        service.client.finished.connect(lambda r: runs.append(str(r.verb)))
        states: list[BypassState] = []
        service.state_changed.connect(lambda s: states.append(s.state))

        def wait(pred: object, ms: int = 20_000) -> None:
            loop_timer = QElapsedTimer()
            loop_timer.start()
            while not pred() and loop_timer.elapsed() < ms:  # type: ignore[operator]
                app.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents, 20)
            if not pred():  # type: ignore[operator]
                raise SystemExit("bench_service: no answer from the helper within 20 s")

        def idle(ms: int) -> None:
            done: list[bool] = []
            QTimer.singleShot(ms, lambda: done.append(True))
            wait(lambda: done)

        service.start()
        wait(lambda: states)
        idle(READ_DEBOUNCE_MS + 200)
        times: dict[str, list[float]] = {"on": [], "off": []}
        per_toggle: list[int] = []
        for _ in range(args.runs):
            for on in (True, False):
                before, n = len(runs), len(states)
                want = BypassState.ON if on else BypassState.OFF
                t0 = time.perf_counter()
                service.toggle(on)
                wait(lambda n=n, want=want: len(states) > n and states[-1] is want)
                times["on" if on else "off"].append((time.perf_counter() - t0) * 1000)
                idle(READ_DEBOUNCE_MS + 200)  # whatever would follow a toggle has run by now
                per_toggle.append(len(runs) - before)
        for kind, values in times.items():
            print(
                f"toggle {kind:3} -> state: median {statistics.median(values):.0f} ms, p95 {p95(values):.0f} ms "
                f"({len(values)} runs)"
            )
        print(f"helper runs per toggle: {sorted(set(per_toggle))} (each one pkexec for a user)")

        before = len(runs)
        lab.enable("direct")
        lab.add_subnet_routes(8)
        for _ in range(4):
            service.read_soon()  # what the monitor does on each netlink hint and Mullvad state change
        t0 = time.perf_counter()
        wait(lambda: states[-1] is BypassState.DRIFTED)
        took = (time.perf_counter() - t0) * 1000
        idle(READ_DEBOUNCE_MS + 500)
        print(
            f"burst (bypass on elsewhere, 8 routes, 4 hints) -> status runs: {runs[before:].count('status')}, "
            f"state {took:.0f} ms after the burst (debounce {READ_DEBOUNCE_MS} ms)"
        )
        service.stop()
    finally:
        ns.delete()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
