"""The bypass rule set rendered for `nft -f` (docs/bypass.md, "What is loaded").

Pure: no I/O. The helper renders here and applies with nft; reading the live table back and comparing it is
`rules_readback.py`, reading Mullvad's and Tailscale's tables and the ip rules is `their_tables.py`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from tray_app.core.protocol import MODES, OPTIONS, TABLE_FAMILY, TABLE_NAME
from tray_app.core.routes import RouteFacts
from tray_app.core.world import (
    MULLVAD_DNS4,
    MULLVAD_IF,
    MULLVAD_MARK,
    MULLVAD_TABLE_ID,
    SPLIT_CT_MARK,
    TAILSCALE_IF,
    TS_BYPASS_MARK,
    TS_MASK,
    hex32,
)

TABLE = f"{TABLE_FAMILY} {TABLE_NAME}"

# Private mode: tailscaled's marked traffic is sent into Mullvad's routing table (v4 and v6).
PRIVATE_RULE_PREF = 5200
PRIVATE_RULE_ARGS = (
    "pref", str(PRIVATE_RULE_PREF), "fwmark", f"{TS_BYPASS_MARK:#x}/{TS_MASK:#x}", "lookup", str(MULLVAD_TABLE_ID)
)  # fmt: skip

CONTAINER_IFACES = ("docker0", "br-*")

_CT = hex32(SPLIT_CT_MARK)  # 0x00000f41
_MARK = hex32(MULLVAD_MARK)  # 0x6d6f6c65
_TS_OWN = f"meta mark & {hex32(TS_MASK)} == {hex32(TS_BYPASS_MARK)}"  # a packet of tailscaled's own sockets
_SET = f"ct mark set {_CT} meta mark set {_MARK}"
# What Tailscale >= 1.96 saves as ct mark for Mullvad's 0x6d6f6c65: its mask, byte-swapped (1.96-1.98 nft) or not.
_TS_SAVED = "0x00006c00, 0x006f0000"


# The value classes below are plain classes and NamedTuples, not dataclasses: `dataclasses` imports `inspect`,
# which was a fifth of the root helper's start-up on every toggle (docs/bypass.md, "Measured").


class Config:
    """What the user chose: a mode and a set of optional blocks. Immutable, hashable (a dict key)."""

    __slots__ = ("mode", "options")
    mode: str
    options: frozenset[str]

    def __init__(self, mode: str = "direct", options: frozenset[str] = frozenset()) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        unknown = set(options) - set(OPTIONS)
        if unknown:
            raise ValueError(f"unknown option(s) {sorted(unknown)}")
        object.__setattr__(self, "mode", mode)
        object.__setattr__(self, "options", frozenset(options))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Config is immutable (cannot set {name})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Config):
            return NotImplemented
        return (self.mode, self.options) == (other.mode, other.options)

    def __hash__(self) -> int:
        return hash((self.mode, self.options))

    def __repr__(self) -> str:
        return f"Config(mode={self.mode!r}, options={self.options!r})"

    @property
    def option_list(self) -> list[str]:
        """Options in the protocol's order (stable JSON)."""
        return [o for o in OPTIONS if o in self.options]


def all_configs() -> list[Config]:
    """Every mode/option combination, for recognising what is loaded."""
    out = []
    for mode in MODES:
        for bits in range(1 << len(OPTIONS)):
            opts = frozenset(o for i, o in enumerate(OPTIONS) if bits & (1 << i))
            out.append(Config(mode, opts))
    return out


