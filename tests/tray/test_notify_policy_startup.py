"""Start-up is discovery, not flapping (found by packaging/e2e-new-user.sh): the monitor emits a snapshot
per part as the sources answer, so Mullvad reads "unavailable" and then "connected" before `ready`. Those
arrivals used to count as changes, and the user's first disconnect within a minute of starting the tray
(disconnecting, then disconnected) made four and waited the 30 s flap settle instead of 1 s."""

from __future__ import annotations

from dataclasses import replace

from tests.tray.standins import BYPASS_ON, MULLVAD_DISCONNECTED, flap_mullvad, snap
from tray_app.core.model import MullvadState, MullvadStatus, Snapshot
from tray_app.core.notify_policy import Notice, NotifyPolicy, PolicyConfig, Subject

CFG = PolicyConfig(settle=1.0, flap_window=60.0, flap_count=4, flap_settle=30.0, user_window=10.0)


def _started_like_the_app() -> NotifyPolicy:
    p = NotifyPolicy(CFG)
    first = Snapshot()  # what the monitor emits when the first part (not Mullvad) arrives
    p.observe(replace(first, bypass=BYPASS_ON), 0.0)
    p.observe(snap(b=BYPASS_ON), 0.2)  # then Mullvad's CLI answered: connected
    p.baseline(snap(b=BYPASS_ON), 0.3)
    assert p.poll(0.3) == []
    return p


def test_first_disconnect_after_start_is_announced_after_the_normal_settle() -> None:
    p = _started_like_the_app()
    p.user_initiated(Subject.MULLVAD, 5.0)
    p.observe(snap(m=MullvadStatus(MullvadState.DISCONNECTING), b=BYPASS_ON), 5.0)
    p.observe(snap(m=MULLVAD_DISCONNECTED, b=BYPASS_ON), 5.1)
    assert p.next_deadline() == 5.1 + CFG.settle
    out = p.poll(5.1 + CFG.settle)
    assert [n.summary for n in out if isinstance(n, Notice)] == ["Mullvad disconnected"]


def test_real_flapping_right_after_start_is_still_silenced() -> None:
    p = _started_like_the_app()
    t = flap_mullvad(p, 5.0)
    p.observe(snap(m=MULLVAD_DISCONNECTED, b=BYPASS_ON), t)
    assert p.poll(t + CFG.settle) == []  # five changes in a second: hold still first
    out = p.poll(t + CFG.flap_settle)
    assert [n.summary for n in out if isinstance(n, Notice)] == ["Mullvad disconnected"]
