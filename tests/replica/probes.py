"""Traffic probes for the replica: real sockets opened inside the lab's namespaces, run in parallel.

A probe is one TCP connect, UDP datagram or ICMP echo from a namespace, with an optional SO_MARK (tailscaled's
0x80000, Mullvad's WireGuard underlay 0x6d6f6c65), an optional creating uid (the `mullvad-exclude` stand-in is
matched by `meta skuid`) and an optional bound source (the LAN spoofer). The echo services answer with the
source address they saw, so each outcome is a short string:

* `"185.65.134.10"`: the reply arrived, and the service saw this source (here: it left through the relay);
* `"reply"`: an ICMP echo reply arrived;
* `"fail"`: nothing came back and nothing arrived at the service;
* `"fail (arrived as 10.66.0.2)"`: no reply, but the service logged the datagram from that source;
* a `dns` probe (a real resolver such as tailscaled's 100.100.100.100) asks for the A record of `query`: the
  first address answered, or `"rcode N"` for an answer without one.

Sockets are created by switching only the calling thread into the namespace (setns(2)) and straight back, so a
whole batch costs one timeout at most and needs no subprocess. Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import selectors
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


@contextlib.contextmanager
def in_netns(name: str) -> Iterator[None]:
    """Run the block with this thread in network namespace `name` (sockets made here stay in it)."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        _setns(target)
        try:
            yield
        finally:
            _setns(home)  # if this ever failed the test process would be stranded: let it raise loudly
    finally:
        os.close(target)
        os.close(home)


@contextlib.contextmanager
def as_euid(uid: int | None) -> Iterator[None]:
    """Create sockets owned by `uid` (the socket's sk_uid is the creator's fsuid, which follows euid)."""
    if uid is None:
        yield
        return
    os.seteuid(uid)
    try:
        yield
    finally:
        os.seteuid(0)


@dataclass(frozen=True)
class Probe:
    name: str
    ns: str  # lab role: "host", "peer", "inet", "relay"
    kind: str  # "tcp", "udp", "ping" or "dns"
    dst: str
    port: int = 0
    mark: int | None = None
    uid: int | None = None
    src: str | None = None
    query: str = ""  # the name a "dns" probe asks for


@dataclass
class _Running:
    probe: Probe
    sock: socket.socket
    token: str
    outcome: str | None = None
    connected: bool = False
    buf: bytes = b""
    extra: dict[str, str] = field(default_factory=dict)


def _family(addr: str) -> int:
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def _open(p: Probe, token: str) -> socket.socket:
    fam = _family(p.dst)
    if p.kind == "tcp":
        s = socket.socket(fam, socket.SOCK_STREAM)
    elif p.kind in ("udp", "dns"):
        s = socket.socket(fam, socket.SOCK_DGRAM)
    elif p.kind == "ping":
        # Unprivileged ICMP "ping sockets": the kernel fills id and checksum (ping_group_range set by the lab).
        proto = socket.IPPROTO_ICMP if fam == socket.AF_INET else socket.IPPROTO_ICMPV6
        s = socket.socket(fam, socket.SOCK_DGRAM, proto)
    else:
        raise ValueError(f"unknown probe kind {p.kind!r}")
    try:
        if p.mark is not None:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, p.mark)
        if p.src is not None:
            s.bind((p.src, 0))
        s.setblocking(False)
        if p.kind == "tcp":
            rc = s.connect_ex((p.dst, p.port))
            if rc not in (0, errno.EINPROGRESS):
                raise OSError(rc, os.strerror(rc))
        elif p.kind == "udp":
            s.connect((p.dst, p.port))
            s.send(token.encode())
        elif p.kind == "dns":
            s.connect((p.dst, p.port))
            s.send(_dns_query(p.query))
        else:
            s.connect((p.dst, 0))
            icmp_type = 8 if fam == socket.AF_INET else 128
            s.send(struct.pack("!BBHHH", icmp_type, 0, 0, 0, 1) + token.encode())
    except BaseException:
        s.close()
        raise
    return s


def run_probes(
    probes: Sequence[Probe],
    ns_name: Callable[[str], str],
    arrivals: Callable[[], dict[str, str]],
    timeout: float = 1.5,
) -> dict[str, str]:
    """Run `probes` concurrently; return {probe name: outcome}. `ns_name` maps a role to a namespace name;
    `arrivals` returns {token: source seen} from the echo services' logs, read after the batch."""
    running: list[_Running] = []
    results: dict[str, str] = {}
    s: socket.socket | None
    error = ""
    sel = selectors.DefaultSelector()
    try:
        for p in probes:
            token = f"{p.name}-{uuid.uuid4().hex[:8]}"
            with in_netns(ns_name(p.ns)), as_euid(p.uid):
                try:
                    s = _open(p, token)
                except OSError as e:  # e.g. EPERM from a firewall reject, ENETUNREACH: the probe failed
                    s = None
                    error = str(e)
            if s is None:
                running.append(_Running(p, socket.socket(), token, outcome="fail", extra={"error": error}))
                continue
            r = _Running(p, s, token)
            running.append(r)
            events = selectors.EVENT_WRITE if p.kind == "tcp" else selectors.EVENT_READ
            sel.register(s, events, r)
        deadline = time.monotonic() + timeout
        pending = sum(1 for r in running if r.outcome is None)
        while pending and (left := deadline - time.monotonic()) > 0:
            for key, _ in sel.select(left):
                r = key.data
                if r.outcome is None and _step(r, sel):
                    pending -= 1
                    sel.unregister(r.sock)
    finally:
        for r in running:
            r.sock.close()
        sel.close()
    seen = arrivals()
    for r in running:
        outcome = r.outcome or "fail"
        if outcome == "fail" and r.token in seen:
            outcome = f"fail (arrived as {seen[r.token]})"
        results[r.probe.name] = outcome
    return results


