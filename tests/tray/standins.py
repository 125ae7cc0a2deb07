"""Ready-made Snapshots for the pure-logic tests (icon choice, tooltip, notification policy), the screenshots
and the benchmark. Tests that run the tray read the daemons' fakes through the real sources instead
(tests/tray/daemons.py); the bypass is always the real helper (tests/tray/bypass_lab.py).
"""

from __future__ import annotations

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
from tray_app.core.notify_policy import NotifyPolicy

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


def flap_mullvad(policy: NotifyPolicy, t: float) -> float:
    """Mullvad disconnects and reconnects twice, 0.2 s apart, from `t` on (the daemon's doing, not the
    user's); returns the time after it."""
    for m in (MULLVAD_DISCONNECTED, MULLVAD_CONNECTED, MULLVAD_DISCONNECTED, MULLVAD_CONNECTED):
        policy.observe(snap(m=m, b=BYPASS_ON), t)
        t += 0.2
    return t
