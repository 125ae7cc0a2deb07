"""rtnetlink hints: links and addresses of the two tunnels, routes of Tailscale's table 52, ip rules.

A plain non-blocking `AF_NETLINK` socket bound to the multicast groups we need, watched by a
`QSocketNotifier`, with messages decoded by pyroute2 (the product's chosen netlink library): its `Marshal`
and the message classes of links, addresses, routes and rules, which read the same in pyroute2 0.7 (Debian
12) and 0.9. Not `QSocketNotifier` on `IPRoute().fileno()`: since 0.9 `IPRoute` reads several datagrams
into its own queue, so the fd stops being readable while events still wait there and some are never seen.
No threads, no asyncio, no polling: the socket wakes the Qt loop only when the kernel has news.

These are hints, never the truth: they wake the sources (`mullvad_hint`, `tailscale_hint`) and, through the
monitor, ask the bypass service for one coalesced read (the root reconciler, not the tray, re-applies the sets
when table 52 changes: `table52_changed`). Kernel overflow (ENOBUFS) is handled by re-reading the links and
announcing everything as possibly changed (`resynced`). If netlink cannot be opened at all the watcher
stays idle (`available` is False) and the sources fall back on their own back-off.
"""

from __future__ import annotations

import errno
import importlib.util
import logging
import socket
import sys
import types
from dataclasses import dataclass
from typing import Any

from PyQt6.QtCore import QObject, QSocketNotifier, pyqtSignal

from tray_app.core.world import MULLVAD_IF, TAILSCALE_IF, TAILSCALE_TABLE

log = logging.getLogger(__name__)


# Kernel ABI constants (linux/rtnetlink.h, linux/netlink.h, linux/if.h): stable, so spelled out here
# rather than looked up in pyroute2, whose module layout changes between releases.
RTMGRP_LINK = 0x1
RTMGRP_IPV4_IFADDR = 0x10
RTMGRP_IPV4_ROUTE = 0x40
RTMGRP_IPV4_RULE = 0x80
RTMGRP_IPV6_IFADDR = 0x100
RTMGRP_IPV6_ROUTE = 0x400
RTMGRP_IPV6_RULE = 0x40000
GROUPS = (
    RTMGRP_LINK
    | RTMGRP_IPV4_IFADDR
    | RTMGRP_IPV6_IFADDR
    | RTMGRP_IPV4_ROUTE
    | RTMGRP_IPV6_ROUTE
    | RTMGRP_IPV4_RULE
    | RTMGRP_IPV6_RULE
)
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWADDR, RTM_DELADDR = 20, 21
RTM_NEWROUTE, RTM_DELROUTE = 24, 25
RTM_NEWRULE, RTM_DELRULE = 32, 33
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
IFF_UP = 0x1

RCVBUF = 1 << 20  # room for a burst (tailscaled adds hundreds of routes at once with big subnet routers)
RECV_SIZE = 1 << 16
MAX_DATAGRAMS_PER_WAKEUP = 512  # yield to the Qt loop under a flood; the notifier fires again

PYROUTE2_MISSING = (
    "pyroute2 is not installed: install python3-pyroute2 (Debian, Ubuntu, Fedora), python-pyroute2 (Arch) "
    "or `pip install pyroute2`"
)


@dataclass(frozen=True, slots=True)
class Link:
    name: str
    up: bool


@dataclass(frozen=True, slots=True)
class Pyroute2:
    """The parts of pyroute2 the watcher uses, and how they were loaded ("submodules" or "package")."""

    marshal: Any  # a pyroute2 Marshal that decodes links, addresses, routes and rules
    ifinfmsg: Any  # to encode the link dump request
    loaded: str


_pyroute2: Pyroute2 | None = None


def pyroute2() -> Pyroute2:
    """pyroute2's decoder, imported on first use (the watcher's first message), once per process.

    Python runs a package's `__init__` before any of its submodules, and pyroute2's imports the whole library
    (IPRoute, NDB, asyncio, every netlink family; Debian's 0.7 also loads all its entry points): about 20 MB
    and 90 ms. The watcher needs its `Marshal` and four message classes (with what they import, about 2 MB
    and 15 ms), so they are imported under a bare `pyroute2` package without that `__init__`, and `sys.modules` is put back as it was, so that a later
    `import pyroute2` anywhere gets the whole package. If a pyroute2 release ever needs its `__init__` for
    these modules, the ordinary import is used: the same decoder, only heavier.
    """
    global _pyroute2  # noqa: PLW0603  (one decoder per process: the import is the cost)
    if _pyroute2 is None:
        _pyroute2 = _import_submodules() or _import_package()
    return _pyroute2


