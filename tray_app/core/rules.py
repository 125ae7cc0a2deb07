"""The bypass rule set: rendering for `nft -f`, and parsers over `nft -j` output (docs/bypass.md, "What is loaded").

Pure: no I/O. The helper renders here, applies with nft, lists the live table as JSON and compares it with a
reference listing of what `render_table()` produces (loaded by the same nft in a scratch network namespace, so
the comparison does not depend on how a given nft version spells its JSON).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

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


def lan_sets(
    config: Config, facts: RouteFacts
) -> tuple[tuple[ipaddress.IPv4Network, ...], tuple[ipaddress.IPv6Network, ...]]:
    """What lan4/lan6 hold for `config`: the host's LAN with --exit-via-mullvad, else nothing."""
    if "exit-via-mullvad" in config.options:
        return facts.lan4, facts.lan6
    return (), ()


def render_table(config: Config, facts: RouteFacts, name: str = TABLE_NAME) -> str:
    """The table definition (no create/delete prologue)."""
    direct = config.mode == "direct"
    exit_via_mullvad = "exit-via-mullvad" in config.options
    lan4, lan6 = lan_sets(config, facts)
    out = [f"table {TABLE_FAMILY} {name} {{"]
    out.append(_set("tailnet4", "ipv4_addr", facts.tailnet4))
    out.append(_set("tailnet6", "ipv6_addr", facts.tailnet6))
    out.append(_set("mullvad_dns4", "ipv4_addr", [MULLVAD_DNS4]))
    out.append(_set("lan4", "ipv4_addr", lan4))
    out.append(_set("lan6", "ipv6_addr", lan6))
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
    if exit_via_mullvad:
        # This host is an exit node: its clients' internet traffic goes through Mullvad. Only what is named
        # here bypasses it: this host, its LAN (where routing keeps it off the tunnel) and the tailnet.
        out.append(f'    iifname "{TAILSCALE_IF}" fib daddr type local {_SET}')
        out.append(f'    iifname "{TAILSCALE_IF}" ip daddr @lan4 fib daddr oifname != "{MULLVAD_IF}" {_SET}')
        out.append(f'    iifname "{TAILSCALE_IF}" ip6 daddr @lan6 fib daddr oifname != "{MULLVAD_IF}" {_SET}')
        out.append(f'    iifname "{TAILSCALE_IF}" ip daddr @tailnet4 {_SET}')
        out.append(f'    iifname "{TAILSCALE_IF}" ip6 daddr @tailnet6 {_SET}')
        out.append(
            f'    iifname "{MULLVAD_IF}" ct direction reply ct original ip saddr @tailnet4 meta mark set {_MARK}'
        )
        out.append(
            f'    iifname "{MULLVAD_IF}" ct direction reply ct original ip6 saddr @tailnet6 meta mark set {_MARK}'
        )
    else:
        # Tailnet ingress, matched by interface: only WireGuard-authenticated packets arrive on tailscale0.
        out.append(f'    iifname "{TAILSCALE_IF}" {_SET}')
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
        # internet (Mullvad blocked or disconnected, where its own firewall may be gone).
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


def same_layout(live: TableView) -> bool:
    """Does the live table have exactly our sets and chains, so that render_apply can reuse them?"""
    return set(live.sets) == set(SET_NAMES) and set(live.chains) == set(CHAIN_NAMES)


def render_remove() -> str:
    """One batch that removes our table whether or not it exists."""
    return _prologue()


def render_reference(facts: RouteFacts, configs: Sequence[Config]) -> tuple[str, dict[str, Config]]:
    """A batch of every candidate config as separately named tables, for loading in a scratch namespace."""
    names = {f"mtt-ref-{i}": c for i, c in enumerate(configs)}
    return "".join(render_table(c, facts, name) for name, c in names.items()), names


# ---------------------------------------------------------------------------------------------------------
# Parsing `nft -j` output


class NftJsonError(ValueError):
    """nft printed JSON we cannot understand."""


Interval = tuple[int, int]


class SetView(NamedTuple):
    type: str
    flags: tuple[str, ...]
    intervals: tuple[Interval, ...]  # merged, sorted; addresses as ints


class ChainView(NamedTuple):
    type: str | None
    hook: str | None
    prio: object
    policy: str | None
    rules: tuple[str, ...]  # each rule's "expr" as canonical JSON


