"""Property tests over random table-52 contents: what enters the sets, and that real nft accepts every batch."""

from __future__ import annotations

import ipaddress
import json
from ipaddress import IPv4Network, IPv6Network
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.infra.netns import NetNS
from tray_app.core import rules
from tray_app.core.routes import parse_table52
from tray_app.core.rules import Config

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


def expected_coverage(routes: list[dict[str, Any]], base: str) -> list[tuple[int, int]]:
    """Independent statement of what must be bypassed: Tailscale's range plus unicast tailscale0 routes that are
    not default/0-prefix/multicast/loopback/link-local/unspecified."""
    ranges = []
    for net in [ipaddress.ip_network(base)] + [
        ipaddress.ip_network(r["dst"], strict=False)
        for r in routes
        if r.get("type", "unicast") == "unicast" and r.get("dev") == "tailscale0" and r["dst"] != "default"
    ]:
        if (
            net.prefixlen == 0
            or net.is_multicast
            or net.is_loopback
            or net.is_link_local
            or net.is_unspecified
        ):
            continue
        ranges.append((int(net.network_address), int(net.broadcast_address)))
    ranges.sort()
    out: list[list[int]] = []
    for lo, hi in ranges:
        if out and lo <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return [(a, b) for a, b in out]


@settings(max_examples=200, deadline=None)
@given(route_lists(4), route_lists(6))
def test_sets_are_collapsed_and_cover_exactly_the_tailnet(
    r4: list[dict[str, Any]], r6: list[dict[str, Any]]
) -> None:
    facts = parse_table52(json.dumps(r4), json.dumps(r6))
    for nets in (facts.tailnet4, facts.tailnet6):
        for i, a in enumerate(nets):  # nft's interval sets refuse overlapping elements
            assert not any(a.overlaps(b) for b in nets[i + 1 :])
    assert all(isinstance(n, IPv4Network) for n in facts.tailnet4)
    assert all(isinstance(n, IPv6Network) for n in facts.tailnet6)
    assert list(rules.networks_intervals(facts.tailnet4)) == expected_coverage(r4, "100.64.0.0/10")
    assert list(rules.networks_intervals(facts.tailnet6)) == expected_coverage(r6, "fd7a:115c:a1e0::/48")
    has_default = any(
        r.get("type", "unicast") == "unicast"
        and r.get("dev") == "tailscale0"
        and (r["dst"] == "default" or ipaddress.ip_network(r["dst"], strict=False).prefixlen == 0)
        for r in r4 + r6
    )
    assert facts.default_route == has_default


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route_lists(4), route_lists(6), st.sampled_from(rules.all_configs()))
def test_real_nft_accepts_every_batch_and_holds_exactly_the_coverage(
    netns: NetNS, r4: list[dict[str, Any]], r6: list[dict[str, Any]], config: Config
) -> None:
    facts = parse_table52(json.dumps(r4), json.dumps(r6))
    r = netns.run("nft", "-f", "-", input=rules.render_apply(config, facts), check=False)
    assert r.returncode == 0, r.stderr
    view = rules.parse_table(netns.run("nft", "-j", "list", "table", "inet", "mullvad-tailscale").stdout)
    assert view is not None
    assert list(view.sets["tailnet4"].intervals) == expected_coverage(r4, "100.64.0.0/10")
    assert list(view.sets["tailnet6"].intervals) == expected_coverage(r6, "fd7a:115c:a1e0::/48")
    assert rules.set_networks(view.sets["mullvad_dns4"]) == ["100.64.0.0/26"]
    assert rules.guess_config(view) == config