def _import_submodules() -> Pyroute2 | None:
    if "pyroute2" in sys.modules:  # already imported in full by someone: nothing to save
        return None
    spec = importlib.util.find_spec("pyroute2")
    if spec is None or not spec.submodule_search_locations:
        return None
    before = set(sys.modules)
    bare = types.ModuleType("pyroute2")
    bare.__path__ = list(spec.submodule_search_locations)
    bare.__spec__ = spec
    sys.modules["pyroute2"] = bare
    try:
        return _build("submodules")
    except Exception as exc:  # any failure here means: use the ordinary import
        log.info("pyroute2's submodules alone did not import (%r); importing the whole package", exc)
        return None
    finally:
        for name in set(sys.modules) - before:
            if name == "pyroute2" or name.startswith("pyroute2."):
                del sys.modules[name]


def _import_package() -> Pyroute2:
    try:
        return _build("package")
    except ImportError as exc:
        raise ImportError(f"{PYROUTE2_MISSING} ({exc})") from exc


def _build(loaded: str) -> Pyroute2:
    try:  # 0.9 moved Marshal out of nlsocket, which now imports asyncio (about 10 MB)
        from pyroute2.netlink.marshal import Marshal  # noqa: PLC0415
    except ImportError:  # 0.7, 0.8
        from pyroute2.netlink.nlsocket import Marshal  # noqa: PLC0415
    from pyroute2.netlink.rtnl.fibmsg import fibmsg  # noqa: PLC0415
    from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg  # noqa: PLC0415
    from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg  # noqa: PLC0415
    from pyroute2.netlink.rtnl.rtmsg import rtmsg  # noqa: PLC0415

    marshal = Marshal()
    # only what we subscribe to; anything else decodes as a bare header and is ignored
    marshal.msg_map = {
        RTM_NEWLINK: ifinfmsg,
        RTM_DELLINK: ifinfmsg,
        RTM_NEWADDR: ifaddrmsg,
        RTM_DELADDR: ifaddrmsg,
        RTM_NEWROUTE: rtmsg,
        RTM_DELROUTE: rtmsg,
        RTM_NEWRULE: fibmsg,
        RTM_DELRULE: fibmsg,
    }
    return Pyroute2(marshal, ifinfmsg, loaded)


def dump_links() -> dict[int, Link]:
    """All links now (index -> Link), by a one-shot RTM_GETLINK dump on a private socket (about 2 ms)."""
    p = pyroute2()
    req = p.ifinfmsg()
    req["header"]["type"] = RTM_GETLINK
    req["header"]["flags"] = NLM_F_REQUEST | NLM_F_DUMP
    req["header"]["seq"] = 1
    req["family"] = socket.AF_UNSPEC
    req.encode()
    links: dict[int, Link] = {}
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE) as s:
        s.settimeout(5.0)
        s.bind((0, 0))
        s.send(req.data)
        while True:
            for msg in p.marshal.parse(s.recv(RECV_SIZE)):
                kind = msg["header"]["type"]
                if kind == NLMSG_DONE:
                    return links
                if kind == NLMSG_ERROR:
                    raise OSError(errno.EIO, f"netlink link dump failed: {msg['header'].get('error')}")
                if kind == RTM_NEWLINK:
                    name = msg.get_attr("IFLA_IFNAME")
                    if name:
                        links[msg["index"]] = Link(name, bool(msg["flags"] & IFF_UP))


def _prefix(msg: Any, attrs: tuple[str, ...], length_key: str) -> str:
    for attr in attrs:
        value = msg.get_attr(attr)
        if value:
            return f"{value}/{msg[length_key]}"
    return "default"


