"""Runs the product's Monitor (real sources, netlink watcher, bypass helper from this checkout) in its own
process, inside the test's network namespace, and prints what it emits as JSON lines:
`{"event": "ready"|"snapshot", "snapshot": {...}}`, `{"event": "table52_changed"}` (the netlink watcher's),
`{"event": "timers", "timers": [...]}`. Commands on stdin: `read` (what the reconciler's published status
makes the tray do), `timers`. Exits when stdin closes.

Usage: python -m tests.status.monitor_child MULLVAD_CLI TAILSCALE_SOCKET STATE_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from PyQt6.QtCore import QCoreApplication, QSocketNotifier

from tray_app.daemons.mullvad import MullvadSource
from tray_app.daemons.netlink import NetlinkWatcher
from tray_app.daemons.tailscale import TailscaleSource
from tray_app.monitor import Monitor
from tray_app.rootside.bypass_run import HelperCommand
from tray_app.rootside.service import BypassService

ROOT = Path(__file__).resolve().parents[2]


def out(obj: dict[str, Any]) -> None:
    print(json.dumps(obj), flush=True)


def main() -> int:
    cli, sock, state_dir = sys.argv[1:4]
    app = QCoreApplication(sys.argv)
    helper = HelperCommand(
        helper="tray_app.helper",
        use_pkexec=False,
        prefix=("env", f"PYTHONPATH={ROOT}", f"MTT_STATE_DIR={state_dir}", sys.executable, "-m"),
    )
    monitor = Monitor(
        MullvadSource(cli),
        TailscaleSource(sock, None),
        BypassService(helper, state_dir=state_dir),
        NetlinkWatcher(),
    )
    monitor.ready.connect(lambda s: out({"event": "ready", "snapshot": s.to_json()}))
    monitor.snapshot_changed.connect(lambda s: out({"event": "snapshot", "snapshot": s.to_json()}))
    assert monitor.netlink is not None
    monitor.netlink.table52_changed.connect(lambda: out({"event": "table52_changed"}))
    monitor.start()

    def on_stdin(*_: object) -> None:
        line = sys.stdin.readline()
        if not line:
            app.quit()
        elif line.strip() == "read":
            assert monitor.bypass is not None
            monitor.bypass.read_now()
        elif line.strip() == "timers":
            out({"event": "timers", "timers": monitor.timers_active()})

    stdin = QSocketNotifier(0, QSocketNotifier.Type.Read)
    stdin.activated.connect(on_stdin)
    rc = app.exec()
    monitor.stop()
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
