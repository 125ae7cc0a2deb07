"""Routes and ip rules read in-process over rtnetlink (stdlib only), in the shape `ip -j` prints them.

Reading table 52, the main table and the ip rules used to cost six `ip -j` children per change (a third of a
toggle's time, most of a route event's). A netlink dump is one request and one reply on a socket of our own,
well under a millisecond. The result is the list of objects `ip -j route show table N` / `ip -N -j rule show`
would print, reduced to the keys the parsers read (tray_app.core.routes, their_tables.count_private_rules), so the
parsing stays the same code; tests/bypass/test_rtnl.py compares both readings in a namespace.

Only the kernel is listened to: a datagram whose sender port is not 0, or a reply to another request, is
dropped unread.
"""

from __future__ import annotations

import errno
import itertools
import os
import socket
import struct
from collections.abc import Iterable, Iterator

NETLINK_ROUTE = 0
RTM_GETROUTE = 26
RTM_GETRULE = 34
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
TIMEOUT = 30.0  # as tools.TIMEOUT
MAIN_TABLE = 254  # RT_TABLE_MAIN: this host's LAN routes

RTA_DST, RTA_OIF, RTA_MULTIPATH, RTA_TABLE = 1, 4, 9, 15
RTM_F_CLONED = 0x200
FRA_SRC, FRA_PRIORITY, FRA_FWMARK, FRA_TABLE, FRA_FWMASK = 2, 6, 10, 15, 16
FIB_RULE_INVERT = 0x2
FR_ACT_TO_TBL = 1

# rtm_type as iproute2 names it (rtnl_rtntype_n2a); `ip -j` omits "type" for unicast.
ROUTE_TYPES = {
    0: "none",
    2: "local",
    3: "broadcast",
    4: "anycast",
    5: "multicast",
    6: "blackhole",
    7: "unreachable",
    8: "prohibit",
    9: "throw",
    10: "nat",
    11: "xresolve",
}

NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
RTATTR = struct.Struct("=HH")
_RTMSG = struct.Struct("=BBBBBBBBI")  # family, dst_len, src_len, tos, table, protocol, scope, type, flags
_RTNEXTHOP = struct.Struct("=HBBi")  # len, flags, hops, ifindex
_FIB_RULE_HDR = _RTMSG  # family, dst_len, src_len, tos, table, res1, res2, action, flags (same layout)
_seq = itertools.count(1)


class NetlinkError(OSError):
    """The kernel refused a dump (errno set), or its reply could not be read."""


def attrs(data: bytes, offset: int, end: int) -> Iterator[tuple[int, bytes]]:
    """(type, payload) of each rtattr/nlattr in data[offset:end], without the NESTED/BYTEORDER flags."""
    while offset + RTATTR.size <= end:
        length, kind = RTATTR.unpack_from(data, offset)
        if length < RTATTR.size or offset + length > end:
            return
        yield kind & 0x3FFF, data[offset + RTATTR.size : offset + length]
        offset += (length + 3) & ~3


def messages(data: bytes) -> Iterator[tuple[int, bytes, int, int]]:
    """(type, the whole datagram, payload start, message end) per netlink message."""
    for kind, _seq_no, start, end in _framed(data):
        yield kind, data, start, end


def _framed(data: bytes) -> Iterator[tuple[int, int, int, int]]:
    offset = 0
    while offset + NLMSGHDR.size <= len(data):
        length, kind, _flags, seq, _pid = NLMSGHDR.unpack_from(data, offset)
        if length < NLMSGHDR.size or offset + length > len(data):
            return
        yield kind, seq, offset + NLMSGHDR.size, offset + length
        offset += (length + 3) & ~3


def _dump(kind: int, family: int) -> Iterator[tuple[bytes, int, int]]:
    """Every message of an RTM_GET* dump for one family: (datagram, payload start, message end)."""
    seq = next(_seq)
    # The request's header: rtmsg/fib_rule_hdr with only the family set (both are 12 bytes).
    body = _RTMSG.pack(family, 0, 0, 0, 0, 0, 0, 0, 0)
    request = NLMSGHDR.pack(NLMSGHDR.size + len(body), kind, NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + body
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE) as s:
        s.settimeout(TIMEOUT)  # the kernel always answers; bounded all the same, like every child
        s.bind((0, 0))
        s.sendto(request, (0, 0))
        while True:
            data, sender = s.recvfrom(1 << 16)
            if sender[0] != 0:  # a process, not the kernel: never let it steer root
                continue
            for mkind, mseq, start, end in _framed(data):
                if mseq != seq:
                    continue
                if mkind == NLMSG_DONE:
                    return
                if mkind == NLMSG_ERROR:
                    code = -struct.unpack_from("=i", data, start)[0] if end - start >= 4 else errno.EIO
                    if code == 0:
                        continue
                    raise NetlinkError(code, os.strerror(code))
                yield data, start, end


