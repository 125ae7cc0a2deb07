"""rtnetlink hints: links and addresses of the two tunnels, routes of Tailscale's table 52, ip rules.

A plain non-blocking `AF_NETLINK` socket bound to the multicast groups we need, watched by a
`QSocketNotifier`, with messages decoded by `core.rtnl` (the few fields we need; pyroute2's decoder cost
about 20 MB and 100 ms at start-up). No threads, no asyncio, no polling: the socket wakes the Qt loop only
when the kernel has news.

These are hints, never the truth: they wake the sources (`mullvad_hint`, `tailscale_hint`) and tell the
bypass to refresh (`table52_changed`). Kernel overflow (ENOBUFS) is handled by re-reading the links and
announcing everything as possibly changed (`resynced`). If netlink cannot be opened at all the watcher
stays idle (`available` is False) and the sources fall back on their own back-off.
"""

from __future__ import annotations

import errno
import logging
import socket
from dataclasses import dataclass

from PyQt6.QtCore import QObject, QSocketNotifier, pyqtSignal

from tray_app.core import rtnl

log = logging.getLogger(__name__)

MULLVAD_IFNAME = "wg0-mullvad"
TAILSCALE_IFNAME = "tailscale0"
TAILSCALE_TABLE = 52

GROUPS = (
    rtnl.RTMGRP_LINK
    | rtnl.RTMGRP_IPV4_IFADDR
    | rtnl.RTMGRP_IPV6_IFADDR
    | rtnl.RTMGRP_IPV4_ROUTE
    | rtnl.RTMGRP_IPV6_ROUTE
    | rtnl.RTMGRP_IPV4_RULE
    | rtnl.RTMGRP_IPV6_RULE
)

RCVBUF = 1 << 20  # room for a burst (tailscaled adds hundreds of routes at once with big subnet routers)
RECV_SIZE = 1 << 16
MAX_DATAGRAMS_PER_WAKEUP = 512  # yield to the Qt loop under a flood; the notifier fires again


@dataclass(frozen=True, slots=True)
class Link:
    name: str
    up: bool


def dump_links() -> dict[int, Link]:
    """All links now (index -> Link), by a one-shot RTM_GETLINK dump on a private socket (about 2 ms)."""
    links: dict[int, Link] = {}
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE) as s:
        s.settimeout(5.0)
        s.bind((0, 0))
        s.send(rtnl.link_dump_request())
        while True:
            for msg in rtnl.parse(s.recv(RECV_SIZE)):
                if msg.kind == "done":
                    return links
                if msg.kind == "error":
                    raise OSError(errno.EIO, f"netlink link dump failed: {msg.error}")
                if msg.kind == "link" and msg.new and msg.name:
                    links[msg.index] = Link(msg.name, msg.up)


class NetlinkWatcher(QObject):
    """Emits tunnel-related rtnetlink changes. Call `start()`; `stop()` closes the socket.

    Detailed signals (one per kernel event that matters):
      link_changed(ifname, what)             what: "added" | "removed" | "up" | "down"
      address_changed(ifname, what, prefix)  what: "added" | "removed"; prefix "10.64.0.2/32"
      route_changed(what, prefix)            a route in table 52 was "added" | "removed"
    Coalesced signals (at most once per wake-up of the socket, to be wired to actions):
      mullvad_hint      wg0-mullvad changed: wake the Mullvad source
      tailscale_hint    tailscale0 or table 52 changed: wake the Tailscale source
      table52_changed   Tailscale's routes changed: the bypass should refresh its sets
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
        names: tuple[str, ...] = (MULLVAD_IFNAME, TAILSCALE_IFNAME),
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
        self._links: dict[int, Link] = {}
        self._pending: set[str] = set()
        self.error: str | None = None

    # -- public ------------------------------------------------------------------------------------

    @property
    def available(self) -> bool:
        return self._sock is not None

    def links(self) -> dict[str, bool]:
        """The watched interfaces that exist now, name -> administratively up."""
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
            # Subscribe before the dump: an event racing the dump is then seen twice, never lost.
            sock.bind((0, GROUPS))
            self._links = dump_links()
        except OSError as exc:
            sock.close()
            self.error = f"cannot watch netlink ({exc}); changes are noticed more slowly"
            log.warning("%s", self.error)
            return
        self._sock = sock
        self.error = None
        # PyQt6 types the descriptor as sip.voidptr; a plain int is accepted at run time (6.4 to 6.11)
        self._notifier = QSocketNotifier(sock.fileno(), QSocketNotifier.Type.Read, self)  # type: ignore[call-overload]
        self._notifier.activated.connect(self._drain)

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
        if sock is None:
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
                for msg in rtnl.parse(data):
                    self._handle(msg)
            except Exception as exc:  # a decoder bug must not kill the Qt loop; hints are optional
                log.warning("cannot decode a netlink message: %r", exc)
        self._flush()

    def _flush(self) -> None:
        pending, self._pending = self._pending, set()
        # fixed order so that a receiver sees the same sequence every time
        for name in ("mullvad_hint", "tailscale_hint", "table52_changed", "rules_changed", "resynced"):
            if name in pending:
                getattr(self, name).emit()

    def _hint_for(self, ifname: str) -> None:
        if ifname == MULLVAD_IFNAME:
            self._pending.add("mullvad_hint")
        elif ifname == TAILSCALE_IFNAME:
            self._pending.add("tailscale_hint")
        else:  # a custom watch list: both sources may care
            self._pending.update(("mullvad_hint", "tailscale_hint"))

    def _handle(self, msg: rtnl.Event) -> None:
        if msg.kind == "link":
            self._on_link(msg)
        elif msg.kind == "addr":
            self._on_addr(msg)
        elif msg.kind == "route":
            self._on_route(msg)
        elif msg.kind == "rule":
            self._pending.add("rules_changed")

    def _on_link(self, msg: rtnl.Event) -> None:
        old = self._links.get(msg.index)
        name = msg.name or (old.name if old else None)
        if not name:
            return
        if not msg.new:
            self._links.pop(msg.index, None)
            self._announce_link(old, None)
            return
        link = Link(name, msg.up)
        self._links[msg.index] = link
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
            return  # same name, same flag: statistics, MTU or operstate noise
        self._hint_for(new.name)

    def _on_addr(self, msg: rtnl.Event) -> None:
        link = self._links.get(msg.index)
        name = link.name if link else msg.name
        if name not in self._names:
            return
        self.address_changed.emit(name, "added" if msg.new else "removed", msg.prefix)
        self._hint_for(name)

    def _on_route(self, msg: rtnl.Event) -> None:
        if msg.table != self._table:
            return
        self.route_changed.emit("added" if msg.new else "removed", msg.prefix)
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
