"""The tray with the root reconciler running (`bypass-helper watch` in the helper's namespace, as its unit
would run it): the bypass status comes from the published file, so the tray runs a helper process (a pkexec
for a real user) only for the user's own toggles, and shows what the reconciler did within a second.

Counted: `rig.processes()` are the helper processes the tray started (each would be one pkexec)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bypass.watcher import Watcher, watching
from tests.infra.require import require_tools
from tests.tray.bypass_lab import PEER_SUBNET
from tests.tray.conftest import TrayRig


@pytest.fixture
def reconciler(rig: TrayRig, monkeypatch: pytest.MonkeyPatch) -> Iterator[Watcher]:
    require_tools("setpriv")
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    env["MTT_STATE_DIR"] = str(rig.lab.state_dir)
    with watching(rig.lab.ns, env) as w:
        monkeypatch.setenv("MTT_STATUS_FILE", str(w.status_path))  # where the tray's readers look
        yield w


def _start(rig: TrayRig, qtbot) -> tuple[object, list[tuple[str, str]]]:  # type: ignore[no-untyped-def]
    sent: list[tuple[str, str]] = []
    rig.app.notifier.sent.connect(lambda n: sent.append((n.summary, n.body)))  # type: ignore[attr-defined]
    rig.app.start(show_status=False)  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: rig.monitor.is_ready, timeout=10000)  # type: ignore[attr-defined]
    return rig.app.ui, sent  # type: ignore[attr-defined]


def test_toggles_cost_one_helper_run_each_and_status_none(rig: TrayRig, reconciler: Watcher, qtbot) -> None:  # type: ignore[no-untyped-def]
    u, sent = _start(rig, qtbot)
    qtbot.waitUntil(lambda: "Bypass: off" in u.tray.toolTip(), timeout=5000)
    assert rig.processes() == []  # the state at start-up came from the published file
    u.menus.bypass.trigger()  # on
    qtbot.waitUntil(lambda: "Bypass: on (direct)" in u.tray.toolTip(), timeout=10000)
    qtbot.waitUntil(lambda: "Bypass on (direct)" in [s for s, _ in sent], timeout=5000)
    qtbot.waitUntil(u.menus.bypass.isEnabled, timeout=5000)
    u.menus.bypass.trigger()  # off
    qtbot.waitUntil(lambda: "Bypass: off" in u.tray.toolTip(), timeout=10000)
    qtbot.wait(500)  # anything the tray would run after a toggle (status, refresh) runs by now
    assert rig.processes() == ["enable", "disable"]  # one pkexec per toggle, nothing else


def test_what_the_reconciler_does_shows_within_a_second(rig: TrayRig, reconciler: Watcher, qtbot) -> None:  # type: ignore[no-untyped-def]
    rig.lab.enable("direct")  # long before the tray starts (an earlier session): the reconciler has it
    qtbot.waitUntil(lambda: (reconciler.published() or {}).get("state") == "on", timeout=5000)
    rig.app.settings.bypass_wanted = True  # type: ignore[attr-defined]
    u, sent = _start(rig, qtbot)
    qtbot.waitUntil(lambda: "Bypass: on (direct)" in u.tray.toolTip(), timeout=5000)
    # our table removed behind everyone's back: the reconciler puts it back, the tray says so
    rig.lab.delete_table()
    qtbot.waitUntil(lambda: "Bypass lost and restored" in [s for s, _ in sent], timeout=1500)
    body = next(b for s, b in sent if s == "Bypass lost and restored")
    assert body.startswith("Its table was removed") and body.endswith("re-applied at once.")
    assert rig.lab.table() is not None and "Bypass: on (direct)" in u.tray.toolTip()
    # a peer's subnet route: the reconciler follows table 52, the tray runs no refresh of its own
    rig.lab.add_peer_route()
    qtbot.waitUntil(lambda: PEER_SUBNET in rig.lab.tailnet4(), timeout=1000)
    qtbot.wait(2500)  # past the tray's own table-52 debounce and grace
    assert rig.processes() == []
    # `bypass off` in a terminal: the user's choice, said once, recorded
    rig.lab.helper("disable")
    qtbot.waitUntil(lambda: "Bypass: off" in u.tray.toolTip(), timeout=1000)
    qtbot.waitUntil(lambda: "Bypass off" in [s for s, _ in sent], timeout=2000)
    qtbot.wait(1000)
    assert [s for s, _ in sent if s.startswith("Bypass")] == ["Bypass lost and restored", "Bypass off"]
    assert rig.app.settings.bypass_wanted is False  # type: ignore[attr-defined]
    assert rig.processes() == []


def test_with_the_reconciler_no_hint_costs_a_helper_run(rig: TrayRig, reconciler: Watcher, qtbot) -> None:  # type: ignore[no-untyped-def]
    """The same burst as tests/tray/test_bypass_service.py (a terminal's `bypass on`, a subnet router's
    routes, Mullvad reconnecting): read from the published file, each of them, and no process at all."""
    u, _sent = _start(rig, qtbot)
    qtbot.waitUntil(lambda: "Bypass: off" in u.tray.toolTip(), timeout=5000)
    rig.lab.enable("direct")
    routes = rig.lab.add_subnet_routes()
    rig.daemons.mullvad.set_state("connecting")
    rig.daemons.mullvad.set_state("connected")
    # the reconciler put the routes in: on, not out of date
    qtbot.waitUntil(lambda: set(routes) <= set(rig.lab.tailnet4()), timeout=5000)
    qtbot.waitUntil(lambda: "Bypass: on (direct)" in u.tray.toolTip(), timeout=5000)
    qtbot.wait(1000)
    assert "out of date" not in u.tray.toolTip()
    assert rig.processes() == []
