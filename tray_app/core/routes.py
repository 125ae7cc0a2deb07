"""Tailscale's routing table 52, parsed into the destinations the bypass must cover (docs/bypass.md).

Pure: the helper reads table 52 over rtnetlink in the shape `ip -j route show table 52` prints (and `ip -6
...`; helper/rtnl.py) and hands it here, decoded or as text. Only unicast
routes through `tailscale0` enter the sets; the caller (the unprivileged app) never supplies addresses.
"""

from __future__ import annotations

import bisect
import ipaddress
import json
from collections.abc import Iterable, Sequence
from ipaddress import IPv4Network, IPv6Network
from typing import NamedTuple, TypeVar

from tray_app.core.world import MULLVAD_DNS4, MULLVAD_IF, TAILNET4, TAILNET6, TAILSCALE_IF, TAILSCALE_TABLE

# Routes this wide (outside Tailscale's own ranges) never enter the sets: they would put a large share of the
# internet behind the tailnet, and the guard would then drop all of it once tailscaled withdraws them.
WIDE_PREFIX = {4: 8, 6: 16}
# How many kept-out routes a warning names; the rest are counted (`excluded_routes` has them all).
MAX_NAMED = 32
# NAT64 and IPv4-mapped addresses reach the IPv4 internet; bypassing them would take that internet traffic
# out of Mullvad whatever the IPv4 sets say (RFC 6052, RFC 8215, RFC 4291).
NEVER_BYPASS6 = (
    IPv6Network("64:ff9b::/96"),
    IPv6Network("64:ff9b:1::/48"),
    IPv6Network("::ffff:0:0/96"),
)
# Interfaces whose routes in the main table are not this host's LAN.
NOT_LAN_IFS = ("lo", TAILSCALE_IF, MULLVAD_IF)
# What may count as LAN at all: the ranges Mullvad's own "allow LAN" lets through (private IPv4, ULA; link-local
# is never forwarded). Anyone on the LAN can put other routes into main (a rogue DHCP server's classless
# static routes, an RA's prefixes: TunnelVision, CVE-2024-3661); a public prefix in the lan sets would send
# exit-node clients' traffic to it out of the physical link with this host's real IP.
LAN_RANGES4 = (IPv4Network("10.0.0.0/8"), IPv4Network("172.16.0.0/12"), IPv4Network("192.168.0.0/16"))
LAN_RANGES6 = (IPv6Network("fc00::/7"),)


class RouteError(ValueError):
    """`ip -j route` output that cannot be understood."""


class RouteFacts(NamedTuple):
    """What the sets are built from. `tailnet4`/`tailnet6` are collapsed (no overlaps, nft needs that).
    A NamedTuple, not a dataclass: see core/rules.py on the root helper's start-up."""

    tailnet4: tuple[IPv4Network, ...]
    tailnet6: tuple[IPv6Network, ...]
    default_route: bool = False  # table 52's routes cover 0.0.0.0/0 or ::/0: this host uses an exit node
    table_found: bool = True  # table 52 exists and has routes
    warnings: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()  # table-52 prefixes kept out of the sets (too wide, NAT64)
    lan4: tuple[IPv4Network, ...] = ()  # this host's LAN (main table), private ranges only: the lan sets
    lan6: tuple[IPv6Network, ...] = ()


def _unusable(net: IPv4Network | IPv6Network) -> bool:
    # Never bypass these even if they show up: they are not tailnet destinations.
    return net.is_multicast or net.is_loopback or net.is_link_local or net.is_unspecified


def _via_tailscale(route: dict[str, object]) -> bool:
    if route.get("dev") == TAILSCALE_IF:
        return True
    hops = route.get("nexthops")
    # A multipath route counts only if every hop goes through tailscale0.
    return (
        isinstance(hops, list)
        and bool(hops)
        and all(isinstance(h, dict) and h.get("dev") == TAILSCALE_IF for h in hops)
    )


# A table's routes: `ip -j route show table N` output, or the same already decoded (helper/rtnl.py).
Listing = str | list[dict[str, object]]


