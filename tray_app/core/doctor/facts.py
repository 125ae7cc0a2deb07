"""Doctor's input: the facts gathered (by `tray_app.doctor_facts`), the parsers for them, what a check
returns, and the few facts derived from several others. A fact that could not be gathered is `None` and makes
its check `skip` with the reason, never a guess."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from tray_app.core.model import MullvadStatus, TailscaleStatus
from tray_app.core.protocol import PROTOCOL_VERSION
from tray_app.core.their_tables import as_int
from tray_app.core.world import (
    TAILNET4,
    TAILNET6,
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
                fwmark=as_int(item.get("fwmark")),
                fwmask=as_int(item.get("fwmask")),
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


def bypass_state(f: Facts) -> str | None:
    if f.helper_status is None:
        return None
    return "on" if f.helper_status.get("enabled") else "off"


def bypass_mode(f: Facts) -> str | None:
    if f.helper_status is None or not f.helper_status.get("enabled"):
        return None
    mode = f.helper_status.get("mode")
    return str(mode) if mode else None


def netfilter_mode(f: Facts) -> str | None:
    if f.tailscale_prefs is None:
        return None
    raw = f.tailscale_prefs.get("NetfilterMode")
    if isinstance(raw, int) and not isinstance(raw, bool):
        return NETFILTER_MODES.get(raw, f"unknown ({raw})")
    return None


_TAILNET = (TAILNET4, TAILNET6)


def outside_tailnet(cidr: str) -> bool:
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False
    return not any(net.version == t.version and net.subnet_of(t) for t in _TAILNET)  # type: ignore[arg-type]


def is_public(cidr: str) -> bool:
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False
    return net.is_global
