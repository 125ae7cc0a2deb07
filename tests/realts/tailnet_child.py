"""Child for the non-operator test: the product's TailnetClient, run as an unprivileged user, lists the
Taildrop files and the accounts of the real tailscaled and saves the file NAME into FOLDER ("Save to
Downloads"), and prints what the user would be told, as one JSON line: {"failures": [[what, message], ...]}.

Usage: python -m tests.realts.tailnet_child SOCKET FOLDER NAME
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from PyQt6.QtCore import QCoreApplication, QTimer

from tray_app.daemons.tailnet_client import TailnetClient


def main() -> int:
    app = QCoreApplication([])
    client = TailnetClient(sys.argv[1])
    failures: list[tuple[str, str]] = []

    def failed(what: str, text: str) -> None:
        failures.append((what, text))
        if len(failures) == 3:
            app.quit()

    client.failed.connect(failed)
    client.list_files()
    client.fetch_profiles()
    client.save_files((sys.argv[3],), Path(sys.argv[2]))
    QTimer.singleShot(15000, app.quit)
    app.exec()
    client.stop()
    print(json.dumps({"failures": failures}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
