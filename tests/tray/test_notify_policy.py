"""The pure notification policy: what a stream of snapshots turns into (no Qt, injected clock)."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.tray.standins import (
    BYPASS_OFF,
    BYPASS_ON,
    MULLVAD_CONNECTED,
    MULLVAD_CONNECTING,
    MULLVAD_DISCONNECTED,
    TS_EXIT,
    TS_RUNNING,
    TS_STOPPED,
    snap,
)
from tray_app.core.model import (
    BypassState,
    BypassStatus,
    MullvadState,
    MullvadStatus,
    TailscaleState,
    TailscaleStatus,
)
from tray_app.core.notify_policy import (
    ACTION_ENABLE_BYPASS,
    ACTION_LOGIN,
    ACTION_RESTORE_BYPASS,
    Category,
    Notice,
    NotifyPolicy,
    PolicyConfig,
    Subject,
    Urgency,
    Withdraw,
)

CFG = PolicyConfig(settle=1.0, flap_window=60.0, flap_count=4, flap_settle=30.0, user_window=10.0)


def started(s=None, **kw):  # type: ignore[no-untyped-def]
    p = NotifyPolicy(CFG)
    for k, v in kw.items():
        setattr(p, k, v)
    p.baseline(s or snap(b=BYPASS_ON), 0.0)
    assert p.poll(0.0) == []
    return p


def notices(items: list[Notice | Withdraw]) -> list[tuple[str, str]]:
    return [(n.summary, n.body) for n in items if isinstance(n, Notice)]


def test_start_up_state_is_not_news() -> None:
    p = NotifyPolicy(CFG)
    p.baseline(snap(b=BYPASS_ON), 0.0)
    assert p.poll(100.0) == []
    assert p.next_deadline() is None


def test_first_settled_state_without_ready_is_also_not_news() -> None:
    p = NotifyPolicy(CFG)
    p.observe(snap(b=BYPASS_ON), 0.0)
    assert p.poll(5.0) == []


def test_connecting_then_connected_is_one_notification_after_settling() -> None:
    p = started(snap(m=MULLVAD_DISCONNECTED, b=BYPASS_ON))
    p.observe(snap(m=MULLVAD_CONNECTING, b=BYPASS_ON), 10.0)
    assert p.next_deadline() is None  # in motion: nothing to wait for yet
    p.observe(snap(m=MULLVAD_CONNECTED, b=BYPASS_ON), 10.4)
    assert p.poll(11.0) == []  # not settled yet
    assert p.next_deadline() == 11.4
    out = p.poll(11.4)
    assert notices(out) == [("Mullvad connected", "se-got-wg-001, Gothenburg")]
    assert out[0].slot == "mullvad" and out[0].category is Category.MULLVAD  # type: ignore[union-attr]
    assert p.poll(100.0) == []  # said once


def test_blip_back_to_the_announced_state_says_nothing() -> None:
    p = started()
    p.observe(snap(m=MULLVAD_DISCONNECTED, b=BYPASS_ON), 10.0)
    p.observe(snap(m=MULLVAD_CONNECTED, b=BYPASS_ON), 10.5)
    assert p.poll(20.0) == []


def test_flapping_is_silenced_until_it_holds_still() -> None:
    p = started()
    t = 10.0
    for _ in range(4):  # connected <-> disconnected every 2 s: each would settle on its own
        p.observe(snap(m=MULLVAD_DISCONNECTED, b=BYPASS_ON), t)
        assert notices(p.poll(t + 1.5)) in (
            [],
            [("Mullvad disconnected", "Your traffic no longer goes through Mullvad.")],
        )
        t += 2.0
        p.observe(snap(m=MULLVAD_CONNECTED, b=BYPASS_ON), t)
        p.poll(t + 1.5)
        t += 2.0
    # after 4 changes the subject counts as flapping: a new state must hold 30 s
    p.observe(snap(m=MULLVAD_DISCONNECTED, b=BYPASS_ON), t)
    assert p.poll(t + 5.0) == []
    out = p.poll(t + 30.0)
    assert notices(out) == [("Mullvad disconnected", "Your traffic no longer goes through Mullvad.")]


def test_fast_flapping_sends_nothing_at_all() -> None:
    p = started()
    t = 10.0
    for _ in range(20):
        p.observe(snap(m=MULLVAD_DISCONNECTED, b=BYPASS_ON), t)
        p.observe(snap(m=MULLVAD_CONNECTED, b=BYPASS_ON), t + 0.2)
        assert p.poll(t + 0.4) == []
        t += 0.5
    assert p.poll(t + 100) == []


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([MULLVAD_CONNECTED, MULLVAD_DISCONNECTED, MULLVAD_CONNECTING]),
            st.sampled_from([TS_RUNNING, TS_STOPPED]),
        ),
        max_size=30,
    )
)
def test_any_burst_that_ends_where_it_began_is_silent(steps: list) -> None:  # type: ignore[type-arg]
    p = started()
    t = 10.0
    dt = 0.99 / max(1, len(steps))  # the whole burst is shorter than the settle time
    for m, ts in steps:
        p.observe(snap(m=m, t=ts, b=BYPASS_ON), t)
        assert p.poll(t) == []
        t += dt
    p.observe(snap(b=BYPASS_ON), t)
    assert p.poll(t + 1000) == []


def test_replace_by_slot() -> None:
    p = started(snap(m=MULLVAD_DISCONNECTED, b=BYPASS_ON))
    p.observe(snap(m=MULLVAD_CONNECTED, b=BYPASS_ON), 10.0)
    first = p.poll(11.0)
    p.observe(snap(m=MULLVAD_DISCONNECTED, b=BYPASS_ON), 20.0)
    second = p.poll(21.0)
    assert [n.slot for n in first + second] == ["mullvad", "mullvad"]  # type: ignore[union-attr]


def test_changes_the_user_asked_for_are_quieter() -> None:
    p = started(snap(m=MULLVAD_DISCONNECTED, b=BYPASS_ON))
    p.user_initiated(Subject.MULLVAD, 9.0)
    p.observe(snap(m=MULLVAD_CONNECTED, b=BYPASS_ON), 10.0)
    (n,) = p.poll(11.0)
    assert isinstance(n, Notice) and n.urgency is Urgency.LOW and n.transient
    # a spontaneous change much later is normal again
    p.observe(snap(m=MULLVAD_DISCONNECTED, b=BYPASS_ON), 100.0)
    (n,) = p.poll(101.0)
    assert isinstance(n, Notice) and n.urgency is Urgency.NORMAL and not n.transient


def test_muted_category_and_disabled_notifications() -> None:
    p = started(snap(m=MULLVAD_DISCONNECTED, b=BYPASS_ON))
    p.muted = frozenset({Category.MULLVAD})
    p.observe(snap(m=MULLVAD_CONNECTED, t=TS_STOPPED, b=BYPASS_ON), 10.0)
    assert notices(p.poll(11.0)) == [("Tailscale stopped", "This device is off the tailnet.")]
    p.enabled = False
    p.observe(snap(m=MULLVAD_CONNECTED, t=TS_RUNNING, b=BYPASS_ON), 20.0)
    assert p.poll(21.0) == []


def test_leak_warning_is_critical_and_never_muted() -> None:
    p = started(muted=frozenset(Category), enabled=False)
    leaking = MullvadStatus(
        MullvadState.ERROR, blocked=False, block_failure=True, detail="Failed to apply firewall"
    )
    p.observe(snap(m=leaking, b=BYPASS_ON), 10.0)
    (n,) = p.poll(11.0)
    assert isinstance(n, Notice) and n.urgency is Urgency.CRITICAL
    assert n.summary == "Mullvad could not block traffic" and "may leave this device unprotected" in n.body


def test_blocked_state() -> None:
    p = started()
    blocked = MullvadStatus(MullvadState.ERROR, blocked=True, detail="No relay matches your settings")
    p.observe(snap(m=blocked, b=BYPASS_ON), 10.0)
    assert notices(p.poll(11.0)) == [
        (
            "Mullvad is blocking traffic",
            "No relay matches your settings. Traffic is blocked until Mullvad connects.",
        )
    ]


def test_cut_off_tailnet_suggests_the_bypass_with_an_action_and_withdraws_it() -> None:
    p = started(snap(m=MULLVAD_DISCONNECTED, b=BYPASS_OFF))
    p.observe(snap(m=MULLVAD_CONNECTED, b=BYPASS_OFF), 10.0)
    out = p.poll(11.0)
    summaries = notices(out)
    assert ("Mullvad connected", "se-got-wg-001, Gothenburg") in summaries
    (suggestion,) = [n for n in out if isinstance(n, Notice) and n.slot == "suggest"]
    assert suggestion.body == "Mullvad connected and your tailnet is cut off: turn on the bypass?"
    assert suggestion.actions[0].id == ACTION_ENABLE_BYPASS
    p.user_initiated(Subject.BYPASS, 12.0)
    p.observe(snap(b=BYPASS_ON), 12.5)
    out = p.poll(14.0)
    assert Withdraw("suggest") in out
    assert [(n.summary, n.transient) for n in out if isinstance(n, Notice)] == [("Bypass on (direct)", True)]


def test_suggestion_at_start_up_when_already_cut_off_but_not_when_wanted() -> None:
    p = NotifyPolicy(CFG)
    p.baseline(snap(b=BYPASS_OFF), 0.0)
    assert [n.slot for n in p.poll(1.0) if isinstance(n, Notice)] == ["suggest"]
    p = NotifyPolicy(CFG)
    p.bypass_wanted = True  # the user wants it: the lost-bypass notice covers this, not a suggestion
    p.baseline(snap(b=BYPASS_OFF), 0.0)
    assert p.poll(1.0) == []


def test_bypass_off_from_anywhere_is_a_choice_and_only_a_lost_table_offers_restore() -> None:
    # `bypass off` in a terminal (nothing saved any more) while the tray wanted it: "Bypass off", once
    p = started(bypass_wanted=True)
    p.observe(snap(b=BYPASS_OFF), 10.0)
    out = [n for n in p.poll(11.0) if isinstance(n, Notice)]
    assert [(n.summary, n.actions) for n in out] == [("Bypass off", ())]
    assert [n for n in p.poll(30.0) if isinstance(n, Notice)] == []
    # saved as on but the table is gone: lost, with Restore
    p = started(bypass_wanted=True)
    p.observe(snap(b=BypassStatus(BypassState.DRIFTED, detail="saved but not loaded")), 10.0)
    (n,) = [n for n in p.poll(11.0) if isinstance(n, Notice)]
    assert n.summary == "Bypass lost" and n.actions[0].id == ACTION_RESTORE_BYPASS
    # the user turning it off from the menu: quieter
    p = started(bypass_wanted=True)
    p.user_initiated(Subject.BYPASS, 9.5)
    p.bypass_wanted = False
    p.observe(snap(b=BYPASS_OFF), 10.0)
    out = [n for n in p.poll(11.0) if isinstance(n, Notice)]
    assert next((n.summary, n.urgency) for n in out) == ("Bypass off", Urgency.LOW)


def test_a_repair_by_the_reconciler_is_said_though_the_state_stays_on() -> None:
    p = started(bypass_wanted=True)
    on = BypassStatus(BypassState.ON, mode="direct", reconciled=True)
    p.observe(snap(b=on), 10.0)
    p.poll(11.0)
    why = "its table was removed (nft flush ruleset, an nftables reload, or by hand)"
    p.observe(
        snap(b=BypassStatus(BypassState.ON, mode="direct", reconciled=True, repairs=1, last_repair=why)), 20.0
    )
    (n,) = [n for n in p.poll(21.0) if isinstance(n, Notice)]
    assert n.summary == "Bypass lost and restored"
    assert (
        n.body
        == "Its table was removed (nft flush ruleset, an nftables reload, or by hand); the bypass was re-applied at once."
    )


def test_bypass_drift_offers_repair() -> None:
    p = started(bypass_wanted=True)
    p.observe(snap(b=BypassStatus(BypassState.DRIFTED, mode="direct", detail="subnet routes changed")), 10.0)
    (n,) = p.poll(11.0)
    assert isinstance(n, Notice) and n.summary == "Bypass out of date" and n.actions[0].label == "Repair"


def test_exit_node_changes() -> None:
    p = started()
    p.observe(snap(t=TS_EXIT, b=BYPASS_ON), 10.0)
    assert notices(p.poll(11.0)) == [("Exit node: nas", "Internet traffic leaves through this exit node.")]
    p.observe(snap(t=TS_RUNNING, b=BYPASS_ON), 20.0)
    assert notices(p.poll(21.0)) == [
        ("Exit node off", "Internet traffic no longer uses a Tailscale exit node.")
    ]


def test_tailscale_needs_login_offers_the_login_url() -> None:
    p = started()
    p.observe(
        snap(
            t=TailscaleStatus(TailscaleState.NEEDS_LOGIN, auth_url="https://login.tailscale.com/a/x"),
            b=BYPASS_ON,
        ),
        10.0,
    )
    (n,) = p.poll(11.0)
    assert isinstance(n, Notice) and n.summary == "Tailscale needs login" and n.actions[0].id == ACTION_LOGIN
    p.observe(snap(t=TailscaleStatus(TailscaleState.NEEDS_LOGIN), b=BYPASS_ON), 20.0)  # same kind: no repeat
    assert p.poll(30.0) == []


def test_tailscale_stops_and_daemon_goes_away() -> None:
    p = started()
    p.observe(snap(t=TS_STOPPED, b=BYPASS_ON), 10.0)
    assert notices(p.poll(11.0)) == [("Tailscale stopped", "This device is off the tailnet.")]
    p.observe(
        snap(t=TailscaleStatus(TailscaleState.UNAVAILABLE, detail="tailscaled is not running"), b=BYPASS_ON),
        20.0,
    )
    (n,) = p.poll(21.0)
    assert isinstance(n, Notice) and n.summary == "Tailscale not available" and n.urgency is Urgency.LOW


def test_reconnect_to_another_relay_is_announced() -> None:
    p = started()
    p.observe(
        snap(m=replace(MULLVAD_CONNECTED, relay="de-fra-wg-002", location="Frankfurt, Germany"), b=BYPASS_ON),
        10.0,
    )
    assert notices(p.poll(11.0)) == [("Mullvad connected", "de-fra-wg-002, Frankfurt")]


def test_table_gone_while_saved_on_is_lost_even_if_the_tray_did_not_know_the_wish() -> None:
    p = started()
    p.observe(
        snap(
            b=BypassStatus(BypassState.DRIFTED, mode=None, detail="saved as on but its table is not loaded")
        ),
        10.0,
    )
    (n,) = p.poll(11.0)
    assert isinstance(n, Notice) and n.summary == "Bypass lost" and n.actions[0].id == ACTION_RESTORE_BYPASS


def test_a_change_of_bypass_mode_is_said_with_what_it_exposes() -> None:
    """`bypass on --mode direct` in a terminal while the tray shows private mode: the tray says so, not only
    its radio button moving (issue 14.1)."""
    private = BypassStatus(BypassState.ON, mode="private")
    p = started(snap(b=private))
    p.observe(snap(b=BYPASS_ON), 10.0)
    out = [n for n in p.poll(12.0) if isinstance(n, Notice)]
    assert [(n.summary, n.body, n.urgency, n.transient) for n in out] == [
        (
            "Bypass mode changed to direct",
            "Tailscale, its relays and your peers now see this device's real IP.",
            Urgency.NORMAL,
            False,
        )
    ]
    # Back to private from the tray's own menu: still said, quieter, as the user's own change.
    p.user_initiated(Subject.BYPASS, 20.0)
    p.observe(snap(b=private), 20.5)
    out = [n for n in p.poll(23.0) if isinstance(n, Notice)]
    assert [(n.summary, n.transient) for n in out] == [("Bypass mode changed to private", True)]
