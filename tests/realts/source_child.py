"""Child for the operator tests: the product's TailscaleSource, run as an unprivileged user, asks the real
tailscaled to go down and prints what the user would see as one JSON line:
{"failures": [...action_failed messages], "states": [...], "can_write": bool|null}.

Usage: python -m tests.realts.source_child SOCKET
"""

from __future__ import annotations

import json
import sys

from PyQt6.QtCore import QCoreApplication, QTimer

from tray_app.core.model import TailscaleStatus
from tray_app.daemons.tailscale import TailscaleSource


def main() -> int:
    app = QCoreApplication([])
    src = TailscaleSource(sys.argv[1], None)
    out: dict[str, object] = {"failures": [], "states": [], "can_write": None}
    states: list[str] = []
    failures: list[str] = []

    def finish() -> None:
        last = src.status
        out.update(states=states, failures=failures, can_write=last.can_write if last else None)
        print(json.dumps(out), flush=True)
        app.quit()

    def on_changed(status: TailscaleStatus) -> None:
        states.append(status.state.value)
        if len(states) == 1:
            src.down()
        elif status.state.value == "stopped":
            QTimer.singleShot(100, finish)

    def on_failed(message: str) -> None:
        failures.append(message)
        QTimer.singleShot(300, finish)  # the source also marks can_write False

    src.changed.connect(on_changed)
    src.action_failed.connect(on_failed)
    src.start()
    QTimer.singleShot(15000, finish)
    app.exec()
    src.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
