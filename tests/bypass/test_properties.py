"""Property tests over random table-52 contents: what enters the sets, and that real nft accepts every batch."""

from __future__ import annotations

import ipaddress
import json
from ipaddress import IPv4Network, IPv6Network
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.infra.netns import NetNS
from tray_app.core import rules, rules_readback
from tray_app.core.routes import NEVER_BYPASS6, WIDE_PREFIX, parse_table52
from tray_app.core.rules import Config
from tray_app.core.world import TAILNET4, TAILNET6

# A small pool of bases so that overlaps, duplicates and nesting are common.
BASES4 = [
    "10.0.0.0",
    "10.0.1.0",
    "10.1.0.0",
    "100.64.0.0",
    "100.64.0.32",
    "100.100.100.100",
    "192.168.50.0",
    "192.168.50.128",
    "8.8.8.8",
    "224.0.0.0",
    "127.0.0.1",
    "169.254.1.0",
    "0.0.0.0",
    "255.255.255.255",
    "128.0.0.0",
]
BASES6 = [
    "fd7a:115c:a1e0::",
    "fd7a:115c:a1e0::53",
    "2001:db8::",
    "2001:db8:0:1::",
    "fe80::",
    "ff02::1",
    "::1",
    "::",
    "fd00::",
    "64:ff9b::",  # NAT64 (RFC 6052) and local-use NAT64 (RFC 8215), IPv4-mapped: never bypassed
    "64:ff9b:1::",
    "::ffff:0:0",
]
TYPES = [None, None, None, "unicast", "throw", "unreachable", "blackhole", "local", "broadcast", "multicast"]
DEVS = ["tailscale0", "tailscale0", "tailscale0", "eth0", "wg0-mullvad", None]


def _route(version: int) -> st.SearchStrategy[dict[str, Any]]:
    bases = BASES4 if version == 4 else BASES6
    maxlen = 32 if version == 4 else 128

    def build(base: str, plen: int, typ: str | None, dev: str | None, default_word: bool) -> dict[str, Any]:
        net = ipaddress.ip_network(f"{base}/{plen}", strict=False)
        dst = (
            "default"
            if default_word or net.prefixlen == 0
            else (str(net.network_address) if net.prefixlen == maxlen else str(net))
        )
        r: dict[str, Any] = {"dst": dst, "flags": []}
        if typ is not None:
            r["type"] = typ
        if dev is not None:
            r["dev"] = dev
        return r

    return st.builds(
        build,
        st.sampled_from(bases),
        st.integers(0, maxlen),
        st.sampled_from(TYPES),
        st.sampled_from(DEVS),
        st.sampled_from([False] * 5 + [True]),  # the literal "default" that ip prints for 0/0
    )


def route_lists(version: int) -> st.SearchStrategy[list[dict[str, Any]]]:
    return st.lists(_route(version), max_size=12)


def _intervals(nets: list[Any]) -> list[tuple[int, int]]:
    ranges = sorted((int(n.network_address), int(n.broadcast_address)) for n in nets)
    out: list[list[int]] = []
    for lo, hi in ranges:
        if out and lo <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return [(a, b) for a, b in out]


def _via_ts(routes: list[dict[str, Any]], version: int) -> list[Any]:
    """Every unicast tailscale0 destination, the default route as /0."""
    zero = "0.0.0.0/0" if version == 4 else "::/0"
    return [
        ipaddress.ip_network(zero if r["dst"] == "default" else r["dst"], strict=False)
        for r in routes
        if r.get("type", "unicast") == "unicast" and r.get("dev") == "tailscale0"
    ]


def _usable(net: Any) -> bool:
    return not (
        net.prefixlen == 0 or net.is_multicast or net.is_loopback or net.is_link_local or net.is_unspecified
    )


