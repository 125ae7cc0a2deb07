"""The tray tooltip: the facts of a Snapshot in a few short plain-text lines.

Plain text because hosts differ: some render markup, XEmbed hosts show Qt's own tooltip, GNOME's
AppIndicator extension shows none at all (the status popup shows the same lines there).
"""

from __future__ import annotations

from tray_app.core.model import (
    BypassState,
    BypassStatus,
    MullvadState,
    MullvadStatus,
    Snapshot,
    TailscaleState,
    TailscaleStatus,
)

TITLE = "Mullvad + Tailscale"


def mullvad_line(m: MullvadStatus) -> str:
    where = ", ".join(p for p in (m.relay, m.location) if p)
    if m.state is MullvadState.CONNECTED:
        line = f"Mullvad: connected to {where}" if where else "Mullvad: connected"
    elif m.state is MullvadState.CONNECTING:
        line = f"Mullvad: connecting to {where}…" if where else "Mullvad: connecting…"
    elif m.state is MullvadState.DISCONNECTING:
        line = "Mullvad: disconnecting…"
    elif m.state is MullvadState.DISCONNECTED:
        line = (
            "Mullvad: disconnected, traffic blocked (lockdown mode)" if m.blocked else "Mullvad: disconnected"
        )
    elif m.state is MullvadState.ERROR:
        if m.block_failure:
            line = "Mullvad: error and could NOT block traffic, it may leak"
        else:
            line = "Mullvad: blocking all traffic"
        if m.detail:
            line += f" ({m.detail})"
    else:
        line = "Mullvad: not available" + (f" ({m.detail})" if m.detail else "")
    return line


def tailscale_line(t: TailscaleStatus) -> str:
    if t.state is TailscaleState.RUNNING:
        ip = this_device_ip(t)
        parts = ["Tailscale: running"]
        if t.tailnet:
            parts.append(f"on {t.tailnet}")
        line = " ".join(parts)
        if ip:
            line += f", this device {ip}"
        return line
    names = {
        TailscaleState.STARTING: "Tailscale: starting…",
        TailscaleState.STOPPED: "Tailscale: stopped",
        TailscaleState.NEEDS_LOGIN: "Tailscale: needs login",
        TailscaleState.NEEDS_MACHINE_AUTH: "Tailscale: waiting for an admin to approve this device",
        TailscaleState.NO_STATE: "Tailscale: not logged in",
    }
    line = names.get(t.state, "Tailscale: not available")
    if t.state is TailscaleState.UNAVAILABLE and t.detail:
        line += f" ({t.detail})"
    return line


def exit_node_line(t: TailscaleStatus) -> str | None:
    if t.state is not TailscaleState.RUNNING or t.exit_node is None:
        return None
    return f"Exit node: {t.exit_node.name}" + ("" if t.exit_node.online else " (offline)")


def bypass_lost(b: BypassStatus) -> bool:
    """Saved as on but our table is gone (an nftables reload, `nft flush ruleset`): the helper reports
    drifted with no mode, because nothing of ours is loaded. `refresh` puts it back without a password."""
    return b.state is BypassState.DRIFTED and b.mode is None


def bypass_in_place(b: BypassStatus) -> bool:
    """Our table is loaded (possibly out of date)."""
    return b.state is BypassState.ON or (b.state is BypassState.DRIFTED and b.mode is not None)


def bypass_line(b: BypassStatus) -> str:
    if bypass_lost(b):
        return "Bypass: lost, its nftables table is gone (restore it from the menu)"
    if b.state is BypassState.ON:
        # the same facts as `bypass status`: the mode and the options (containers, exit via Mullvad)
        return f"Bypass: on ({', '.join([b.mode or 'direct', *(o.replace('-', ' ') for o in b.options)])})"
    if b.state is BypassState.DRIFTED:
        return "Bypass: on but out of date" + (f" ({b.detail})" if b.detail else "")
    if b.state is BypassState.OFF:
        return "Bypass: off"
    return "Bypass: unknown" + (f" ({b.detail})" if b.detail else "")


def this_device_ip(t: TailscaleStatus) -> str | None:
    """The IPv4 address if there is one (what people type), else the first address."""
    if t.self_node is None or not t.self_node.ips:
        return None
    v4 = [ip for ip in t.self_node.ips if ":" not in ip]
    return (v4 or list(t.self_node.ips))[0]


def lines(snapshot: Snapshot) -> list[str]:
    out = [mullvad_line(snapshot.mullvad), tailscale_line(snapshot.tailscale)]
    exit_line = exit_node_line(snapshot.tailscale)
    if exit_line:
        out.append(exit_line)
    out.append(bypass_line(snapshot.bypass))
    return out


def tooltip(snapshot: Snapshot) -> str:
    return "\n".join([TITLE, *lines(snapshot)])
