"""Doctor: every check is a pure function of gathered facts (docs/bypass.md, "Limits").

Gathering (processes, sockets, D-Bus, the helper) lives in `tray_app.doctor_facts`; here we only decide
ok / warn / fail / skip and say, in plain words, what was seen, why it matters and what to do.
A fact that could not be gathered is `None` and makes its check `skip` with the reason, never a guess.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from tray_app.core.model import MullvadState, MullvadStatus, TailscaleState, TailscaleStatus
from tray_app.core.protocol import PROTOCOL_VERSION, cli_enable_command
from tray_app.core.world import (
    HELPER_PATH,
    MULLVAD_MARK,
    MULLVAD_TABLE_ID,
    TAILNET4,
    TAILNET6,
    TAILSCALE_TABLE,
)

MAIN_TABLE = ("254", "main")  # `ip -N` prints the number; older captures (and fixtures) the name
NETFILTER_MODES = {0: "off", 1: "nodivert", 2: "on"}


class Level(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True, slots=True)
class Check:
    id: str
    status: Level
    summary: str
    detail: str = ""
    fix: str = ""

    def to_json(self) -> dict[str, str]:
        return {
            "id": self.id,
            "status": self.status.value,
            "summary": self.summary,
            "detail": self.detail,
            "fix": self.fix,
        }


@dataclass(frozen=True, slots=True)
class IpRule:
    """One `ip -j rule` entry, reduced to what the checks need."""

    family: int  # 4 or 6
    priority: int
    table: str | None
    fwmark: int | None = None
    fwmask: int | None = None
    inverted: bool = False  # `not fwmark ...`
    suppress_prefixlen: int | None = None
    action: str | None = None


@dataclass(frozen=True, slots=True)
class ProbeResult:
    target: str
    reachable: bool
    detail: str


@dataclass(frozen=True)
class Facts:
    """Everything the checks look at. `None` means "could not be determined" (the check says why)."""

    # install
    helper_installed: bool | None = None
    helper_protocol: int | None = None
    helper_status: Mapping[str, Any] | None = None  # parsed JSON of helper `status`
    helper_error: str | None = None  # why `status` could not be read (pkexec 127, ...)
    polkit_policy_installed: bool | None = None
    polkit_agents: tuple[str, ...] | None = None  # names of agent processes of this user
    boot_unit: str | None = None  # `systemctl is-enabled` answer, or None without systemd
    # mullvad
    mullvad: MullvadStatus | None = None
    mullvad_socket_uid: int | None = None
    mullvad_dns_blockers: tuple[str, ...] | None = None  # content blockers switched on
    # tailscale
    tailscale: TailscaleStatus | None = None
    tailscale_prefs: Mapping[str, Any] | None = None
    tailscale_tun: bool | None = None  # False: userspace networking
    tailscale_socket_uid: int | None = None
    user: str = ""
    resolv_conf: str | None = None  # where /etc/resolv.conf points, or its nameservers
    # routing
    ip_rules: tuple[IpRule, ...] | None = None
    rp_filter: Mapping[str, int] | None = None  # "all", "default", "<iface>" -> value
    # desktop
    sni_host: bool | None = None
    xembed_host: bool | None = None
    notification_server: str | None = None  # "name version", "" when absent, None unknown
    autostart: bool | None = None
    # optional end-to-end probe
    probe: ProbeResult | None = None
    app_protocol: int = PROTOCOL_VERSION
    extra: Mapping[str, Any] = field(default_factory=dict)


def parse_ip_rules(family: int, data: object) -> tuple[IpRule, ...]:
    """`ip -j [-6] rule show` -> IpRule list. Unknown shapes are skipped, never raised on."""
    rules: list[IpRule] = []
    if not isinstance(data, list):
        return ()
    for item in data:
        if not isinstance(item, dict) or not isinstance(item.get("priority"), int):
            continue
        rules.append(
            IpRule(
                family=family,
                priority=item["priority"],
                table=str(item["table"]) if "table" in item else None,
                fwmark=_hex(item.get("fwmark")),
                fwmask=_hex(item.get("fwmask")),
                inverted="not" in item,
                suppress_prefixlen=item.get("suppress_prefixlen")
                if isinstance(item.get("suppress_prefixlen"), int)
                else None,
                action=str(item["action"]) if "action" in item else None,
            )
        )
    return tuple(rules)


def parse_mullvad_dns(text: str) -> tuple[str, ...] | None:
    """`mullvad dns get` -> the content blockers switched on (empty with custom DNS); None if unreadable.

    The format is `Custom DNS: no` followed by `Block ads: true` lines (mullvad-cli `cmds/dns.rs`).
    """
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("Custom DNS:"):
        return None
    if lines[0].split(":", 1)[1].strip() == "yes":
        return ()
    blockers: list[str] = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.startswith("Block ") and value.strip() == "true":
            blockers.append(name.removeprefix("Block ").strip())
    return tuple(blockers)


def _hex(value: object) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value, 0)
        except ValueError:
            return None
    return None


# --- install -------------------------------------------------------------------------------------------


def check_helper(f: Facts) -> Check:
    cid = "install.helper"
    if f.helper_installed is None:
        return Check(cid, Level.SKIP, "Could not tell whether the bypass helper is installed")
    if not f.helper_installed:
        return Check(
            cid,
            Level.FAIL,
            "The bypass helper is not installed",
            f"Without {HELPER_PATH} the bypass cannot be switched on.",
            "Install the package for your distribution (see README, Install), or `sudo make install`.",
        )
    if f.helper_protocol is not None and f.helper_protocol != f.app_protocol:
        return Check(
            cid,
            Level.FAIL,
            f"The bypass helper speaks protocol {f.helper_protocol}, the app {f.app_protocol}",
            "The helper and the app come from different versions, so commands may be misunderstood.",
            "Reinstall the package so both come from the same version, then restart the tray.",
        )
    return Check(cid, Level.OK, "The bypass helper is installed and matches the app")


def check_polkit_policy(f: Facts) -> Check:
    cid = "install.polkit-policy"
    if f.polkit_policy_installed is None:
        return Check(cid, Level.SKIP, "Could not tell whether the polkit policy is installed")
    if not f.polkit_policy_installed:
        return Check(
            cid,
            Level.FAIL,
            "The polkit policy is missing",
            "pkexec then asks for the administrator password for every status read and refresh, "
            "or refuses outright.",
            "Reinstall the package; it installs "
            "/usr/share/polkit-1/actions/io.github.mullvad-tailscale-tray.policy.",
        )
    return Check(cid, Level.OK, "The polkit policy is installed")


def check_polkit_agent(f: Facts) -> Check:
    cid = "install.polkit-agent"
    if f.polkit_agents is None:
        return Check(cid, Level.SKIP, "Could not list this session's processes to find a polkit agent")
    if not f.polkit_agents:
        return Check(
            cid,
            Level.WARN,
            "No polkit authentication agent seems to run in this session",
            "Turning the bypass on or off asks for your password through an agent; without one pkexec "
            "fails with 'not authorized'. (GNOME Shell, KDE Plasma and Cinnamon have one built in.)",
            "Start your desktop's agent, e.g. `/usr/lib/policykit-1-gnome/polkit-gnome-authentication-agent-1 &` "
            "or `lxpolkit &`, and add it to your session's autostart.",
        )
    return Check(cid, Level.OK, f"Polkit authentication agent running: {', '.join(f.polkit_agents)}")


def check_boot_unit(f: Facts) -> Check:
    """The reconciler unit: enabled (restores at boot) and running (keeps the bypass right, publishes the
    status). Its published status carries a `reconciler` object, so a status without one was asked of the
    helper: no reconciler runs."""
    cid = "install.boot-unit"
    wanted = bool(f.helper_status and f.helper_status.get("saved"))
    running = bool(f.helper_status and isinstance(f.helper_status.get("reconciler"), dict))
    unit = "mullvad-tailscale-bypass.service"
    if f.boot_unit is None:
        if running:
            return Check(cid, Level.OK, "The bypass reconciler is running")
        return Check(cid, Level.SKIP, "systemd is not available, so the reconciler unit was not checked")
    if f.boot_unit == "enabled":
        if running:
            return Check(cid, Level.OK, f"The bypass reconciler is running and starts at boot ({unit})")
        if wanted:
            return Check(
                cid,
                Level.WARN,
                "The bypass is on but its reconciler is not running",
                "Nothing puts the bypass back after an nftables reload or keeps it in line with Tailscale's "
                "routes, and the tray has to ask for the status through pkexec.",
                f"Run `sudo systemctl start {unit}`; if it stops again, `journalctl -u {unit}` says why.",
            )
        return Check(cid, Level.OK, f"The reconciler unit is enabled ({unit}; nothing to keep right now)")
    if wanted:
        return Check(
            cid,
            Level.WARN,
            f"The bypass is on but its reconciler unit is {f.boot_unit}",
            "After a reboot the tailnet stays cut off while Mullvad is connected, and nothing keeps the "
            "bypass in line with Tailscale's routes.",
            f"Run `sudo systemctl enable --now {unit}`.",
        )
    return Check(cid, Level.OK, f"The reconciler unit is {f.boot_unit} (nothing to keep right)")


# --- mullvad -------------------------------------------------------------------------------------------


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
    mode = _bypass_mode(f)
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
    netfilter = _netfilter_mode(f)
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


# --- tailscale -----------------------------------------------------------------------------------------


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
    mode = _netfilter_mode(f)
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
    on = _bypass_state(f) == "on"
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
            if _outside_tailnet(str(cidr)):
                extra.append(str(cidr))
        for cidr in f.helper_status.get("tailnet6") or []:
            if _outside_tailnet(str(cidr)):
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
    public = [c for c in extra if _is_public(c)]
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


# --- routing -------------------------------------------------------------------------------------------


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
            Level.WARN if _bypass_state(f) != "on" else Level.OK,
            "Strict reverse-path filtering (rp_filter=1) on: " + ", ".join(strict),
            "Strict mode drops replies whose mark sends the reverse lookup into Mullvad's table; the bypass's "
            "reply-mark repair handles tailnet traffic, but a host acting as exit node through Mullvad needs "
            "loose mode.",
            "Prefer loose mode: `sudo sysctl -w net.ipv4.conf.all.rp_filter=2` (and persist it in "
            "/etc/sysctl.d/).",
        )
    return Check(cid, Level.OK, "Reverse-path filtering is loose or off")


# --- bypass --------------------------------------------------------------------------------------------


def check_bypass(f: Facts) -> Check:
    cid = "bypass.state"
    hs = f.helper_status
    if hs is None:
        return Check(
            cid,
            Level.SKIP,
            "The bypass state could not be read",
            f.helper_error or "",
            "Make sure the helper and polkit policy are installed and a polkit agent runs.",
        )
    enabled = bool(hs.get("enabled"))
    mullvad_up = f.mullvad is not None and f.mullvad.state in (
        MullvadState.CONNECTED,
        MullvadState.CONNECTING,
        MullvadState.ERROR,
    )
    ts_up = f.tailscale is not None and f.tailscale.state is TailscaleState.RUNNING
    if not enabled:
        if hs.get("saved"):
            return Check(
                cid,
                Level.FAIL,
                "The bypass should be on but its table is gone",
                "You turned it on earlier, but the nftables table is missing (an nftables reload with "
                "`flush ruleset`, or a reboot without the reconciler unit).",
                "Run `mullvad-tailscale-tray bypass on` (or `sudo systemctl start mullvad-tailscale-bypass`).",
            )
        if mullvad_up and ts_up:
            return Check(
                cid,
                Level.FAIL,
                "Mullvad is active and the bypass is off: your tailnet is cut off",
                "Mullvad's firewall and routing swallow traffic to your Tailscale devices.",
                "Run `mullvad-tailscale-tray bypass on` (direct mode) or `--mode private`.",
            )
        return Check(cid, Level.OK, "The bypass is off")
    mode = hs.get("mode") or "?"
    if not hs.get("matches_expected", False):
        return Check(
            cid,
            Level.WARN,
            f"The bypass ({mode}) is on but out of date",
            "Its table differs from what the current routes in table 52 call for (new subnet routes or "
            "peers, or someone edited it).",
            f"Run `{cli_enable_command(str(mode), hs.get('options') or [])}` to re-apply it.",
        )
    return Check(cid, Level.OK, f"The bypass is on ({mode} mode) and matches Tailscale's routes")


def check_private_rules(f: Facts) -> Check:
    cid = "bypass.private-rules"
    hs = f.helper_status
    if hs is None or "private_rules" not in hs:
        return Check(cid, Level.SKIP, "The bypass's ip rules could not be read", f.helper_error or "")
    private = hs.get("enabled") and hs.get("mode") == "private"
    present = bool(hs.get("private_rules"))
    if private and not present:
        return Check(
            cid,
            Level.FAIL,
            "Private mode is on but its ip rules (pref 5200) are missing",
            "tailscaled's own traffic then leaves outside Mullvad, with your real IP. systemd-networkd "
            "(ManageForeignRoutingPolicyRules=yes) removes foreign rules when it reconfigures.",
            "Run `mullvad-tailscale-tray bypass on --mode private` to put them back, and set "
            "ManageForeignRoutingPolicyRules=no in networkd.conf.",
        )
    if not private and present:
        return Check(
            cid,
            Level.WARN,
            "Private-mode ip rules (pref 5200) are present while private mode is off",
            "They force tailscaled's traffic into Mullvad's table.",
            "Run `mullvad-tailscale-tray bypass off` and turn the bypass on again in the mode you want.",
        )
    return Check(cid, Level.OK, "The bypass's ip rules match its mode")


# --- desktop -------------------------------------------------------------------------------------------


def check_tray_host(f: Facts) -> Check:
    cid = "desktop.tray-host"
    if f.sni_host is None and f.xembed_host is None:
        return Check(cid, Level.SKIP, "No desktop session found (no D-Bus session bus or display)")
    if f.sni_host or f.xembed_host:
        kind = "StatusNotifierItem" if f.sni_host else "XEmbed"
        return Check(cid, Level.OK, f"A system tray is available ({kind})")
    return Check(
        cid,
        Level.WARN,
        "No system tray is available",
        "The tray icon cannot be shown; notifications and the command line still work.",
        "On GNOME install and enable the AppIndicator extension (`gnome-shell-extension-appindicator`); "
        "on other desktops add a system tray / status notifier applet to the panel.",
    )


def check_notifications(f: Facts) -> Check:
    cid = "desktop.notifications"
    if f.notification_server is None:
        return Check(cid, Level.SKIP, "No D-Bus session bus to look for a notification server")
    if not f.notification_server:
        return Check(
            cid,
            Level.WARN,
            "No notification server is running",
            "Tunnel changes cannot pop up as desktop notifications.",
            "Start your desktop's notification daemon (e.g. `dunst &` or `mako &`).",
        )
    return Check(cid, Level.OK, f"Notification server: {f.notification_server}")


def check_autostart(f: Facts) -> Check:
    cid = "desktop.autostart"
    if f.autostart is None:
        return Check(cid, Level.SKIP, "Autostart state unknown")
    if f.autostart:
        return Check(cid, Level.OK, "The tray starts on login")
    return Check(
        cid,
        Level.OK,
        "The tray does not start on login",
        "",
        "Run `mullvad-tailscale-tray autostart on` if you want it to.",
    )


def check_probe(f: Facts) -> Check:
    cid = "probe.peer"
    p = f.probe
    if p is None:
        return Check(cid, Level.SKIP, "No end-to-end probe requested (use `doctor --probe PEER`)")
    if p.reachable:
        return Check(cid, Level.OK, f"{p.target} answered", p.detail)
    return Check(
        cid,
        Level.FAIL,
        f"{p.target} did not answer",
        p.detail,
        "Check the bypass state above; `tailscale ping " + p.target + "` shows whether the peer is up.",
    )


CHECKS: Sequence[Callable[[Facts], Check]] = (
    check_helper,
    check_polkit_policy,
    check_polkit_agent,
    check_boot_unit,
    check_mullvad_daemon,
    check_mullvad_socket,
    check_split_tunnel,
    check_lockdown,
    check_content_blocker_dns,
    check_tailscale_daemon,
    check_operator,
    check_netfilter,
    check_connmark,
    check_exit_node,
    check_subnet_routes,
    check_userspace,
    check_dns,
    check_rule_order,
    check_rp_filter,
    check_bypass,
    check_private_rules,
    check_tray_host,
    check_notifications,
    check_autostart,
    check_probe,
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


# --- helpers -------------------------------------------------------------------------------------------


def _bypass_state(f: Facts) -> str | None:
    if f.helper_status is None:
        return None
    return "on" if f.helper_status.get("enabled") else "off"


def _bypass_mode(f: Facts) -> str | None:
    if f.helper_status is None or not f.helper_status.get("enabled"):
        return None
    mode = f.helper_status.get("mode")
    return str(mode) if mode else None


def _netfilter_mode(f: Facts) -> str | None:
    if f.tailscale_prefs is None:
        return None
    raw = f.tailscale_prefs.get("NetfilterMode")
    if isinstance(raw, int) and not isinstance(raw, bool):
        return NETFILTER_MODES.get(raw, f"unknown ({raw})")
    return None


_TAILNET = (TAILNET4, TAILNET6)


def _outside_tailnet(cidr: str) -> bool:
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False
    return not any(net.version == t.version and net.subnet_of(t) for t in _TAILNET)  # type: ignore[arg-type]


def _is_public(cidr: str) -> bool:
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False
    return net.is_global
