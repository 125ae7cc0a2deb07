"""Gather the facts the doctor's pure checks look at (`tray_app.core.doctor`).

Everything here runs as the desktop user. Facts that need root (nftables, Mullvad's firewall, Tailscale's
connmark rules) come from the helper's read-only `status` verb, never from running the app as root.
Each gatherer is independent and turns its own failure into `None` ("could not tell"), so one broken
source never hides the other checks.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tray_app import paths
from tray_app.core.doctor.facts import Facts, IpRule, ProbeResult, parse_ip_rules, parse_mullvad_dns
from tray_app.core.protocol import Verb
from tray_app.core.world import HELPER_PATH, MULLVAD_IF, TAILSCALE_IF, TAILSCALE_SOCKETS
from tray_app.daemons import mullvad_read, tailscale_read
from tray_app.desktop import desktop_probe
from tray_app.rootside import bypass_run

MULLVAD_SOCKETS = ("/run/mullvad-vpn", "/var/run/mullvad-vpn")

# Process names of polkit authentication agents. Desktop shells with a built-in agent are listed too.
POLKIT_AGENTS = (
    "polkit-gnome-authentication-agent-1",
    "polkit-kde-authentication-agent-1",
    "polkit-mate-authentication-agent-1",
    "polkit-gnome-au",  # /proc/PID/comm is cut at 15 characters
    "polkit-kde-auth",
    "polkit-mate-aut",
    "lxpolkit",
    "lxqt-policykit-agent",
    "lxqt-policykit-",
    "xfce-polkit",
    "hyprpolkitagent",
    "polkit-agent-helper-1",
    "mate-polkit",
    "soteria",
    "gnome-shell",
    "plasmashell",
    "cinnamon",
    "budgie-polkit-dialog",
    "budgie-polkit-d",
    "ukui-polkit",
    "deepin-polkit-agent",
    "deepin-polkit-a",
)
RP_FILTER_IFACES = ("all", "default", MULLVAD_IF, TAILSCALE_IF)


@dataclass(frozen=True)
class Options:
    mullvad_cli: str = "mullvad"
    tailscale_socket: str | None = None
    tailscale_cli: str = "tailscale"
    probe: str | None = None
    helper_path: str = HELPER_PATH
    helper: bypass_run.HelperCommand = field(default_factory=bypass_run.HelperCommand)
    policy_path: str = paths.POLKIT_POLICY
    proc: str = "/proc"


def _run(argv: list[str], timeout: float = 5.0) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError):
        return None


def ip_rules() -> tuple[IpRule, ...] | None:
    ip = shutil.which("ip") or "/usr/sbin/ip"
    rules: list[IpRule] = []
    for family, flag in ((4, "-4"), (6, "-6")):
        # -N: tables as numbers, whatever names /etc/iproute2/rt_tables gives them (core/doctor/facts.py: parse_ip_rules).
        out = _run([ip, flag, "-N", "-j", "rule", "show"])
        if out is None or out.returncode != 0:
            return None
        try:
            data = json.loads(out.stdout or "[]")
        except json.JSONDecodeError:
            return None
        rules.extend(parse_ip_rules(family, data))
    return tuple(rules)


def rp_filter(proc: str = "/proc") -> dict[str, int] | None:
    values: dict[str, int] = {}
    for iface in RP_FILTER_IFACES:
        path = Path(proc) / "sys/net/ipv4/conf" / iface / "rp_filter"
        try:
            values[iface] = int(path.read_text().strip())
        except (OSError, ValueError):
            continue
    return values or None


def polkit_agents(proc: str = "/proc", uid: int | None = None) -> tuple[str, ...] | None:
    uid = os.getuid() if uid is None else uid
    found: set[str] = set()
    try:
        entries = os.listdir(proc)
    except OSError:
        return None
    for entry in entries:
        if not entry.isdigit():
            continue
        base = Path(proc) / entry
        try:
            if base.stat().st_uid != uid:
                continue
            comm = (base / "comm").read_text().strip()
        except OSError:
            continue
        if comm in POLKIT_AGENTS:
            found.add(comm)
    return tuple(sorted(found))


def boot_unit() -> str | None:
    systemctl = shutil.which("systemctl")
    if systemctl is None or not Path("/run/systemd/system").is_dir():
        return None
    out = _run([systemctl, "is-enabled", paths.BOOT_UNIT])
    if out is None:
        return None
    return (out.stdout.strip() or out.stderr.strip() or "unknown").splitlines()[0]


def socket_uid(candidates: tuple[str, ...]) -> int | None:
    for path in candidates:
        with contextlib.suppress(OSError):
            return os.stat(path).st_uid
    return None


def resolv_conf() -> str | None:
    path = Path("/etc/resolv.conf")
    try:
        if path.is_symlink():
            return os.readlink(path)
        servers = [line.strip() for line in path.read_text().splitlines() if line.startswith("nameserver")]
    except OSError:
        return None
    return "; ".join(servers) or "no nameserver lines"


def mullvad_dns(cli: str) -> tuple[str, ...] | None:
    out = _run([cli, "dns", "get"])
    if out is None or out.returncode != 0:
        return None
    return parse_mullvad_dns(out.stdout)


def autostart() -> bool | None:
    try:
        text = paths.autostart_file().read_text()
    except FileNotFoundError:
        system = Path("/etc/xdg/autostart/mullvad-tailscale-tray.desktop")
        return system.exists()
    except OSError:
        return None
    return "Hidden=true" not in text and "X-GNOME-Autostart-enabled=false" not in text


def probe(target: str) -> ProbeResult:
    ping = shutil.which("ping")
    if ping is None:
        return ProbeResult(target, False, "`ping` is not installed (apt install iputils-ping)")
    out = _run([ping, "-c", "3", "-W", "2", "-q", target], timeout=15)
    if out is None:
        return ProbeResult(target, False, "ping did not finish")
    summary = next((line for line in out.stdout.splitlines() if "packets transmitted" in line), "")
    detail = summary or out.stderr.strip() or f"ping exited {out.returncode}"
    return ProbeResult(target, out.returncode == 0, detail)


def desktop() -> tuple[bool | None, bool | None, str | None]:
    """(SNI host registered, XEmbed tray present, notification server) from the session bus and display."""
    if not os.environ.get("DBUS_SESSION_BUS_ADDRESS") and not os.environ.get("DISPLAY"):
        return None, None, None
    return desktop_probe.probe()


def helper_facts(opts: Options) -> tuple[bool | None, int | None, Mapping[str, Any] | None, str | None]:
    """(installed, protocol, status JSON, error) from the helper's read-only `status` verb."""
    installed = os.path.isfile(opts.helper_path) and os.access(opts.helper_path, os.X_OK)
    result = bypass_run.run_helper(Verb.STATUS, command=opts.helper, timeout=30)
    if not result.ok:
        return installed, None, None, result.message
    data = result.data if isinstance(result.data, Mapping) else None
    if data is None:
        return installed, None, None, "the helper's status output was not understood"
    proto = data.get("protocol")
    return installed, proto if isinstance(proto, int) else None, data, None


