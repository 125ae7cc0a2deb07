"""Human text for `status` and `watch` (pure: no Qt, no I/O).

One line per part, readable at a glance:

    Mullvad: connected to se-got-wg-001 (Gothenburg, Sweden), lockdown off
    Tailscale: running as laptop (100.101.102.103) on example.ts.net, 3/5 devices online
    Bypass: on (direct)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tray_app.core.model import (
    BypassState,
    BypassStatus,
    MullvadState,
    MullvadStatus,
    Snapshot,
    TailscaleState,
    TailscaleStatus,
)
from tray_app.core.protocol import cli_enable_command
from tray_app.core.snapshot_fold import Part, PartStatus, part_of, part_value

OPERATOR_HINT = "changing Tailscale needs operator rights: run `sudo tailscale set --operator=$USER`"
BYPASS_HINT = "the tailnet is cut off while Mullvad is connected: run `mullvad-tailscale-tray bypass on`"


def _with_detail(text: str, detail: str | None) -> str:
    return f"{text} ({detail})" if detail else text


def _relay_and_place(m: MullvadStatus) -> str:
    if m.relay and m.location:
        return f" to {m.relay} ({m.location})"
    if m.relay:
        return f" to {m.relay}"
    if m.location:
        return f" in {m.location}"
    return ""


def _lockdown(m: MullvadStatus) -> str:
    if m.lockdown is None:
        return ""
    return ", lockdown on" if m.lockdown else ", lockdown off"


def mullvad_text(m: MullvadStatus) -> str:
    s = m.state
    if s in (MullvadState.CONNECTED, MullvadState.CONNECTING):
        return f"Mullvad: {s.value}{_relay_and_place(m)}{_lockdown(m)}"
    if s is MullvadState.DISCONNECTED:
        blocked = ", internet blocked" if m.blocked else ""
        return f"Mullvad: disconnected{_lockdown(m)}{blocked}"
    if s is MullvadState.DISCONNECTING:
        return "Mullvad: disconnecting"
    if s is MullvadState.ERROR:
        if m.block_failure:
            head = "Mullvad: error, and blocking FAILED: traffic may leak"
        else:
            head = "Mullvad: error, internet blocked" if m.blocked else "Mullvad: error"
        return _with_detail(head, m.detail)
    return _with_detail("Mullvad: unavailable", m.detail)


def _main_ip(ips: tuple[str, ...]) -> str | None:
    v4 = [ip for ip in ips if ":" not in ip]
    return (v4 or list(ips))[0] if ips else None


def tailscale_text(t: TailscaleStatus) -> str:
    s = t.state
    if s is TailscaleState.RUNNING:
        parts = ["Tailscale: running"]
        if t.self_node:
            ip = _main_ip(t.self_node.ips)
            host = t.self_node.host or t.self_node.dns_name.split(".")[0]
            parts.append(f" as {host}" + (f" ({ip})" if ip else ""))
        if t.tailnet:
            parts.append(f" on {t.tailnet}")
        parts.append(f", {t.peers_online}/{t.peers_total} devices online")
        if t.exit_node:
            parts.append(f", exit node {t.exit_node.name}" + ("" if t.exit_node.online else " (offline)"))
        text = "".join(parts)
    elif s is TailscaleState.STARTING:
        text = "Tailscale: starting"
    elif s is TailscaleState.STOPPED:
        text = "Tailscale: stopped"
    elif s is TailscaleState.NEEDS_LOGIN:
        text = "Tailscale: needs login" + (f" at {t.auth_url}" if t.auth_url else ": run `tailscale up`")
    elif s is TailscaleState.NEEDS_MACHINE_AUTH:
        text = "Tailscale: waiting for the tailnet admin to approve this device"
    elif s is TailscaleState.NO_STATE:
        text = "Tailscale: not logged in yet: run `tailscale up`"
    else:
        return _with_detail("Tailscale: unavailable", t.detail)
    text = _with_detail(text, t.detail)
    # When stopped, tailscaled's only warning is "Tailscale is stopped": the state already says it.
    if t.health and s in (TailscaleState.RUNNING, TailscaleState.STARTING):
        text += "; health: " + "; ".join(t.health)
    if t.can_write is False:
        text += "; " + OPERATOR_HINT
    return text


def bypass_text(b: BypassStatus) -> str:
    s = b.state
    # The helper's notes can be long sentences with their own parentheses: after a semicolon they read well.
    note = f"; {b.detail}" if b.detail else ""
    if s is BypassState.ON:
        inside = ", ".join([b.mode or "mode unknown", *b.options])
        return f"Bypass: on ({inside}){note}"
    if s is BypassState.OFF:
        return f"Bypass: off{note}"
    if s is BypassState.DRIFTED:
        head = f"Bypass: drifted ({b.mode})" if b.mode else "Bypass: drifted"
        fix = cli_enable_command(b.mode, b.options) if b.mode else "mullvad-tailscale-tray bypass off"
        return f"{head}: {b.detail or f'the rules differ from what they should be; run `{fix}`'}"
    return _with_detail("Bypass: unknown", b.detail)


# One row per part (core/snapshot_fold.PART_OF), in the order `status` prints them.
PART_TEXT: dict[Part, Callable[[Any], str]] = {
    Part.MULLVAD: mullvad_text,
    Part.TAILSCALE: tailscale_text,
    Part.BYPASS: bypass_text,
}


def part_text(value: PartStatus) -> str:
    return PART_TEXT[part_of(value)](value)


def bypass_needed(snap: Snapshot) -> bool:
    """Mullvad is up and Tailscale runs, but nothing lets the tailnet through."""
    return (
        snap.mullvad.state in (MullvadState.CONNECTED, MullvadState.CONNECTING)
        and snap.tailscale.state is TailscaleState.RUNNING
        and snap.bypass.state is BypassState.OFF
    )


def status_lines(snap: Snapshot) -> list[str]:
    """One line per part for `status`, plus a hint when the tailnet is cut off."""
    lines = [part_text(part_value(snap, part)) for part in Part]
    if bypass_needed(snap):
        lines.append("Hint: " + BYPASS_HINT)
    return lines


def watch_line(stamp: str, value: PartStatus) -> str:
    """One `watch` line: a local time stamp and the part that changed."""
    return f"{stamp} {part_text(value)}"