def _address(family: int, raw: bytes) -> str:
    return socket.inet_ntop(family, raw)


def _ifname(index: int, names: dict[int, str]) -> str:
    if index not in names:
        try:
            names[index] = socket.if_indextoname(index)
        except OSError:  # gone between the dump and now: as `ip` prints it
            names[index] = f"if{index}"
    return names[index]


def routes(family: int, table: int) -> list[dict[str, object]] | None:
    """The routes of one table, as `ip -j route show table TABLE` lists them (dst, type, dev, nexthops);
    None when the table has no routes (`ip` says it does not exist) or the family is not in this kernel."""
    return tables(family, (table,))[table]


def tables(family: int, wanted: Iterable[int]) -> dict[int, list[dict[str, object]] | None]:
    """routes() of each table in `wanted`, from one dump: the kernel dumps every table of a family whatever
    table is asked for, so one dump per family serves table 52 and the main table alike."""
    found: dict[int, list[dict[str, object]]] = {t: [] for t in wanted}
    names: dict[int, str] = {}
    width = 32 if family == socket.AF_INET else 128
    try:
        for data, start, end in _dump(RTM_GETROUTE, family):
            if end - start < _RTMSG.size:
                continue
            fam, dst_len, _src, _tos, tbl, _proto, _scope, rtype, flags = _RTMSG.unpack_from(data, start)
            if fam != family or flags & RTM_F_CLONED:  # `ip route show` leaves the route cache out too
                continue
            route: dict[str, object] = {}
            for kind, value in attrs(data, start + _RTMSG.size, end):
                if kind == RTA_TABLE and len(value) >= 4:
                    tbl = struct.unpack_from("=I", value)[0]
                elif kind == RTA_DST:
                    route["dst"] = _address(family, value)
                elif kind == RTA_OIF and len(value) >= 4:
                    route["dev"] = _ifname(struct.unpack_from("=i", value)[0], names)
                elif kind == RTA_MULTIPATH:
                    route["nexthops"] = _hops(value, names)
            out = found.get(tbl)
            if out is None:
                continue
            if rtype != 1:
                route["type"] = ROUTE_TYPES.get(rtype, str(rtype))
            if dst_len == 0:
                route["dst"] = "default"
            elif "dst" in route and dst_len != width:
                route["dst"] = f"{route['dst']}/{dst_len}"
            out.append(route)
    except NetlinkError as e:
        if e.errno == errno.EAFNOSUPPORT:  # a kernel without IPv6
            return dict.fromkeys(found)
        raise
    return {t: out or None for t, out in found.items()}


def _hops(data: bytes, names: dict[int, str]) -> list[dict[str, object]]:
    hops: list[dict[str, object]] = []
    offset = 0
    while offset + _RTNEXTHOP.size <= len(data):
        length, _flags, _hops_n, ifindex = _RTNEXTHOP.unpack_from(data, offset)
        if length < _RTNEXTHOP.size:
            break
        hops.append({"dev": _ifname(ifindex, names)} if ifindex else {})
        offset += (length + 3) & ~3
    return hops


def rules(family: int) -> list[dict[str, object]]:
    """The ip rules of one family, as `ip -N -j rule show` lists them (priority, src, fwmark, fwmask, table,
    and `not` for an inverted rule); numeric tables always, whatever /etc/iproute2/rt_tables names."""
    out: list[dict[str, object]] = []
    try:
        dump = list(_dump(RTM_GETRULE, family))
    except NetlinkError as e:
        if e.errno == errno.EAFNOSUPPORT:
            return out
        raise
    for data, start, end in dump:
        if end - start < _FIB_RULE_HDR.size:
            continue
        fam, _dst_len, src_len, _tos, table, _r1, _r2, action, flags = _FIB_RULE_HDR.unpack_from(data, start)
        if fam != family:
            continue
        rule: dict[str, object] = {"priority": 0, "src": "all"}
        if flags & FIB_RULE_INVERT:
            rule["not"] = None
        for kind, value in attrs(data, start + _FIB_RULE_HDR.size, end):
            if kind == FRA_PRIORITY and len(value) >= 4:
                rule["priority"] = struct.unpack_from("=I", value)[0]
            elif kind == FRA_TABLE and len(value) >= 4:
                table = struct.unpack_from("=I", value)[0]
            elif kind == FRA_FWMARK and len(value) >= 4:
                rule["fwmark"] = struct.unpack_from("=I", value)[0]
            elif kind == FRA_FWMASK and len(value) >= 4:
                rule["fwmask"] = struct.unpack_from("=I", value)[0]
            elif kind == FRA_SRC and src_len:
                rule["src"] = f"{_address(family, value)}/{src_len}"
        if "fwmark" in rule and "fwmask" not in rule:
            rule["fwmask"] = 0xFFFFFFFF
        if action == FR_ACT_TO_TBL and table:
            rule["table"] = str(table)
        out.append(rule)
    return out