def gather(opts: Options) -> Facts:
    installed, proto, status, helper_error = helper_facts(opts)
    mv = mullvad_read.read_status(opts.mullvad_cli)
    ts_details = tailscale_read.read_details(opts.tailscale_socket, opts.tailscale_cli)
    sni, xembed, notif = desktop()
    return Facts(
        helper_installed=installed,
        helper_protocol=proto,
        helper_status=status,
        helper_error=helper_error,
        polkit_policy_installed=os.path.isfile(opts.policy_path),
        polkit_agents=polkit_agents(opts.proc),
        boot_unit=boot_unit(),
        mullvad=mv,
        mullvad_socket_uid=socket_uid(MULLVAD_SOCKETS),
        mullvad_dns_blockers=mullvad_dns(opts.mullvad_cli),
        tailscale=ts_details.status,
        tailscale_prefs=ts_details.prefs,
        tailscale_tun=ts_details.tun,
        tailscale_socket_uid=socket_uid(
            (opts.tailscale_socket,) if opts.tailscale_socket else TAILSCALE_SOCKETS
        ),
        user=pwd.getpwuid(os.getuid()).pw_name,
        resolv_conf=resolv_conf(),
        ip_rules=ip_rules(),
        rp_filter=rp_filter(opts.proc),
        sni_host=sni,
        xembed_host=xembed,
        notification_server=notif,
        autostart=autostart(),
        probe=probe(opts.probe) if opts.probe else None,
    )
