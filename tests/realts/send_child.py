"""Child for the non-operator test: the product's FileSender, run as an unprivileged user, sends FILE to the
device NODE through the real tailscaled, and prints what the user would be told and whether the tray would
add an account for them, as one JSON line: {"told": "...", "may_add_account": false}.

Usage: python -m tests.realts.send_child SOCKET NODE FILE
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from PyQt6.QtCore import QCoreApplication, QTimer

from tray_app.daemons.account_client import may_add_account
from tray_app.daemons.taildrop_send import FileSender


def main() -> int:
    app = QCoreApplication([])
    sender = FileSender(sys.argv[1])
    told: list[str] = []
    for signal in (sender.sent, sender.failed):
        signal.connect(lambda text: (told.append(text), app.quit()))
    sender.send(sys.argv[2], "peer", [Path(sys.argv[3])])
    QTimer.singleShot(15000, app.quit)
    app.exec()
    sender.stop()
    print(json.dumps({"told": told[0] if told else None, "may_add_account": may_add_account(sys.argv[1])}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
