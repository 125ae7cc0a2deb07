"""Atomic re-apply: while `refresh` runs again and again, continuous pings (one echo every 10 ms per target)
that must pass lose nothing, pings that must stay blocked never get an answer, and nothing shows up on the
LAN side of the physical link."""

from __future__ import annotations

import time

import pytest

from tests.replica import reference_rules
from tests.replica import topology as t
from tests.replica.bypass_drivers import HelperBypass, ReferenceBypass
from tests.replica.lab import Lab
from tests.replica.probes import ContinuousPing

REFRESHES = 30

# What must keep answering and what must never answer, per Mullvad state. 192.168.1.1 is the LAN (Mullvad's
# Allow LAN is off); 100.64.0.7 is the content-blocker resolver that must stay out of the tailnet set (its
# replies are dropped by Tailscale's ts-input even when the query goes through the tunnel).
PASS = {
    "connected": [t.PEER4, t.PEER6, t.SUBNET_HOST, t.WEB4, t.WEB6],
    "blocked": [t.PEER4, t.PEER6, t.SUBNET_HOST],
}
BLOCK = {
    "connected": [t.LAN_GW4, t.LAN_GW6, t.BLOCKER_DNS],
    "blocked": [t.LAN_GW4, t.LAN_GW6, t.BLOCKER_DNS, t.WEB4, t.WEB6],
}


@pytest.mark.parametrize("mode", ["direct", "private"])
@pytest.mark.parametrize("state", ["connected", "blocked"])
def test_refresh_loses_and_leaks_nothing(lab: Lab, helper: HelperBypass, state: str, mode: str) -> None:
    helper.enable(mode)
    lab.set_mullvad(state)
    lab.reset_leaks()
    host = lab.name("host")
    targets = {f"pass {d}": (host, d) for d in PASS[state]} | {f"block {d}": (host, d) for d in BLOCK[state]}
    pinger = ContinuousPing(targets, interval=0.01)
    pinger.start()
    windows = []  # (start, end) of each refresh, seconds after the pinger started
    try:
        for _ in range(REFRESHES):
            start = time.monotonic() - pinger.t0
            helper.refresh()
            windows.append((round(start, 3), round(time.monotonic() - pinger.t0, 3)))
    finally:
        counts = pinger.stop()
    problems = []
    for key, (sent, answered) in counts.items():
        if sent < REFRESHES:
            problems.append(f"{key}: only {sent} echoes sent, the run proves nothing")
        if key.startswith("pass") and answered != sent:
            lost = [round(at, 3) for at in pinger.lost(key)]
            problems.append(
                f"{key}: {sent - answered} of {sent} echoes lost across {REFRESHES} refreshes; "
                f"sent at {lost} s, refreshes ran at {windows} s"
            )
        if key.startswith("block") and answered:
            problems.append(f"{key}: {answered} of {sent} echoes answered, but it must stay blocked")
    leaks = lab.leaks()
    assert not problems and not any(leaks.values()), f"{problems}; LAN leak counters {leaks}"
    assert helper.status()["state"] == "on"


def test_a_non_atomic_reapply_is_caught(lab: Lab, reference: ReferenceBypass) -> None:
    """Control: the same pinger run across a delete-then-add re-apply (two nft transactions, the gap a
    non-atomic helper would open) sees lost echoes, so the test above can fail."""
    reference.enable("direct")
    host = lab.name("host")
    pinger = ContinuousPing({d: (host, d) for d in (t.PEER4, t.PEER6)}, interval=0.01)
    pinger.start()
    try:
        for _ in range(10):
            lab.nft("host", reference_rules.DELETE_TABLE)
            reference.enable("direct")
    finally:
        counts = pinger.stop()
    assert all(answered < sent for sent, answered in counts.values()), counts
