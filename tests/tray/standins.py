"""Stand-ins for the daemon sources so tray tests drive the real Monitor with scripted states.

`ScriptedSource` is a `sources.base.Source` whose state the test sets; it records the actions the controller
calls on it (connect_tunnel, up, ...) so a test can assert what a click asked for. The fake helper
(`fake_helper.py`) speaks the bypass helper's real command line and JSON.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

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
from tray_app.sources.bypass_client import BypassClient
from tray_app.sources.bypass_run import HelperCommand

HERE = Path(__file__).resolve().parent


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


def fake_helper_client(state_dir: Path) -> BypassClient:
    """A real BypassClient running tests/tray/fake_helper.py behind tests/tray/fake_pkexec.py, state in
    `state_dir` (the argv is the real one: `pkexec HELPER VERB [--mode M]`)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    cmd = HelperCommand(
        helper=str(HERE / "fake_helper.py"),
        pkexec=str(HERE / "fake_pkexec.py"),
        use_pkexec=True,
        prefix=("env", f"FAKE_HELPER_DIR={state_dir}", sys.executable),
    )
    return BypassClient(cmd)


def helper_log(state_dir: Path) -> list[str]:
    p = state_dir / "log"
    return p.read_text().split() if p.exists() else []


def set_helper_state(state_dir: Path, **state: object) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / "state.json").write_text(json.dumps(state))


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
