"""rtnetlink messages, decoded to what the netlink watcher needs: links, addresses, routes, rules.

Pure: bytes in, events out. The layouts are the kernel's stable ABI (linux/netlink.h, linux/rtnetlink.h,
linux/if_link.h, linux/if_addr.h). Decoding these few fields here, instead of importing pyroute2's general
decoder, keeps about 20 MB and 100 ms of imports out of the tray (docs/tray.md, "Tests and figures").
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterator
from dataclasses import dataclass

# linux/netlink.h
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
# linux/rtnetlink.h: message types
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWADDR, RTM_DELADDR = 20, 21
RTM_NEWROUTE, RTM_DELROUTE = 24, 25
RTM_NEWRULE, RTM_DELRULE = 32, 33
# linux/rtnetlink.h: multicast groups (the bit masks of the legacy RTMGRP_* API)
RTMGRP_LINK = 0x1
RTMGRP_IPV4_IFADDR = 0x10
RTMGRP_IPV4_ROUTE = 0x40
RTMGRP_IPV4_RULE = 0x80
RTMGRP_IPV6_IFADDR = 0x100
RTMGRP_IPV6_ROUTE = 0x400
RTMGRP_IPV6_RULE = 0x40000
# attribute types
IFLA_IFNAME = 3
IFA_ADDRESS, IFA_LOCAL, IFA_LABEL = 1, 2, 3
RTA_DST, RTA_TABLE = 1, 15
NLA_TYPE_MASK = 0x3FFF  # without NLA_F_NESTED and NLA_F_NET_BYTEORDER
IFF_UP = 0x1
AF_UNSPEC, AF_INET, AF_INET6 = 0, 2, 10

_NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
_IFINFOMSG = struct.Struct("=BxHiII")  # family, type, index, flags, change
_IFADDRMSG = struct.Struct("=BBBBI")  # family, prefixlen, flags, scope, index
_RTMSG = struct.Struct("=BBBBBBBBI")  # family, dst_len, src_len, tos, table, protocol, scope, type, flags
_RTATTR = struct.Struct("=HH")  # len, type
_ERROR = struct.Struct("=i")


@dataclass(frozen=True, slots=True)
class Event:
    """One decoded message. kind: "link" | "addr" | "route" | "rule" | "done" | "error" | "other"."""

    kind: str
    new: bool = False
    index: int = 0
    name: str | None = None  # link: IFLA_IFNAME; address: IFA_LABEL (IPv4 only)
    up: bool = False  # link: IFF_UP
    prefix: str = "default"  # address: local (else peer) address / prefix length; route: destination
    table: int = 0  # route: RTA_TABLE, else the 8-bit rtm_table
    error: int = 0  # error: the negative errno (0 is an acknowledgement)


def _align(n: int) -> int:
    return (n + 3) & ~3


def _attrs(data: memoryview, start: int, end: int) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    pos = start
    while pos + _RTATTR.size <= end:
        length, kind = _RTATTR.unpack_from(data, pos)
        if length < _RTATTR.size or pos + length > end:
            raise ValueError(f"bad rtattr length {length} at {pos}")
        out.setdefault(kind & NLA_TYPE_MASK, bytes(data[pos + _RTATTR.size : pos + length]))
        pos += _align(length)
    return out


def _address(family: int, raw: bytes | None) -> str | None:
    if raw is None:
        return None
    if family == AF_INET and len(raw) == 4:
        return str(ipaddress.IPv4Address(raw))
    if family == AF_INET6 and len(raw) == 16:
        return str(ipaddress.IPv6Address(raw))
    return None


def _string(raw: bytes | None) -> str | None:
    if not raw:
        return None
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace") or None


def _decode(kind: int, data: memoryview, body: int, end: int) -> Event:
    if kind in (RTM_NEWLINK, RTM_DELLINK):
        _family, _type, index, flags, _change = _IFINFOMSG.unpack_from(data, body)
        attrs = _attrs(data, body + _IFINFOMSG.size, end)
        return Event(
            "link", kind == RTM_NEWLINK, index, _string(attrs.get(IFLA_IFNAME)), bool(flags & IFF_UP)
        )
    if kind in (RTM_NEWADDR, RTM_DELADDR):
        family, prefixlen, _flags, _scope, index = _IFADDRMSG.unpack_from(data, body)
        attrs = _attrs(data, body + _IFADDRMSG.size, end)
        addr = _address(family, attrs.get(IFA_LOCAL)) or _address(family, attrs.get(IFA_ADDRESS))
        return Event(
            "addr",
            kind == RTM_NEWADDR,
            index,
            _string(attrs.get(IFA_LABEL)),
            prefix=f"{addr}/{prefixlen}" if addr else "default",
        )
    if kind in (RTM_NEWROUTE, RTM_DELROUTE):
        family, dst_len, _src, _tos, table, _proto, _scope, _type, _flags = _RTMSG.unpack_from(data, body)
        attrs = _attrs(data, body + _RTMSG.size, end)
        raw_table = attrs.get(RTA_TABLE)
        if raw_table is not None and len(raw_table) == 4:
            table = struct.unpack("=I", raw_table)[0] or table
        dst = _address(family, attrs.get(RTA_DST))
        return Event(
            "route", kind == RTM_NEWROUTE, prefix=f"{dst}/{dst_len}" if dst else "default", table=table
        )
    if kind in (RTM_NEWRULE, RTM_DELRULE):
        return Event("rule", kind == RTM_NEWRULE)
    if kind == NLMSG_DONE:
        return Event("done")
    if kind == NLMSG_ERROR:
        return Event("error", error=_ERROR.unpack_from(data, body)[0])
    return Event("other")


def parse(data: bytes) -> Iterator[Event]:
    """The messages of one datagram, in order. Raises ValueError at the first malformed one (the ones before
    it have been yielded)."""
    view = memoryview(data)
    pos = 0
    while pos + _NLMSGHDR.size <= len(data):
        length, kind, _flags, _seq, _pid = _NLMSGHDR.unpack_from(data, pos)
        end = pos + length
        if length < _NLMSGHDR.size or end > len(data):
            raise ValueError(f"bad netlink message length {length} at {pos}")
        try:
            # cut at the message's end: a short body is an error, never the next message's bytes
            yield _decode(kind, view[:end], pos + _NLMSGHDR.size, end)
        except struct.error as exc:
            raise ValueError(f"truncated netlink message of type {kind}: {exc}") from None
        pos += _align(length)


def link_dump_request(seq: int = 1) -> bytes:
    """RTM_GETLINK with NLM_F_DUMP: the kernel answers with every link, then NLMSG_DONE."""
    body = _IFINFOMSG.pack(AF_UNSPEC, 0, 0, 0, 0)
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + body
