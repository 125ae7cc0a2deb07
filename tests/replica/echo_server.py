"""Echo service for the replica: replies with the source address it saw, and logs every arrival.

Run inside a namespace: `python3 echo_server.py --log FILE --tcp [::]:80 --udp 10.64.0.1:53 ...`.
TCP: on accept, log and send "<source address>\\n", then close. UDP: log the payload (the probe's token) and
send the source address back from the address the datagram was sent to (each UDP socket is bound to one
address, so a multi-homed namespace answers from the right one). Prints "ready" once every socket is bound.
Stdlib only; single-threaded; exits on SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import selectors
import signal
import socket
import sys
from typing import TextIO


def parse_endpoint(text: str) -> tuple[int, str, int]:
    host, _, port = text.rpartition(":")
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return family, host, int(port)


def plain(addr: str) -> str:
    return addr.removeprefix("::ffff:")


def open_socket(kind: int, endpoint: str) -> socket.socket:
    family, host, port = parse_endpoint(endpoint)
    s = socket.socket(family, kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0 if host == "::" else 1)
    # Bind even if the address is not configured yet (IP_FREEBIND = 15, IPV6_FREEBIND = 78).
    s.setsockopt(socket.SOL_IP, 15, 1)
    if family == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, 78, 1)
    s.bind((host, port))
    if kind == socket.SOCK_STREAM:
        s.listen(64)
    s.setblocking(False)
    return s


def log(out: TextIO, **event: object) -> None:
    out.write(json.dumps(event) + "\n")
    out.flush()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--log", required=True)
    ap.add_argument("--tcp", action="append", default=[])
    ap.add_argument("--udp", action="append", default=[])
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sel = selectors.DefaultSelector()
    for ep in args.tcp:
        sel.register(open_socket(socket.SOCK_STREAM, ep), selectors.EVENT_READ, ("tcp", ep))
    for ep in args.udp:
        sel.register(open_socket(socket.SOCK_DGRAM, ep), selectors.EVENT_READ, ("udp", ep))
    # Log lines: {"proto", "local", "port", "src"} plus the UDP payload as "token".
    with open(args.log, "a", encoding="utf-8") as out:
        print("ready", flush=True)
        while True:
            for key, _ in sel.select():
                proto, ep = key.data
                s: socket.socket = key.fileobj  # type: ignore[assignment]
                try:
                    if proto == "tcp":
                        conn, peer = s.accept()
                        src = plain(peer[0])
                        local = plain(conn.getsockname()[0])
                        log(out, proto="tcp", local=local, port=conn.getsockname()[1], src=src)
                        conn.settimeout(0.5)
                        try:
                            conn.sendall((src + "\n").encode())
                        finally:
                            conn.close()
                    else:
                        data, peer = s.recvfrom(2048)
                        src = plain(peer[0])
                        _, host, port = parse_endpoint(ep)
                        token = data.decode(errors="replace")
                        log(out, proto="udp", local=host, port=port, src=src, token=token)
                        s.sendto(src.encode(), peer)
                except OSError as e:  # a peer vanished mid-reply; keep serving
                    log(out, proto=proto, local=ep, error=str(e))


if __name__ == "__main__":
    raise SystemExit(main())
