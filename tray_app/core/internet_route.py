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
from tray_app.core.tailnet import Peer, Tailnet, best_available, in_country

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
    CLEAR_EXIT_NODE = "clear-exit-node"  # set-use-exit-node-enabled=false: tailscaled remembers it as prior
    RESTORE_EXIT_NODE = "restore-exit-node"  # set-use-exit-node-enabled=true: tailscaled's prior comes back
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


def tailscale_refusal(s: Snapshot, *, running: bool = True) -> str | None:
    """Why Tailscale cannot take this change now (None: it can); `running`: the change needs it up."""
    t = s.tailscale
    if t.state is TailscaleState.UNAVAILABLE:
        return f"Tailscale is not available: {t.detail or 'tailscaled is not running'}"
    if running and t.state is not TailscaleState.RUNNING:
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
    return _exit_plan(s, t, peer.name, peer.online, Plan(exit_node=peer, allow_lan=allow_lan))


def _exit_plan(
    s: Snapshot, t: Tailnet, name: str, online: bool, base: Plan, *, step: Step = Step.SET_EXIT_NODE
) -> Plan:
    """The safety plan of every exit-node choice: Tailscale must take changes from us, Mullvad goes first,
    lockdown refuses."""
    refusal = tailscale_refusal(s)
    if refusal:
        return Plan(refusal=refusal)
    if t.advertises_exit:
        return Plan(
            refusal="This device offers itself as an exit node, and Tailscale cannot be one and use one at "
            "once: turn off “Run this device as an exit node” first"
        )
    steps: list[Step] = []
    explanation = f"Internet traffic goes through the Tailscale exit node {name}."
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
            f"traffic goes through the Tailscale exit node {name}."
        )
    elif m.lockdown and m.blocked:
        return Plan(
            refusal="Mullvad's lockdown mode is blocking all traffic, so an exit node cannot work: turn "
            "lockdown mode off first (`mullvad lockdown-mode set off`)"
        )
    steps.append(step)
    notes = () if online else (f"{name} is offline: internet traffic stops until it is back.",)
    return Plan(tuple(steps), base.exit_node, base.allow_lan, explanation=explanation, notes=notes)


def plan_best_available(s: Snapshot, t: Tailnet, country: str, allow_lan: bool | None = None) -> Plan:
    """Tailscale's Mullvad exit nodes ▸ COUNTRY ▸ Best available (`route exit-node --country CC`)."""
    nodes = t.mullvad_exit_nodes
    if not nodes:
        return Plan(
            refusal="Your tailnet has no Mullvad exit nodes (Tailscale's Mullvad add-on: "
            "https://tailscale.com/kb/1258/mullvad-exit-nodes)"
        )
    best = best_available(nodes, country)
    if best is None:
        known = any(in_country(p, country) for p in nodes)
        return Plan(
            refusal=f"No Mullvad exit node in {country} is online now: pick another country"
            if known
            else f"No Mullvad exit node in {country!r}: `mullvad-tailscale-tray route` lists them"
        )
    return plan_exit_node(s, t, best.id, allow_lan)


def last_used(t: Tailnet, remembered: str = "") -> tuple[str, bool] | None:
    """The exit node to offer turning back on, while none is set: tailscaled's own (InternalExitNodePrior,
    kept when the exit node was turned off with set-use-exit-node-enabled) first, else the one the tray
    saw last, if it is still in the tailnet. (key, kept by the daemon)."""
    if t.exit_node_id:
        return None
    prior = t.prior_exit_node
    if prior and (prior.startswith("auto:") or t.peer(prior) is not None):  # a removed node is no offer
        return prior, True
    if remembered and (p := t.peer(remembered)) is not None and p.exit_option:
        return remembered, False
    return None


def last_used_name(t: Tailnet, key: str) -> str:
    if key.startswith("auto:"):
        return "automatic (the best exit node)"
    p = t.peer(key)
    return p.name if p else key


def plan_last_used(s: Snapshot, t: Tailnet, remembered: str = "") -> Plan:
    last = last_used(t, remembered)
    if last is None:
        if t.exit_node_id:
            return Plan(refusal="An exit node is in use already")
        return Plan(refusal="No exit node was used before: pick one under Tailscale exit nodes")
    key, kept = last
    if key.startswith("auto:"):
        return _exit_plan(s, t, last_used_name(t, key), True, Plan(), step=Step.RESTORE_EXIT_NODE)
    peer = t.peer(key)
    if peer is None:
        return Plan(refusal=f"The exit node used last ({key}) is no longer in your tailnet: pick another one")
    plan = plan_exit_node(s, t, key)
    if kept and not plan.refused:  # tailscaled turns its own prior back on
        steps = tuple(Step.RESTORE_EXIT_NODE if x is Step.SET_EXIT_NODE else x for x in plan.steps)
        plan = Plan(steps, plan.exit_node, plan.allow_lan, explanation=plan.explanation, notes=plan.notes)
    return plan


def plan_mullvad(s: Snapshot, t: Tailnet) -> Plan:
    refusal = _mullvad_refusal(s)
    if refusal:
        return Plan(refusal=refusal)
    steps: list[Step] = []
    if t.exit_node_id or s.tailscale.exit_node is not None:
        if tailscale_refusal(s) and s.tailscale.state is not TailscaleState.STOPPED:
            return Plan(refusal=f"The exit node cannot be cleared: {tailscale_refusal(s)}")
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
        refusal = tailscale_refusal(s)
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
    refusal = tailscale_refusal(s)
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


USE_EXIT_NODE_PATH = "/localapi/v0/set-use-exit-node-enabled"


def use_exit_node_path(on: bool) -> str:
    """`POST` turns the exit node off keeping it as InternalExitNodePrior, or that prior back on (tailscaled's
    SetUseExitNodeEnabled, what the official GUIs' exit-node toggle calls)."""
    return f"{USE_EXIT_NODE_PATH}?enabled={'true' if on else 'false'}"


def exit_node_patch(peer: Peer | None, allow_lan: bool | None) -> dict[str, object]:
    """The body of `PATCH /localapi/v0/prefs`, as `tailscale set --exit-node` sends it (ipn.MaskedPrefs)."""
    body: dict[str, object] = {"ExitNodeID": peer.id if peer else "", "ExitNodeIDSet": True}
    # ExitNodeIP must be cleared with it, else tailscaled keeps routing to the old IP-selected node.
    body.update({"ExitNodeIP": "", "ExitNodeIPSet": True})
    if allow_lan is not None:
        body.update({"ExitNodeAllowLANAccess": allow_lan, "ExitNodeAllowLANAccessSet": True})
    return body
