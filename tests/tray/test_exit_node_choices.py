"""The exit-node choices the other trays have, as pure decisions: Mullvad exit nodes' "Best available" per
country (core/tailnet.best_available, by Location.Priority as the official client picks), "Last used"
(core/internet_route.last_used / plan_last_used: tailscaled's InternalExitNodePrior first, else the one the
tray remembers), and this device as an exit node (core/exit_node_host.py: the prefs patch, the refusals, and
what the menu says about the clients' traffic while Mullvad runs here)."""

from __future__ import annotations

import json
from dataclasses import replace

from tests.fakes.fake_localapi import big_status, load_fixture
from tray_app.core.exit_node_host import (
    Fate,
    advertise_patch,
    clients_fate,
    host_view,
    plan_advertise,
)
from tray_app.core.internet_route import (
    Step,
    last_used,
    plan_best_available,
    plan_exit_node,
    plan_last_used,
    use_exit_node_path,
)
from tray_app.core.model import (
    BypassState,
    BypassStatus,
    MullvadState,
    MullvadStatus,
    Snapshot,
    TailscaleState,
    TailscaleStatus,
)
from tray_app.core.tailnet import Tailnet, best_available, exit_prefs, tailnet_from_status

PREFS = json.loads(load_fixture("localapi-prefs.running.json"))


def tailnet(prefs: dict[str, object] | None = None, mullvad: int = 0) -> Tailnet:
    base = load_fixture("running-mullvad-exit-node")
    doc = json.loads(big_status(base, 6, mullvad)) if mullvad else json.loads(base)
    return tailnet_from_status(doc, prefs=exit_prefs({**PREFS, **(prefs or {})}))


def snap(mullvad: str = "connected", bypass: BypassStatus | None = None, *, lockdown: bool = False,
         can_write: bool | None = None) -> Snapshot:  # fmt: skip
    m = MullvadState(mullvad)
    return Snapshot(
        mullvad=MullvadStatus(m, lockdown=lockdown, blocked=m is MullvadState.ERROR),
        tailscale=TailscaleStatus(TailscaleState.RUNNING, can_write=can_write),
        bypass=bypass or BypassStatus(BypassState.OFF),
    )


ON = BypassStatus(BypassState.ON, "direct")
ON_EXIT = BypassStatus(BypassState.ON, "private", options=("exit-via-mullvad",))


# -- best available ---------------------------------------------------------------------------------------


def test_best_available_is_the_highest_priority_online_node_of_the_country() -> None:
    t = tailnet()
    se = next(p for p in t.mullvad_exit_nodes if p.name == "se-got-wg-001")
    assert se.location is not None and se.location.priority == 100
    other = replace(
        se, id="nMv9", name="se-sto-wg-009", location=replace(se.location, city="Stockholm", priority=120)
    )
    offline = replace(
        se, id="nMv8", name="se-mma-wg-008", online=False, location=replace(se.location, priority=900)
    )
    nodes = (se, other, offline)
    assert best_available(nodes, "Sweden") == other  # 120 beats 100; the offline 900 carries nothing
    assert best_available(nodes, "se") == other  # by its code too, any case
    assert (
        best_available((se, replace(other, location=replace(other.location, priority=100))), "SE") == se
    )  # tie: by name
    assert best_available((offline,), "SE") is None
    assert best_available(nodes, "Germany") is None


def test_best_available_plans_like_any_exit_node_and_refuses_with_the_reason() -> None:
    t = tailnet()
    plan = plan_best_available(snap("connected"), t, "DE")
    assert plan.steps == (Step.MULLVAD_DISCONNECT, Step.SET_EXIT_NODE)  # the same safety plan
    assert plan.exit_node is not None and plan.exit_node.name == "de-fra-wg-002"
    assert plan_best_available(snap("connected", lockdown=True), t, "DE").refusal.startswith(
        "Mullvad's lockdown"
    )  # type: ignore[union-attr]
    assert "No Mullvad exit node in 'Narnia'" in (plan_best_available(snap(), t, "Narnia").refusal or "")
    gone = replace(
        t, peers=tuple(replace(p, online=False) if p.name == "de-fra-wg-002" else p for p in t.peers)
    )
    assert plan_best_available(snap(), gone, "Germany").refusal == (
        "No Mullvad exit node in Germany is online now: pick another country"
    )
    none = replace(t, peers=tuple(p for p in t.peers if not p.mullvad))
    assert "no Mullvad exit nodes" in (plan_best_available(snap(), none, "SE").refusal or "")


# -- last used --------------------------------------------------------------------------------------------


def test_last_used_prefers_the_daemons_prior_then_what_the_tray_remembers() -> None:
    t = replace(tailnet({"InternalExitNodePrior": "nQ3pX8kT2b11CNTRL"}), exit_node_id="")
    assert t.prior_exit_node == "nQ3pX8kT2b11CNTRL"
    assert last_used(t, "nMv2de1CNTRL") == ("nQ3pX8kT2b11CNTRL", True)
    bare = replace(t, prior_exit_node="")
    assert last_used(bare, "nMv2de1CNTRL") == ("nMv2de1CNTRL", False)
    assert last_used(bare, "gone-node") is None  # no longer in the tailnet: nothing to offer
    assert last_used(bare, "nB9mW4rZ7c11CNTRL") is None  # no exit node any more
    assert last_used(replace(t, exit_node_id="nMv1se1CNTRL"), "x") is None  # one is in use: nothing to offer
    assert last_used(replace(t, prior_exit_node="nRemoved1CNTRL"), "nMv2de1CNTRL") == ("nMv2de1CNTRL", False)