def _routes_json(text: Listing, table: str) -> list[dict[str, object]]:
    """`ip -j route show table TABLE` output as a list of route objects, or RouteError saying what is wrong."""
    if isinstance(text, list):
        data: object = text
    else:
        try:
            data = json.loads(text)
        except ValueError as e:
            raise RouteError(f"`ip -j route show table {table}` printed invalid JSON: {e}") from None
    if not isinstance(data, list):
        raise RouteError(f"`ip -j route show table {table}` did not print a JSON list")
    if not all(isinstance(r, dict) for r in data):
        raise RouteError(f"`ip -j route show table {table}` printed a route that is not a JSON object")
    return data


def _parse_family(text: Listing | None, version: int) -> tuple[list[IPv4Network | IPv6Network], bool, bool]:
    """Returns (networks, default_route_seen, any_route_seen). `None` text means the table does not exist."""
    if not text or (isinstance(text, str) and not text.strip()):
        return [], False, False
    data = _routes_json(text, str(TAILSCALE_TABLE))
    nets: list[IPv4Network | IPv6Network] = []
    default = False
    for route in data:
        if route.get("type", "unicast") != "unicast":
            continue  # throw (exit-node LAN access), unreachable, blackhole, local, broadcast, multicast
        dst = route.get("dst")
        if not isinstance(dst, str):
            raise RouteError(f"`ip -j route show table 52`: route without a destination: {route!r:.200}")
        if dst == "default":
            default = default or _via_tailscale(route)
            continue
        try:
            net = ipaddress.ip_network(dst, strict=False)
        except ValueError:
            raise RouteError(f"`ip -j route show table 52`: bad destination {dst!r:.80}") from None
        if net.version != version:
            raise RouteError(
                f"`ip -j route show table 52`: IPv{net.version} route {dst} in the IPv{version} table"
            )
        if net.prefixlen == 0:
            default = default or _via_tailscale(route)
            continue
        if _via_tailscale(route):
            nets.append(net)  # unusable destinations are dropped by build_facts, after the union check
    return nets, default, bool(data)


def parse_table52(v4_text: Listing | None, v6_text: Listing | None) -> RouteFacts:
    """Parse `ip -j route show table 52` for both families (None: the table does not exist)."""
    nets4, default4, seen4 = _parse_family(v4_text, 4)
    nets6, default6, seen6 = _parse_family(v6_text, 6)
    return build_facts(
        [n for n in nets4 if isinstance(n, IPv4Network)],
        [n for n in nets6 if isinstance(n, IPv6Network)],
        default_route=default4 or default6,
        table_found=seen4 or seen6,
    )


def _carve(nets: Iterable[IPv6Network]) -> tuple[list[IPv6Network], list[IPv6Network]]:
    """(what may enter the sets, what was kept out): a route that touches NAT64 or IPv4-mapped space is kept
    out whole (cutting the hole out of a wider prefix would scatter it into dozens of pieces)."""
    keep: list[IPv6Network] = []
    out: list[IPv6Network] = []
    for net in nets:
        (out if any(net.overlaps(bad) for bad in NEVER_BYPASS6) else keep).append(net)
    return keep, out


_N = TypeVar("_N", IPv4Network, IPv6Network)


def _wide_blocks(nets: Sequence[_N], tailnet: _N) -> tuple[list[_N], list[_N], bool]:
    """Split routes of one family into (kept, too wide, covers the default route).

    A route wider than the limit is kept out; so is every route of a block that the remaining routes form
    together, with Tailscale's range, wider than the limit (256 /8s are a /0): a narrow subnet route next to
    a /1 pair stays. Routes inside Tailscale's own range always stay."""
    limit = WIDE_PREFIX[tailnet.version]
    everything: list[_N] = list(nets)
    everything.append(tailnet)
    default = any(b.prefixlen == 0 for b in ipaddress.collapse_addresses(everything))
    dropped: list[_N] = []
    rest: list[_N] = []
    for n in nets:
        (dropped if n.prefixlen < limit and not n.subnet_of(tailnet) else rest).append(n)
    union: list[_N] = list(rest)
    union.append(tailnet)
    # Collapsed blocks are disjoint and sorted: the one that can hold a route is the last starting at or
    # before it (bisect). Table 52 comes from the tailnet's control plane; tens of thousands of routes must
    # not cost quadratic time in root (a pairwise check took minutes and stalled every verb behind the lock).
    wide = [b for b in ipaddress.collapse_addresses(union) if b.prefixlen < limit]
    starts = [int(b.network_address) for b in wide]
    kept: list[_N] = []
    for n in rest:
        i = bisect.bisect_right(starts, int(n.network_address)) - 1
        inside = i >= 0 and n.subnet_of(wide[i])
        (dropped if inside and not n.subnet_of(tailnet) else kept).append(n)
    return kept, dropped, default


