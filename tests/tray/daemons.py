"""The two daemons the tray watches, as the fakes that speak their real protocols, for the tray tests.

The tray reads them through the product's own sources (`MullvadSource` running the fake `mullvad` CLI,
`TailscaleSource` talking HTTP to the fake LocalAPI socket), so every state a test sets goes through the
real parsers, and every menu action really reaches the fake daemon.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.fakes.fake_localapi import STATE_CODES, FakeLocalApi
from tests.fakes.fake_mullvad import FakeMullvad


@dataclass
class Daemons:
    mullvad: FakeMullvad  # set_state / stop_daemon / configure(fail=...) / read()
    tailscale: FakeLocalApi  # set_status + a bus push (see `tailscale_to`) / deny_writes / patches
    dir: Path

    def sources(self) -> tuple[Any, Any]:
        """The product's sources, pointed at the fakes."""
        from tray_app.daemons.mullvad import MullvadSource
        from tray_app.daemons.tailscale import TailscaleSource

        return MullvadSource(str(self.mullvad.cli)), TailscaleSource(self.tailscale.path, None)

    def tailscale_to(self, status: str) -> None:
        """tailscaled changes state: a new status document and the bus message announcing it."""
        self.tailscale.set_status(status)
        self.tailscale.push_state(STATE_CODES[self.tailscale.backend_state])

    def mullvad_state(self) -> str:
        """The fake daemon's current tunnel state kind ("connected", "disconnected", ...)."""
        return str(self.mullvad.read()["state"]["state"])

    def mullvad_history(self) -> list[str]:
        """Every tunnel state kind the fake daemon went through, oldest first ("disconnecting:reconnect"
        for the disconnecting step of a reconnect)."""
        out = []
        for entry in self.mullvad.read().get("log", []):
            state = entry.get("state")
            if isinstance(state, dict):
                kind = str(state["state"])
                if kind == "disconnecting" and state.get("details") == "reconnect":
                    kind += ":reconnect"
                out.append(kind)
        return out


@contextmanager
def fake_daemons(mullvad: str = "connected", tailscale: str = "running") -> Iterator[Daemons]:
    # Unix socket paths are limited to 107 bytes; pytest's tmp_path can be longer.
    d = Path(tempfile.mkdtemp(prefix="mtt-tray-", dir="/tmp"))
    d.chmod(0o755)
    fake_ts = FakeLocalApi(str(d / "ts.sock"), tailscale).start()
    try:
        yield Daemons(FakeMullvad(d / "mullvad", state=mullvad), fake_ts, d)
    finally:
        fake_ts.stop()
        shutil.rmtree(d, ignore_errors=True)
