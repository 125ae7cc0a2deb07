"""Doctor's checks of Tailscale: the daemon, operator, netfilter mode, connmark, exit node, routes, DNS."""

from __future__ import annotations

from tray_app.core.doctor.facts import (
    Check,
    Facts,
    Level,
    bypass_state,
    is_public,
    netfilter_mode,
    outside_tailnet,
)
from tray_app.core.model import TailscaleState


def check_tailscale_daemon(f: Facts) -> Check:
    cid = "tailscale.daemon"
    t = f.tailscale
    if t is None:
        return Check(cid, Level.SKIP, "Tailscale's state was not read")
    if t.state is TailscaleState.UNAVAILABLE:
        return Check(
            cid,
            Level.WARN,
            "tailscaled cannot be reached",
            t.detail or "The LocalAPI socket gave no usable answer.",
            "Start it with `sudo systemctl start tailscaled`, or pass `--tailscale-socket PATH`.",
        )
    if f.tailscale_socket_uid not in (None, 0):
        return Check(
            cid,
            Level.FAIL,
            f"tailscaled's socket is owned by uid {f.tailscale_socket_uid}, not root",
            "Another user's process could impersonate tailscaled.",
            "Restart tailscaled as root: `sudo systemctl restart tailscaled`.",
        )
    version = f" {t.version}" if t.version else ""
    return Check(cid, Level.OK, f"Tailscale{version} is {t.state.value}")


def check_operator(f: Facts) -> Check:
    cid = "tailscale.operator"
    prefs = f.tailscale_prefs
    if prefs is None:
        return Check(cid, Level.SKIP, "Tailscale's preferences were not read")
    operator = prefs.get("OperatorUser") or ""
    if f.user and operator == f.user:
        return Check(cid, Level.OK, f"You ({f.user}) are Tailscale's operator: up/down work from the tray")
    return Check(
        cid,
        Level.WARN,
        "You are not Tailscale's operator" + (f" (the operator is {operator})" if operator else ""),
        "The tray can show Tailscale's state but cannot bring it up or down for you.",
        "Run `sudo tailscale set --operator=$USER`.",
    )


def check_netfilter(f: Facts) -> Check:
    cid = "tailscale.netfilter"
    mode = netfilter_mode(f)
    if mode is None:
        return Check(cid, Level.SKIP, "Tailscale's netfilter mode was not read")
    kind = ""
    if f.tailscale_prefs is not None:
        kind = str(f.tailscale_prefs.get("NetfilterKind") or "")
    kind_text = f" ({kind})" if kind else ""
    if mode == "on":
        return Check(cid, Level.OK, f"Tailscale's netfilter mode is on{kind_text}")
    return Check(
        cid,
        Level.WARN,
        f"Tailscale's netfilter mode is {mode}{kind_text}",
        "Without mode `on`, Tailscale's ts-input chain no longer drops spoofed 100.64.0.0/10 packets from "
        "other interfaces. The bypass matches tailnet traffic by interface, so it stays safe, but you lose "
        "that defence in depth.",
        "Unless you hooked the ts-* chains up yourself, run `sudo tailscale set --netfilter-mode=on`.",
    )


def check_connmark(f: Facts) -> Check:
    cid = "tailscale.connmark"
    hs = f.helper_status
    if hs is None or "tailscale_connmark" not in hs:
        return Check(cid, Level.SKIP, "Tailscale's connmark rules could not be read", f.helper_error or "")
    gen = str(hs.get("tailscale_connmark"))
    on = bypass_state(f) == "on"
    if gen == "none":
        return Check(cid, Level.OK, "Tailscale installs no connmark rules (before 1.96, or netfilter not on)")
    if gen in ("1.96-1.98", ">=1.100"):
        what = (
            "overwrites marks of reply packets and Mullvad's split-tunnel ct mark"
            if gen == "1.96-1.98"
            else "still rewrites Mullvad's split-tunnel ct mark on new connections"
        )
        if on:
            return Check(
                cid,
                Level.OK,
                f"Tailscale {gen} connmark rules found; the bypass repairs them",
                f"This generation {what}; the bypass's shim and reply-mark repair undo it.",
            )
        return Check(
            cid,
            Level.WARN,
            f"Tailscale {gen} connmark rules found",
            f"This generation {what}: hand-made bypass rules and `mullvad-exclude` break with it.",
            "Turn on the bypass (`mullvad-tailscale-tray bypass on`); it repairs the marks.",
        )
    return Check(cid, Level.WARN, f"Tailscale's connmark rules are of an unknown kind ({gen})")