def build_facts(
    routes4: Iterable[IPv4Network],
    routes6: Iterable[IPv6Network],
    *,
    default_route: bool = False,
    table_found: bool = True,
    lan4: Iterable[IPv4Network] = (),
    lan6: Iterable[IPv6Network] = (),
) -> RouteFacts:
    """Tailscale's ranges plus the given routes, cleaned and collapsed so that nft's interval sets accept them.

    Kept out: unusable destinations, NAT64 and IPv4-mapped IPv6, and any route inside a block wider than
    /8 (IPv4) or /16 (IPv6) outside Tailscale's ranges, alone or together with other routes. Routes that
    together cover 0.0.0.0/0 or ::/0 mean this host uses an exit node, as a default route does."""
    all6 = list(routes6)
    kept6, nat64 = _carve(all6)
    kept4, wide4, cover4 = _wide_blocks(list(routes4), TAILNET4)
    kept6, wide6, _ = _wide_blocks(kept6, TAILNET6)
    cover6 = _wide_blocks(all6, TAILNET6)[2]  # NAT64 routes count towards covering ::/0
    kept4 = [n for n in kept4 if n.prefixlen > 0 and not _unusable(n)]
    kept6 = [n for n in kept6 if n.prefixlen > 0 and not _unusable(n)]
    default_route = default_route or cover4 or cover6
    warnings: list[str] = []
    if not table_found:
        warnings.append(
            "Tailscale's routing table 52 is missing or empty, so only Tailscale's own ranges are bypassed "
            "(is tailscaled running? `sudo systemctl start tailscaled`, then `tailscale up`)"
        )
    # Only routes that really point into Mullvad's DNS range: Tailscale's own 100.64.0.0/10 covers it too,
    # but its peers are not there unless a route says so.
    clash = sorted({str(n) for n in kept4 if n.overlaps(MULLVAD_DNS4) and n.prefixlen > TAILNET4.prefixlen})
    if clash:
        warnings.append(
            f"tailnet route(s) {', '.join(clash)} point into Mullvad's DNS range 100.64.0.0/26, which stays in "
            "the Mullvad tunnel: those peers are unreachable (Headscale hands out 100.64.0.x from .1; move them "
            "with a Headscale `prefixes` setting or ACL-assigned addresses above 100.64.0.63)"
        )
    too_wide: list[IPv4Network | IPv6Network] = [*wide4, *wide6]
    wide = sorted({str(n) for n in too_wide if n.prefixlen > 0}, key=_net_key)
    if wide:
        warnings.append(
            f"table 52 route(s) {_named(wide)} are not bypassed: alone or together they cover more than a /8 "
            "(IPv4) or /16 (IPv6) of the internet, which must not leave outside Mullvad; their traffic stays in "
            "the Mullvad tunnel (check the subnet router's routes with `tailscale status`)"
        )
    nat64_shown = sorted({str(n) for n in nat64}, key=_net_key)
    if nat64_shown:
        warnings.append(
            f"table 52 route(s) {_named(nat64_shown)} are not bypassed: they reach into NAT64 or IPv4-mapped "
            "space (64:ff9b::/96, 64:ff9b:1::/48, ::ffff:0:0/96), which is the IPv4 internet and stays in the "
            "Mullvad tunnel"
        )
    if default_route:
        warnings.append(
            "this device uses a Tailscale exit node (table 52's routes cover the default route): Mullvad and an "
            "exit node both want the default route, and tailscaled's own traffic can loop "
            "(`tailscale set --exit-node=`)"
        )
    t4 = tuple(ipaddress.collapse_addresses([TAILNET4, *kept4]))
    t6 = tuple(ipaddress.collapse_addresses([TAILNET6, *kept6]))
    excluded = tuple(sorted({*wide, *nat64_shown}, key=_net_key))
    return RouteFacts(
        t4,
        t6,
        default_route=default_route,
        table_found=table_found,
        warnings=tuple(warnings),
        excluded=excluded,
        lan4=tuple(ipaddress.collapse_addresses(lan4)),
        lan6=tuple(ipaddress.collapse_addresses(lan6)),
    )