class NetlinkWatcher(QObject):
    """Emits tunnel-related rtnetlink changes. Call `start()`; `stop()` closes the socket.

    Detailed signals (one per kernel event that matters):
      link_changed(ifname, what)             what: "added" | "removed" | "up" | "down"
      address_changed(ifname, what, prefix)  what: "added" | "removed"; prefix "10.64.0.2/32"
      route_changed(what, prefix)            a route in table 52 was "added" | "removed"
    Coalesced signals (at most once per wake-up of the socket, to be wired to actions):
      mullvad_hint      wg0-mullvad changed: wake the Mullvad source
      tailscale_hint    tailscale0 or table 52 changed: wake the Tailscale source
      table52_changed   Tailscale's routes changed (the bypass's sets follow them: the reconciler's job)
      rules_changed     an ip rule was added or removed (Mullvad's or the private mode's)
      resynced          the kernel dropped events (ENOBUFS); links were re-read and every hint fired
    """

    link_changed = pyqtSignal(str, str)
    address_changed = pyqtSignal(str, str, str)
    route_changed = pyqtSignal(str, str)
    mullvad_hint = pyqtSignal()
    tailscale_hint = pyqtSignal()
    table52_changed = pyqtSignal()
    rules_changed = pyqtSignal()
    resynced = pyqtSignal()

    def __init__(
        self,
        names: tuple[str, ...] = (MULLVAD_IF, TAILSCALE_IF),
        table: int = TAILSCALE_TABLE,
        rcvbuf: int = RCVBUF,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._names = frozenset(names)
        self._table = table
        self._rcvbuf = rcvbuf
        self._sock: socket.socket | None = None
        self._notifier: QSocketNotifier | None = None
        self._marshal: Any = None  # pyroute2's, set by _load() on the first message
        self._links: dict[int, Link] = {}
        self._catching_up = False  # reading what queued up before the deferred link dump
        self._pending: set[str] = set()
        self.error: str | None = None

    # -- public ------------------------------------------------------------------------------------

    @property
    def available(self) -> bool:
        return self._sock is not None

    def links(self) -> dict[str, bool]:
        """The watched interfaces that exist now, name -> administratively up."""
        if self._sock is not None:
            self._load()
        return {link.name: link.up for link in self._links.values() if link.name in self._names}

    def start(self) -> None:
        if self._sock is not None:
            return
        try:
            sock = socket.socket(
                socket.AF_NETLINK,
                socket.SOCK_RAW | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC,
                socket.NETLINK_ROUTE,
            )
        except OSError as exc:
            self.error = f"cannot open a netlink socket ({exc.strerror}); changes are noticed more slowly"
            log.warning("%s", self.error)
            return
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self._rcvbuf)
            # Subscribe before the dump: an event racing the dump is then seen twice, never lost. The decoder
            # and the dump wait for the first message (see _load); only whether pyroute2 is there is known now.
            sock.bind((0, GROUPS))
            if importlib.util.find_spec("pyroute2") is None:
                raise ImportError(PYROUTE2_MISSING)
        except (OSError, ImportError) as exc:
            sock.close()
            self.error = f"cannot watch netlink ({exc}); changes are noticed more slowly"
            log.warning("%s", self.error)
            return
        self._sock = sock
        self.error = None
        # PyQt6 types the descriptor as sip.voidptr; a plain int is accepted at run time (6.4 to 6.11)
        self._notifier = QSocketNotifier(sock.fileno(), QSocketNotifier.Type.Read, self)  # type: ignore[call-overload]
        self._notifier.activated.connect(self._drain)

    def _load(self) -> bool:
        """pyroute2's decoder and the links as they are now, on the first message (or `links()`), not at start:
        the kernel queues every event from the bind on, so none is lost, and the tray's start-up does without
        the import (about 15 ms and 2 MB, which a quiet network never costs). False (the watcher stopped, with
        the reason in `error`) when that fails."""
        if self._marshal is not None:
            return True
        try:
            self._marshal = pyroute2().marshal
            self._links = dump_links()
        except (OSError, ImportError) as exc:
            self.error = f"cannot watch netlink ({exc}); changes are noticed more slowly"
            log.warning("%s", self.error)
            self.stop()
            return False
        self._catching_up = True
        return True

    def stop(self) -> None:
        if self._notifier is not None:
            self._notifier.setEnabled(False)
            self._notifier.deleteLater()
            self._notifier = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    # -- reading -----------------------------------------------------------------------------------

    def _drain(self, *_: object) -> None:
        sock = self._sock
        if sock is None or not self._load():
            return
        for _n in range(MAX_DATAGRAMS_PER_WAKEUP):
            try:
                data = sock.recv(RECV_SIZE)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:
                    self._resync()
                    continue
                log.warning("netlink read failed (%s); no more hints from netlink", exc)
                self.error = f"netlink read failed ({exc.strerror})"
                self.stop()
                break
            try:
                for msg in self._marshal.parse(data):
                    self._handle(msg)
            except Exception as exc:  # a decoder bug must not kill the Qt loop; hints are optional
                log.warning("cannot decode a netlink message: %r", exc)
        self._catching_up = False
        self._flush()

    def _flush(self) -> None:
        pending, self._pending = self._pending, set()
        # fixed order so that a receiver sees the same sequence every time
        for name in ("mullvad_hint", "tailscale_hint", "table52_changed", "rules_changed", "resynced"):
            if name in pending:
                getattr(self, name).emit()

    def _hint_for(self, ifname: str) -> None:
        if ifname == MULLVAD_IF:
            self._pending.add("mullvad_hint")
        elif ifname == TAILSCALE_IF:
            self._pending.add("tailscale_hint")
        else:  # a custom watch list: both sources may care
            self._pending.update(("mullvad_hint", "tailscale_hint"))

    def _handle(self, msg: Any) -> None:
        kind = msg["header"]["type"]
        if kind in (RTM_NEWLINK, RTM_DELLINK):
            self._on_link(msg, kind == RTM_NEWLINK)
        elif kind in (RTM_NEWADDR, RTM_DELADDR):
            self._on_addr(msg, kind == RTM_NEWADDR)
        elif kind in (RTM_NEWROUTE, RTM_DELROUTE):
            self._on_route(msg, kind == RTM_NEWROUTE)
        elif kind in (RTM_NEWRULE, RTM_DELRULE):
            self._pending.add("rules_changed")

    def _on_link(self, msg: Any, new: bool) -> None:
        index = msg["index"]
        old = self._links.get(index)
        name = msg.get_attr("IFLA_IFNAME") or (old.name if old else None)
        if not name:
            return
        if not new:
            self._links.pop(index, None)
            self._announce_link(old, None)
            return
        link = Link(name, bool(msg["flags"] & IFF_UP))
        self._links[index] = link
        self._announce_link(old, link)

    def _announce_link(self, old: Link | None, new: Link | None) -> None:
        """Emit what differs between two states of one link index (renames count as remove + add)."""
        if old is not None and (new is None or new.name != old.name) and old.name in self._names:
            self.link_changed.emit(old.name, "removed")
            self._hint_for(old.name)
        if new is None or new.name not in self._names:
            return
        renamed = old is None or old.name != new.name
        if renamed:
            self.link_changed.emit(new.name, "added")
            if new.up:
                self.link_changed.emit(new.name, "up")
        elif old is not None and old.up != new.up:
            self.link_changed.emit(new.name, "up" if new.up else "down")
        else:
            if self._catching_up:  # queued before the dump, which already shows it: it may be a change
                self._hint_for(new.name)
            return  # same name, same flag: statistics, MTU or operstate noise
        self._hint_for(new.name)

    def _on_addr(self, msg: Any, new: bool) -> None:
        link = self._links.get(msg["index"])
        name = link.name if link else msg.get_attr("IFA_LABEL")
        if name not in self._names:
            return
        prefix = _prefix(msg, ("IFA_LOCAL", "IFA_ADDRESS"), "prefixlen")
        self.address_changed.emit(name, "added" if new else "removed", prefix)
        self._hint_for(name)

    def _on_route(self, msg: Any, new: bool) -> None:
        table = msg.get_attr("RTA_TABLE") or msg["table"]
        if table != self._table:
            return
        self.route_changed.emit("added" if new else "removed", _prefix(msg, ("RTA_DST",), "dst_len"))
        self._pending.update(("table52_changed", "tailscale_hint"))

    def _resync(self) -> None:
        """The kernel dropped events: re-read links, report differences, and fire every hint."""
        log.info("netlink receive buffer overflowed; re-reading links")
        try:
            now = dump_links()
        except OSError as exc:
            log.warning("netlink re-dump failed: %s", exc)
            now = self._links
        before = self._links
        self._links = now
        for index in sorted(before.keys() | now.keys()):
            old, new = before.get(index), now.get(index)
            if old != new:
                self._announce_link(old, new)
        self._pending.update(
            ("mullvad_hint", "tailscale_hint", "table52_changed", "rules_changed", "resynced")
        )
