"""The Monitor with the real sources, the daemons' fakes and the real bypass helper (in a private network
namespace): exactly the expected snapshots, only on real change, and no timer while everything is idle."""

from __future__ import annotations

import itertools

from pytestqt.qtbot import QtBot

from tests.fakes.fake_localapi import FakeLocalApi
from tests.fakes.fake_mullvad import FakeMullvad
from tests.status.conftest import Helper, MakeMonitor, Recorder
from tray_app.core.model import BypassState, MullvadState, TailscaleState
from tray_app.core.snapshot_fold import Part
from tray_app.rootside.bypass_run import EnableOptions

WAIT = 10_000


def settle(qtbot: QtBot, rec: Recorder) -> None:
    """Wait until the monitor and its sources run no timer (every debounce and retry is over)."""
    qtbot.waitUntil(lambda: rec.monitor.timers_active() == [], timeout=WAIT)


def test_start_up_state_then_exact_sequence(
    qtbot: QtBot, make_monitor: MakeMonitor, mullvad: FakeMullvad, tailscaled: FakeLocalApi, helper: Helper
) -> None:
    rec = make_monitor()
    qtbot.waitUntil(lambda: len(rec.ready) == 1, timeout=WAIT)
    start = rec.ready[0]
    assert start.mullvad.state is MullvadState.CONNECTED
    assert (start.mullvad.relay, start.mullvad.location) == ("se-got-wg-001", "Gothenburg, Sweden")
    assert start.tailscale.state is TailscaleState.RUNNING
    assert start.tailscale.self_node is not None and start.tailscale.self_node.host == "thinkpad"
    assert start.bypass.state is BypassState.OFF  # the real helper, in an empty namespace
    # the first report of each part is marked initial: not a change the user should be told about
    assert sorted(t.part.value for t in rec.transitions if t.initial) == ["bypass", "mullvad", "tailscale"]
    # with both daemons up and nothing happening, nothing ticks
    settle(qtbot, rec)

    mullvad.set_state("disconnected")
    qtbot.waitUntil(lambda: rec.last.mullvad.state is MullvadState.DISCONNECTED, timeout=WAIT)
    # what `tailscale down` puts on the bus
    tailscaled.set_status("stopped")
    tailscaled.push_state(4)
    tailscaled.push({"Prefs": {"WantRunning": False}})
    qtbot.waitUntil(lambda: rec.last.tailscale.state is TailscaleState.STOPPED, timeout=WAIT)
    # the user turns the bypass on: the state comes from the reply
    rec.monitor.bypass.toggle(True, EnableOptions(mode="private"))
    qtbot.waitUntil(lambda: rec.last.bypass.state is BypassState.ON, timeout=WAIT)
    assert rec.last.bypass.mode == "private"
    settle(qtbot, rec)

    # the three first reports come in any order; then exactly the changes made
    assert rec.states()[3:] == [
        ("mullvad", "disconnected"),
        ("tailscale", "stopped"),
        ("bypass", "on"),
    ]
    assert sorted(rec.states()[:3]) == [("bypass", "off"), ("mullvad", "connected"), ("tailscale", "running")]
    # every emitted snapshot differs from the one before it, and each came with its transition
    assert all(a != b for a, b in itertools.pairwise(rec.snapshots))
    assert len(rec.snapshots) == len(rec.transitions)
    assert rec.snapshots[-1] == rec.monitor.snapshot
    assert len(rec.ready) == 1