def with_lan(facts: RouteFacts, v4_text: Listing | None, v6_text: Listing | None) -> RouteFacts:
    """`facts` with this host's LAN read from `ip -j route show table main` (collapsed for nft)."""
    lan4, lan6 = parse_lan(v4_text, v6_text)
    return facts._replace(
        lan4=tuple(ipaddress.collapse_addresses(lan4)),
        lan6=tuple(ipaddress.collapse_addresses(lan6)),
    )


def parse_lan(
    v4_text: Listing | None, v6_text: Listing | None
) -> tuple[list[IPv4Network], list[IPv6Network]]:
    """This host's LAN from `ip -j route show table main`: unicast, non-default routes through a device other
    than lo, tailscale0 or wg0-mullvad, no wider than /8 (/16), outside Tailscale's ranges and NAT64, cut to
    the private ranges (LAN_RANGES4/6). It is what the tailnet may reach through this host outside Mullvad
    (subnet routing; exit-node clients' LAN), in every mode."""
    out4: list[IPv4Network] = []
    out6: list[IPv6Network] = []
    for text, version in ((v4_text, 4), (v6_text, 6)):
        if not text or (isinstance(text, str) and not text.strip()):
            continue
        for route in _routes_json(text, "main"):
            if route.get("type", "unicast") != "unicast":
                continue
            dst = route.get("dst")
            if not isinstance(dst, str) or dst == "default":
                continue
            devs = [route.get("dev")] if "dev" in route else []
            hops = route.get("nexthops")
            if isinstance(hops, list):
                devs += [h.get("dev") for h in hops if isinstance(h, dict)]
            if not devs or any(d in NOT_LAN_IFS or not isinstance(d, str) for d in devs):
                continue
            try:
                net = ipaddress.ip_network(dst, strict=False)
            except ValueError:
                raise RouteError(f"`ip -j route show table main`: bad destination {dst!r:.80}") from None
            if net.version != version or net.prefixlen < WIDE_PREFIX[version] or _unusable(net):
                continue
            if isinstance(net, IPv4Network) and not net.overlaps(TAILNET4):
                out4 += _private_part(net, LAN_RANGES4)
            elif isinstance(net, IPv6Network) and not any(
                net.overlaps(b) for b in (TAILNET6, *NEVER_BYPASS6)
            ):
                out6 += _private_part(net, LAN_RANGES6)
    return out4, out6


def _private_part(net: _N, ranges: Sequence[_N]) -> list[_N]:
    """The part of `net` inside the private ranges (a 172.0.0.0/8 route keeps 172.16.0.0/12)."""
    return [net if net.subnet_of(r) else r for r in ranges if net.subnet_of(r) or r.subnet_of(net)]


def _named(nets: Sequence[str]) -> str:
    """At most MAX_NAMED prefixes, then how many more: a hostile tailnet's thousands of routes must not make
    a warning (a notification, a tooltip) nobody can read."""
    shown = ", ".join(nets[:MAX_NAMED])
    return shown + (f" and {len(nets) - MAX_NAMED} more" if len(nets) > MAX_NAMED else "")


def _net_key(text: str) -> tuple[int, int, int]:
    n = ipaddress.ip_network(text)
    return n.version, int(n.network_address), n.prefixlen


def _inside_tailnet(net: IPv4Network | IPv6Network) -> bool:
    if isinstance(net, IPv4Network):
        return net.subnet_of(TAILNET4)
    return net.subnet_of(TAILNET6)
