"""The tables and rules of others that the bypass depends on, read only: Mullvad's split-tunnel accept rule,
Tailscale's connmark generation, private mode's ip rules among everyone's (docs/bypass.md). Pure: no I/O."""

from __future__ import annotations

import json

from tray_app.core.rules import PRIVATE_RULE_PREF
from tray_app.core.rules_readback import load_nft_json
from tray_app.core.world import (
    MULLVAD_NFT,
    MULLVAD_NFT_CHAIN,
    MULLVAD_TABLE_ID,
    SPLIT_CT_MARK,
    TS_BYPASS_MARK,
    TS_MASK,
)


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
                and as_int(m.get("right")) == SPLIT_CT_MARK
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


def as_int(v: object) -> int | None:
    """A mark or mask as `nft -j` and `ip -j` print it: a number or a "0x..." string (None: neither)."""
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
    for it in load_nft_json(text):
        r = it.get("rule")
        if (
            isinstance(r, dict)
            and (r.get("family"), r.get("table")) == MULLVAD_NFT
            and r.get("chain") == MULLVAD_NFT_CHAIN
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
                    found.add(_MASKS.get(as_int(mask) or -1, CONNMARK_UNKNOWN))
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
    for it in load_nft_json(text):
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
            and as_int(r.get("fwmark")) == TS_BYPASS_MARK
            and as_int(r.get("fwmask")) == TS_MASK
            and str(r.get("table")) == str(MULLVAD_TABLE_ID)
            and "not" not in r  # iproute2 prints `"not": null` for inverted rules
            and r.get("src", "all") == "all"
        ):
            n += 1
    return n