def test_last_used_turns_the_daemons_prior_back_on_with_the_same_safety_plan() -> None:
    t = replace(tailnet({"InternalExitNodePrior": "nQ3pX8kT2b11CNTRL"}), exit_node_id="")
    plan = plan_last_used(snap("connected"), t)
    assert plan.steps == (Step.MULLVAD_DISCONNECT, Step.RESTORE_EXIT_NODE)
    assert "through the Tailscale exit node nas" in plan.explanation
    assert plan_last_used(snap("connected", lockdown=True), t).refusal is not None
    mine = plan_last_used(snap("disconnected"), replace(t, prior_exit_node=""), "nMv2de1CNTRL")
    assert mine.steps == (Step.SET_EXIT_NODE,) and mine.exit_node is not None  # only we remember it: set it
    auto = plan_last_used(snap("disconnected"), replace(t, prior_exit_node="auto:any"))
    assert auto.steps == (Step.RESTORE_EXIT_NODE,) and "automatic" in auto.explanation
    assert plan_last_used(snap(), replace(t, prior_exit_node="")).refusal == (
        "No exit node was used before: pick one under Tailscale exit nodes"
    )
    assert use_exit_node_path(False) == "/localapi/v0/set-use-exit-node-enabled?enabled=false"


# -- this device as an exit node --------------------------------------------------------------------------


def test_advertising_keeps_other_routes_and_reads_back_from_the_prefs() -> None:
    assert advertise_patch(None, True) == {
        "AdvertiseRoutes": ["0.0.0.0/0", "::/0"],
        "AdvertiseRoutesSet": True,
    }
    assert advertise_patch(("10.1.0.0/24", "0.0.0.0/0", "::/0"), False) == {
        "AdvertiseRoutes": ["10.1.0.0/24"], "AdvertiseRoutesSet": True
    }  # fmt: skip
    assert tailnet({"AdvertiseRoutes": ["0.0.0.0/0", "::/0"]}).advertises_exit
    assert not tailnet({"AdvertiseRoutes": ["0.0.0.0/0"]}).advertises_exit  # tailscaled needs both
    assert tailnet().advertised_routes == () and not Tailnet().advertises_exit


def test_advertising_is_refused_with_the_fix() -> None:
    t = tailnet()  # uses a Mullvad exit node
    assert "cannot use one and be one at once" in (plan_advertise(snap(), t, True).refusal or "")
    free = replace(t, exit_node_id="")
    assert "sudo tailscale set --operator=$USER" in (
        plan_advertise(snap(can_write=False), free, True).refusal or ""
    )
    assert plan_advertise(snap(), replace(free, advertised_routes=None), True).refusal is not None
    ok = plan_advertise(snap(bypass=ON), free, True)
    assert ok.patch == advertise_patch((), True) and "admin console must approve" in ok.explanation
    assert "Mullvad" not in ok.explanation  # the bypass keeps the clients in Mullvad: nothing to warn about
    cut = plan_advertise(snap(), free, True)  # the bypass off while Mullvad is connected: said, with the fix
    assert "the tailnet cannot reach this device" in cut.explanation
    adv = replace(free, advertised_routes=("0.0.0.0/0", "::/0"))
    assert "cannot be one and use one" in (plan_exit_node(snap(), adv, "nas").refusal or "")


def test_the_clients_fate_in_every_combination() -> None:
    up, blocked, off = (
        MullvadStatus(MullvadState(s), blocked=s == "error") for s in ("connected", "error", "disconnected")
    )
    none = BypassStatus(BypassState.OFF)
    assert [clients_fate(m, none) for m in (up, blocked, off)] == [Fate.NOWHERE, Fate.NOWHERE, Fate.DIRECT]
    # the bypass never lets the clients' internet past Mullvad; the option also holds it back while it is off
    assert [clients_fate(m, ON) for m in (up, blocked, off)] == [Fate.MULLVAD, Fate.DROPPED, Fate.DIRECT]
    assert [clients_fate(m, ON_EXIT) for m in (up, blocked, off)] == [
        Fate.MULLVAD,
        Fate.DROPPED,
        Fate.DROPPED,
    ]
    drifted = BypassStatus(BypassState.DRIFTED, "direct", options=("exit-via-mullvad",))
    assert clients_fate(up, drifted) is Fate.MULLVAD  # still loaded, out of date


def test_the_menu_says_where_clients_go_and_offers_the_fix_only_where_it_helps() -> None:
    t = replace(tailnet({"AdvertiseRoutes": ["0.0.0.0/0", "::/0"]}), exit_node_id="")
    cut = host_view(snap("connected"), t)  # bypass off: cut off; the fix turns it on with the option
    assert (cut.advertising, cut.fate, cut.fix_offered) == (True, Fate.NOWHERE, True)
    assert cut.text == "⚠ Its clients' internet: nothing (Mullvad cuts the tailnet off)"
    for bypass in (ON, ON_EXIT):
        fine = host_view(snap("connected", bypass), t)
        assert (fine.fate, fine.fix_offered, fine.text) == (
            Fate.MULLVAD,
            False,
            "Its clients' internet: through Mullvad",
        )
    held = host_view(snap("error", ON), t)
    assert (held.fate, held.fix_offered) == (Fate.DROPPED, False)
    assert held.text == "Its clients' internet: blocked until Mullvad connects"
    assert host_view(snap("disconnected", ON), t).fix_offered is False  # no VPN here: directly is expected
    unread = host_view(snap("connected", BypassStatus(BypassState.UNKNOWN)), t)  # not read yet: no guess
    assert (unread.fate, unread.fix_offered) == (None, False)
    assert unread.text == "Its clients' internet: unknown until the bypass's state is read"
    quiet = host_view(snap("connected", ON), replace(t, advertised_routes=()))
    assert (quiet.known, quiet.advertising, quiet.text) == (True, False, "")
