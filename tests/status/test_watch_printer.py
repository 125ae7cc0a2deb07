"""What `watch` prints for a sequence of monitor signals: the start-up state, then one line per visible
change (the printer is fed exactly what the monitor emits)."""

from __future__ import annotations

import json

from tray_app.cli.status import WatchPrinter
from tray_app.core.model import (
    BypassState,
    BypassStatus,
    MullvadState,
    MullvadStatus,
    Snapshot,
    TailscaleState,
    TailscaleStatus,
)
from tray_app.core.snapshot_fold import Folded, fold

CONNECTED = MullvadStatus(
    MullvadState.CONNECTED, relay="se-got-wg-001", location="Gothenburg, Sweden", lockdown=False
)


def run(as_json: bool, before_ready: list[object], after_ready: list[object]) -> list[str]:
    out: list[str] = []
    printer = WatchPrinter(as_json, write=lambda line: out.append(line) or True, clock=lambda: "12:00:00")
    state = Folded()
    for v in before_ready:
        state, tr = fold(state, v)  # type: ignore[arg-type]
        if tr:
            printer.changed(state.snapshot, tr)
    printer.initial(state.snapshot)
    for v in after_ready:
        state, tr = fold(state, v)  # type: ignore[arg-type]
        if tr:
            printer.changed(state.snapshot, tr)
    return out


def test_text_start_then_changes() -> None:
    lines = run(
        False,
        [CONNECTED, TailscaleStatus(TailscaleState.STOPPED), BypassStatus(BypassState.OFF)],
        [
            MullvadStatus(MullvadState.DISCONNECTED, lockdown=False),
            # a change the text does not show (the daemon's version) prints nothing
            MullvadStatus(MullvadState.DISCONNECTED, lockdown=False, version="2026.4"),
            BypassStatus(BypassState.ON, mode="direct"),
        ],
    )
    assert lines == [
        "12:00:00 Mullvad: connected to se-got-wg-001 (Gothenburg, Sweden), lockdown off",
        "12:00:00 Tailscale: stopped",
        "12:00:00 Bypass: off",
        "12:00:00 Mullvad: disconnected, lockdown off",
        "12:00:00 Bypass: on (direct)",
    ]


def test_json_one_object_per_change() -> None:
    lines = run(
        True,
        [CONNECTED],
        [
            TailscaleStatus(TailscaleState.STOPPED),
            MullvadStatus(
                MullvadState.CONNECTED,
                relay="se-got-wg-001",
                location="Gothenburg, Sweden",
                lockdown=False,
                features=("Udp2Tcp",),
            ),
        ],
    )
    # start-up state, then the Tailscale change; the feature change is not part of the JSON schema
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first == Snapshot(mullvad=CONNECTED).to_json()
    assert second["tailscale"]["state"] == "stopped"
    assert second["mullvad"]["relay"] == "se-got-wg-001"


def test_reader_gone_stops_output() -> None:
    printer = WatchPrinter(False, write=lambda line: False, clock=lambda: "t")
    printer.initial(Snapshot())
    assert printer.closed
