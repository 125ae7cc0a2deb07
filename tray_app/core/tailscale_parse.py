"""Parse tailscaled's LocalAPI documents into `TailscaleStatus` (pure: no Qt, no I/O).

Inputs are the `/localapi/v0/status` document (the same schema as `tailscale status --json`), the lines of
the `watch-ipn-bus` stream, and the CLI's error text. tailscaled's schemas change between releases (nil Go
slices come out as `null`, fields appear and disappear), so every reader here is defensive: any input,
however broken, yields a status; one that was not understood is `unavailable` with a `detail` saying why.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tray_app.core.model import ExitNode, TailscaleSelf, TailscaleState, TailscaleStatus

# ipn.State in ipn/backend.go is a bare int (no text marshaller), so the bus sends these numbers.
BUS_STATES: dict[int, str] = {
    0: "NoState",
    1: "InUseOtherUser",
    2: "NeedsLogin",
    3: "NeedsMachineAuth",
    4: "Stopped",
    5: "Starting",
    6: "Running",
}

_BACKEND_STATES: dict[str, TailscaleState] = {
    "Running": TailscaleState.RUNNING,
    "Starting": TailscaleState.STARTING,
    "Stopped": TailscaleState.STOPPED,
    "NeedsLogin": TailscaleState.NEEDS_LOGIN,
    "NeedsMachineAuth": TailscaleState.NEEDS_MACHINE_AUTH,
    "NoState": TailscaleState.NO_STATE,
}

# Mullvad exit nodes bought through Tailscale appear as peers; they are not the user's devices.
MULLVAD_DNS_SUFFIX = ".mullvad.ts.net"
MULLVAD_TAG = "tag:mullvad-exit-node"

# The bus mask: InitialState (2) | InitialPrefs (4) | InitialHealthState (128). No netmap, no peer deltas:
# the source re-fetches /status after each event instead (works on every daemon version).
WATCH_MASK = 2 | 4 | 128

FELL_BEHIND = "IPN bus consumer fell behind"

START_FIX = "start tailscaled: `sudo systemctl start tailscaled`"
OPERATOR_HINT = "run `sudo tailscale set --operator=$USER` once, then try again"

_MAX_DETAIL = 200


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"


def unavailable(detail: str) -> TailscaleStatus:
    return TailscaleStatus(TailscaleState.UNAVAILABLE, detail=detail)


def daemon_absent(path: str) -> TailscaleStatus:
    return unavailable(f"tailscaled is not running (no socket at {path}); {START_FIX}")


def daemon_refused(path: str) -> TailscaleStatus:
    return unavailable(f"tailscaled is not answering on {path} (connection refused); {START_FIX}")


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _strs(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(v for v in value if isinstance(v, str))


def _dict(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _bool(value: object) -> bool:
    return value is True


def short_version(version: str) -> str | None:
    """`1.102.3-t5c2a8e41f-g9d07b3c6e` -> `1.102.3` (the long form only matters for bug reports)."""
    head = version.split("-", 1)[0].strip()
    return head or None


def is_mullvad_peer(peer: Mapping[str, Any]) -> bool:
    dns = _str(peer.get("DNSName")).rstrip(".").lower()
    return dns.endswith(MULLVAD_DNS_SUFFIX) or MULLVAD_TAG in _strs(peer.get("Tags"))


def _peer_name(peer: Mapping[str, Any], suffix: str) -> str:
    """The name the CLI shows: the DNS name without the tailnet suffix, else the host name."""
    dns = _str(peer.get("DNSName")).rstrip(".")
    if suffix and dns.lower().endswith("." + suffix.lower()):
        dns = dns[: -len(suffix) - 1]
    if is_mullvad_peer(peer):
        base = dns.split(".", 1)[0] if dns else _str(peer.get("HostName"))
        loc = _dict(peer.get("Location"))
        place = ", ".join(p for p in (_str(loc.get("City")), _str(loc.get("Country"))) if p)
        return f"{base} ({place})" if place and base else base or place
    return dns or _str(peer.get("HostName"))


def status_from_obj(doc: object) -> TailscaleStatus:
    """Build a status from an already decoded `/status` document."""
    if not isinstance(doc, dict):
        return unavailable(f"tailscaled's status is not a JSON object (got {type(doc).__name__})")
    raw_state = doc.get("BackendState")
    if not isinstance(raw_state, str):
        return unavailable("tailscaled's status has no BackendState; is this a tailscaled LocalAPI?")
    version = short_version(_str(doc.get("Version")))
    state = _BACKEND_STATES.get(raw_state)
    detail: str | None = None
    if state is None:
        state = TailscaleState.UNAVAILABLE
        if raw_state == "InUseOtherUser":
            detail = "Tailscale is in use by another user on this machine"
        else:
            detail = _short(f"tailscaled reports an unknown state {raw_state!r}; this applet may be too old")

    tailnet_doc = _dict(doc.get("CurrentTailnet"))
    suffix = _str(tailnet_doc.get("MagicDNSSuffix")) or _str(doc.get("MagicDNSSuffix"))
    tailnet = _str(tailnet_doc.get("Name")) or suffix or None

    self_doc = doc.get("Self")
    self_node: TailscaleSelf | None = None
    if isinstance(self_doc, dict):
        ips = _strs(self_doc.get("TailscaleIPs")) or _strs(doc.get("TailscaleIPs"))
        self_node = TailscaleSelf(
            host=_str(self_doc.get("HostName")),
            dns_name=_str(self_doc.get("DNSName")).rstrip("."),
            ips=ips,
        )

    exit_node: ExitNode | None = None
    online = total = 0
    peers = doc.get("Peer")
    for peer in peers.values() if isinstance(peers, dict) else ():
        if not isinstance(peer, dict):
            continue
        if _bool(peer.get("ExitNode")):
            exit_node = ExitNode(_peer_name(peer, suffix), _bool(peer.get("Online")))
        # The CLI hides sharee nodes too: they are someone else's devices that may connect to us.
        if is_mullvad_peer(peer) or _bool(peer.get("ShareeNode")):
            continue
        total += 1
        online += _bool(peer.get("Online"))
    exit_status = doc.get("ExitNodeStatus")
    if exit_node is None and isinstance(exit_status, dict):
        # Fetched without peers (or the peer is missing): the ID is all there is to show.
        exit_node = ExitNode(_str(exit_status.get("ID")) or "exit node", _bool(exit_status.get("Online")))

    return TailscaleStatus(
        state=state,
        self_node=self_node,
        tailnet=tailnet,
        exit_node=exit_node,
        peers_online=online,
        peers_total=total,
        health=tuple(_short(h) for h in _strs(doc.get("Health"))),
        version=version,
        detail=detail,
        auth_url=_str(doc.get("AuthURL")) or None,
    )


def _decode(data: str | bytes) -> tuple[object, str | None]:
    """Decode JSON; on failure return the reason instead of raising."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        return None, "not UTF-8"
    if not text.strip():
        return None, "empty"
    try:
        return json.loads(text), None
    except RecursionError:
        return None, "nested too deeply"
    except ValueError as exc:
        return None, _short(f"invalid JSON ({exc})")