def _step(r: _Running, sel: selectors.BaseSelector) -> bool:
    """Advance one probe on a readiness event; True once it has an outcome."""
    _advance(r, sel)
    return r.outcome is not None


def _advance(r: _Running, sel: selectors.BaseSelector) -> None:
    s = r.sock
    try:
        if r.probe.kind == "tcp" and not r.connected:
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                r.outcome = "fail"
                r.extra["error"] = os.strerror(err)
                return
            r.connected = True
            sel.modify(s, selectors.EVENT_READ, r)
            return
        data = s.recv(2048)
    except BlockingIOError:
        return
    except OSError as e:  # ECONNREFUSED from a reject, EHOSTUNREACH, ...
        r.outcome = "fail"
        r.extra["error"] = str(e)
        return
    if r.probe.kind == "tcp":
        r.buf += data
        if b"\n" in r.buf or not data:
            line = r.buf.split(b"\n", 1)[0].decode(errors="replace").strip()
            r.outcome = line or "fail"
    elif r.probe.kind == "udp":
        r.outcome = data.decode(errors="replace")
    elif r.probe.kind == "dns":
        r.outcome = _dns_answer(data)
    elif data and data[0] in (0, 129):  # ICMP(v6) echo reply
        r.outcome = "reply"


def _dns_query(name: str) -> bytes:
    """A recursive query for the A record of `name` (RFC 1035 4.1)."""
    qname = b"".join(bytes([len(label)]) + label.encode() for label in name.rstrip(".").split(".")) + b"\0"
    return struct.pack("!HHHHHH", 0x6D74, 0x0100, 1, 0, 0, 0) + qname + struct.pack("!HH", 1, 1)


def _dns_answer(data: bytes) -> str:
    """The first A record of a reply to `_dns_query`, else "rcode N" (N = 0 when the name has no address)."""
    try:
        rcode = data[3] & 0x0F
        ancount = struct.unpack("!H", data[6:8])[0]
        pos = 12
        while data[pos]:  # the question's name, then its type and class
            pos += data[pos] + 1
        pos += 5
        for _ in range(ancount):
            pos += 2 if data[pos] & 0xC0 == 0xC0 else data.index(b"\0", pos) + 1 - pos
            rtype, _cls, _ttl, rdlen = struct.unpack("!HHIH", data[pos : pos + 10])
            pos += 10
            if rtype == 1 and rdlen == 4:
                return socket.inet_ntoa(data[pos : pos + 4])
            pos += rdlen
    except (IndexError, struct.error, ValueError):
        return "malformed DNS reply"
    return f"rcode {rcode}"


class ContinuousPing:
    """ICMP echo every `interval` seconds to several targets at once, from a background thread, like
    `ping -i 0.01` but stopped exactly: `stop()` ends sending, waits `grace` for replies in flight, and
    returns {key: (sent, answered)}, so nothing in flight at the end is miscounted as lost."""

    def __init__(self, targets: dict[str, tuple[str, str]], interval: float = 0.01) -> None:
        self.targets = targets  # key -> (namespace name, destination)
        self.interval = interval
        self._socks: dict[str, socket.socket] = {}
        self._sent: dict[str, int] = dict.fromkeys(targets, 0)
        self._answered: dict[str, set[int]] = {k: set() for k in targets}
        self._stop = False
        self._thread: threading.Thread | None = None
        self.t0 = 0.0
        self.sent_at: dict[int, float] = {}  # seq -> seconds after start, to place a loss in time

    def start(self) -> None:
        for key, (ns, dst) in self.targets.items():
            fam = _family(dst)
            proto = socket.IPPROTO_ICMP if fam == socket.AF_INET else socket.IPPROTO_ICMPV6
            with in_netns(ns):
                s = socket.socket(fam, socket.SOCK_DGRAM, proto)
            s.setblocking(False)
            s.connect((dst, 0))
            self._socks[key] = s
        self.t0 = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="continuous-ping", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        for key, s in self._socks.items():
            while True:
                try:
                    data = s.recv(2048)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:  # an ICMP error for an earlier echo (unreachable, prohibited): not an answer
                    continue
                if len(data) >= 8 and data[0] in (0, 129):
                    self._answered[key].add(struct.unpack("!H", data[6:8])[0])

    def _run(self) -> None:
        seq = 0
        next_at = time.monotonic()
        while not self._stop:
            seq = (seq + 1) & 0xFFFF
            self.sent_at[seq] = time.monotonic() - self.t0
            for key, s in self._socks.items():
                icmp_type = 8 if s.family == socket.AF_INET else 128
                self._sent[key] += 1
                with contextlib.suppress(OSError):  # EPERM from a firewall reject counts as sent, unanswered
                    s.send(struct.pack("!BBHHH", icmp_type, 0, 0, 0, seq) + b"continuous")
            next_at += self.interval
            while (left := next_at - time.monotonic()) > 0:
                self._drain()
                time.sleep(min(left, 0.002))
            self._drain()

    def stop(self, grace: float = 0.3) -> dict[str, tuple[int, int]]:
        self._stop = True
        if self._thread is not None:
            self._thread.join(5)
        end = time.monotonic() + grace
        while time.monotonic() < end:
            self._drain()
            time.sleep(0.01)
        for s in self._socks.values():
            s.close()
        return {k: (self._sent[k], len(self._answered[k])) for k in self.targets}

    def lost(self, key: str) -> list[float]:
        """When (seconds after start) each unanswered echo to `key` was sent."""
        return [at for seq, at in sorted(self.sent_at.items()) if seq not in self._answered[key]]
