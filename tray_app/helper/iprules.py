"""Private mode's ip rules: `pref 5200 fwmark 0x80000/0xff0000 lookup 1836018789`, IPv4 and IPv6.

Added and removed idempotently; only rules that match ours exactly are ever deleted.
"""

from __future__ import annotations

import os
import socket

from tray_app.core.rules import PRIVATE_RULE_ARGS
from tray_app.core.their_tables import count_private_rules
from tray_app.helper import rtnl, tools

_FAMILY = {"-4": socket.AF_INET, "-6": socket.AF_INET6}


def families() -> tuple[str, ...]:
    # No IPv6 in this kernel (ipv6.disable=1): there is nothing to route, so no v6 rule to own.
    return ("-4", "-6") if os.path.exists("/proc/net/if_inet6") else ("-4",)


def count(fam: str) -> int:
    # Read over rtnetlink in-process (an `ip -N -j rule show` child per family cost more than the rest), as
    # `ip -N` would list them: numeric tables, so /etc/iproute2/rt_tables naming Mullvad's table cannot hide
    # our rule (refresh failing, disable leaving it behind).
    try:
        return count_private_rules(rtnl.rules(_FAMILY[fam]))
    except OSError as e:
        raise tools.ToolFailedError(f"the IPv{fam[1]} ip rules cannot be read over netlink: {e}") from None


def present() -> dict[str, int]:
    return {fam: count(fam) for fam in families()}


def add() -> list[str]:
    """Ensure exactly one rule per family; returns the families we added (for rollback)."""
    added: list[str] = []
    for fam in families():
        n = count(fam)
        if n == 0:
            r = tools.run("ip", fam, "rule", "add", *PRIVATE_RULE_ARGS)
            if r.rc != 0:
                remove(added)
                raise tools.ToolFailedError(
                    f"`ip {fam} rule add {' '.join(PRIVATE_RULE_ARGS)}` failed: {r.err.strip()}"
                )
            added.append(fam)
        for _ in range(n - 1):  # duplicates from an older crash: keep one
            tools.run("ip", fam, "rule", "del", *PRIVATE_RULE_ARGS)
    return added


def remove(fams: list[str] | tuple[str, ...] | None = None) -> list[str]:
    """Delete every copy of our rule; returns the families that had one."""
    removed: list[str] = []
    for fam in families() if fams is None else fams:
        n = count(fam)
        for _ in range(n):
            r = tools.run("ip", fam, "rule", "del", *PRIVATE_RULE_ARGS)
            if r.rc != 0:
                raise tools.ToolFailedError(
                    f"`ip {fam} rule del {' '.join(PRIVATE_RULE_ARGS)}` failed: {r.err.strip()}"
                )
        if n:
            removed.append(fam)
    return removed