def _elements(nets: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> str:
    return ", ".join(str(n) for n in nets)


def _set(name: str, kind: str, nets: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> str:
    elements = f" elements = {{ {_elements(nets)} }};" if nets else ""  # nft refuses `elements = { }`
    return f"  set {name} {{ type {kind}; flags interval;{elements} }}"


def render_table(config: Config, facts: RouteFacts, name: str = TABLE_NAME) -> str:
    """The table definition (no create/delete prologue)."""
    direct = config.mode == "direct"
    exit_via_mullvad = "exit-via-mullvad" in config.options
    out = [f"table {TABLE_FAMILY} {name} {{"]
    out.append(_set("tailnet4", "ipv4_addr", facts.tailnet4))
    out.append(_set("tailnet6", "ipv6_addr", facts.tailnet6))
    out.append(_set("mullvad_dns4", "ipv4_addr", [MULLVAD_DNS4]))
    out.append(_set("lan4", "ipv4_addr", facts.lan4))  # this host's LAN: private ranges only
    out.append(_set("lan6", "ipv6_addr", facts.lan6))
    # Output: after Tailscale's connmark save and Mullvad's mangle (-150), before Mullvad's filter (0); route
    # type so that a changed mark re-routes the packet.
    out.append("  chain output {")
    out.append("    type route hook output priority -100; policy accept;")
    if direct:
        # tailscaled's own traffic passes Mullvad's filter, and is moved out of the tunnel only if routing put
        # it there; otherwise 0x80000 stays so Tailscale's loop guard (pref 5250) keeps working.
        # A flow tailscaled began in the tunnel (before `bypass on`, or in private mode) keeps its conntrack
        # entry: no NAT, the tunnel address as source. Re-routed out of the physical link it would leak that
        # address, so it stays in the tunnel until it ends; its new flows go direct (docs/bypass.md, "Flows
        # from before a change"). Confirmed and never source-NATed, with the tunnel's own address.
        out.append(
            f'    {_TS_OWN} oifname "{MULLVAD_IF}" '
            "ct status & (confirmed | snat) == confirmed fib saddr . oif type local return"
        )
        out.append(f"    {_TS_OWN} ct mark set {_CT}")
        out.append(f'    {_TS_OWN} oifname "{MULLVAD_IF}" meta mark set {_MARK}')
    # tailscaled's own sockets keep their mark: re-marked for a tailnet destination they would lose Tailscale's
    # loop guard, leave private mode's tunnel, and (to a LAN peer inside a subnet route) meet the guard below.
    out.append(f"    {_TS_OWN} return")
    out.append("    ip daddr @mullvad_dns4 return")  # Mullvad's content-blocker DNS stays in the tunnel
    out.append(f"    ip daddr @tailnet4 {_SET}")
    out.append(f"    ip6 daddr @tailnet6 {_SET}")
    # Shim: Tailscale >= 1.96's connmark save clobbers Mullvad's split-tunnel ct mark; set it back absolutely.
    out.append(f"    ct state new meta mark {_MARK} ct mark != {_CT} ct mark set {_CT}")
    out.append("  }")
    # Prerouting: after conntrack, Mullvad (-199) and Tailscale's restore (-150); before rpfilter (-140),
    # DNAT (-100) and routing.
    out.append("  chain prerouting {")
    out.append("    type filter hook prerouting priority -145; policy accept;")
    if "containers" in config.options:
        ifaces = ", ".join(f'"{i}"' for i in CONTAINER_IFACES)
        out.append(f"    iifname {{ {ifaces} }} ip daddr @tailnet4 ip daddr != @mullvad_dns4 {_SET}")
        out.append(f"    iifname {{ {ifaces} }} ip6 daddr @tailnet6 {_SET}")
    # Tailnet ingress (by interface: only WireGuard-authenticated packets arrive on tailscale0), named
    # positively: this host, its LAN (private ranges, where routing keeps it off the tunnel) and the tailnet.
    # Everything else forwarded from the tailnet (an exit node's clients' internet) gets no marks, so Mullvad's
    # routing and firewall treat it as this host's own: into the tunnel, dropped while blocked, direct while
    # Mullvad is off. Marking it all let it out of the physical link with the real IP while Mullvad was up.
    out.append(f'    iifname "{TAILSCALE_IF}" fib daddr type local {_SET}')
    out.append(f'    iifname "{TAILSCALE_IF}" ip daddr @lan4 fib daddr oifname != "{MULLVAD_IF}" {_SET}')
    out.append(f'    iifname "{TAILSCALE_IF}" ip6 daddr @lan6 fib daddr oifname != "{MULLVAD_IF}" {_SET}')
    out.append(f'    iifname "{TAILSCALE_IF}" ip daddr @tailnet4 {_SET}')
    out.append(f'    iifname "{TAILSCALE_IF}" ip6 daddr @tailnet6 {_SET}')
    # Replies to the tailnet's flows through Mullvad's tunnel: unmarked, Mullvad's rules would send them back
    # into the tunnel; the mark lets table 52 route them to tailscale0.
    out.append(
        f'    iifname "{MULLVAD_IF}" ct direction reply ct original ip saddr @tailnet4 meta mark set {_MARK}'
    )
    out.append(
        f'    iifname "{MULLVAD_IF}" ct direction reply ct original ip6 saddr @tailnet6 meta mark set {_MARK}'
    )
    # Repair reply marks that Tailscale 1.96-1.98 overwrote (Mullvad's own -199 rule, moved after -150).
    out.append(f'    iifname != "{MULLVAD_IF}" ct mark {_CT} meta mark set {_MARK}')
    # ...and of Mullvad-marked flows born before this table (its WireGuard socket's flow to the relay): Tailscale's
    # save gave them 0x6c00 (1.96-1.98 nft) or 0x6f0000 (>= 1.100), the restore puts that on the relay's replies
    # and strict rp_filter drops them: Mullvad's tunnel is dead until the flow ends (docs/tailscale.md).
    out.append(f'    iifname != "{MULLVAD_IF}" ct mark {{ {_TS_SAVED} }} meta mark set {_MARK}')
    out.append("  }")
    # The guard: the sets are a snapshot of table 52. Once tailscaled withdraws a route (or stops), a packet we
    # marked for it would be routed by main out of the physical link, outside Mullvad, with the real IP. After
    # routing (output and forward), whatever carries our mark for a tailnet destination leaves only through
    # tailscale0; anything else is dropped. By name: tailscale0 may not exist. Before NAT (100).
    out.append("  chain postrouting {")
    out.append("    type filter hook postrouting priority 0; policy accept;")
    out.append(f'    oifname "{TAILSCALE_IF}" return')
    # A flow of tailscaled's that began in the tunnel and was never source-NATed, now routed elsewhere (Mullvad
    # blocked, the tunnel gone): it would leave with the tunnel address. New flows (not yet confirmed) pass.
    out.append(
        f'    {_TS_OWN} oifname != {{ "{MULLVAD_IF}", "lo" }} '
        "ct status & (confirmed | snat) == confirmed fib saddr . oif type != local drop"
    )
    if not direct:
        # Private mode: a flow tailscaled began in direct mode keeps ct mark 0xf41 (Mullvad's firewall accepts
        # it, blocked or not) and its NAT to the real IP. Outside the tunnel it is dropped; tailscaled's flows
        # born in private mode carry no 0xf41 and may leave directly while Mullvad is disconnected.
        out.append(f'    {_TS_OWN} ct mark {_CT} oifname != {{ "{MULLVAD_IF}", "lo" }} drop')
    out.append(f"    meta mark {_MARK} ip daddr @tailnet4 drop")
    out.append(f"    meta mark {_MARK} ip6 daddr @tailnet6 drop")
    # Forwarded from the tailnet: Tailscale's ts-forward has rewritten the mark by now.
    out.append(f'    iifname "{TAILSCALE_IF}" ip daddr @tailnet4 drop')
    out.append(f'    iifname "{TAILSCALE_IF}" ip6 daddr @tailnet6 drop')
    if exit_via_mullvad:
        # Exit-node clients leave through Mullvad or to the LAN, never out of the physical link to the
        # internet, also while Mullvad is disconnected (no firewall of its own then).
        out.append(f'    iifname "{TAILSCALE_IF}" oifname != "{MULLVAD_IF}" ip daddr != @lan4 drop')
        out.append(f'    iifname "{TAILSCALE_IF}" oifname != "{MULLVAD_IF}" ip6 daddr != @lan6 drop')
    out.append("  }")
    out.append("}")
    return "\n".join(out) + "\n"


def _prologue(name: str = TABLE_NAME) -> str:
    # nft 1.0.6 has no `destroy`: create-if-missing then delete makes the delete safe in one transaction.
    return f"table {TABLE_FAMILY} {name} {{}}\ndelete table {TABLE_FAMILY} {name}\n"


SET_NAMES = ("tailnet4", "tailnet6", "mullvad_dns4", "lan4", "lan6")
CHAIN_NAMES = ("output", "prerouting", "postrouting")


def _skeleton(name: str = TABLE_NAME) -> str:
    """Our table with its sets and base chains declared but empty: a no-op when they exist as we declare them,
    and an nft error when an existing one differs (a table left by another version)."""
    return (
        f"table {TABLE_FAMILY} {name} {{\n"
        "  set tailnet4 { type ipv4_addr; flags interval; }\n"
        "  set tailnet6 { type ipv6_addr; flags interval; }\n"
        "  set mullvad_dns4 { type ipv4_addr; flags interval; }\n"
        "  set lan4 { type ipv4_addr; flags interval; }\n"
        "  set lan6 { type ipv6_addr; flags interval; }\n"
        "  chain output { type route hook output priority -100; policy accept; }\n"
        "  chain prerouting { type filter hook prerouting priority -145; policy accept; }\n"
        "  chain postrouting { type filter hook postrouting priority 0; policy accept; }\n"
        "}\n"
    )


def render_apply(config: Config, facts: RouteFacts) -> str:
    """One atomic batch that creates our table or replaces its rules and set elements in place.

    The base chains are kept, not deleted and re-created: re-registering a hook lets a packet that crosses
    the switch meet the new chain still empty and then the old one already gone, so it leaves unmarked and
    is lost in Mullvad's tunnel (measured by tests/replica/reapply_loss.py: 1-3 echoes per 800 re-applies).
    """
    flush = f"flush table {TABLE_FAMILY} {TABLE_NAME}\n" + "".join(
        f"flush set {TABLE_FAMILY} {TABLE_NAME} {name}\n" for name in SET_NAMES
    )
    return _skeleton() + flush + render_table(config, facts)


def render_replace(config: Config, facts: RouteFacts) -> str:
    """Delete and re-create our table in one batch: for a table whose sets or chains are not ours as we
    declare them (another version left it). Atomic too, but re-registers the hooks (see render_apply)."""
    return _prologue() + render_table(config, facts)


def render_remove() -> str:
    """One batch that removes our table whether or not it exists."""
    return _prologue()


def render_reference(facts: RouteFacts, configs: Sequence[Config]) -> tuple[str, dict[str, Config]]:
    """A batch of every candidate config as separately named tables, for loading in a scratch namespace."""
    names = {f"mtt-ref-{i}": c for i, c in enumerate(configs)}
    return "".join(render_table(c, facts, name) for name, c in names.items()), names
