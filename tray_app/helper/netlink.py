"""Kernel event sockets for the reconciler (`watch`), stdlib only: rtnetlink and nf_tables notifications.

Plain `socket.AF_NETLINK` sockets subscribed to multicast groups; the messages are reduced to a few coarse
facts ("a route of table 52 changed", "a LAN route changed", "our nft table changed"). The reconciler never
trusts what an event says: it only decides *when* to re-read the kernel (a route dump of its own and `nft`, as
every other verb does; helper/rtnl.py).

Only the kernel may wake it: any process in the namespace can send a unicast datagram to our port id, so a
message whose sender port is not 0 (the kernel) is dropped and counted, never parsed.
"""

from __future__ import annotations

import errno
import socket
import struct
from dataclasses import dataclass, field

from tray_app.core.protocol import TABLE_FAMILY, TABLE_NAME
from tray_app.core.world import MULLVAD_NFT, TAILSCALE_NFT, TAILSCALE_TABLE
from tray_app.core.world import TAILSCALE_IF as _TAILSCALE_IF
from tray_app.helper.rtnl import MAIN_TABLE
from tray_app.helper.rtnl import attrs as _attrs
from tray_app.helper.rtnl import messages as _messages

NETLINK_ROUTE = 0
NETLINK_NETFILTER = 12

# rtnetlink multicast groups (RTNLGRP_*; bit = 1 << (group - 1)).
RTNLGRP_LINK = 1
RTNLGRP_IPV4_ROUTE = 7
RTNLGRP_IPV4_RULE = 8
RTNLGRP_IPV6_ROUTE = 11
RTNLGRP_IPV6_RULE = 19
NFNLGRP_NFTABLES = 7

RTM_NEWLINK, RTM_DELLINK = 16, 17
RTM_NEWROUTE, RTM_DELROUTE = 24, 25
RTM_NEWRULE, RTM_DELRULE = 32, 33
NLMSG_ERROR, NLMSG_DONE, NLMSG_OVERRUN = 2, 3, 4
NFNL_SUBSYS_NFTABLES = 10
NFT_MSG_NEWGEN = 16

IFLA_IFNAME = 3
RTA_TABLE = 15
NFPROTO = {"inet": 1, "ip": 2, "ip6": 10}
SOL_NETLINK = 270
NETLINK_NO_ENOBUFS = 5

RCVBUF = 1 << 20
TAILSCALE_IF = _TAILSCALE_IF.encode()  # as IFLA_IFNAME carries it
# nft tables whose changes alter what `status` reports (Mullvad's split-tunnel accept rule, Tailscale's
# connmark rules); ours is handled separately.
WATCHED_TABLES = {(NFPROTO[family], name.encode()) for family, name in (MULLVAD_NFT, TAILSCALE_NFT)}


@dataclass(slots=True)
class Events:
    """What one batch of datagrams told us (coarse: only whether to look again)."""

    table52: bool = False  # a route in table 52 changed, or tailscale0 came or went
    lan: bool = False  # a route in the main table changed, or any link came or went (the lan sets)
    rules: bool = False  # an ip rule changed (private mode's pref 5200)
    ours: bool = False  # something in `inet mullvad-tailscale` changed (or the ruleset was flushed)
    facts: bool = False  # Mullvad's or Tailscale's tables changed (status facts only)
    overrun: bool = False  # the kernel dropped events: everything must be re-read
    forged: int = 0  # datagrams not from the kernel (dropped)
    seen: list[int] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.table52 or self.lan or self.rules or self.ours or self.facts or self.overrun


def _group_mask(*groups: int) -> int:
    mask = 0
    for g in groups:
        mask |= 1 << (g - 1)
    return mask


class Subscription:
    """One netlink socket bound to multicast groups, non-blocking; `read(events)` drains it."""

    def __init__(self, protocol: int, groups: int) -> None:
        self.protocol = protocol
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, protocol)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
            self.sock.bind((0, groups))
            self.sock.setblocking(False)
        except BaseException:
            self.sock.close()
            raise

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()

    def read(self, events: Events) -> None:
        while True:
            try:
                data, sender = self.sock.recvfrom(65536)
            except BlockingIOError:
                return
            except OSError as e:
                if e.errno == errno.ENOBUFS:  # the kernel dropped notifications: resync everything
                    events.overrun = True
                    continue
                raise
            if sender[0] != 0:  # a process, not the kernel: never let it steer root
                events.forged += 1
                continue
            for kind, buf, start, end in _messages(data):
                events.seen.append(kind)
                if kind == NLMSG_OVERRUN:
                    events.overrun = True
                elif self.protocol == NETLINK_ROUTE:
                    _route_event(kind, buf, start, end, events)
                else:
                    _nft_event(kind, buf, start, end, events)


def _route_event(kind: int, data: bytes, start: int, end: int, events: Events) -> None:
    if kind in (RTM_NEWROUTE, RTM_DELROUTE) and end - start >= 12:
        table = data[start + 4]
        for attr, value in _attrs(data, start + 12, end):
            if attr == RTA_TABLE and len(value) >= 4:
                table = struct.unpack_from("=I", value)[0]
        if table == TAILSCALE_TABLE:
            events.table52 = True
        elif table == MAIN_TABLE:
            events.lan = True
    elif kind in (RTM_NEWRULE, RTM_DELRULE):
        events.rules = True
    elif kind in (RTM_NEWLINK, RTM_DELLINK) and end - start >= 16:
        # IPv4 drops a link's routes without RTM_DELROUTE: tailscale0 going away must re-read table 52, and
        # any link going down or away the main table (the lan sets).
        events.lan = True
        for attr, value in _attrs(data, start + 16, end):
            if attr == IFLA_IFNAME and value.rstrip(b"\0") == TAILSCALE_IF:
                events.table52 = True


_OURS = (NFPROTO[TABLE_FAMILY], TABLE_NAME.encode())


def _nft_event(kind: int, data: bytes, start: int, end: int, events: Events) -> None:
    if kind >> 8 != NFNL_SUBSYS_NFTABLES or end - start < 4:
        return
    msg = kind & 0xFF
    if msg == NFT_MSG_NEWGEN:
        return  # closes every transaction, ours included: says nothing about which table
    family = data[start]
    # Every nf_tables object message (table, chain, rule, set, element, object, flowtable) carries the
    # table's name as attribute 1.
    for attr, value in _attrs(data, start + 4, end):
        if attr == 1:
            key = (family, value.rstrip(b"\0"))
            if key == _OURS:
                events.ours = True
            elif key in WATCHED_TABLES:
                events.facts = True
            return


def open_route() -> Subscription:
    groups = _group_mask(
        RTNLGRP_LINK, RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE, RTNLGRP_IPV4_RULE, RTNLGRP_IPV6_RULE
    )
    return Subscription(NETLINK_ROUTE, groups)


def open_nftables() -> Subscription:
    return Subscription(NETLINK_NETFILTER, _group_mask(NFNLGRP_NFTABLES))