def _check_facts(r4: list[dict[str, Any]], r6: list[dict[str, Any]]) -> None:
    """The invariants of issue 9 item 3, stated without the implementation's algorithm."""
    facts = parse_table52(json.dumps(r4), json.dumps(r6))
    for nets in (facts.tailnet4, facts.tailnet6):
        for i, a in enumerate(nets):  # nft's interval sets refuse overlapping elements
            assert not any(a.overlaps(b) for b in nets[i + 1 :])
    assert all(isinstance(n, IPv4Network) for n in facts.tailnet4)
    assert all(isinstance(n, IPv6Network) for n in facts.tailnet6)
    # nothing wider than /8 (/16) ever enters a set, alone or merged with its neighbours
    assert all(n.prefixlen >= WIDE_PREFIX[n.version] for n in (*facts.tailnet4, *facts.tailnet6))
    assert not any(n.overlaps(bad) for n in facts.tailnet6 for bad in NEVER_BYPASS6)
    for nets, routes, base in ((facts.tailnet4, r4, TAILNET4), (facts.tailnet6, r6, TAILNET6)):
        raw = [base, *(n for n in _via_ts(routes, base.version) if _usable(n))]
        got = _intervals(list(nets))
        # never more than Tailscale's range and its usable routes
        assert all(any(lo <= a and b <= hi for lo, hi in _intervals(raw)) for a, b in got)
        # every usable route is either in a set or named as kept out
        for net in raw:
            covered = any(
                lo <= int(net.network_address) and int(net.broadcast_address) <= hi for lo, hi in got
            )
            assert covered or str(net) in facts.excluded, (net, facts.excluded)
    v4_all = _intervals(_via_ts(r4, 4))
    v6_all = _intervals(_via_ts(r6, 6))
    covers = v4_all == [(0, 2**32 - 1)] or v6_all == [(0, 2**128 - 1)]
    assert facts.default_route == covers


@settings(max_examples=200, deadline=None)
@given(route_lists(4), route_lists(6))
def test_sets_hold_only_narrow_usable_tailnet_routes(
    r4: list[dict[str, Any]], r6: list[dict[str, Any]]
) -> None:
    _check_facts(r4, r6)


def _partition(bits: int) -> st.SearchStrategy[list[str]]:
    """A random set of prefixes whose union is exactly the whole address space (a /1 pair, 256 /8s, ...)."""

    def split(draw: Any, start: int, plen: int) -> list[tuple[int, int]]:
        if plen >= 12 or (not draw(st.booleans()) and plen > 0):
            return [(start, plen)]
        half = 1 << (bits - plen - 1)
        return split(draw, start, plen + 1) + split(draw, start + half, plen + 1)

    @st.composite
    def build(draw: Any) -> list[str]:
        cls = ipaddress.IPv4Network if bits == 32 else ipaddress.IPv6Network
        return [str(cls((start, plen))) for start, plen in split(draw, 0, 0)]

    return build()


def _as_routes(prefixes: list[str]) -> list[dict[str, Any]]:
    return [{"dst": p, "dev": "tailscale0", "flags": []} for p in prefixes]


@settings(max_examples=100, deadline=None)
@given(_partition(32), route_lists(4), route_lists(6))
def test_routes_that_together_cover_the_ipv4_default_are_an_exit_node(
    parts: list[str], r4: list[dict[str, Any]], r6: list[dict[str, Any]]
) -> None:
    facts = parse_table52(json.dumps(_as_routes(parts) + r4), json.dumps(r6))
    assert facts.default_route
    assert any("exit node" in w for w in facts.warnings)
    _check_facts(_as_routes(parts) + r4, r6)


@settings(max_examples=100, deadline=None)
@given(_partition(128), route_lists(6))
def test_routes_that_together_cover_the_ipv6_default_are_an_exit_node(
    parts: list[str], r6: list[dict[str, Any]]
) -> None:
    facts = parse_table52("[]", json.dumps(_as_routes(parts) + r6))
    assert facts.default_route
    assert all(n.prefixlen >= 16 for n in facts.tailnet6)
    _check_facts([], _as_routes(parts) + r6)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route_lists(4), route_lists(6), st.sampled_from(rules.all_configs()))
def test_real_nft_accepts_every_batch_and_holds_exactly_the_coverage(
    netns: NetNS, r4: list[dict[str, Any]], r6: list[dict[str, Any]], config: Config
) -> None:
    facts = parse_table52(json.dumps(r4), json.dumps(r6))
    r = netns.run("nft", "-f", "-", input=rules.render_apply(config, facts), check=False)
    assert r.returncode == 0, r.stderr
    view = rules_readback.parse_table(
        netns.run("nft", "-j", "list", "table", "inet", "mullvad-tailscale").stdout
    )
    assert view is not None
    assert view.sets["tailnet4"].intervals == rules_readback.networks_intervals(facts.tailnet4)
    assert view.sets["tailnet6"].intervals == rules_readback.networks_intervals(facts.tailnet6)
    assert rules_readback.set_networks(view.sets["mullvad_dns4"]) == ["100.64.0.0/26"]
    assert rules_readback.guess_config(view) == config
