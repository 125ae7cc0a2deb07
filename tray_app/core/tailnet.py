"""The tailnet's devices, exit nodes and profiles as the tray shows them (pure: no Qt, no I/O).

Input is the `/localapi/v0/status` document (peers with `ExitNodeOption`, `Location` for Tailscale's Mullvad
exit nodes, `OS`, `LastSeen`, `KeyExpiry`, `UserID`), the prefs (`ExitNodeAllowLANAccess`,
`InternalExitNodePrior`, `AdvertiseRoutes`: `ExitPrefs`) and the `/localapi/v0/profiles/` list. Every reader is defensive like `tailscale_parse`: a field of the wrong type
is treated as absent, never as an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from tray_app.core.tailscale_parse import is_mullvad_peer

_ZERO_TIME = "0001-01-01"
EXIT_ROUTES = ("0.0.0.0/0", "::/0")  # advertised both: an exit node


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _dict(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _strs(value: object) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


@lru_cache(maxsize=8192)  # the same few timestamps come back with every /status read
def parse_time(text: str) -> datetime | None:
    """Go's RFC 3339 (nanoseconds, `Z` or an offset); the zero time and garbage are None."""
    if not text or text.startswith(_ZERO_TIME):
        return None
    head, dot, rest = text.partition(".")
    if dot:  # Python takes at most microseconds: drop the extra digits, keep the zone
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = head + "." + rest[: min(digits, 6)] + rest[digits:]
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Location:
    country: str
    country_code: str
    city: str
    city_code: str
    priority: int = 0  # Location.Priority: higher is better (how the official clients pick "Best available")


@dataclass(frozen=True, slots=True)
class Peer:
    id: str  # StableNodeID: what ExitNodeID takes
    name: str  # MagicDNS short name (or host name)
    dns_name: str  # full MagicDNS name without the trailing dot
    ips: tuple[str, ...]
    os: str
    online: bool
    last_seen: datetime | None
    mine: bool  # owned by this device's user (else shared with us, or tagged)
    owner: str  # login name of the owner ("" when unknown)
    exit_option: bool
    exit_node: bool  # in use as this device's exit node
    mullvad: bool  # one of Tailscale's Mullvad exit nodes
    location: Location | None
    key_expiry: datetime | None
    taildrop: int = 0  # TaildropTarget: whether it can receive files (core/taildrop_send.py)

    @property
    def ipv4(self) -> str | None:
        return next((ip for ip in self.ips if ":" not in ip), None)


@dataclass(frozen=True, slots=True)
class Tailnet:
    """What the device, exit-node and account menus need; equal documents give equal values."""

    peers: tuple[Peer, ...] = ()
    self_key_expiry: datetime | None = None
    self_user: str = ""
    allow_lan: bool | None = None  # ExitNodeAllowLANAccess (prefs); None until the prefs were seen
    exit_node_id: str = ""
    prior_exit_node: str = ""  # InternalExitNodePrior (prefs): what tailscaled turns back on
    advertised_routes: tuple[str, ...] | None = (
        None  # AdvertiseRoutes (prefs); None until the prefs were seen
    )

    @property
    def advertises_exit(self) -> bool:
        """This device offers itself as an exit node (both default routes advertised, as tailscaled counts)."""
        r = self.advertised_routes
        return r is not None and all(x in r for x in EXIT_ROUTES)

    @property
    def devices(self) -> tuple[Peer, ...]:
        """The devices submenu's order: yours first, then shared ones; online first; by name."""
        own = [p for p in self.peers if not p.mullvad]
        return tuple(sorted(own, key=lambda p: (not p.mine, not p.online, p.name.lower())))

    @property
    def exit_nodes(self) -> tuple[Peer, ...]:
        """Exit nodes of your tailnet (not Mullvad's): online first, then by name."""
        nodes = [p for p in self.peers if p.exit_option and not p.mullvad]
        return tuple(sorted(nodes, key=lambda p: (not p.online, p.name.lower())))

    @property
    def mullvad_exit_nodes(self) -> tuple[Peer, ...]:
        return tuple(p for p in self.peers if p.exit_option and p.mullvad)

    def peer(self, key: str) -> Peer | None:
        """By stable ID, MagicDNS name (short or full), host name or Tailscale IP."""
        k = key.strip().rstrip(".").lower()
        for p in self.peers:
            if k in (p.id.lower(), p.name.lower(), p.dns_name.lower()) or key in p.ips:
                return p
        return None


