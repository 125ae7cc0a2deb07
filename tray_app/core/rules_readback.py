"""Our table read back: `nft -j` output parsed into views and compared with what `rules.py` renders.

Pure: no I/O. The helper lists the live table as JSON and compares it with a reference listing of what
`render_table()` produces (loaded by the same nft in a scratch network namespace, so the comparison does not
depend on how a given nft version spells its JSON).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable
from typing import Any, NamedTuple

from tray_app.core.protocol import TABLE_FAMILY, TABLE_NAME
from tray_app.core.routes import RouteFacts
from tray_app.core.rules import CHAIN_NAMES, SET_NAMES, Config
from tray_app.core.world import MULLVAD_DNS4, MULLVAD_IF


def same_layout(live: TableView) -> bool:
    """Does the live table have exactly our sets and chains, so that render_apply can reuse them?"""
    return set(live.sets) == set(SET_NAMES) and set(live.chains) == set(CHAIN_NAMES)


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


def load_nft_json(text: str) -> list[dict[str, Any]]:
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
    items = load_nft_json(text)
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


def expected_sets(facts: RouteFacts) -> dict[str, tuple[Interval, ...]]:
    """What our sets must hold: the same in every mode and with every option."""
    return {
        "tailnet4": networks_intervals(facts.tailnet4),
        "tailnet6": networks_intervals(facts.tailnet6),
        "mullvad_dns4": networks_intervals([MULLVAD_DNS4]),
        "lan4": networks_intervals(facts.lan4),
        "lan6": networks_intervals(facts.lan6),
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
    for set_name, want in expected_sets(facts).items():
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
    # Only the option's guard names the LAN in postrouting (every mode's prerouting does).
    if '"@lan4"' in " ".join(live.chains["postrouting"].rules if "postrouting" in live.chains else ()):
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
