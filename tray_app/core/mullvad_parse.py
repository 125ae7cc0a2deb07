"""Parsers for the `mullvad` CLI's output (pure: no Qt, no I/O). Every function returns a value, never raises.

Formats understood (see tests/fixtures/mullvad/README.md for where each comes from):

* `mullvad status --json` and `mullvad status --json listen` (2024.5 and later): one serde `TunnelState` object
  per line, `{"state": ..., "details": ...}`. Only objects with a top-level `"state"` are states; the warning
  line of a logged-out account, settings, relay lists and other daemon events are skipped.
* the text of `mullvad status [-v]`:
  - 2024.6 and later (and the 2023/2024 multi-line layout): a header line (`Connected`, `Blocked: <cause>`, ...)
    followed by indented `Name: value` lines (`Relay`, `Features`, `Visible location`, ...) and the lockdown line;
  - 2022.2 to 2023: one line, `Connected to se-got-wg-001 in Gothenburg, Sweden` (`-v` adds the endpoint in
    parentheses, `\\tvia <entry>` and `Tunnel type:` lines);
  - before 2022.2: `Tunnel status: Connected to WireGuard 185.65.134.1:51820/UDP` (no relay hostname).
* `mullvad version`, `mullvad lockdown-mode get` (and the older `block-when-disconnected get`), and the error
  text the CLI prints when it cannot reach the daemon.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from tray_app.core.model import MullvadState, MullvadStatus

# --- fixes shown to the user -------------------------------------------------------------------------------

NOT_RUNNING = "Mullvad daemon is not running: start it with `sudo systemctl start mullvad-daemon`"
PERMISSION_DENIED = (
    "not allowed to use the Mullvad daemon's socket /var/run/mullvad-vpn (the daemon restricts it to the group "
    "in MULLVAD_MANAGEMENT_SOCKET_GROUP): add yourself with `sudo usermod -aG <group> $USER` and log in again"
)
RESTART_FIX = "restart it with `sudo systemctl restart mullvad-daemon`"
LEAK_WARNING = (
    "Mullvad could not block traffic, so it may leak: restart the daemon with "
    "`sudo systemctl restart mullvad-daemon` and check `journalctl -u mullvad-daemon`"
)
LOGIN_FIX = "log in with `mullvad account login`"

# Lines longer than this are never kept whole (relay lists are megabytes); state lines are < 2 KB.
MAX_LINE = 4 * 1024 * 1024

_STATE_KINDS = {
    "connected": MullvadState.CONNECTED,
    "connecting": MullvadState.CONNECTING,
    "disconnected": MullvadState.DISCONNECTED,
    "disconnecting": MullvadState.DISCONNECTING,
    "error": MullvadState.ERROR,
}

# Feature indicators: the serde names of `mullvad_types::features::FeatureIndicator` (JSON) and the display
# strings of the text `Features:` line, both folded to one key. Unknown names are kept as the daemon wrote them.
_FEATURES = {
    "quantumresistance": "QuantumResistance",
    "multihop": "Multihop",
    "multihopautomatic": "MultihopAuto",
    "multihopauto": "MultihopAuto",
    "bridgemode": "BridgeMode",
    "splittunneling": "SplitTunneling",
    "lockdownmode": "LockdownMode",
    "udp2tcp": "Udp2Tcp",
    "shadowsocks": "Shadowsocks",
    "quic": "Quic",
    "lwo": "Lwo",
    "lansharing": "LanSharing",
    "dnscontentblocker": "DnsContentBlockers",
    "dnscontentblockers": "DnsContentBlockers",
    "customdns": "CustomDns",
    "serveripoverride": "ServerIpOverride",
    "custommtu": "CustomMtu",
    "custommss": "CustomMssFix",
    "custommssfix": "CustomMssFix",
    "daita": "Daita",
    "daitamultihop": "DaitaMultihop",
}


def _fold(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def feature_name(name: str) -> str:
    """The canonical (serde) name of a feature indicator given either spelling; unknown names unchanged."""
    return _FEATURES.get(_fold(name), name.strip())


def unavailable(detail: str) -> MullvadStatus:
    return MullvadStatus(MullvadState.UNAVAILABLE, detail=detail)


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- error causes -------------------------------------------------------------------------------------------


def _auth_failed_detail(code: str | None) -> str:
    folded = _fold(code or "")
    if "expired" in folded:
        return "the Mullvad account has no time left: add time at https://mullvad.net/account, then reconnect"
    if "toomanyconnections" in folded:
        return (
            "too many devices use this Mullvad account: log one out (`mullvad account list-devices`) "
            "and run `mullvad reconnect`"
        )
    if "banned" in folded:
        return "the Mullvad account is suspended: contact Mullvad support"
    if "invalid" in folded:
        return f"the Mullvad account number is not valid: {LOGIN_FIX}"
    return f"Mullvad could not log in to its account: {LOGIN_FIX}"


def _parameter_error_detail(code: str | None) -> str:
    folded = _fold(code or "")
    if "bridge" in folded:
        return "no Mullvad bridge matches your settings: change them with `mullvad bridge set location <country>`"
    if "wireguardkey" in folded:
        return f"Mullvad has no WireGuard key for this device: log out and {LOGIN_FIX}"
    if "resolution" in folded or "customtunnelhost" in folded:
        return "the custom tunnel host cannot be resolved: check it with `mullvad relay get`"
    if "relay" in folded or not folded:
        return (
            "no Mullvad relay matches your settings: pick another with `mullvad relay set location <country>`"
        )
    return f"Mullvad could not build tunnel parameters ({_short(code or '')}): check `mullvad relay get`"


def error_cause_detail(reason: str, details: Any = None) -> str:
    """A cause from the JSON error state (`details.cause`) as text a user understands, with the fix."""
    code = details if isinstance(details, str) else None
    if isinstance(details, dict):
        inner = details.get("reason")
        code = inner if isinstance(inner, str) else None
    if reason == "auth_failed":
        return _auth_failed_detail(code)
    if reason == "is_offline":
        return "this device is offline: connect to a network and Mullvad reconnects by itself"
    if reason == "tunnel_parameter_error":
        return _parameter_error_detail(code)
    if reason == "set_firewall_policy_error":
        return f"Mullvad could not set its firewall rules: check that nftables works and {RESTART_FIX}"
    if reason == "set_dns_error":
        return f"Mullvad could not set the system's DNS: {RESTART_FIX}"
    if reason == "start_tunnel_error":
        return "the tunnel could not be started: run `mullvad reconnect`, details in `journalctl -u mullvad-daemon`"
    if reason == "ipv6_unavailable":
        return (
            "IPv6 is disabled on this system but enabled for the tunnel: turn it off with "
            "`mullvad tunnel set ipv6 off` or enable IPv6"
        )
    if reason == "split_tunnel_error":
        return f"Mullvad's split tunneling failed: {RESTART_FIX}"
    if reason in ("create_tunnel_device", "create_tunnel_device_error"):
        return f"the tunnel device could not be created: {RESTART_FIX}"
    text = _short(reason.replace("_", " ")) or "unknown cause"
    return f"Mullvad blocks traffic ({text}): see `mullvad status` and `journalctl -u mullvad-daemon`"


# Text causes after `Blocked: ` (mullvad-cli format.rs and talpid-types' Display for ErrorStateCause).
_TEXT_CAUSES: tuple[tuple[str, str], ...] = (
    ("authentication with remote server failed", "auth_failed"),
    ("offline", "is_offline"),
    ("failure to generate tunnel parameters", "tunnel_parameter_error"),
    ("firewall", "set_firewall_policy_error"),
    ("dns", "set_dns_error"),
    ("failed to start connection", "start_tunnel_error"),
    ("ipv6", "ipv6_unavailable"),
    ("split tunnel", "split_tunnel_error"),
)


def _text_cause_detail(cause: str, logged_out: bool) -> str:
    low = cause.lower()
    if logged_out and (not low or "authentication" in low or "not valid" in low):
        return f"not logged in to a Mullvad account: {LOGIN_FIX}"
    # The CLI prints the daemon's sentence for an auth failure, not its code (before 2022.2 without any
    # "Authentication ... failed" prefix); match on its words.
    if "no more vpn time" in low or "expired" in low:
        return _auth_failed_detail("EXPIRED_ACCOUNT")
    if "too many simultaneous" in low:
        return _auth_failed_detail("TOO_MANY_CONNECTIONS")
    if "suspended" in low:
        return _auth_failed_detail("BANNED")
    if "account number that is not valid" in low or "invalid_account" in low:
        return _auth_failed_detail("INVALID_ACCOUNT")
    for needle, reason in _TEXT_CAUSES:
        if needle in low:
            if reason == "tunnel_parameter_error":
                return _parameter_error_detail(low.replace(" ", "_"))
            return error_cause_detail(reason)
    return f"Mullvad blocks traffic: {_short(cause) or 'unknown cause'}"


# --- JSON ---------------------------------------------------------------------------------------------------


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _location_text(loc: Any) -> str | None:
    if not isinstance(loc, dict):
        return None
    city, country = _str(loc.get("city")), _str(loc.get("country"))
    if city and country:
        return f"{city}, {country}"
    return country or city


def _features(value: Any) -> tuple[str, ...] | None:
    """The feature indicators, or None when the daemon sent none (older than 2024.6)."""
    if isinstance(value, dict):  # gRPC-shaped `{"active_features": [...]}`, tolerated
        value = value.get("active_features")
    if not isinstance(value, list):
        return None
    return tuple(sorted({feature_name(v) for v in value if isinstance(v, str) and v}))


def status_from_json(obj: Any) -> MullvadStatus | None:
    """A decoded `mullvad status --json` object -> status; None when it is not a tunnel state."""
    if not isinstance(obj, dict) or "state" not in obj:
        return None
    kind = obj.get("state")
    details = obj.get("details")
    state = _STATE_KINDS.get(kind) if isinstance(kind, str) else None
    if state is None:
        shown = _short(str(kind), 40)
        return unavailable(
            f"Mullvad reported a state this version does not know (`{shown}`): "
            "update mullvad-tailscale-tray; `mullvad status` shows it"
        )
    d = details if isinstance(details, dict) else {}
    if state in (MullvadState.CONNECTED, MullvadState.CONNECTING):
        loc = d.get("location")
        relay = _str(loc.get("hostname")) if isinstance(loc, dict) else None
        features = _features(d.get("feature_indicators"))
        lockdown = None if features is None else "LockdownMode" in features
        return MullvadStatus(
            state, relay=relay, location=_location_text(loc), lockdown=lockdown, features=features or ()
        )
    if state is MullvadState.DISCONNECTED:
        locked = d.get("locked_down")
        lockdown = locked if isinstance(locked, bool) else None
        return MullvadStatus(state, lockdown=lockdown, blocked=lockdown is True)
    if state is MullvadState.DISCONNECTING:
        after = details if isinstance(details, str) else d.get("after_disconnect")
        if isinstance(after, str) and after.lower() == "reconnect":
            # A reconnect passes through disconnecting; to the user the tunnel is on its way back up.
            return MullvadStatus(MullvadState.CONNECTING)
        return MullvadStatus(state)
    # error
    cause = d.get("cause")
    if isinstance(cause, dict) and isinstance(cause.get("reason"), str):
        detail = error_cause_detail(cause["reason"], cause.get("details"))
    elif isinstance(cause, str) and cause:
        detail = error_cause_detail(cause)
    else:
        detail = "Mullvad blocks traffic for a reason it did not name: see `mullvad status`"
    failure = d.get("block_failure") is not None and d.get("block_failure") is not False
    if failure:
        detail = f"{detail}; {LEAK_WARNING}"
    return MullvadStatus(state, blocked=not failure, detail=detail, block_failure=failure)


def is_state_line(line: bytes | str) -> bool:
    """Cheap pre-check before decoding: serde writes the `state` key first."""
    if isinstance(line, bytes):
        return line.lstrip()[:16].startswith(b'{"state"')
    return line.lstrip()[:16].startswith('{"state"')


def parse_json_line(line: bytes | str) -> MullvadStatus | None:
    """One line of `status --json [listen]` -> status, or None when the line is not a tunnel state."""
    try:
        if len(line) > MAX_LINE:
            return None
        text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
        text = text.strip()
        if not text.startswith("{") or '"state"' not in text:
            return None
        obj = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return status_from_json(obj)


def parse_json_output(text: str) -> MullvadStatus:
    """The whole stdout of `mullvad status --json` -> status (the last state line wins)."""
    found: MullvadStatus | None = None
    for line in text.splitlines():
        status = parse_json_line(line)
        if status is not None:
            found = status
    if found is not None:
        if (
            found.state is MullvadState.ERROR
            and _logged_out(text.splitlines())
            and "log in" in (found.detail or "")
        ):
            return replace(found, detail=f"not logged in to a Mullvad account: {LOGIN_FIX}")
        return found
    if not text.strip():
        return unavailable("`mullvad status --json` printed nothing: check `mullvad status` in a terminal")
    return unavailable(f"`mullvad status --json` printed no tunnel state: {_short(text)!r}")


def lockdown_from_settings(obj: Any) -> bool | None:
    """A `Settings` event of the listen stream -> the lockdown setting, when it carries one."""
    if not isinstance(obj, dict):
        return None
    for key in ("block_when_disconnected", "lockdown_mode"):
        value = obj.get(key)
        if isinstance(value, bool):
            return value
    return None


# --- text ---------------------------------------------------------------------------------------------------

_HEADER = re.compile(
    r"^(?:Tunnel status:\s*)?(?P<kind>Connected|Connecting|Disconnected|Disconnecting)(?P<rest>(?:\s.*)?|\.\.\.)$"
)
_BLOCKED = re.compile(r"^(?:Tunnel status:\s*)?Blocked(?::\s*(?P<cause>.*))?$")
_OPTION = re.compile(r"^\s+(?P<name>[A-Za-z][A-Za-z ]*?)(?:\s*\((?:new|updated)\))?::?\s+(?P<value>.*)$")
_ENDPOINT = re.compile(r"^\[?[0-9A-Fa-f.:]+\]?(?::\d+)?(?:/\w+)?$")
_TEXT_KINDS = {
    "Connected": MullvadState.CONNECTED,
    "Connecting": MullvadState.CONNECTING,
    "Disconnected": MullvadState.DISCONNECTED,
    "Disconnecting": MullvadState.DISCONNECTING,
}


def _hostname(relay_text: str) -> str | None:
    """`se-got-wg-001 (198.51.100.23:49321/UDP) via de-fra-wg-001 (note)` -> `se-got-wg-001`."""
    token = relay_text.strip().split(" ", 1)[0].strip()
    if not token or token.lower() == "none" or _ENDPOINT.match(token) or "|" in token:
        return None  # only an address (hostname unknown to the CLI)
    return token


def _visible_location(value: str) -> str | None:
    """`Sweden, Gothenburg. IPv4: 198.51.100.24, IPv6: ...` -> `Gothenburg, Sweden`."""
    place = re.split(r"\.\s+IPv[46]:", value, maxsplit=1)[0].strip()
    if not place or place == "None":
        return None
    country, _, city = place.partition(", ")
    return f"{city}, {country}" if city else country


def _one_line_relay(rest: str) -> tuple[str | None, str | None]:
    """The 2022.2-2023 `Connected to HOST [(addr)] in City, Country [via ENTRY]...` tail -> (relay, location)."""
    rest = rest.strip()
    if rest.endswith("..."):
        rest = rest[:-3].rstrip()
    if not rest.startswith("to "):
        return None, None
    rest = rest[3:].strip()
    if rest.split(" ", 1)[0] in ("WireGuard", "OpenVPN"):
        return None, None  # before 2022.2: `WireGuard 185.65.134.1:51820/UDP`, no hostname
    exit_part = re.split(r"\s+(?:obfuscated\s+)?via\s+", rest, maxsplit=1)[0]
    head, sep, place = exit_part.partition(" in ")
    location = place.strip() or None if sep else None
    return _hostname(head), location


def _logged_out(lines: Iterable[str]) -> bool:
    return any(line.startswith("Warning:") and "not logged in" in line for line in lines)


def parse_text_status(stdout: str, stderr: str = "") -> MullvadStatus:
    """The text of `mullvad status [-v]` (any layout from 2021 to 2026) -> status."""
    lines = [line.rstrip() for line in stdout.splitlines() if line.strip()]
    block_failure = "failed to setup firewall rules" in stderr.lower()
    for index, line in enumerate(lines):
        blocked = _BLOCKED.match(line)
        if blocked:
            cause = (blocked.group("cause") or "").strip()
            detail = _text_cause_detail(cause, _logged_out(lines[:index]))
            if block_failure:
                detail = f"{detail}; {LEAK_WARNING}"
            return MullvadStatus(
                MullvadState.ERROR, blocked=not block_failure, detail=detail, block_failure=block_failure
            )
        header = _HEADER.match(line)
        if header:
            return _parse_text_state(
                _TEXT_KINDS[header.group("kind")], header.group("rest"), lines[index + 1 :]
            )
    if not lines:
        return unavailable("`mullvad status` printed nothing: check it in a terminal")
    return unavailable(
        f"`mullvad status` printed something this version does not understand: {lines[0]!r}"[:160]
    )


def _parse_text_state(state: MullvadState, rest: str, following: list[str]) -> MullvadStatus:
    relay, location = _one_line_relay(rest)
    features: tuple[str, ...] | None = None
    lockdown: bool | None = None
    has_options = False
    for line in following:
        if not line[:1].isspace():
            if line.startswith("Tunnel status:") or _HEADER.match(line) or _BLOCKED.match(line):
                break  # the next state of a listen transcript
            continue  # `Tunnel type: WireGuard` and other 2022-era extra lines
        text = line.strip()
        if text.startswith("Internet access is blocked due to lockdown"):
            lockdown = True
            continue
        if text.startswith("Internet access is no longer blocked"):
            lockdown = False
            continue
        if text.startswith("via "):  # 2022-era `-v`: `\tvia de-fra-wg-001 (addr)`
            continue
        option = _OPTION.match(line)
        if not option:
            continue
        has_options = True
        name, value = option.group("name").strip().lower(), option.group("value").strip()
        if name == "relay":
            relay = _hostname(value)
        elif name == "visible location":
            location = _visible_location(value)
        elif name == "features":
            if value and value != "None":
                features = tuple(sorted({feature_name(f) for f in value.split(",") if f.strip()}))
            else:
                features = ()
        elif name == "location":
            location = value or None
    if state in (MullvadState.CONNECTED, MullvadState.CONNECTING):
        if features is not None:
            lockdown = "LockdownMode" in features
        return MullvadStatus(
            state, relay=relay, location=location, lockdown=lockdown, features=features or ()
        )
    if state is MullvadState.DISCONNECTED:
        if lockdown is None and has_options:
            lockdown = False  # the multi-line layout always prints the lockdown line when it applies
        return MullvadStatus(state, lockdown=lockdown, blocked=lockdown is True)
    return MullvadStatus(state)


# --- other commands -----------------------------------------------------------------------------------------


def parse_version(text: str) -> str | None:
    """`mullvad version` -> the daemon's version (the `mullvad-daemon version` line when it differs)."""
    current = daemon = None
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = name.strip().lower(), value.strip()
        if not value or " " in value:
            continue
        if key == "mullvad-daemon version":
            daemon = value
        elif key == "current version":
            current = value
    return daemon or current


