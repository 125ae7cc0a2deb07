"""`nft list` text that reads the same on every nftables version.

nft prints a chain's priority by name when it can: 1.0.6 (Debian 12) prints our route/output chain as
`priority -100` and 1.1 (Debian 13, testing) as `priority dstnat`, because 1.1 allows the name in more hooks.
Tests that look at the listing a user would see compare it through `canonical()`, which spells every
priority as a number. An unknown name raises: a new spelling must be added here, not silently pass.
"""

from __future__ import annotations

import re

# nft's standard priority names for the ip, ip6 and inet families (nft(8), "CHAIN PRIORITIES").
PRIORITY_NAMES = {"raw": -300, "mangle": -150, "dstnat": -100, "filter": 0, "security": 50, "srcnat": 100}

_PRIORITY = re.compile(r"\bpriority (?P<base>-?\d+|[a-z]+)(?: (?P<sign>[+-]) (?P<offset>\d+))?;")


def priority_value(spelling: str) -> int:
    """`-100`, `dstnat`, `mangle + 5` -> the number nft means."""
    m = _PRIORITY.fullmatch(f"priority {spelling};")
    if m is None:
        raise ValueError(f"not an nft chain priority: {spelling!r}")
    base = m["base"]
    if base.lstrip("-").isdigit():
        value = int(base)
    elif base in PRIORITY_NAMES:
        value = PRIORITY_NAMES[base]
    else:
        raise ValueError(f"nft priority name {base!r} is unknown to tests/infra/nft_text.py: add it")
    if m["sign"]:
        value += int(m["offset"]) if m["sign"] == "+" else -int(m["offset"])
    return value


def canonical(listing: str) -> str:
    """The listing with every `priority X;` spelled as a plain number."""

    def number(m: re.Match[str]) -> str:
        spelling = m[0].removeprefix("priority ").removesuffix(";")
        return f"priority {priority_value(spelling)};"

    return _PRIORITY.sub(number, listing)
