"""Issue 14.6, on the pure policy with a virtual clock: the user's own steps confirm promptly (they are not
flapping), a notice that became false is withdrawn at once, and what a daemon does on its own right after
a user action is not quieted as if the user did it."""

from __future__ import annotations

from tests.tray.standins import (
    BYPASS_OFF,
    BYPASS_ON,
    MULLVAD_CONNECTED,
    MULLVAD_CONNECTING,
    MULLVAD_DISCONNECTED,
    TS_RUNNING,
    TS_STOPPED,
    flap_mullvad,
    snap,
)
from tray_app.controller import BYPASS_OFF as USER_OFF
from tray_app.controller import BYPASS_ON as USER_ON
from tray_app.controller import MULLVAD_EXPECT
from tray_app.core.model import (
    BypassState,
    BypassStatus,
    MullvadState,
    MullvadStatus,
    TailscaleState,
    TailscaleStatus,
)
from tray_app.core.notify_policy import Notice, NotifyPolicy, PolicyConfig, Subject, Urgency, Withdraw

CFG = PolicyConfig(settle=1.5, flap_window=60.0, flap_count=4, flap_settle=30.0, user_window=20.0)
LEAKING = MullvadStatus(MullvadState.ERROR, block_failure=True, detail="Failed to apply firewall rules")
DISCONNECTING = MullvadStatus(MullvadState.DISCONNECTING)
PRIVATE = BypassStatus(BypassState.ON, mode="private")


def started(s=None) -> NotifyPolicy:  # type: ignore[no-untyped-def]
    p = NotifyPolicy(CFG)
    p.baseline(s or snap(b=BYPASS_ON), 0.0)
    assert p.poll(0.0) == []
    return p


def said(p: NotifyPolicy, now: float) -> list[tuple[str, Urgency]]:
    return [(n.summary, n.urgency) for n in p.poll(now) if isinstance(n, Notice)]


def test_toggling_on_private_off_within_15_s_confirms_each_step() -> None:
    p = started(snap(m=MULLVAD_DISCONNECTED, b=BYPASS_OFF))
    steps = [(USER_ON, BYPASS_ON, "Bypass on (direct)"), (USER_ON, PRIVATE, "Bypass mode changed to private"),
             (USER_OFF, BYPASS_OFF, "Bypass off")]  # fmt: skip
    t = 10.0
    for intent, state, summary in steps:
        p.user_initiated(intent.subject, t, intent.expect)
        p.observe(snap(m=MULLVAD_DISCONNECTED, b=state), t + 1.0)
        assert p.next_deadline() == t + 1.0 + CFG.settle  # not the 30 s flap settle
        assert said(p, t + 1.0 + CFG.settle) == [(summary, Urgency.LOW)]
        t += 5.0


def test_disconnect_then_connect_from_the_menu_confirms_both() -> None:
    p = started()
    p.user_initiated(Subject.MULLVAD, 10.0, MULLVAD_EXPECT["disconnect_tunnel"])
    p.observe(snap(m=DISCONNECTING, b=BYPASS_ON), 10.1)
    p.observe(snap(m=MULLVAD_DISCONNECTED, b=BYPASS_ON), 10.5)
    assert said(p, 12.0) == [("Mullvad disconnected", Urgency.LOW)]
    p.user_initiated(Subject.MULLVAD, 13.0, MULLVAD_EXPECT["connect_tunnel"])
    p.observe(snap(m=MULLVAD_CONNECTING, b=BYPASS_ON), 13.1)
    p.observe(snap(m=MULLVAD_CONNECTED, b=BYPASS_ON), 13.6)
    assert said(p, 13.6 + CFG.settle) == [("Mullvad connected", Urgency.LOW)]


def test_the_daemon_flapping_by_itself_is_still_silenced() -> None:
    p = started()
    p.user_initiated(Subject.MULLVAD, 10.0, MULLVAD_EXPECT["disconnect_tunnel"])
    t = flap_mullvad(p, 10.0)  # the first "disconnected" was asked for; the rest is the daemon's
    p.observe(snap(m=MULLVAD_DISCONNECTED, b=BYPASS_ON), t)
    assert [n for n in p.poll(t + CFG.settle) if isinstance(n, Notice)] == []


def test_critical_could_not_block_is_withdrawn_once_mullvad_connects_again() -> None:
    p = started()
    p.observe(snap(m=LEAKING, b=BYPASS_ON), 10.0)
    assert said(p, 11.5) == [("Mullvad could not block traffic", Urgency.CRITICAL)]
    p.observe(snap(m=MULLVAD_CONNECTING, b=BYPASS_ON), 20.0)
    assert p.next_deadline() == 20.0
    assert p.poll(20.0) == [Withdraw("mullvad")]  # at once, not when the next state settles
    p.observe(snap(m=MULLVAD_CONNECTED, b=BYPASS_ON), 20.5)
    assert said(p, 22.0) == [("Mullvad connected", Urgency.NORMAL)]
    assert p.poll(100.0) == []  # withdrawn once


def test_a_leak_back_after_a_withdrawal_is_said_again_even_while_flapping() -> None:
    p = started()
    t = flap_mullvad(p, 10.0)
    p.observe(snap(m=LEAKING, b=BYPASS_ON), t)
    assert said(p, t + CFG.settle) == [("Mullvad could not block traffic", Urgency.CRITICAL)]
    p.observe(snap(m=MULLVAD_CONNECTING, b=BYPASS_ON), t + 2)
    assert p.poll(t + 2) == [Withdraw("mullvad")]
    p.observe(snap(m=LEAKING, b=BYPASS_ON), t + 3)
    assert said(p, t + 3 + CFG.settle) == [("Mullvad could not block traffic", Urgency.CRITICAL)]


def test_needs_login_7_s_after_up_is_the_daemons_and_not_quieted() -> None:
    p = started(snap(t=TS_STOPPED, b=BYPASS_ON))
    p.user_initiated(Subject.TAILSCALE, 10.0, {"running"})
    p.observe(snap(t=TailscaleStatus(TailscaleState.STARTING), b=BYPASS_ON), 10.2)
    p.observe(snap(t=TS_RUNNING, b=BYPASS_ON), 11.0)
    out = [n for n in p.poll(12.5) if isinstance(n, Notice)]
    assert [(n.summary, n.urgency, n.transient) for n in out] == [("Tailscale running", Urgency.LOW, True)]
    p.observe(
        snap(
            t=TailscaleStatus(TailscaleState.NEEDS_LOGIN, auth_url="https://login.example/a/1"), b=BYPASS_ON
        ),
        17.0,
    )
    out = [n for n in p.poll(18.5) if isinstance(n, Notice)]
    assert [(n.summary, n.urgency, n.transient) for n in out] == [
        ("Tailscale needs login", Urgency.NORMAL, False)
    ]
    p.observe(
        snap(t=TailscaleStatus(TailscaleState.STARTING), b=BYPASS_ON), 30.0
    )  # logged in: the notice is false
    assert p.poll(30.0) == [Withdraw("tailscale")]