class TableView(NamedTuple):
    sets: dict[str, SetView]
    chains: dict[str, ChainView]

    def shape(self) -> tuple[object, ...]:
        """Everything except set contents: chains, rules, set declarations."""
        return (
            tuple(sorted((n, s.type, s.flags) for n, s in self.sets.items())),
            tuple(sorted(self.chains.items())),
        )


def _load(text: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(text)
    except ValueError as e:
        raise NftJsonError(f"nft printed invalid JSON: {e}") from None
    items = data.get("nftables") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise NftJsonError("nft JSON has no top-level `nftables` list")
    return [i for i in items if isinstance(i, dict)]


def _addr_int(text: object) -> tuple[int, int]:
    """(int value, bit width) of an address string."""
    if not isinstance(text, str):
        raise NftJsonError(f"unexpected set element {text!r:.80}")
    try:
        a = ipaddress.ip_address(text)
    except ValueError:
        raise NftJsonError(f"unexpected set element {text!r:.80}") from None
    return int(a), a.max_prefixlen


def _element_interval(el: object) -> Interval:
    if isinstance(el, dict) and "elem" in el:  # element with attributes (counter, timeout, comment)
        inner = el["elem"]
        return _element_interval(inner.get("val") if isinstance(inner, dict) else inner)
    if isinstance(el, dict) and "prefix" in el:
        p = el["prefix"]
        if not isinstance(p, dict) or not isinstance(p.get("len"), int):
            raise NftJsonError(f"unexpected set element {el!r:.80}")
        v, width = _addr_int(p.get("addr"))
        size = 1 << (width - p["len"])
        start = v & ~(size - 1)
        return start, start + size - 1
    if isinstance(el, dict) and "range" in el:
        r = el["range"]
        if not isinstance(r, list) or len(r) != 2:
            raise NftJsonError(f"unexpected set element {el!r:.80}")
        return _addr_int(r[0])[0], _addr_int(r[1])[0]
    v, _ = _addr_int(el)
    return v, v


def merge_intervals(items: Iterable[Interval]) -> tuple[Interval, ...]:
    """Union of closed integer intervals, adjacent ones joined: a canonical form of a set's coverage."""
    out: list[Interval] = []
    for lo, hi in sorted(items):
        if out and lo <= out[-1][1] + 1:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return tuple(out)


def networks_intervals(nets: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> tuple[Interval, ...]:
    return merge_intervals((int(n.network_address), int(n.broadcast_address)) for n in nets)


def _canon(obj: object) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def parse_tables(text: str) -> dict[tuple[str, str], TableView]:
    """All tables in an `nft -j list ruleset|table` listing, keyed by (family, name)."""
    items = _load(text)
    tables: dict[tuple[str, str], tuple[dict[str, SetView], dict[str, dict[str, Any]]]] = {}
    for it in items:
        if "table" in it and isinstance(it["table"], dict):
            t = it["table"]
            tables.setdefault((str(t.get("family")), str(t.get("name"))), ({}, {}))
    chain_rules: dict[tuple[str, str, str], list[str]] = {}
    for it in items:
        if "set" in it and isinstance(it["set"], dict):
            s = it["set"]
            key = (str(s.get("family")), str(s.get("table")))
            elems = s.get("elem", [])
            if not isinstance(elems, list):
                raise NftJsonError("set `elem` is not a list")
            flags = s.get("flags", [])
            sv = SetView(
                type=_canon(s.get("type")),
                flags=tuple(sorted(str(f) for f in (flags if isinstance(flags, list) else [flags]))),
                intervals=merge_intervals(_element_interval(e) for e in elems),
            )
            tables.setdefault(key, ({}, {}))[0][str(s.get("name"))] = sv
        elif "chain" in it and isinstance(it["chain"], dict):
            c = it["chain"]
            key = (str(c.get("family")), str(c.get("table")))
            tables.setdefault(key, ({}, {}))[1][str(c.get("name"))] = c
        elif "rule" in it and isinstance(it["rule"], dict):
            r = it["rule"]
            ck = (str(r.get("family")), str(r.get("table")), str(r.get("chain")))
            chain_rules.setdefault(ck, []).append(_canon(r.get("expr")))
    out: dict[tuple[str, str], TableView] = {}
    for key, (sets, chains) in tables.items():
        cviews = {
            name: ChainView(
                type=c.get("type"),
                hook=c.get("hook"),
                prio=c.get("prio"),
                policy=c.get("policy"),
                rules=tuple(chain_rules.get((key[0], key[1], name), [])),
            )
            for name, c in chains.items()
        }
        out[key] = TableView(sets=sets, chains=cviews)
    return out


def parse_table(text: str, family: str = TABLE_FAMILY, name: str = TABLE_NAME) -> TableView | None:
    return parse_tables(text).get((family, name))


class Verdict(NamedTuple):
    """How the live table compares with what we would render now."""

    config: Config | None  # the mode/options the live rules are, None if they match none of ours
    rules_match: bool
    sets_match: bool
    differences: tuple[str, ...]

    @property
    def matches(self) -> bool:
        return self.rules_match and self.sets_match


def expected_sets(facts: RouteFacts, config: Config) -> dict[str, tuple[Interval, ...]]:
    lan4, lan6 = lan_sets(config, facts)
    return {
        "tailnet4": networks_intervals(facts.tailnet4),
        "tailnet6": networks_intervals(facts.tailnet6),
        "mullvad_dns4": networks_intervals([MULLVAD_DNS4]),
        "lan4": networks_intervals(lan4),
        "lan6": networks_intervals(lan6),
    }


def compare(
    live: TableView,
    facts: RouteFacts,
    reference: dict[str, TableView] | None,
    names: dict[str, Config] | None,
    wanted: Config | None,
) -> Verdict:
    """Compare the live table with the reference listings (one per candidate config, from a scratch load).

    Without a reference (no scratch namespace possible) the config is guessed from the rules and only the
    set contents are checked.
    """
    diffs: list[str] = []
    config: Config | None = None
    if reference is not None and names is not None:
        shape = live.shape()
        for name, view in reference.items():
            if view.shape() == shape:
                config = names[name]
                if config == wanted:
                    break
        rules_match = config is not None
        if config is None:
            diffs.append("the chains or rules of our table were changed by something else")
    else:
        config = guess_config(live)
        rules_match = config is not None
        diffs.append("the rules could not be compared (no scratch network namespace); only the sets were")
    if wanted is not None and config is not None and config != wanted:
        rules_match = False
        diffs.append(
            f"loaded mode/options ({config.mode}, {config.option_list}) differ from the saved "
            f"({wanted.mode}, {wanted.option_list})"
        )
    sets_match = True
    for set_name, want in expected_sets(facts, config or wanted or Config()).items():
        got = live.sets.get(set_name)
        if got is None:
            sets_match = False
            diffs.append(f"set {set_name} is missing")
        elif got.intervals != want:
            sets_match = False
            source = "this host's LAN routes say" if set_name.startswith("lan") else "routing table 52 says"
            diffs.append(f"set {set_name} does not hold what {source} now")
    return Verdict(config, rules_match, sets_match, tuple(diffs))


def guess_config(live: TableView) -> Config | None:
    """Best guess of mode/options from the rule text, for reporting when nothing matches exactly."""
    if not {"output", "prerouting"} <= set(live.chains):  # an older version's table has no postrouting
        return None
    out = " ".join(live.chains["output"].rules)
    pre = " ".join(live.chains["prerouting"].rules)
    # Only direct mode names the tunnel in output (tailscaled's re-mark); both modes match 0x80000.
    mode = "direct" if f'"{MULLVAD_IF}"' in out else "private"
    opts = set()
    if "docker0" in pre:
        opts.add("containers")
    if '"fib"' in pre:
        opts.add("exit-via-mullvad")
    return Config(mode, frozenset(opts))


def set_networks(view: SetView) -> list[str]:
    """A set's coverage as CIDR strings (for status JSON)."""
    out: list[str] = []
    v6 = "ipv6" in view.type
    cls = ipaddress.IPv6Address if v6 else ipaddress.IPv4Address
    for lo, hi in view.intervals:
        out.extend(str(n) for n in ipaddress.summarize_address_range(cls(lo), cls(hi)))
    return out


# ---------------------------------------------------------------------------------------------------------
# Other tables we only read


def _is_ct_mark_accept(expr: object) -> bool:
    if not isinstance(expr, list):
        return False
    matched = accepted = False
    for stmt in expr:
        if not isinstance(stmt, dict):
            return False
        if "match" in stmt:
            m = stmt["match"]
            if (
                isinstance(m, dict)
                and m.get("left") == {"ct": {"key": "mark"}}
                and m.get("op", "==") == "=="
                and _as_int(m.get("right")) == SPLIT_CT_MARK
            ):
                matched = True
            else:
                return False  # any other condition narrows the accept: not Mullvad's rule
        elif "accept" in stmt:
            accepted = True
        elif "counter" in stmt:
            continue
        else:
            return False
    return matched and accepted


def _as_int(v: object) -> int | None:
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    if isinstance(v, str):
        try:
            return int(v, 0)
        except ValueError:
            return None
    return None


def mullvad_split_accept(text: str) -> bool:
    """Does Mullvad's output chain (`nft -j list table inet mullvad` or `list chain`) hold `ct mark 0xf41 accept`?"""
    for it in _load(text):
        r = it.get("rule")
        if (
            isinstance(r, dict)
            and r.get("family") == "inet"
            and r.get("table") == "mullvad"
            and r.get("chain") == "output"
            and _is_ct_mark_accept(r.get("expr"))
        ):
            return True
    return False


CONNMARK_NONE = "none"
CONNMARK_OLD = "1.96-1.98"  # nft backend, byte-swapped mask 0x0000ff00 (overwrites whole marks)
CONNMARK_NEW = ">=1.100"  # nft backend, mask 0x00ff0000 (conditional restore)
CONNMARK_UNKNOWN = "unknown"  # iptables backend or masks we do not know

_MASKS = {0x0000FF00: CONNMARK_OLD, 0x00FF0000: CONNMARK_NEW}


def _connmark_masks(obj: object, found: set[str]) -> None:
    """Walk a rule's JSON for `ct mark set meta mark & M` / `meta mark set ct mark & M` and iptables CONNMARK."""
    if isinstance(obj, dict):
        m = obj.get("mangle")
        if isinstance(m, dict):
            key, value = m.get("key"), m.get("value")
            if isinstance(value, dict) and isinstance(value.get("&"), list) and len(value["&"]) == 2:
                src, mask = value["&"]
                pair = (key, src)
                if pair in (
                    ({"ct": {"key": "mark"}}, {"meta": {"key": "mark"}}),
                    ({"meta": {"key": "mark"}}, {"ct": {"key": "mark"}}),
                ):
                    found.add(_MASKS.get(_as_int(mask) or -1, CONNMARK_UNKNOWN))
        if "xt" in obj:
            xt = obj["xt"]
            name = xt.get("name") if isinstance(xt, dict) else None
            if name is None or str(name).upper() == "CONNMARK":
                found.add(CONNMARK_UNKNOWN)  # iptables-nft: the mask is not visible to nft
        for v in obj.values():
            _connmark_masks(v, found)
    elif isinstance(obj, list):
        for v in obj:
            _connmark_masks(v, found)


def tailscale_connmark(text: str | None) -> str:
    """Tailscale's connmark generation from `nft -j list table ip mangle` (None: the table does not exist)."""
    if text is None:
        return CONNMARK_NONE
    found: set[str] = set()
    for it in _load(text):
        r = it.get("rule")
        if isinstance(r, dict):
            _connmark_masks(r.get("expr"), found)
    for gen in (CONNMARK_OLD, CONNMARK_NEW):
        if found == {gen}:
            return gen
    return CONNMARK_NONE if not found else CONNMARK_UNKNOWN


def count_private_rules(text: str | list[dict[str, object]]) -> int:
    """How many of our pref-5200 rules `ip -j rule show` lists (its text, or the same decoded: helper/rtnl.py)."""
    data: object = text
    if isinstance(text, str):
        try:
            data = json.loads(text) if text.strip() else []
        except ValueError:
            return 0
    n = 0
    for r in data if isinstance(data, list) else []:
        if (
            isinstance(r, dict)
            and r.get("priority") == PRIVATE_RULE_PREF
            and _as_int(r.get("fwmark")) == TS_BYPASS_MARK
            and _as_int(r.get("fwmask")) == TS_MASK
            and str(r.get("table")) == str(MULLVAD_TABLE_ID)
            and "not" not in r  # iproute2 prints `"not": null` for inverted rules
            and r.get("src", "all") == "all"
        ):
            n += 1
    return n