def test_repeats_are_not_changes(
    qtbot: QtBot, make_monitor: MakeMonitor, mullvad: FakeMullvad, tailscaled: FakeLocalApi
) -> None:
    rec = make_monitor()
    qtbot.waitUntil(lambda: len(rec.ready) == 1, timeout=WAIT)
    settle(qtbot, rec)
    before = len(rec.snapshots)
    # the daemons repeat themselves: same Mullvad state, a Tailscale bus message that changes nothing
    mullvad.set_state("connected")
    tailscaled.push_state(6)
    tailscaled.push({"Health": {"Warnings": None}})
    # then one real change: it must be the very next snapshot
    mullvad.set_state("connected", relay="de-fra-wg-002", city="Frankfurt", country="Germany")
    qtbot.waitUntil(lambda: len(rec.snapshots) > before, timeout=WAIT)
    settle(qtbot, rec)
    new = rec.transitions[before:]
    assert [(t.part, t.after.state) for t in new] == [(Part.MULLVAD, MullvadState.CONNECTED)]
    assert rec.last.mullvad.relay == "de-fra-wg-002"
    assert "relay" in new[0].fields and not new[0].state_changed


def test_daemons_restart_and_come_back(
    qtbot: QtBot, make_monitor: MakeMonitor, mullvad: FakeMullvad, tailscaled: FakeLocalApi
) -> None:
    rec = make_monitor()
    qtbot.waitUntil(lambda: len(rec.ready) == 1, timeout=WAIT)
    mullvad.stop_daemon()
    qtbot.waitUntil(lambda: rec.last.mullvad.state is MullvadState.UNAVAILABLE, timeout=WAIT)
    assert rec.last.mullvad.detail  # says why, with the fix
    tailscaled.go_away("refused")
    qtbot.waitUntil(lambda: rec.last.tailscale.state is TailscaleState.UNAVAILABLE, timeout=WAIT)
    assert rec.last.tailscale.detail
    assert rec.monitor.timers_active() != []  # back-off while a daemon is away
    mullvad.start_daemon("connected")
    tailscaled.come_back()
    # netlink would wake them early; the back-off brings them back anyway
    qtbot.waitUntil(lambda: rec.last.mullvad.state is MullvadState.CONNECTED, timeout=WAIT)
    qtbot.waitUntil(lambda: rec.last.tailscale.state is TailscaleState.RUNNING, timeout=WAIT)
    settle(qtbot, rec)
    assert [s for p, s in rec.states() if p == "mullvad"] == ["connected", "unavailable", "connected"]
    assert [s for p, s in rec.states() if p == "tailscale"] == ["running", "unavailable", "running"]


def test_bypass_is_reread_when_mullvad_changes_state(
    qtbot: QtBot, make_monitor: MakeMonitor, mullvad: FakeMullvad, helper: Helper
) -> None:
    rec = make_monitor(debounce_ms=50)
    qtbot.waitUntil(lambda: len(rec.ready) == 1, timeout=WAIT)
    assert rec.last.bypass.state is BypassState.OFF
    helper.run("enable")  # behind the monitor's back
    mullvad.set_state("disconnected")  # Mullvad's firewall changes with its state: the monitor re-reads
    qtbot.waitUntil(lambda: rec.last.bypass.state is BypassState.ON, timeout=WAIT)
    assert rec.last.bypass.mode == "direct"
    settle(qtbot, rec)


def test_bypass_toggled_from_a_terminal_is_noticed(
    qtbot: QtBot, make_monitor: MakeMonitor, helper: Helper
) -> None:
    """`bypass on|off` in a terminal changes no link, route or rule; the helper's saved state shows it."""
    rec = make_monitor(debounce_ms=50)
    qtbot.waitUntil(lambda: len(rec.ready) == 1, timeout=WAIT)
    assert rec.last.bypass.state is BypassState.OFF
    assert not helper.state_dir.exists()  # never enabled: the monitor waits for the directory to appear
    helper.run("enable", "--mode", "private")
    qtbot.waitUntil(lambda: rec.last.bypass.state is BypassState.ON, timeout=WAIT)
    helper.run("disable")
    qtbot.waitUntil(lambda: rec.last.bypass.state is BypassState.OFF, timeout=WAIT)
    helper.run("enable")
    qtbot.waitUntil(lambda: rec.last.bypass.state is BypassState.ON, timeout=WAIT)
    settle(qtbot, rec)
    assert rec.states()[-3:] == [("bypass", "on"), ("bypass", "off"), ("bypass", "on")]