def parse_status(data: str | bytes, origin: str = "tailscaled") -> TailscaleStatus:
    """Parse a `/localapi/v0/status` body or `tailscale status --json` output. Never raises."""
    return parse_status_doc(data, origin)[0]


def parse_status_doc(data: str | bytes, origin: str = "tailscaled") -> tuple[TailscaleStatus, object]:
    """`parse_status` and the decoded JSON document (None when it is not JSON), so that a caller reading
    more from the same body (the tailnet's devices) does not decode a status of a few MB twice."""
    doc, error = _decode(data)
    if error is not None:
        return unavailable(f"could not read the status from {origin}: {error}"), None
    try:
        return status_from_obj(doc), doc
    except Exception as exc:  # last resort: a schema change must never take the applet down
        return unavailable(
            _short(f"could not read the status from {origin}: {type(exc).__name__}: {exc}")
        ), doc


@dataclass(frozen=True, slots=True)
class BusMessage:
    """What one `watch-ipn-bus` line tells us. Only the facts the source acts on are kept."""

    state: TailscaleState | None = None  # from the integer State
    state_code: int | None = None
    has_prefs: bool = False
    want_running: bool | None = None
    allow_lan: bool | None = None  # Prefs.ExitNodeAllowLANAccess
    prior_exit_node: str = ""  # Prefs.InternalExitNodePrior
    advertised_routes: tuple[str, ...] = ()  # Prefs.AdvertiseRoutes
    has_health: bool = False
    health: tuple[str, ...] = ()  # warning texts; () with has_health means healthy
    browse_to_url: str | None = None
    err_message: str | None = None
    login_finished: bool = False
    has_netmap: bool = False
    initial_status: TailscaleStatus | None = None
    other_keys: tuple[str, ...] = ()  # non-null fields we do not know (newer daemons)
    detail: str | None = None  # set when the line was not understood

    @property
    def fell_behind(self) -> bool:
        return self.err_message is not None and FELL_BEHIND in self.err_message

    @property
    def needs_refresh(self) -> bool:
        """Whether /status may have changed. Unknown keys count: re-reading is cheap, missing a change is not."""
        return (
            self.state_code is not None
            or self.has_prefs
            or self.has_health
            or self.browse_to_url is not None
            or self.login_finished
            or self.has_netmap
            or bool(self.other_keys)
            or (self.err_message is not None and not self.fell_behind)
        )


_IGNORED_BUS_KEYS = frozenset({"Version", "SessionID", "Engine", "DriveShares"})
_KNOWN_BUS_KEYS = frozenset(
    {"ErrMessage", "LoginFinished", "State", "Prefs", "NetMap", "BrowseToURL", "Health", "InitialStatus"}
)


def _health_texts(health: Mapping[str, Any]) -> tuple[str, ...]:
    warnings = health.get("Warnings")
    if not isinstance(warnings, dict):
        return ()
    texts = []
    for code in sorted(warnings):
        w = _dict(warnings[code])
        texts.append(_short(_str(w.get("Text")) or _str(w.get("Title")) or str(code)))
    return tuple(texts)


