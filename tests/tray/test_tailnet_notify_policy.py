"""The pure tailnet notification policy on a clock of its own: opt-in, settle, flap-proof, start-up quiet."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from tests.fakes.fake_localapi import load_fixture
from tray_app.core.notify_policy import PolicyConfig
from tray_app.core.tailnet import Tailnet, tailnet_from_status
from tray_app.core.tailnet_notify import (
    ACTION_REAUTH,
    ACTION_SAVE_FILES,
    TailnetFacts,
    TailnetKind,
    TailnetNotifyPolicy,
)

NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
NAS = "nQ3pX8kT2b11CNTRL"
CFG = PolicyConfig(settle=1.5, flap_window=60.0, flap_count=4, flap_settle=30.0)


def net(online: bool = True, expiry: datetime | None = None) -> Tailnet:
    t = tailnet_from_status(json.loads(load_fixture("running")))
    peers = tuple(replace(p, online=online) if p.id == NAS else p for p in t.peers)
    return replace(t, peers=peers, self_key_expiry=expiry)


def policy(*kinds: TailnetKind) -> TailnetNotifyPolicy:
    p = TailnetNotifyPolicy(CFG)
    p.enabled = frozenset(kinds)
    p.watched = frozenset({NAS})
    p.observe(TailnetFacts(net(), now=NOW), 0.0)  # start-up: the baseline
    return p


def test_a_device_change_is_said_after_it_settled_and_only_when_opted_in() -> None:
    off = policy()
    off.observe(TailnetFacts(net(False), now=NOW), 1.0)
    assert off.poll(10.0) == []
    p = policy(TailnetKind.DEVICES)
    p.observe(TailnetFacts(net(False), now=NOW), 1.0)
    assert p.poll(2.0) == [] and p.next_deadline() == 2.5
    (n,) = p.poll(2.5)
    assert (n.slot, n.summary) == (f"device:{NAS}", "nas went offline")


def test_a_flapping_device_waits_until_it_holds_still_and_a_round_trip_says_nothing() -> None:
    p = policy(TailnetKind.DEVICES)
    t = 1.0
    for i in range(6):
        p.observe(TailnetFacts(net(i % 2 == 1), now=NOW), t)
        assert p.poll(t) == []
        t += 0.5
    assert p.poll(t + 5) == []  # ended online, where it began: nothing to say
    p.observe(TailnetFacts(net(False), now=NOW), t + 6)
    assert p.poll(t + 6 + 2) == []  # still flapping by the window: the long settle applies
    assert [n.summary for n in p.poll(t + 6 + 30)] == ["nas went offline"]


def test_files_key_expiry_and_health_carry_their_actions() -> None:
    p = policy(TailnetKind.TAILDROP, TailnetKind.KEY_EXPIRY, TailnetKind.HEALTH)
    soon = NOW + timedelta(days=2, hours=2)
    p.observe(TailnetFacts(net(expiry=soon), ("Disco down",), ("a.txt",), NOW), 1.0)
    by = {n.slot: n for n in p.poll(5.0)}
    assert by["taildrop"].actions[0].id == ACTION_SAVE_FILES and "a.txt is waiting" in by["taildrop"].body
    assert by["keyexpiry"].actions[0].id == ACTION_REAUTH and "expires in 2 days" in by["keyexpiry"].body
    assert by["health"].body == "Disco down"
    # the same facts again: nothing; a second file: only the new one is named
    p.observe(TailnetFacts(net(expiry=soon), ("Disco down",), ("a.txt", "b.txt"), NOW), 6.0)
    assert [n.body for n in p.poll(10.0)] == ["b.txt is waiting. Save it to your Downloads folder?"]


def test_the_state_at_start_up_is_not_news() -> None:
    p = TailnetNotifyPolicy(CFG)
    p.enabled = frozenset(TailnetKind)
    p.observe(TailnetFacts(net(expiry=NOW + timedelta(days=1)), ("warn",), ("x",), NOW), 0.0)
    assert p.poll(100.0) == [] and p.next_deadline() is None
