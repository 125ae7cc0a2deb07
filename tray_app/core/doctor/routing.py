"""Doctor's checks of the routing policy: Mullvad's and Tailscale's ip rules in order, rp_filter."""

from __future__ import annotations

from tray_app.core.doctor.facts import (
    MAIN_TABLE,
    Check,
    Facts,
    Level,
    bypass_state,
)
from tray_app.core.world import (
    MULLVAD_MARK,
    MULLVAD_TABLE_ID,
    TAILSCALE_TABLE,
)


def check_rule_order(f: Facts) -> Check:
    cid = "routing.rule-order"
    if f.ip_rules is None:
        return Check(cid, Level.SKIP, "The ip rules could not be read")
    problems: list[str] = []
    notes: list[str] = []
    for fam in (4, 6):
        rules = [r for r in f.ip_rules if r.family == fam]
        mv_not = next(
            (
                r
                for r in rules
                if r.inverted and r.fwmark == MULLVAD_MARK and r.table == str(MULLVAD_TABLE_ID)
            ),
            None,
        )
        mv_sup = next((r for r in rules if r.table in MAIN_TABLE and r.suppress_prefixlen == 0), None)
        ts = next((r for r in rules if r.table == str(TAILSCALE_TABLE) and r.fwmark is None), None)
        # The kernel evaluates rules in list order; equal priorities (the `pref 0` trap) keep insertion order.
        if mv_not and mv_sup and rules.index(mv_not) < rules.index(mv_sup):
            problems.append(
                f"IPv{fam}: Mullvad's `not fwmark` rule ({mv_not.priority}) runs before its "
                f"`suppress_prefixlength 0` rule ({mv_sup.priority}), so LAN traffic goes into the tunnel"
            )
        if mv_not and ts:
            where = "in front of" if mv_not.priority < ts.priority else "behind"
            notes.append(
                f"IPv{fam}: Mullvad's rules ({mv_not.priority}) are {where} Tailscale's ({ts.priority})"
            )
    if problems:
        return Check(
            cid,
            Level.FAIL,
            "Mullvad's routing rules are in the wrong order",
            "; ".join(problems) + ". This happens when some rule was added with `pref 0`.",
            "Remove the `pref 0` rule you added (`ip rule show` lists it), then `mullvad reconnect`.",
        )
    if not notes:
        return Check(cid, Level.OK, "Mullvad's and Tailscale's ip rules are not both present")
    return Check(
        cid,
        Level.OK,
        "; ".join(notes),
        "After any Mullvad reconnect its rules sit in front of Tailscale's; the bypass's marks route tailnet "
        "traffic either way.",
    )


def check_rp_filter(f: Facts) -> Check:
    cid = "routing.rp-filter"
    if f.rp_filter is None:
        return Check(cid, Level.SKIP, "rp_filter settings could not be read")
    # The kernel uses the maximum of conf/all and conf/<iface>.
    base = f.rp_filter.get("all", 0)
    strict = sorted(
        name for name, value in f.rp_filter.items() if name != "default" and max(base, value) == 1
    )
    if strict:
        return Check(
            cid,
            Level.WARN if bypass_state(f) != "on" else Level.OK,
            "Strict reverse-path filtering (rp_filter=1) on: " + ", ".join(strict),
            "Strict mode drops replies whose mark sends the reverse lookup into Mullvad's table; the bypass's "
            "reply-mark repair handles tailnet traffic, but a host acting as exit node through Mullvad needs "
            "loose mode.",
            "Prefer loose mode: `sudo sysctl -w net.ipv4.conf.all.rp_filter=2` (and persist it in "
            "/etc/sysctl.d/).",
        )
    return Check(cid, Level.OK, "Reverse-path filtering is loose or off")
