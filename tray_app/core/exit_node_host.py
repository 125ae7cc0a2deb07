"""This device as a Tailscale exit node, on a machine that may also run Mullvad (pure: no Qt, no I/O).

Offering it is `tailscale set --advertise-exit-node`: the prefs' AdvertiseRoutes gain 0.0.0.0/0 and ::/0
(other advertised subnet routes stay), through `PATCH /localapi/v0/prefs`. tailscaled refuses to use an
exit node and be one at once, so that combination is refused here first, with the fix.

What none of the other trays can say: where the clients' internet traffic goes while Mullvad runs here.
It depends on Mullvad's state and on the bypass and its `--exit-via-mullvad` option (docs/bypass.md,
"Tailnet ingress" and "Options"), measured for every combination in tests/replica/test_exit_node_host.py:

| Mullvad \\ bypass | off                     | on                | on, exit via Mullvad |
| ---------------- | ----------------------- | ----------------- | -------------------- |
| connected        | nowhere (tailnet cut)   | through Mullvad   | through Mullvad      |
| blocked          | nowhere                 | dropped           | dropped              |
| disconnected     | directly (no VPN)       | directly (no VPN) | dropped              |

The bypass never lets the clients' internet past Mullvad: it names only this host, its LAN and the tailnet
(before, "on" let it out with the real IP while Mullvad was up). The option adds "nowhere while Mullvad
is off". The one combination with a fix to offer is the tailnet cut off (the bypass off while Mullvad is up):
`fix_offered` turns the bypass on with the option (one pkexec: `enable --exit-via-mullvad`, the mode and
other options kept).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from tray_app.core.internet_route import tailscale_refusal
from tray_app.core.model import BypassState, BypassStatus, MullvadState, MullvadStatus, Snapshot
from tray_app.core.tailnet import EXIT_ROUTES, Tailnet
from tray_app.core.tooltip import bypass_in_place

EXIT_OPTION = "exit-via-mullvad"


class Fate(StrEnum):
    """Where the exit-node clients' internet traffic goes."""

    MULLVAD = "mullvad"  # through Mullvad's tunnel: the relay's address
    DIRECT = "direct"  # directly, as any exit node without a VPN (Mullvad is off)
    DROPPED = "dropped"  # it may leave only through Mullvad, which is blocked (or off, with the option)
    NOWHERE = "nowhere"  # the bypass is off and Mullvad cuts the tailnet off: the clients get nothing


FATE_TEXT = {
    Fate.MULLVAD: "Its clients' internet: through Mullvad",
    Fate.DIRECT: "Its clients' internet: directly (no VPN)",
    Fate.DROPPED: "Its clients' internet: blocked until Mullvad connects",
    Fate.NOWHERE: "⚠ Its clients' internet: nothing (Mullvad cuts the tailnet off)",
}
FATE_TIP = {
    Fate.MULLVAD: "Exit-node clients' internet goes through Mullvad's tunnel, like this device's own: the "
    "bypass lets only the tailnet and this device's LAN past Mullvad.",
    Fate.DIRECT: "Mullvad is off: the clients' traffic leaves from your network, as with any exit node. The "
    "bypass's exit-via-Mullvad option would hold it back until Mullvad connects.",
    Fate.DROPPED: "Exit-node clients' internet leaves only through Mullvad, so it is dropped while Mullvad is "
    "blocked (with the bypass's exit-via-Mullvad option, also while Mullvad is off): never sent outside it.",
    Fate.NOWHERE: "With Mullvad connected and the bypass off, the tailnet cannot reach this device. Turning "
    "on the bypass with its exit-via-Mullvad option sends the clients through Mullvad.",
}
UNKNOWN_TEXT = "Its clients' internet: unknown until the bypass's state is read"
UNKNOWN_TIP = (
    "`mullvad-tailscale-tray bypass status` says whether the bypass and its exit-via-Mullvad option are on."
)
FIX_TEXT = "Send exit-node clients through Mullvad"
FIX_TIP = (
    "Turns on the bypass's exit-via-Mullvad option (`mullvad-tailscale-tray bypass on --exit-via-mullvad`): "
    "clients' traffic leaves through Mullvad, and is dropped while Mullvad is off. Asks for the "
    "administrator's password once."
)


def advertise_patch(routes: tuple[str, ...] | None, on: bool) -> dict[str, object]:
    """`tailscale set --advertise-exit-node[=false]`: the other advertised routes stay as they are."""
    keep = [r for r in routes or () if r not in EXIT_ROUTES]
    return {"AdvertiseRoutes": keep + (list(EXIT_ROUTES) if on else []), "AdvertiseRoutesSet": True}


def clients_fate(m: MullvadStatus, b: BypassStatus) -> Fate:
    up = m.state in (MullvadState.CONNECTED, MullvadState.CONNECTING)
    shielded = up or m.blocked
    if not bypass_in_place(b):
        return Fate.NOWHERE if shielded else Fate.DIRECT
    if up:
        return Fate.MULLVAD  # the bypass names only this host, its LAN and the tailnet: the rest is Mullvad's
    if m.blocked or EXIT_OPTION in b.options:
        return Fate.DROPPED  # Mullvad's firewall, or the option's guard while Mullvad is off
    return Fate.DIRECT


@dataclass(frozen=True, slots=True)
class HostView:
    """The menu's part: the checkbox, the line saying where clients go, and whether the fix is offered."""

    known: bool  # the prefs were read
    advertising: bool
    fate: Fate | None = None  # set while advertising
    fix_offered: bool = False

    @property
    def text(self) -> str:
        if self.fate:
            return FATE_TEXT[self.fate]
        return UNKNOWN_TEXT if self.advertising else ""

    @property
    def tip(self) -> str:
        if self.fate:
            return FATE_TIP[self.fate]
        return UNKNOWN_TIP if self.advertising else ""


def host_view(s: Snapshot, t: Tailnet) -> HostView:
    if not t.advertises_exit:
        return HostView(t.advertised_routes is not None, False)
    if s.bypass.state is BypassState.UNKNOWN:
        return HostView(True, True)  # not read yet (or no reconciler publishes it): say so, guess nothing
    fate = clients_fate(s.mullvad, s.bypass)
    return HostView(True, True, fate, fate is Fate.NOWHERE)


@dataclass(frozen=True, slots=True)
class AdvertisePlan:
    patch: dict[str, object] | None = None  # None: refused
    refusal: str | None = None
    explanation: str = ""


def plan_advertise(s: Snapshot, t: Tailnet, on: bool) -> AdvertisePlan:
    ts = s.tailscale
    refusal = tailscale_refusal(s, running=False)  # the prefs take it while stopped too
    if refusal:
        return AdvertisePlan(refusal=refusal)
    if t.advertised_routes is None:
        return AdvertisePlan(refusal="Tailscale's settings were not read yet: try again in a moment")
    if on and (t.exit_node_id or ts.exit_node is not None):
        return AdvertisePlan(
            refusal="This device uses an exit node, and Tailscale cannot use one and be one at once: choose "
            "“Directly” or “Through Mullvad” under Internet first"
        )
    if on:
        said = (
            "This device offers itself as an exit node. Tailscale's admin console must approve it "
            "(https://login.tailscale.com/admin/machines) unless an autoApprovers policy does."
        )
        fate = clients_fate(s.mullvad, s.bypass)
        if fate is Fate.NOWHERE:
            said += " " + FATE_TIP[fate]
    else:
        said = "This device no longer offers itself as an exit node."
    return AdvertisePlan(advertise_patch(t.advertised_routes, on), explanation=said)
