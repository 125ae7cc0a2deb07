"""Notifications sent with the distribution's PyQt6 (Debian 12: 6.4, what the .deb runs on) reach a real
notification daemon with their hints. PyQt6 6.4 has no "QDBusVariant" meta type by name, and a hints map
built on it went out without its a{sv} argument: dunst rejected every Notify call, so a packaged tray never
showed a notification (found by packaging/e2e-new-user.sh)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.infra.require import require

ROOT = Path(__file__).resolve().parents[2]
SYSTEM_PYTHON = "/usr/bin/python3"

CHILD = """
import sys
sys.path.insert(0, sys.argv[1])
from PyQt6.QtCore import QCoreApplication, QTimer
from tray_app.core.notify_policy import Action, Category, Notice, Urgency
from tray_app.desktop.notifications import Notifier

app = QCoreApplication([])
n = Notifier()
sent = []
n.sent.connect(lambda notice: (sent.append(notice.summary), app.quit()))
n.send(Notice("suggest", Category.SUGGEST, "Tailnet cut off", "turn on the bypass?",
              urgency=Urgency.LOW, actions=(Action("enable-bypass", "Turn on bypass"),), transient=True))
QTimer.singleShot(5000, app.quit)
app.exec()
print(sent)
sys.exit(0 if sent else 1)
"""


def _system_pyqt6() -> bool:
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        return False
    probe = subprocess.run([SYSTEM_PYTHON, "-I", "-c", "import PyQt6.QtDBus"], capture_output=True)
    return probe.returncode == 0


def test_distribution_pyqt6_notification_reaches_dunst_with_hints(dunst, notify_calls) -> None:  # type: ignore[no-untyped-def]
    require(_system_pyqt6(), "needs Debian's python3-pyqt6 (apt-get install python3-pyqt6)")
    r = subprocess.run(
        [SYSTEM_PYTHON, "-I", "-c", CHILD, str(ROOT)], capture_output=True, text=True, timeout=30
    )
    assert r.returncode == 0, r.stdout + r.stderr  # the server answered with an id
    assert "not registered with D-BUS" not in r.stderr, r.stderr
    assert [h["summary"] for h in dunst()] == ["Tailnet cut off"]
    (call,) = notify_calls()
    assert call["urgency"] == 0  # the byte hint arrived
    assert call["actions"] == ["enable-bypass", "Turn on bypass", "default", "Turn on bypass"]
