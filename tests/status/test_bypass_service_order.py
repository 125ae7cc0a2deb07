"""The bypass service keeps the newest answer: a `status` run that read the bypass before the user's toggle,
but answers after the toggle's reply, does not turn the shown state back. The real helper in the test's
namespace; its `status` answers are held back a second (after it read the state) by a wrapper."""

from __future__ import annotations

import dataclasses

from pytestqt.qtbot import QtBot

from tests.status.conftest import Helper
from tray_app.core.model import BypassState, BypassStatus

# runs the helper, then holds a `status` answer back: it read the state before anything that follows
SLOW_STATUS = (
    'out=$("$@"); rc=$?; case " $* " in *" status "*) sleep 1;; esac; printf "%s\\n" "$out"; exit $rc'
)


def test_a_late_status_answer_does_not_undo_a_toggle(qtbot: QtBot, helper: Helper) -> None:
    from tray_app.rootside.service import BypassService

    command = dataclasses.replace(
        helper.command, prefix=("sh", "-c", SLOW_STATUS, "sh", *helper.command.prefix)
    )
    service = BypassService(command, state_dir=str(helper.state_dir), debounce_ms=20)
    shown: list[BypassStatus] = []
    runs: list[str] = []
    service.state_changed.connect(shown.append)
    service.client.finished.connect(lambda r: runs.append(str(r.verb)))
    service.start()
    try:
        qtbot.waitUntil(lambda: len(shown) == 1, timeout=20000)
        assert shown[-1].state is BypassState.OFF
        service.read_now()  # reads "off" now, answers a second later
        service.toggle(True)  # the user's click, answered first
        qtbot.waitUntil(lambda: runs.count("status") == 2, timeout=20000)
        assert runs[1:] == ["enable", "status"]  # the toggle's reply came before the late read's
        qtbot.wait(100)
        assert shown[-1].state is BypassState.ON and shown[-1].mode == "direct"
        assert [s.state for s in shown] == [BypassState.OFF, BypassState.ON]
    finally:
        service.stop()
