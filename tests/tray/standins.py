"""Scripted daemon sources so tray tests drive the real Monitor with chosen states, and those states.

`ScriptedSource` is a `sources.base.Source` whose state the test sets; it records the actions the controller
calls on it (connect_tunnel, up, ...) so a test can assert what a click asked for. Tests that need the
daemons' real protocols use tests/fakes (the `mullvad` CLI, tailscaled's LocalAPI) with the real sources.
The bypass is never scripted: it is the real helper (tests/tray/bypass_lab.py).
"""

from __future__ import annotations

from PyQt6.QtCore import pyqtSignal

from tray_app.core.model import (
    BypassState,
    BypassStatus,
    ExitNode,
    MullvadState,
    MullvadStatus,
    Snapshot,
    TailscaleSelf,
    TailscaleState,
    TailscaleStatus,
)
from tray_app.sources.base import Source


class ScriptedSource(Source):
    action_failed = pyqtSignal(str)

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []
        self.value: object = None
        self.started = False

    def start(self) -> None:
        self.started = True
        if self.value is not None:
            self.changed.emit(self.value)

    def stop(self) -> None:
        self.started = False

    def hint(self) -> None:
        pass

    def set(self, value: object) -> None:
        self.value = value
        if self.started:
            self.changed.emit(value)

    # the actions the controller may call
    def connect_tunnel(self) -> None:
        self.calls.append("connect")

    def disconnect_tunnel(self) -> None:
        self.calls.append("disconnect")

    def reconnect_tunnel(self) -> None:
        self.calls.append("reconnect")

    def up(self) -> None:
        self.calls.append("up")

    def down(self) -> None:
        self.calls.append("down")


MULLVAD_CONNECTED = MullvadStatus(
    MullvadState.CONNECTED, relay="se-got-wg-001", location="Gothenburg, Sweden", lockdown=False
)
MULLVAD_DISCONNECTED = MullvadStatus(MullvadState.DISCONNECTED, lockdown=False)
MULLVAD_CONNECTING = MullvadStatus(
    MullvadState.CONNECTING, relay="se-got-wg-001", location="Gothenburg, Sweden"
)
TS_SELF = TailscaleSelf("laptop", "laptop.tail1234.ts.net.", ("100.101.102.103", "fd7a:115c:a1e0::1"))
TS_RUNNING = TailscaleStatus(
    TailscaleState.RUNNING, self_node=TS_SELF, tailnet="alice@example.com", peers_online=2, peers_total=3
)
TS_STOPPED = TailscaleStatus(TailscaleState.STOPPED, self_node=TS_SELF, tailnet="alice@example.com")
TS_EXIT = TailscaleStatus(
    TailscaleState.RUNNING,
    self_node=TS_SELF,
    tailnet="alice@example.com",
    exit_node=ExitNode("nas", True),
)
BYPASS_ON = BypassStatus(BypassState.ON, mode="direct")
BYPASS_OFF = BypassStatus(BypassState.OFF)


def snap(
    m: MullvadStatus = MULLVAD_CONNECTED, t: TailscaleStatus = TS_RUNNING, b: BypassStatus = BYPASS_OFF
) -> Snapshot:
    return Snapshot(m, t, b)
