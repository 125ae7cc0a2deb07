"""The state model every layer shares: one immutable Snapshot of both tunnels and the bypass.

Sources emit `MullvadStatus`, `TailscaleStatus` and `BypassStatus`; the monitor folds them into a
`Snapshot`; the UI, `status --json`, `watch` and the notification policy only read it.
`to_json()` produces exactly the `status --json` schema of DESIGN.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class MullvadState(StrEnum):
    CONNECTED = "connected"
    CONNECTING = "connecting"
    DISCONNECTED = "disconnected"
    DISCONNECTING = "disconnecting"
    ERROR = "error"  # Mullvad's "Blocked: <cause>" state; traffic is blocked unless block_failure
    UNAVAILABLE = "unavailable"  # daemon absent, restarting, or its output could not be understood


class TailscaleState(StrEnum):
    RUNNING = "running"
    STARTING = "starting"
    STOPPED = "stopped"
    NEEDS_LOGIN = "needs_login"
    NEEDS_MACHINE_AUTH = "needs_machine_auth"
    NO_STATE = "no_state"
    UNAVAILABLE = "unavailable"


class BypassState(StrEnum):
    ON = "on"
    OFF = "off"
    DRIFTED = "drifted"  # our table exists but is not what we would render now
    UNKNOWN = "unknown"  # not determined yet, or the helper could not be asked


@dataclass(frozen=True, slots=True)
class MullvadStatus:
    state: MullvadState
    relay: str | None = None  # hostname only, e.g. "se-got-wg-001"
    location: str | None = None  # "Gothenburg, Sweden"
    lockdown: bool | None = None  # None when the source cannot tell
    blocked: bool = False  # traffic is blocked (error state, or lockdown while disconnected)
    detail: str | None = None  # error cause, or why the daemon is unavailable (with the fix)
    version: str | None = None
    features: tuple[str, ...] = ()  # feature indicators as the daemon names them
    block_failure: bool = False  # error state in which blocking itself failed: traffic may leak

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "relay": self.relay,
            "location": self.location,
            "lockdown": self.lockdown,
            "blocked": self.blocked,
            "detail": self.detail,
            "version": self.version,
        }


@dataclass(frozen=True, slots=True)
class TailscaleSelf:
    host: str
    dns_name: str
    ips: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"host": self.host, "dns_name": self.dns_name, "ips": list(self.ips)}


@dataclass(frozen=True, slots=True)
class ExitNode:
    name: str
    online: bool

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "online": self.online}


@dataclass(frozen=True, slots=True)
class TailscaleStatus:
    state: TailscaleState
    self_node: TailscaleSelf | None = None
    tailnet: str | None = None
    exit_node: ExitNode | None = None
    peers_online: int = 0
    peers_total: int = 0
    health: tuple[str, ...] = ()
    version: str | None = None
    detail: str | None = None
    auth_url: str | None = None  # NeedsLogin with a pending login URL
    can_write: bool | None = None  # False after a 403 on a prefs write: show the operator hint

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "self": self.self_node.to_json() if self.self_node else None,
            "tailnet": self.tailnet,
            "exit_node": self.exit_node.to_json() if self.exit_node else None,
            "peers_online": self.peers_online,
            "peers_total": self.peers_total,
            "health": list(self.health),
            "version": self.version,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class BypassStatus:
    state: BypassState
    mode: str | None = None  # "direct" | "private" when on or drifted
    detail: str | None = None
    options: tuple[str, ...] = ()
    split_tunnel_accept: bool | None = None  # Mullvad's output chain has `ct mark 0x00000f41 accept`
    # Published by the root reconciler (`bypass-helper watch`), which keeps the bypass right by itself: the
    # app then never runs `refresh`, and `repairs` counts what it put back (`last_repair` says why).
    reconciled: bool = False
    repairs: int = 0
    last_repair: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"state": self.state.value, "mode": self.mode, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class Snapshot:
    mullvad: MullvadStatus = field(default_factory=lambda: MullvadStatus(MullvadState.UNAVAILABLE))
    tailscale: TailscaleStatus = field(default_factory=lambda: TailscaleStatus(TailscaleState.UNAVAILABLE))
    bypass: BypassStatus = field(default_factory=lambda: BypassStatus(BypassState.UNKNOWN))

    def to_json(self) -> dict[str, Any]:
        return {
            "mullvad": self.mullvad.to_json(),
            "tailscale": self.tailscale.to_json(),
            "bypass": self.bypass.to_json(),
        }