def _location(peer: Mapping[str, Any]) -> Location | None:
    loc = _dict(peer.get("Location"))
    if not loc:
        return None
    return Location(
        _str(loc.get("Country")),
        _str(loc.get("CountryCode")),
        _str(loc.get("City")),
        _str(loc.get("CityCode")),
        _int(loc.get("Priority")),
    )


@dataclass(frozen=True, slots=True)
class ExitPrefs:
    """The exit-node facts of tailscaled's prefs (`/localapi/v0/prefs`, the bus's `Prefs`)."""

    allow_lan: bool | None = None
    prior: str = ""  # InternalExitNodePrior: a StableNodeID, or "auto:any" on newer daemons
    advertised: tuple[str, ...] | None = None  # AdvertiseRoutes (null in the JSON: none)


def exit_prefs(prefs: object) -> ExitPrefs | None:
    """None when `prefs` is no prefs object."""
    if not isinstance(prefs, dict):
        return None
    lan = prefs.get("ExitNodeAllowLANAccess")
    return ExitPrefs(
        lan if isinstance(lan, bool) else None,
        _str(prefs.get("InternalExitNodePrior")),
        _strs(prefs.get("AdvertiseRoutes")),
    )


def _short_name(dns: str, host: str) -> str:
    return dns.split(".", 1)[0] if dns else host


def tailnet_from_status(
    doc: object, allow_lan: bool | None = None, prefs: ExitPrefs | None = None
) -> Tailnet:
    """`prefs`, when given, supplies the prefs' facts (its `allow_lan` wins over the argument)."""
    ep = prefs or ExitPrefs(allow_lan)
    if not isinstance(doc, dict):
        return with_prefs(Tailnet(), ep)
    self_doc = _dict(doc.get("Self"))
    self_uid = self_doc.get("UserID")
    users = _dict(doc.get("User"))
    peers: list[Peer] = []
    exit_id = ""
    raw = doc.get("Peer")
    for p in raw.values() if isinstance(raw, dict) else ():
        if not isinstance(p, dict):
            continue
        dns = _str(p.get("DNSName")).rstrip(".")
        uid = p.get("UserID")
        owner = _str(_dict(users.get(str(uid))).get("LoginName"))
        peer = Peer(
            id=_str(p.get("ID")),
            name=_short_name(dns, _str(p.get("HostName"))),
            dns_name=dns,
            ips=_strs(p.get("TailscaleIPs")),
            os=_str(p.get("OS")),
            online=p.get("Online") is True,
            last_seen=parse_time(_str(p.get("LastSeen"))),
            mine=uid is not None and uid == self_uid and not _strs(p.get("Tags")),
            owner=owner,
            exit_option=p.get("ExitNodeOption") is True,
            exit_node=p.get("ExitNode") is True,
            mullvad=is_mullvad_peer(p),
            location=_location(p),
            key_expiry=parse_time(_str(p.get("KeyExpiry"))),
            taildrop=_int(p.get("TaildropTarget")),
        )
        if peer.exit_node:
            exit_id = peer.id
        peers.append(peer)
    if not exit_id:
        exit_id = _str(_dict(doc.get("ExitNodeStatus")).get("ID"))
    return with_prefs(
        Tailnet(
            peers=tuple(peers),
            self_key_expiry=parse_time(_str(self_doc.get("KeyExpiry"))),
            self_user=_str(_dict(users.get(str(self_uid))).get("LoginName")),
            exit_node_id=exit_id,
        ),
        ep,
    )


def with_prefs(t: Tailnet, prefs: ExitPrefs) -> Tailnet:
    return replace(
        t, allow_lan=prefs.allow_lan, prior_exit_node=prefs.prior, advertised_routes=prefs.advertised
    )


# -- labels -------------------------------------------------------------------------------------------------


