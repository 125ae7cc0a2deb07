"""Doctor: every check is a pure function of gathered facts (docs/bypass.md, "Limits").

Gathering (processes, sockets, D-Bus, the helper) lives in `tray_app.doctor_facts`; here we only decide
ok / warn / fail / skip and say, in plain words, what was seen, why it matters and what to do. The facts and
what a check returns are in `facts.py`, the checks in one module per section (install, mullvad, tailscale,
routing, bypass, desktop); this module runs them in order and renders the report."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tray_app.core.doctor import bypass, desktop, install, mullvad, routing, tailscale
from tray_app.core.doctor.facts import Check, Facts, Level

CHECKS: Sequence[Callable[[Facts], Check]] = (
    install.check_helper,
    install.check_polkit_policy,
    install.check_polkit_agent,
    install.check_boot_unit,
    mullvad.check_mullvad_daemon,
    mullvad.check_mullvad_socket,
    mullvad.check_split_tunnel,
    mullvad.check_lockdown,
    mullvad.check_content_blocker_dns,
    tailscale.check_tailscale_daemon,
    tailscale.check_operator,
    tailscale.check_netfilter,
    tailscale.check_connmark,
    tailscale.check_exit_node,
    tailscale.check_subnet_routes,
    tailscale.check_userspace,
    tailscale.check_dns,
    routing.check_rule_order,
    routing.check_rp_filter,
    bypass.check_bypass,
    bypass.check_private_rules,
    desktop.check_tray_host,
    desktop.check_notifications,
    desktop.check_autostart,
    desktop.check_probe,
)


def run_checks(f: Facts) -> list[Check]:
    return [check(f) for check in CHECKS]


def exit_code(checks: Sequence[Check]) -> int:
    return 1 if any(c.status is Level.FAIL for c in checks) else 0


def render_text(checks: Sequence[Check]) -> str:
    marks = {Level.OK: "ok  ", Level.WARN: "WARN", Level.FAIL: "FAIL", Level.SKIP: "skip"}
    lines: list[str] = []
    for c in checks:
        lines.append(f"[{marks[c.status]}] {c.summary}")
        if c.status is Level.SKIP and c.detail:
            lines.append(f"       why: {c.detail}")
        if c.status in (Level.WARN, Level.FAIL):
            if c.detail:
                lines.append(f"       why: {c.detail}")
            if c.fix:
                lines.append(f"       fix: {c.fix}")
    counts = {lvl: sum(1 for c in checks if c.status is lvl) for lvl in Level}
    lines.append(
        f"{counts[Level.OK]} ok, {counts[Level.WARN]} warnings, {counts[Level.FAIL]} failures, "
        f"{counts[Level.SKIP]} skipped"
    )
    return "\n".join(lines)
