"""Where this machine's internet traffic goes, and how to change it safely (pure: no Qt, no I/O).

Three choices, one at a time:

* **Mullvad**: Mullvad connected, no Tailscale exit node;
* **a Tailscale exit node** (one of your devices, or one of Tailscale's Mullvad exit nodes): Mullvad off;
* **directly**: neither.

Why never both. With Mullvad connected, its firewall only lets traffic out through its tunnel or with its
split-tunnel mark, and its routing rules come before Tailscale's: the exit node's default route in table 52
is not used (the exit node silently does nothing while the shield says "connected"), and the bypass, which
never takes a default route into its sets, cannot change that; in its direct mode tailscaled's own traffic
can even loop (docs/bypass.md, "Limits"). Neither is what the user asked for, so choosing an exit node
disconnects Mullvad first, and choosing Mullvad clears the exit node first. With Mullvad's lockdown mode on, disconnecting
Mullvad blocks everything, exit node included: that choice is refused with the reason and the fix.

`plan()` turns a choice into the steps to run, in order, plus what to tell the user; the tray and the
`route` command both execute it the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from tray_app.core.model import MullvadState, Snapshot, TailscaleState
from tray_app.core.tailnet import Peer, Tailnet

OPERATOR_FIX = "sudo tailscale set --operator=$USER"


class RouteKind(StrEnum):
    MULLVAD = "mullvad"
    EXIT_NODE = "exit-node"
    DIRECT = "direct"
    BLOCKED = "blocked"  # Mullvad is blocking (error or lockdown while disconnected)
    UNKNOWN = "unknown"


class Step(StrEnum):
    MULLVAD_CONNECT = "mullvad-connect"
    MULLVAD_DISCONNECT = "mullvad-disconnect"
    SET_EXIT_NODE = "set-exit-node"  # with `Plan.exit_node`
    CLEAR_EXIT_NODE = "clear-exit-node"
    SET_ALLOW_LAN = "set-allow-lan"  # with `Plan.allow_lan`


@dataclass(frozen=True, slots=True)
class Route:
    kind: RouteKind
    text: str  # "Mullvad (se-got-wg-001, Gothenburg, Sweden)"
    exit_node: str | None = None  # the exit node's stable ID when kind is EXIT_NODE
    warning: str | None = None  # a combination that does not do what it seems to

    def to_json(self) -> dict[str, object]:
        return {
            "route": self.kind.value,
            "text": self.text,
            "exit_node": self.exit_node,
            "warning": self.warning,
        }


_MULLVAD_UP = (MullvadState.CONNECTED, MullvadState.CONNECTING)

BOTH_WARNING = (
    "Mullvad is connected and a Tailscale exit node is set: Mullvad's rules win, so the exit node is not "
    "used (and with the bypass in direct mode tailscaled's own traffic can loop). Pick one."
)


def current(s: Snapshot, t: Tailnet) -> Route:
    m = s.mullvad
    exit_peer = t.peer(t.exit_node_id) if t.exit_node_id else None
    exit_name = (
        exit_peer.name if exit_peer else (s.tailscale.exit_node.name if s.tailscale.exit_node else None)
    )
    exit_set = bool(t.exit_node_id) or s.tailscale.exit_node is not None
    if m.state in _MULLVAD_UP:
        where = ", ".join(x for x in (m.relay, m.location) if x)
        text = f"Mullvad ({where})" if where else "Mullvad"
        return Route(RouteKind.MULLVAD, text, warning=BOTH_WARNING if exit_set else None)
    if exit_set:
        return Route(
            RouteKind.EXIT_NODE, f"Tailscale exit node {exit_name or t.exit_node_id}", t.exit_node_id
        )
    if m.blocked:
        return Route(RouteKind.BLOCKED, "blocked by Mullvad (nothing leaves)")
    if m.state is MullvadState.UNAVAILABLE and s.tailscale.state is TailscaleState.UNAVAILABLE:
        return Route(RouteKind.UNKNOWN, "unknown (neither daemon answers)")
    return Route(RouteKind.DIRECT, "directly (no VPN)")


@dataclass(frozen=True, slots=True)
class Plan:
    steps: tuple[Step, ...] = ()
    exit_node: Peer | None = None
    allow_lan: bool | None = None
    refusal: str | None = None  # set: do nothing, show this (it carries the fix)
    explanation: str = ""  # what will happen / happened, in the user's words
    notes: tuple[str, ...] = field(default=())

    @property
    def refused(self) -> bool:
        return self.refusal is not None


def _tailscale_refusal(s: Snapshot) -> str | None:
    t = s.tailscale
    if t.state is TailscaleState.UNAVAILABLE:
        return f"Tailscale is not available: {t.detail or 'tailscaled is not running'}"
    if t.state is not TailscaleState.RUNNING:
        return f"Tailscale is {t.state.value.replace('_', ' ')}: start it first (`tailscale up`)"
    if t.can_write is False:
        return f"Tailscale refused changes from you: run `{OPERATOR_FIX}` once, then try again"
    return None


def _mullvad_refusal(s: Snapshot) -> str | None:
    m = s.mullvad
    if m.state is MullvadState.UNAVAILABLE:
        return f"Mullvad is not available: {m.detail or 'its daemon is not running'}"
    return None


def plan_exit_node(s: Snapshot, t: Tailnet, key: str, allow_lan: bool | None = None) -> Plan:
    peer = t.peer(key)
    if peer is None:
        if not t.exit_nodes and not t.mullvad_exit_nodes:
            return Plan(
                refusal="Your tailnet has no exit nodes: run `sudo tailscale set --advertise-exit-node` on a "
                "device and approve it in the admin console (https://login.tailscale.com/admin/machines)"
            )
        return Plan(refusal=f"No exit node called {key!r}: `mullvad-tailscale-tray route` lists them")
    if not peer.exit_option:
        return Plan(refusal=f"{peer.name} does not offer itself as an exit node (`tailscale set "
                    "--advertise-exit-node` on it, then approve it in the admin console)")  # fmt: skip
    refusal = _tailscale_refusal(s)
    if refusal:
        return Plan(refusal=refusal)
    steps: list[Step] = []
    explanation = f"Internet traffic goes through the Tailscale exit node {peer.name}."
    m = s.mullvad
    if m.state in _MULLVAD_UP or m.state is MullvadState.ERROR:
        if m.lockdown:
            return Plan(
                refusal="Mullvad's lockdown mode blocks all traffic while Mullvad is disconnected, so an exit "
                "node cannot work: turn lockdown mode off first (`mullvad lockdown-mode set off`)"
            )
        steps.append(Step.MULLVAD_DISCONNECT)
        explanation = (
            f"Mullvad is disconnected first (an exit node behind Mullvad would not be used); then internet "
            f"traffic goes through the Tailscale exit node {peer.name}."
        )
    elif m.lockdown and m.blocked:
        return Plan(
            refusal="Mullvad's lockdown mode is blocking all traffic, so an exit node cannot work: turn "
            "lockdown mode off first (`mullvad lockdown-mode set off`)"
        )
    steps.append(Step.SET_EXIT_NODE)
    notes = () if peer.online else (f"{peer.name} is offline: internet traffic stops until it is back.",)
    return Plan(tuple(steps), peer, allow_lan, explanation=explanation, notes=notes)


def plan_mullvad(s: Snapshot, t: Tailnet) -> Plan:
    refusal = _mullvad_refusal(s)
    if refusal:
        return Plan(refusal=refusal)
    steps: list[Step] = []
    if t.exit_node_id or s.tailscale.exit_node is not None:
        if _tailscale_refusal(s) and s.tailscale.state is not TailscaleState.STOPPED:
            return Plan(refusal=f"The exit node cannot be cleared: {_tailscale_refusal(s)}")
        steps.append(Step.CLEAR_EXIT_NODE)
    if s.mullvad.state not in _MULLVAD_UP:
        steps.append(Step.MULLVAD_CONNECT)
    text = "Internet traffic goes through Mullvad."
    if Step.CLEAR_EXIT_NODE in steps:
        text = "The Tailscale exit node is cleared; internet traffic goes through Mullvad."
    return Plan(tuple(steps), explanation=text)


def plan_direct(s: Snapshot, t: Tailnet) -> Plan:
    steps: list[Step] = []
    if t.exit_node_id or s.tailscale.exit_node is not None:
        refusal = _tailscale_refusal(s)
        if refusal:
            return Plan(refusal=f"The exit node cannot be cleared: {refusal}")
        steps.append(Step.CLEAR_EXIT_NODE)
    m = s.mullvad
    if m.state in _MULLVAD_UP or m.state is MullvadState.ERROR:
        steps.append(Step.MULLVAD_DISCONNECT)
    notes: tuple[str, ...] = ()
    if m.lockdown:
        notes = ("Mullvad's lockdown mode is on: it blocks all traffic while Mullvad is disconnected.",)
    return Plan(tuple(steps), explanation="Internet traffic leaves directly, without a VPN.", notes=notes)


def plan_allow_lan(s: Snapshot, t: Tailnet, allow: bool) -> Plan:
    refusal = _tailscale_refusal(s)
    if refusal:
        return Plan(refusal=refusal)
    word = "can" if allow else "cannot"
    return Plan(
        (Step.SET_ALLOW_LAN,),
        allow_lan=allow,
        explanation=f"While an exit node is used, this device {word} reach your local network.",
    )


def allow_lan_patch(allow: bool) -> dict[str, object]:
    """`tailscale set --exit-node-allow-lan-access=BOOL`: only that pref, the exit node stays."""
    return {"ExitNodeAllowLANAccess": allow, "ExitNodeAllowLANAccessSet": True}


def exit_node_patch(peer: Peer | None, allow_lan: bool | None) -> dict[str, object]:
    """The body of `PATCH /localapi/v0/prefs`, as `tailscale set --exit-node` sends it (ipn.MaskedPrefs)."""
    body: dict[str, object] = {"ExitNodeID": peer.id if peer else "", "ExitNodeIDSet": True}
    # ExitNodeIP must be cleared with it, else tailscaled keeps routing to the old IP-selected node.
    body.update({"ExitNodeIP": "", "ExitNodeIPSet": True})
    if allow_lan is not None:
        body.update({"ExitNodeAllowLANAccess": allow_lan, "ExitNodeAllowLANAccessSet": True})
    return body