def ago(when: datetime | None, now: datetime) -> str:
    """`last seen 5 min ago` style, coarse on purpose (the menu is no clock)."""
    if when is None:
        return "never seen"
    secs = max(0, int((now - when).total_seconds()))
    if secs < 60:
        return "last seen just now"
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if secs >= size:
            n = secs // size
            plural = "s" if unit == "day" and n != 1 else ""
            return f"last seen {n} {unit}{plural} ago"
    return "last seen just now"  # pragma: no cover - the loop always returns


def device_label(p: Peer, now: datetime) -> str:
    """`nas (linux)` when online, `phone (iOS) · last seen 3 h ago` when not."""
    label = f"{p.name} ({p.os})" if p.os else p.name
    if not p.mine and p.owner:
        label += f" · {p.owner}"
    return label if p.online else f"{label} · {ago(p.last_seen, now)}"


def exit_node_label(p: Peer) -> str:
    if p.mullvad and p.location is not None:
        return f"{p.location.city or p.name} ({p.name})" + ("" if p.online else " · offline")
    return p.name + ("" if p.online else " · offline")


def mullvad_groups(nodes: tuple[Peer, ...]) -> list[tuple[str, list[tuple[str, list[Peer]]]]]:
    """Tailscale's Mullvad exit nodes as country -> city -> nodes, all sorted by name."""
    tree: dict[str, dict[str, list[Peer]]] = {}
    for p in nodes:
        loc = p.location
        country = (loc.country if loc else "") or "Unknown country"
        city = (loc.city if loc else "") or "Unknown city"
        tree.setdefault(country, {}).setdefault(city, []).append(p)
    return [
        (country, [(city, sorted(peers, key=lambda p: p.name)) for city, peers in sorted(cities.items())])
        for country, cities in sorted(tree.items())
    ]


def in_country(p: Peer, country: str) -> bool:
    """`p` is located in `country` (its name or code, any case)."""
    want = country.strip().lower()
    return p.location is not None and want in (p.location.country.lower(), p.location.country_code.lower())


def best_available(nodes: tuple[Peer, ...], country: str) -> Peer | None:
    """The Mullvad exit node "Best available" picks in `country` (its name or code): the highest
    Location.Priority, as the official clients choose, among the online ones (an offline node carries no
    traffic); ties by name, so the choice is stable. None when none of that country is online."""
    found = [p for p in nodes if p.online and in_country(p, country)]
    if not found:
        return None
    return min(found, key=lambda p: (-(p.location.priority if p.location else 0), p.name))


def key_expires_within(t: Tailnet, now: datetime, days: float = 7.0) -> datetime | None:
    """This device's node key expiry when it is within `days` (or already past), else None."""
    exp = t.self_key_expiry
    if exp is None:
        return None
    return exp if (exp - now).total_seconds() <= days * 86400 else None


def now_utc() -> datetime:
    return datetime.now(UTC)


# -- profiles (LocalAPI /profiles/) ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Profile:
    id: str
    name: str  # the account (login name), what `tailscale switch --list` shows
    tailnet: str

    @property
    def label(self) -> str:
        return f"{self.name} ({self.tailnet})" if self.tailnet and self.tailnet != self.name else self.name


def parse_profile(obj: object) -> Profile | None:
    if not isinstance(obj, dict):
        return None
    pid = _str(obj.get("ID"))
    if not pid:
        return None
    user = _dict(obj.get("UserProfile"))
    net = _dict(obj.get("NetworkProfile"))
    name = _str(user.get("LoginName")) or _str(obj.get("Name")) or pid
    tailnet = _str(net.get("DomainName")) or _str(obj.get("Name"))
    return Profile(pid, name, tailnet)


def parse_profiles(doc: object) -> tuple[Profile, ...]:
    if not isinstance(doc, list):
        return ()
    return tuple(p for p in (parse_profile(o) for o in doc) if p is not None)


def safe_name(name: str) -> bool:
    """A Taildrop file name we may write: a plain name, no path (tailscaled checks too; we do not rely on it)."""
    return (
        bool(name) and name not in (".", "..") and "/" not in name and "\\" not in name and "\0" not in name
    )
