"""The one bypass service, counted: what the tray shows, and every helper process it starts for it (each one a
pkexec for a real user) -- `rig.processes()`. The real helper runs in the test's namespace; no reconciler
runs here (tests/tray/test_reconciler_published.py has the published file, which costs no process at all).
"""

from __future__ import annotations

import pytest

from tests.tray.conftest import TrayRig
from tests.tray.test_menu_and_controller import start, ui
from tray_app.rootside.service import READ_DEBOUNCE_MS

BURST = 8  # routes tailscaled adds for a new subnet router, each one a netlink event


def _settled(rig: TrayRig, qtbot) -> int:  # type: ignore[no-untyped-def]
    """Start the tray, wait for its first state; returns how many helper runs that took."""
    start(rig, qtbot)
    qtbot.waitUntil(lambda: "Bypass: off" in ui(rig).tray.toolTip(), timeout=10000)
    qtbot.wait(300)
    assert rig.processes() == ["status"]  # the state at start-up: one read
    return len(rig.processes())


@pytest.mark.parametrize("mode", ["direct", "private"])
def test_a_toggle_through_the_menu_is_one_helper_run(rig: TrayRig, qtbot, mode: str) -> None:  # type: ignore[no-untyped-def]
    """On and off from the menu: one `enable`, one `disable`, the state from their replies. The private
    mode's ip rule is a netlink event of the tray's own making: no read follows it either."""
    before = _settled(rig, qtbot)
    u = ui(rig)
    u.menus.mode_actions[mode].trigger()  # while off: only remembered
    u.menus.bypass.trigger()
    qtbot.waitUntil(lambda: f"Bypass: on ({mode})" in u.tray.toolTip(), timeout=10000)
    assert u.menus.bypass.isChecked() and rig.app.settings.bypass_wanted  # type: ignore[attr-defined]
    qtbot.wait(1000)  # far past the debounce: whatever the tray would run after a toggle has run by now
    assert rig.processes()[before:] == ["enable"]
    qtbot.waitUntil(u.menus.bypass.isEnabled, timeout=5000)
    u.menus.bypass.trigger()
    qtbot.waitUntil(lambda: "Bypass: off" in u.tray.toolTip(), timeout=10000)
    qtbot.wait(1000)
    assert rig.processes()[before:] == ["enable", "disable"]
    assert rig.lab.table() is None and not u.menus.bypass.isChecked()


@pytest.mark.parametrize("rig", [{"debounce_ms": READ_DEBOUNCE_MS}], indirect=True)
def test_a_burst_of_hints_is_one_status_run(rig: TrayRig, qtbot) -> None:  # type: ignore[no-untyped-def]
    """`bypass on` from a terminal (the state directory changes), a subnet router's routes arriving one by
    one in table 52, and Mullvad reconnecting: each asks for a read; together they cost one."""
    before = _settled(rig, qtbot)
    u = ui(rig)
    rig.lab.enable("direct")  # a terminal's `bypass on`: not a process of the tray
    rig.lab.add_subnet_routes(BURST)
    rig.daemons.mullvad.set_state("connecting")
    rig.daemons.mullvad.set_state("connected")
    # on, but without a reconciler nobody put the new routes in: the one read shows it out of date
    qtbot.waitUntil(lambda: "out of date" in u.tray.toolTip(), timeout=10000)
    qtbot.wait(1000)
    assert rig.processes()[before:] == ["status"]
    assert rig.monitor.timers_active() == []  # type: ignore[attr-defined]