def parse_lockdown(text: str) -> bool | None:
    """`mullvad lockdown-mode get` (or the older `block-when-disconnected get`) -> the setting."""
    low = text.lower()
    match = re.search(r"block traffic when the vpn is disconnected:\s*(on|off)\b", low)
    if match:
        return match.group(1) == "on"
    match = re.search(r"network traffic will be (blocked|allowed) when the vpn is disconnected", low)
    if match:
        return match.group(1) == "blocked"
    return None


def is_json_unsupported(stderr: str, exit_code: int) -> bool:
    """True when clap rejected `--json`/`-j` (CLI older than 2024.5), as opposed to any other failure."""
    low = stderr.lower()
    if "--json" not in low and "'-j'" not in low:
        return False
    return exit_code == 2 or "unexpected argument" in low or "wasn't expected" in low or "unrecognized" in low


def is_unknown_subcommand(stderr: str, exit_code: int) -> bool:
    low = stderr.lower()
    return exit_code == 2 and (
        "unrecognized subcommand" in low or "wasn't recognized" in low or "unexpected" in low
    )


def cli_error_detail(stderr: str, exit_code: int | None, command: str = "mullvad status") -> str:
    """Why a `mullvad` command failed, with the fix, from its stderr (anyhow's `Caused by:` chain)."""
    low = stderr.lower()
    if "permission denied" in low or "os error 13" in low:
        return PERMISSION_DENIED
    if (
        "no such file or directory" in low
        or "os error 2)" in low
        or "connection refused" in low
        or "os error 111" in low
        or "failed to connect to mullvad-daemon" in low
    ):
        return NOT_RUNNING
    if "management rpc" in low or "transport error" in low:
        return f"the Mullvad daemon stopped answering: {RESTART_FIX}"
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    first = lines[0] if lines else ""
    if first.lower().startswith("error:"):
        first = first[6:].strip()
    code = f" (exit code {exit_code})" if exit_code not in (None, 0) else ""
    if first:
        return f"`{command}` failed{code}: {_short(first, 120)}"
    return f"`{command}` failed{code} without saying why: run it in a terminal"


def merge_status(state: MullvadStatus, version: str | None, lockdown_setting: bool | None) -> MullvadStatus:
    """Fold what other commands told (daemon version, the lockdown setting) into a tunnel state.

    The state's own lockdown knowledge wins (`locked_down`, the `LockdownMode` feature); the setting fills in
    where the state cannot tell (text layouts, 2024.5 JSON). Disconnected with lockdown on means blocked.
    """
    if state.state is MullvadState.UNAVAILABLE:
        return state
    lockdown = state.lockdown if state.lockdown is not None else lockdown_setting
    blocked = state.blocked or (state.state is MullvadState.DISCONNECTED and lockdown is True)
    return replace(state, version=version, lockdown=lockdown, blocked=blocked)


# What the CLI prints when no account is logged in (it warns and goes on), and the fix to show.
NOT_LOGGED_IN = "You are not logged in"
LOGIN_THEN_CONNECT = "log in with `mullvad account login` (or in the Mullvad app), then connect again"


def missing_cli_detail(cli: str) -> str:
    return (
        f"the Mullvad command `{cli}` was not found: install Mullvad VPN (https://mullvad.net/download) "
        "or point --mullvad-cli / MTT_MULLVAD_CLI at it"
    )
