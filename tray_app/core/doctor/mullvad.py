"""Doctor's checks of Mullvad: the daemon, its socket, split tunnelling, lockdown, content-blocker DNS."""

from __future__ import annotations

from collections.abc import Mapping

from tray_app.core.doctor.facts import (
    Check,
    Facts,
    Level,
    bypass_mode,
    netfilter_mode,
)
from tray_app.core.model import MullvadState


def check_mullvad_daemon(f: Facts) -> Check:
    cid = "mullvad.daemon"
    m = f.mullvad
    if m is None:
        return Check(cid, Level.SKIP, "Mullvad's state was not read")
    if m.state is MullvadState.UNAVAILABLE:
        detail = m.detail or "The mullvad CLI gave no usable answer."
        if "not found" in detail:
            fix = (
                "Install Mullvad VPN (https://mullvad.net/download), or pass `--mullvad-cli PATH` if its CLI "
                "lives elsewhere."
            )
        else:
            fix = "Start it with `sudo systemctl start mullvad-daemon`."
        return Check(cid, Level.WARN, "Mullvad's daemon cannot be reached", detail, fix)
    version = f" {m.version}" if m.version else ""
    return Check(cid, Level.OK, f"Mullvad{version} is {m.state.value}")


def check_mullvad_socket(f: Facts) -> Check:
    cid = "mullvad.socket"
    if f.mullvad_socket_uid is None:
        return Check(cid, Level.SKIP, "Mullvad's management socket was not found")
    if f.mullvad_socket_uid != 0:
        return Check(
            cid,
            Level.FAIL,
            f"Mullvad's management socket is owned by uid {f.mullvad_socket_uid}, not root",
            "Another user's process could pretend to be the Mullvad daemon and feed the tray false state.",
            "Restart mullvad-daemon as root (`sudo systemctl restart mullvad-daemon`) and find what created "
            "the socket.",
        )
    return Check(cid, Level.OK, "Mullvad's management socket is owned by root")


def check_split_tunnel(f: Facts) -> Check:
    cid = "mullvad.split-tunnel"
    hs = f.helper_status
    if hs is None:
        return Check(cid, Level.SKIP, "Mullvad's firewall could not be read", f.helper_error or "")
    mv = hs.get("mullvad") if isinstance(hs.get("mullvad"), Mapping) else None
    if not mv or not mv.get("table"):
        return Check(cid, Level.OK, "Mullvad's firewall table is not loaded (disconnected without lockdown)")
    if not mv.get("split_tunnel_accept"):
        return Check(
            cid,
            Level.FAIL,
            "Mullvad's firewall has no split-tunnel accept rule",
            "Mullvad adds `ct mark 0x00000f41 accept` only when split tunnelling works (cgroups available) "
            "and never during early-boot blocking. Without it no bypass can let tailnet traffic through.",
            "Make sure the net_cls cgroup is available, then `sudo systemctl restart mullvad-daemon`; "
            "check with `mullvad split-tunnel list`.",
        )
    return Check(cid, Level.OK, "Mullvad's firewall accepts split-tunnel traffic (ct mark 0x00000f41)")


def check_lockdown(f: Facts) -> Check:
    cid = "mullvad.lockdown"
    m = f.mullvad
    if m is None or m.lockdown is None:
        return Check(cid, Level.SKIP, "Lockdown mode was not read")
    if not m.lockdown:
        return Check(cid, Level.OK, "Lockdown mode is off")
    mode = bypass_mode(f)
    if mode == "direct":
        return Check(
            cid,
            Level.WARN,
            "Lockdown mode is on and the bypass runs in direct mode",
            "While Mullvad is blocked, the bypass keeps the tailnet reachable, and tailscaled's own traffic "
            "(control, DERP, peer connections) still leaves outside Mullvad with your real IP.",
            "If that is not what you want, switch the bypass to private mode "
            "(`mullvad-tailscale-tray bypass on --mode private`).",
        )
    return Check(
        cid,
        Level.OK,
        "Lockdown mode is on",
        "The bypass keeps tailnet traffic working while Mullvad is blocked"
        + ("; in private mode Tailscale itself is offline while blocked." if mode == "private" else "."),
    )


def check_content_blocker_dns(f: Facts) -> Check:
    cid = "mullvad.content-blocker-dns"
    if f.mullvad_dns_blockers is None:
        return Check(cid, Level.SKIP, "Mullvad's DNS settings were not read")
    if not f.mullvad_dns_blockers:
        return Check(cid, Level.OK, "Mullvad's DNS content blockers are off")
    netfilter = netfilter_mode(f)
    if netfilter == "on":
        return Check(
            cid,
            Level.FAIL,
            "Mullvad's content blockers are on while Tailscale's netfilter is on",
            f"Blockers ({', '.join(f.mullvad_dns_blockers)}) use resolvers at 100.64.0.1-63, inside "
            "Tailscale's range; Tailscale's ts-input chain drops their replies arriving on wg0-mullvad, so "
            "DNS fails.",
            "Use a filtering resolver as Mullvad custom DNS instead (e.g. `mullvad dns set custom "
            "94.140.14.14`), or `sudo tailscale set --netfilter-mode=nodivert` and hook its chains up yourself.",
        )
    return Check(
        cid,
        Level.OK,
        "Mullvad's content blockers are on; the bypass keeps their resolvers (100.64.0.0/26) in the tunnel",
    )