def check_exit_node(f: Facts) -> Check:
    cid = "tailscale.exit-node"
    t = f.tailscale if f.tailscale and f.tailscale.state is not TailscaleState.UNAVAILABLE else None
    uses_exit = bool(t and t.exit_node) or bool(
        f.helper_status and f.helper_status.get("table52_default_route")
    )
    if t is None and not uses_exit:
        # an empty table 52 proves nothing while tailscaled is unreachable: a check that did not run is
        # never "ok"
        why = "tailscaled could not be reached" if f.tailscale is not None else "Tailscale was not read"
        return Check(cid, Level.SKIP, f"Whether an exit node is in use was not read ({why})")
    if not uses_exit:
        return Check(cid, Level.OK, "No Tailscale exit node in use")
    name = t.exit_node.name if t and t.exit_node else "an exit node"
    return Check(
        cid,
        Level.WARN,
        f"This machine uses Tailscale exit node {name}",
        "Mullvad and a Tailscale exit node both want the default route. With Mullvad's rules in front, "
        "tailscaled's own traffic can loop into the tunnel it carries.",
        "Use one of the two for internet traffic: `tailscale set --exit-node=` to stop using the exit node, "
        "or disconnect Mullvad.",
    )


def check_subnet_routes(f: Facts) -> Check:
    cid = "tailscale.subnet-routes"
    prefs = f.tailscale_prefs
    if prefs is None:
        return Check(cid, Level.SKIP, "Tailscale's preferences were not read")
    if not prefs.get("RouteAll"):
        return Check(cid, Level.OK, "Subnet routes are not accepted")
    extra = []
    if f.helper_status is not None:
        for cidr in f.helper_status.get("tailnet4") or []:
            if outside_tailnet(str(cidr)):
                extra.append(str(cidr))
        for cidr in f.helper_status.get("tailnet6") or []:
            if outside_tailnet(str(cidr)):
                extra.append(str(cidr))
    kept_out = [str(c) for c in (f.helper_status or {}).get("excluded_routes") or []]
    if kept_out:
        return Check(
            cid,
            Level.WARN,
            "Accepted routes not bypassed (too wide, or NAT64): " + ", ".join(kept_out),
            "Routes wider than /8 (IPv4) or /16 (IPv6), alone or together, and NAT64 or IPv4-mapped prefixes "
            "would take internet traffic out of Mullvad; the bypass keeps them out, so their traffic stays in "
            "the tunnel and does not reach the tailnet.",
            "Ask the subnet router's owner to advertise narrower routes, or stop accepting them: "
            "`tailscale set --accept-routes=false`.",
        )
    public = [c for c in extra if is_public(c)]
    if public:
        return Check(
            cid,
            Level.WARN,
            "Accepted subnet routes cover public addresses: " + ", ".join(public),
            "The bypass sends traffic to these ranges outside Mullvad, through the tailnet.",
            "If that is not intended, stop accepting them: `tailscale set --accept-routes=false`.",
        )
    listed = f" ({', '.join(extra)})" if extra else ""
    return Check(cid, Level.OK, f"Subnet routes are accepted and covered by the bypass{listed}")


def check_userspace(f: Facts) -> Check:
    cid = "tailscale.userspace"
    if f.tailscale_tun is None:
        return Check(cid, Level.SKIP, "Whether tailscaled uses a TUN device was not read")
    if f.tailscale_tun:
        return Check(cid, Level.OK, "tailscaled uses the tailscale0 interface")
    return Check(
        cid,
        Level.WARN,
        "tailscaled runs with userspace networking",
        "There is no tailscale0 interface, so the bypass's interface match does nothing and only "
        "tailscaled's own traffic is affected.",
        "Run tailscaled with a TUN device (drop `--tun=userspace-networking`) to use the bypass.",
    )


def check_dns(f: Facts) -> Check:
    cid = "tailscale.dns"
    prefs = f.tailscale_prefs
    if prefs is None:
        return Check(cid, Level.SKIP, "Tailscale's DNS settings were not read")
    if not prefs.get("CorpDNS"):
        return Check(cid, Level.OK, "MagicDNS is off (--accept-dns=false); names resolve through Mullvad")
    resolved = f.resolv_conf is not None and "systemd/resolve" in f.resolv_conf
    if resolved:
        return Check(cid, Level.OK, "MagicDNS is on and systemd-resolved splits DNS between the two tunnels")
    seen = f" (/etc/resolv.conf: {f.resolv_conf})" if f.resolv_conf else ""
    return Check(
        cid,
        Level.WARN,
        "MagicDNS is on without systemd-resolved" + seen,
        "Tailscale and Mullvad then fight over /etc/resolv.conf. If 100.100.100.100 answers every name, "
        "tailscaled forwards queries over TCP/DoH outside Mullvad in direct mode: a DNS leak Mullvad cannot see.",
        "Use systemd-resolved (`sudo systemctl enable --now systemd-resolved` and link /etc/resolv.conf to "
        "its stub), or `sudo tailscale set --accept-dns=false`.",
    )
