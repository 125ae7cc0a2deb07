"""Tailscale's routing table 52, parsed into the destinations the bypass must cover (docs/bypass.md).

Pure: the helper runs `ip -j route show table 52` (and `ip -6 ...`) and hands the text here. Only unicast
routes through `tailscale0` enter the sets; the caller (the unprivileged app) never supplies addresses.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network

TAILSCALE_IF = "tailscale0"
TAILSCALE_TABLE = 52
TAILNET4 = IPv4Network("100.64.0.0/10")  # Tailscale's CGNAT range (tsaddr)
TAILNET6 = IPv6Network("fd7a:115c:a1e0::/48")  # Tailscale's ULA range
MULLVAD_DNS4 = IPv4Network(
    "100.64.0.0/26"
)  # Mullvad content-blocker resolvers 100.64.0.1-63: stay in the tunnel

# Subnet routes this wide put a large share of the internet behind the tailnet: a stale entry after
# tailscaled drops the route would send that traffic out the physical link until the next refresh.
WIDE_PREFIX = {4: 8, 6: 16}


class RouteError(ValueError):
    """`ip -j route` output that cannot be understood."""


@dataclass(frozen=True, slots=True)
class RouteFacts:
    """What the sets are built from. `tailnet4`/`tailnet6` are collapsed (no overlaps, nft needs that)."""

    tailnet4: tuple[IPv4Network, ...]
    tailnet6: tuple[IPv6Network, ...]
    default_route: bool = False  # table 52 holds a default route: this host uses a Tailscale exit node
    table_found: bool = True  # table 52 exists and has routes
    warnings: tuple[str, ...] = ()


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


def _parse_family(text: str | None, version: int) -> tuple[list[IPv4Network | IPv6Network], bool, bool]:
    """Returns (networks, default_route_seen, any_route_seen). `None` text means the table does not exist."""
    if text is None or not text.strip():
        return [], False, False
    try:
        data = json.loads(text)
    except ValueError as e:
        raise RouteError(f"`ip -j route show table 52` printed invalid JSON: {e}") from None
    if not isinstance(data, list):
        raise RouteError("`ip -j route show table 52` did not print a JSON list")
    nets: list[IPv4Network | IPv6Network] = []
    default = False
    for route in data:
        if not isinstance(route, dict):
            raise RouteError("`ip -j route show table 52` printed a route that is not a JSON object")
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
        if not _via_tailscale(route) or _unusable(net):
            continue
        nets.append(net)
    return nets, default, bool(data)


def parse_table52(v4_text: str | None, v6_text: str | None) -> RouteFacts:
    """Parse `ip -j route show table 52` for both families (None: the table does not exist)."""
    nets4, default4, seen4 = _parse_family(v4_text, 4)
    nets6, default6, seen6 = _parse_family(v6_text, 6)
    return build_facts(
        [n for n in nets4 if isinstance(n, IPv4Network)],
        [n for n in nets6 if isinstance(n, IPv6Network)],
        default_route=default4 or default6,
        table_found=seen4 or seen6,
    )


def build_facts(
    routes4: Iterable[IPv4Network],
    routes6: Iterable[IPv6Network],
    *,
    default_route: bool = False,
    table_found: bool = True,
) -> RouteFacts:
    """Tailscale's ranges plus the given routes, collapsed so that nft's interval sets accept them."""
    r4 = [n for n in routes4 if n.prefixlen > 0 and not _unusable(n)]
    r6 = [n for n in routes6 if n.prefixlen > 0 and not _unusable(n)]
    warnings: list[str] = []
    if not table_found:
        warnings.append(
            "Tailscale's routing table 52 is missing or empty, so only Tailscale's own ranges are bypassed "
            "(is tailscaled running? `sudo systemctl start tailscaled`, then `tailscale up`)"
        )
    clash = sorted({str(n) for n in r4 if n.overlaps(MULLVAD_DNS4)})
    if clash:
        warnings.append(
            f"tailnet route(s) {', '.join(clash)} overlap Mullvad's DNS range 100.64.0.0/26, which stays in "
            "the Mullvad tunnel: those peers are unreachable (Headscale hands out 100.64.0.x from .1; move them "
            "with a Headscale `prefixes` setting or ACL-assigned addresses above 100.64.0.63)"
        )
    both: list[IPv4Network | IPv6Network] = [*r4, *r6]
    wide = sorted({str(n) for n in both if n.prefixlen < WIDE_PREFIX[n.version] and not _inside_tailnet(n)})
    if wide:
        warnings.append(
            f"accepted subnet route(s) {', '.join(wide)} cover a large part of the internet, which then "
            "leaves outside Mullvad through the tailnet (check `tailscale status` and the subnet router's routes)"
        )
    if default_route:
        warnings.append(
            "this device uses a Tailscale exit node (default route in table 52): Mullvad and an exit node both "
            "want the default route, and tailscaled's own traffic can loop (`tailscale set --exit-node=`)"
        )
    t4 = tuple(ipaddress.collapse_addresses([TAILNET4, *r4]))
    t6 = tuple(ipaddress.collapse_addresses([TAILNET6, *r6]))
    return RouteFacts(t4, t6, default_route=default_route, table_found=table_found, warnings=tuple(warnings))


def _inside_tailnet(net: IPv4Network | IPv6Network) -> bool:
    if isinstance(net, IPv4Network):
        return net.subnet_of(TAILNET4)
    return net.subnet_of(TAILNET6)
