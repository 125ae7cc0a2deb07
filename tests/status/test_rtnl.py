"""core.rtnl decodes real kernel messages as pyroute2 does: datagrams are captured in a private network
namespace while `ip` changes links, addresses, routes and rules there, then decoded by both and compared
field by field. pyroute2 is the reference here only; the tray itself does not import it."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyroute2.netlink.rtnl.marshal import MarshalRtnl

from tests.infra.netns import NetNS
from tray_app.core import rtnl
from tray_app.sources.netlink import GROUPS

ROOT = Path(__file__).resolve().parents[2]

# In the namespace: a link dump, then every multicast datagram until 3 s of silence, one hex line each.
CAPTURE = r"""
import socket, sys
from tray_app.core import rtnl
mon = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
mon.bind((0, int(sys.argv[1])))
with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE) as dump:
    dump.bind((0, 0))
    dump.send(rtnl.link_dump_request())
    while True:
        data = dump.recv(65536)
        print(data.hex(), flush=True)
        if any(m.kind == "done" for m in rtnl.parse(data)):
            break
print("ready", flush=True)
mon.settimeout(3.0)
try:
    while True:
        print(mon.recv(65536).hex(), flush=True)
except TimeoutError:
    pass
"""


def _reference(msg: Any) -> tuple[object, ...]:
    """What the watcher needs from a message, read with pyroute2's decoder (as the watcher did before)."""
    kind = msg["header"]["type"]
    event = str(msg.get("event", ""))
    new = event.startswith("RTM_NEW")
    if event in ("RTM_NEWLINK", "RTM_DELLINK"):
        return ("link", new, msg["index"], msg.get_attr("IFLA_IFNAME"), bool(msg["flags"] & 1))
    if event in ("RTM_NEWADDR", "RTM_DELADDR"):
        addr = msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS")
        prefix = f"{addr}/{msg['prefixlen']}" if addr else "default"
        return ("addr", new, msg["index"], msg.get_attr("IFA_LABEL"), prefix)
    if event in ("RTM_NEWROUTE", "RTM_DELROUTE"):
        dst = msg.get_attr("RTA_DST")
        prefix = f"{dst}/{msg['dst_len']}" if dst else "default"
        return ("route", new, msg.get_attr("RTA_TABLE") or msg["table"], prefix)
    if event in ("RTM_NEWRULE", "RTM_DELRULE"):
        return ("rule", new)
    return ("done",) if kind == rtnl.NLMSG_DONE else ("other", kind)


def _ours(ev: rtnl.Event) -> tuple[object, ...]:
    if ev.kind == "link":
        return ("link", ev.new, ev.index, ev.name, ev.up)
    if ev.kind == "addr":
        return ("addr", ev.new, ev.index, ev.name, ev.prefix)
    if ev.kind == "route":
        return ("route", ev.new, ev.table, ev.prefix)
    if ev.kind == "rule":
        return ("rule", ev.new)
    return (ev.kind,)


