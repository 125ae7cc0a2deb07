"""LocalApiCall's upload (Send a file…): the body goes out of the file as the socket takes it, in pieces,
while the event loop keeps running; an early refusal (tailscaled answers 403 without reading the body) is
read as the answer, not as a broken connection."""

from __future__ import annotations

import hashlib
import io
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PyQt6.QtCore import QTimer

from tray_app.daemons.localapi import choose_socket
from tray_app.daemons.localapi_call import LocalApiCall

SIZE = 8 * 1024 * 1024


class Tracked(io.FileIO):
    """The file as the call reads it: how much, in which pieces."""

    biggest = 0
    total = 0

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        data = super().read(size)
        self.biggest = max(self.biggest, len(data))
        self.total += len(data)
        return data


class SlowDaemon:
    """Reads a request head, then either the body slowly (64 KiB every 2 ms) or nothing, and answers."""

    def __init__(self, path: str, refuse: bool) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(path)
        self.sock.listen(1)
        self.refuse = refuse
        self.head = b""
        self.digest = ""
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            buf = b""
            while b"\r\n\r\n" not in buf:
                buf += conn.recv(4096)
            self.head, _, body = buf.partition(b"\r\n\r\n")
            if self.refuse:
                conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 19\r\n\r\nfile access denied\n")
                return
            h = hashlib.sha256(body)
            got = len(body)
            while got < SIZE:
                chunk = conn.recv(65536)
                h.update(chunk)
                got += len(chunk)
                time.sleep(0.002)
            self.digest = h.hexdigest()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n{}\n")


@pytest.fixture
def blob(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    data = bytes(range(256)) * (SIZE // 256)
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    yield path, hashlib.sha256(data).hexdigest()


def upload(qtbot: Any, sock: str, path: Path) -> tuple[list[Any], Tracked, list[int]]:
    f = Tracked(path)
    call = LocalApiCall(choose_socket(sock), "PUT", "/localapi/v0/file-put/nX/blob.bin", upload=(f, SIZE))
    out: list[Any] = []
    call.finished.connect(lambda code, body: out.append((code, body)))
    call.failed.connect(out.append)
    read_at_ticks: list[int] = []
    tick = QTimer()
    tick.timeout.connect(lambda: read_at_ticks.append(f.total))
    tick.start(5)
    assert call.start() is None
    qtbot.waitUntil(lambda: bool(out), timeout=30000)
    tick.stop()
    f.close()
    return out, f, read_at_ticks


def test_a_file_is_streamed_while_the_loop_runs(qtbot: Any, short_tmp: Path, blob: tuple[Path, str]) -> None:
    sock = str(short_tmp / "slow.sock")
    daemon = SlowDaemon(sock, refuse=False)
    out, f, ticks = upload(qtbot, sock, blob[0])
    assert out == [(200, b"{}\n")]
    assert daemon.digest == blob[1]  # every byte, in order
    assert f"Content-Length: {SIZE}".encode() in daemon.head
    assert f.biggest <= 65536  # read in pieces, never whole into memory
    # the loop ran all along (the timer fired while the file was still going out)
    assert len(ticks) > 20 and any(0 < n < SIZE // 2 for n in ticks)


def test_an_early_refusal_is_the_answer(qtbot: Any, short_tmp: Path, blob: tuple[Path, str]) -> None:
    sock = str(short_tmp / "refuse.sock")
    SlowDaemon(sock, refuse=True)
    out, f, _ticks = upload(qtbot, sock, blob[0])
    assert out == [(403, b"file access denied\n")]
    assert f.total < SIZE  # it stopped sending
