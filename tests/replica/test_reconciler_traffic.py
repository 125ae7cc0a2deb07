"""The reconciler (`bypass-helper watch`) in the replica's host namespace, with no tray and no systemd: after
each change it puts things right by itself, and the tailnet keeps working under a 10 ms ping.

For each change: the time until our table (or its sets) is right again, echoes lost to the peers that must
answer throughout, and packets on the physical link (must be 0). The figures are printed (`-s` shows them);
bench/bench_reconciler.py measures the same over many rounds."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from tests.bypass.watcher import Watcher, wait_for, watching
from tests.replica import tailscale_replica as tailscale
from tests.replica import topology as t
from tests.replica.bypass_drivers import HelperBypass
from tests.replica.lab import Lab
from tests.replica.probes import ContinuousPing

NEW_SUBNET, NEW_HOST = "192.168.77.0/24", "192.168.77.1"
STEADY = (t.PEER4, t.PEER6, t.SUBNET_HOST)  # must answer across every change but a tailscaled stop


@pytest.fixture
def watcher(lab: Lab, helper: HelperBypass) -> Iterator[Watcher]:
    helper.enable("direct")
    try:
        with watching(lab.name("host"), helper.lab.env_for_helper(helper.state_dir)) as w:
            yield w
    finally:
        lab.set_subnet_route(NEW_SUBNET, NEW_HOST, present=False)


def _set4(lab: Lab) -> str:
    r = lab.run("host", "nft", "list", "set", "inet", "mullvad-tailscale", "tailnet4", check=False)
    return r.stdout if r.returncode == 0 else ""


def _ours(lab: Lab) -> str | None:
    r = lab.run("host", "nft", "list", "table", "inet", "mullvad-tailscale", check=False)
    return r.stdout if r.returncode == 0 else None


def _measure(
    lab: Lab, change: Callable[[], None], right: Callable[[], bool], pings: tuple[str, ...]
) -> tuple[float, dict[str, tuple[int, int]]]:
    """(seconds from the change until `right()`, {target: (sent, answered)} of a 10 ms ping around it)."""
    host = lab.name("host")
    pinger = ContinuousPing({d: (host, d) for d in pings}, interval=0.01)
    lab.reset_leaks()
    pinger.start()
    try:
        time.sleep(0.2)
        t0 = time.monotonic()
        change()
        wait_for("the bypass right again", right, timeout=10, step=0.002)
        took = time.monotonic() - t0
        time.sleep(0.2)
    finally:
        counts = pinger.stop()
    return took, counts


def _report(name: str, took: float, counts: dict[str, tuple[int, int]], lab: Lab) -> None:
    lost = {k: s - a for k, (s, a) in counts.items()}
    print(f"\n{name}: right again after {took * 1000:.0f} ms; lost echoes {lost}; leaks {lab.leaks()}")


def test_subnet_route_added_and_withdrawn(lab: Lab, watcher: Watcher) -> None:
    took, counts = _measure(
        lab, lambda: lab.set_subnet_route(NEW_SUBNET, NEW_HOST), lambda: NEW_SUBNET in _set4(lab), STEADY
    )
    _report("route added", took, counts, lab)
    assert took < 1.0 and all(s == a for s, a in counts.values()), counts
    # and the new subnet answers through the bypass
    _, new = _measure(lab, lambda: None, lambda: True, (NEW_HOST,))
    assert new[NEW_HOST][1] == new[NEW_HOST][0] > 0, new
    took, counts = _measure(
        lab,
        lambda: lab.set_subnet_route(NEW_SUBNET, NEW_HOST, present=False),
        lambda: NEW_SUBNET not in _set4(lab),
        STEADY,
    )
    _report("route withdrawn", took, counts, lab)
    assert took < 1.0 and all(s == a for s, a in counts.values()), counts
    assert not any(lab.leaks().values()), lab.leaks()


@pytest.mark.parametrize(
    "damage",
    ["nft delete table inet mullvad-tailscale", "nft flush ruleset"],
    ids=["table-deleted", "ruleset-flushed"],
)
def test_table_removed_behind_its_back(lab: Lab, watcher: Watcher, damage: str) -> None:
    good = _ours(lab)

    def change() -> None:
        lab.run("host", *damage.split())
        if "ruleset" in damage:  # what an nftables.service restart is followed by: the daemons' tables
            lab.set_tailscale()

    took, counts = _measure(lab, change, lambda: _ours(lab) == good, STEADY)
    _report(damage, took, counts, lab)
    assert took < 1.0
    assert not any(lab.leaks().values()), lab.leaks()
    # Echoes sent in the gap went into Mullvad's tunnel. The ping's conntrack entry was created there, with
    # the tunnel address as source and no masquerade, and keeps that until it expires (docs/bypass.md,
    # "Limits"), so the running ping stays lost; a new flow works at once.
    _, fresh = _measure(lab, lambda: None, lambda: True, STEADY)
    assert all(s == a > 0 for s, a in fresh.values()), fresh
    pub = watcher.published()
    assert pub is not None and pub["state"] == "on" and pub["reconciler"]["repairs"] >= 1


def test_tailscaled_stopped_and_restarted(lab: Lab, watcher: Watcher) -> None:
    """tailscaled stopping takes its routes, rules and tables away; starting puts them back (the replica's
    model of a restart): the sets follow both ways and the peers answer again."""

    def stop() -> None:
        lab.ip_batch("host", [r.replace(" replace ", " del ") for r in tailscale.ROUTES_52], check=False)
        lab.ip_batch("host", [r.replace(" add ", " del ") for r in tailscale.RULES], check=False)
        lab.nft("host", tailscale.DELETE_TABLES)

    took, _ = _measure(lab, stop, lambda: t.SUBNET not in _set4(lab), ())
    print(f"\ntailscaled stopped: sets reduced after {took * 1000:.0f} ms")
    assert took < 1.0

    def start() -> None:
        lab.ip_batch("host", tailscale.ROUTES_52 + tailscale.RULES)
        lab.set_tailscale()

    took, counts = _measure(lab, start, lambda: t.SUBNET in _set4(lab), ())
    print(f"tailscaled started: sets right after {took * 1000:.0f} ms")
    assert took < 1.0
    _, counts = _measure(lab, lambda: None, lambda: True, STEADY)
    assert all(s == a > 0 for s, a in counts.values()), counts
    assert not any(lab.leaks().values()), lab.leaks()