def test_real_kernel_messages_decode_as_pyroute2_decodes_them(netns: NetNS) -> None:
    marshal = MarshalRtnl()
    child = netns.popen(
        [sys.executable, "-c", CAPTURE, str(GROUPS)],
        stdout=subprocess.PIPE,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PYTHONPATH": str(ROOT)},
    )
    assert child.stdout is not None
    lines = []
    while (line := child.stdout.readline().strip()) != "ready":
        assert line, "the capture ended before it was ready"
        lines.append(line)
    ip = netns.run
    ip("ip", "link", "add", "tailscale0", "type", "veth", "peer", "name", "ts-peer")
    ip("ip", "addr", "add", "100.101.102.103/32", "dev", "tailscale0")
    ip("ip", "addr", "add", "fd7a:115c:a1e0::6f01:6667/128", "dev", "tailscale0", "nodad")
    ip("ip", "link", "set", "tailscale0", "up")
    ip("ip", "route", "add", "100.100.100.100/32", "dev", "tailscale0", "table", "52")
    ip("ip", "route", "add", "192.168.7.0/24", "dev", "tailscale0", "table", "52")
    ip("ip", "-6", "route", "add", "fd7a:115c:a1e0::/48", "dev", "tailscale0", "table", "52")
    ip("ip", "route", "add", "default", "dev", "tailscale0", "table", "1000")  # table > 255: RTA_TABLE only
    ip("ip", "rule", "add", "pref", "5200", "fwmark", "0x80000/0xff0000", "lookup", "1836018789")
    ip("ip", "rule", "del", "pref", "5200")
    ip("ip", "route", "del", "192.168.7.0/24", "dev", "tailscale0", "table", "52")
    ip("ip", "addr", "del", "100.101.102.103/32", "dev", "tailscale0")
    ip("ip", "link", "set", "tailscale0", "down")
    ip("ip", "link", "del", "tailscale0")
    out, _ = child.communicate(timeout=30)
    lines += out.split()

    ours: list[tuple[object, ...]] = []
    theirs: list[tuple[object, ...]] = []
    for line in lines:
        data = bytes.fromhex(line)
        ours += [_ours(ev) for ev in rtnl.parse(data)]
        theirs += [_reference(msg) for msg in marshal.parse(data)]
    assert ours == theirs
    seen = set(ours)
    assert ("done",) in seen and ("link", True, 1, "lo", True) in seen  # the dump
    for want in [
        ("addr", True, "100.101.102.103/32"),
        ("addr", True, "fd7a:115c:a1e0::6f01:6667/128"),
        ("addr", False, "100.101.102.103/32"),
        ("route", True, 52, "100.100.100.100/32"),
        ("route", True, 52, "fd7a:115c:a1e0::/48"),
        ("route", False, 52, "192.168.7.0/24"),
        ("route", True, 1000, "default"),
        ("rule", True),
        ("rule", False),
    ]:
        if want[0] == "addr":
            assert any(e[0] == "addr" and e[1] == want[1] and e[4] == want[2] for e in ours), want
        else:
            assert want in seen, want
    links = [e for e in ours if e[0] == "link" and e[3] == "tailscale0"]
    assert links[0][1] is True and links[-1][1] is False
    assert any(e[4] for e in links) and not links[-2][4]  # up, then down, then removed


def _newlink(name: bytes, index: int = 5, flags: int = 1) -> bytes:
    attr = struct.pack("=HH", 4 + len(name) + 1, rtnl.IFLA_IFNAME) + name + b"\0"
    attr += b"\0" * (-len(attr) % 4)
    body = struct.pack("=BxHiII", 0, 0, index, flags, 0) + attr
    return struct.pack("=IHHII", 16 + len(body), rtnl.RTM_NEWLINK, 0, 0, 0) + body


def test_a_link_dump_request_is_what_the_kernel_expects() -> None:
    req = rtnl.link_dump_request(seq=7)
    assert struct.unpack("=IHHII", req[:16]) == (32, rtnl.RTM_GETLINK, 0x301, 7, 0)
    assert req[16:] == bytes(16)  # ifinfomsg: AF_UNSPEC, every link


def test_a_link_message() -> None:
    (ev,) = rtnl.parse(_newlink(b"tailscale0"))
    assert ev == rtnl.Event("link", True, 5, "tailscale0", True)


def test_a_message_shorter_than_its_body_is_an_error() -> None:
    msg = _newlink(b"x")
    short = struct.pack("=IHHII", 20, rtnl.RTM_NEWLINK, 0, 0, 0) + msg[16:20]
    with pytest.raises(ValueError, match="truncated"):
        list(rtnl.parse(short + msg))  # the next message's bytes are not read as this one's body


@pytest.mark.parametrize("cut", [1, 15, 16, 20, 31, 35])
def test_a_truncated_datagram_is_an_error_not_a_crash(cut: int) -> None:
    msg = _newlink(b"wg0-mullvad")
    events = rtnl.parse(msg + msg[:cut])
    assert next(events).name == "wg0-mullvad"  # the whole message before the damage still arrives
    if cut < 16:
        assert list(events) == []  # less than a header: nothing to decode
    else:
        with pytest.raises(ValueError, match="length"):
            list(events)


@given(st.binary(max_size=512))
def test_any_bytes_decode_or_raise_value_error(data: bytes) -> None:
    try:
        for ev in rtnl.parse(data):
            assert isinstance(ev, rtnl.Event)
    except ValueError:
        pass