def parse_bus_line(line: str | bytes) -> BusMessage:
    """Parse one `watch-ipn-bus` line (one `ipn.Notify` object). Never raises."""
    doc, error = _decode(line)
    if error is not None:
        return BusMessage(detail=f"unreadable watch-ipn-bus message: {error}")
    if not isinstance(doc, dict):
        return BusMessage(detail="watch-ipn-bus message is not a JSON object")
    try:
        return _bus_from_obj(doc)
    except Exception as exc:
        return BusMessage(detail=_short(f"unreadable watch-ipn-bus message: {type(exc).__name__}: {exc}"))


def _bus_from_obj(doc: Mapping[str, Any]) -> BusMessage:
    code = doc.get("State")
    state_code: int | None = None
    state: TailscaleState | None = None
    if isinstance(code, int) and not isinstance(code, bool):
        state_code = code
        state = _BACKEND_STATES.get(BUS_STATES.get(code, ""), TailscaleState.UNAVAILABLE)
    prefs = doc.get("Prefs")
    want = prefs.get("WantRunning") if isinstance(prefs, dict) else None
    lan = prefs.get("ExitNodeAllowLANAccess") if isinstance(prefs, dict) else None
    prior = prefs.get("InternalExitNodePrior") if isinstance(prefs, dict) else None
    routes = prefs.get("AdvertiseRoutes") if isinstance(prefs, dict) else None
    health = doc.get("Health")
    err = doc.get("ErrMessage")
    url = doc.get("BrowseToURL")
    initial = doc.get("InitialStatus")
    other = tuple(
        sorted(k for k, v in doc.items() if k not in _KNOWN_BUS_KEYS | _IGNORED_BUS_KEYS and v is not None)
    )
    return BusMessage(
        state=state,
        state_code=state_code,
        has_prefs=isinstance(prefs, dict),
        want_running=want if isinstance(want, bool) else None,
        allow_lan=lan if isinstance(lan, bool) else None,
        prior_exit_node=prior if isinstance(prior, str) else "",
        advertised_routes=tuple(r for r in routes if isinstance(r, str)) if isinstance(routes, list) else (),
        has_health=isinstance(health, dict),
        health=_health_texts(health) if isinstance(health, dict) else (),
        browse_to_url=url if isinstance(url, str) and url else None,
        err_message=_short(err) if isinstance(err, str) and err else None,
        login_finished=doc.get("LoginFinished") is not None,
        has_netmap=doc.get("NetMap") is not None,
        initial_status=status_from_obj(initial) if isinstance(initial, dict) else None,
        other_keys=other,
    )


def status_tun(data: str | bytes) -> bool | None:
    """`Status.TUN`: False means userspace networking (no tailscale0 interface). None when unknown."""
    doc, _error = _decode(data)
    tun = doc.get("TUN") if isinstance(doc, dict) else None
    return tun if isinstance(tun, bool) else None


def parse_prefs(data: str | bytes) -> dict[str, Any] | None:
    """The `/localapi/v0/prefs` document (ipn.Prefs) as a dict, or None when it is not one."""
    doc, _error = _decode(data)
    return doc if isinstance(doc, dict) else None


def parse_cli_failure(stderr: str, returncode: int, cli: str) -> TailscaleStatus:
    """Map a failed `tailscale status --json` to a status that says what to do."""
    text = _short(stderr.strip()) if stderr.strip() else f"exit code {returncode}"
    if "failed to connect to local tailscaled" in stderr:
        return unavailable(f"tailscaled is not running ({cli}: {text}); {START_FIX}")
    return unavailable(f"`{cli} status --json` failed: {text}")


def cli_status(cli: str, stdout: str, stderr: str, returncode: int) -> TailscaleStatus:
    """What `tailscale status --json` said, or why it failed."""
    if returncode != 0:
        return parse_cli_failure(stderr, returncode, cli)
    return parse_status(stdout, origin=f"`{cli} status --json`")


def http_detail(what: str, code: int, body: bytes) -> str:
    """An HTTP error of tailscaled's LocalAPI, for a status detail."""
    text = " ".join(body.decode("utf-8", "replace").split())[:120]
    return f"tailscaled answered HTTP {code} to {what}" + (f": {text}" if text else "")


def http_problem(what: str, code: int, body: bytes) -> str:
    """An HTTP error of tailscaled as a sentence with the fix."""
    text = " ".join(body.decode("utf-8", "replace").split())[:160]
    try:  # WriteErrorJSON: {"error": "..."}
        obj = json.loads(body)
        if isinstance(obj, dict) and isinstance(obj.get("error"), str):
            text = obj["error"]
    except ValueError:
        pass
    if code == 403:
        return f"Tailscale refused to {what} ({text or 'access denied'}): {OPERATOR_HINT}"
    return f"Tailscale could not {what}: HTTP {code}" + (f": {text}" if text else "")
