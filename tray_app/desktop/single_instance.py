"""One tray per user session: a Unix socket in $XDG_RUNTIME_DIR.

A second start connects, asks the running tray to show its status window and exits. A socket left behind
by a crashed tray refuses connections, so it is removed and taken over. Plain sockets watched by
`QSocketNotifier` rather than QtNetwork's QLocalServer: loading QtNetwork cost the tray 2.3 MB.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
from pathlib import Path

from PyQt6.QtCore import QObject, QSocketNotifier, pyqtSignal

SHOW = b"show\n"
PING = b"ping\n"  # "are you there?" only: what a hidden (autostart) start asks
MAX_READ = 64  # a request is one short line; a client that sends more is not ours


def socket_path() -> str:
    base = os.environ.get("XDG_RUNTIME_DIR")
    if not base:  # no session directory (rare): tempfile is imported only then (0.8 MB with what it loads)
        import tempfile  # noqa: PLC0415

        base = tempfile.gettempdir()
    return str(Path(base) / f"mullvad-tailscale-tray-{os.getuid()}.sock")


class SingleInstance(QObject):
    show_requested = pyqtSignal()

    def __init__(self, path: str | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.path = path or socket_path()
        self._server: socket.socket | None = None
        self._notifier: QSocketNotifier | None = None
        self._clients: dict[socket.socket, QSocketNotifier] = {}
        self.error = ""

    def ask_running_instance(self, timeout_ms: int = 1000, *, show: bool = True) -> bool:
        """True when another tray answered (told to show itself unless `show` is False)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC) as sock:
            sock.settimeout(timeout_ms / 1000)
            try:
                sock.connect(self.path)
                sock.sendall(SHOW if show else PING)
            except OSError:  # no socket, or a stale one nobody listens on
                return False
        return True

    def listen(self) -> bool:
        """Become the instance; False (with the reason in `error`) when the socket cannot be created."""
        server = socket.socket(
            socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC
        )
        try:
            try:
                server.bind(self.path)
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
                os.unlink(self.path)  # stale socket of a crashed tray (ask_running_instance found nobody)
                server.bind(self.path)
            os.chmod(self.path, 0o600)  # only this user may ask (and $XDG_RUNTIME_DIR is 0700 anyway)
            server.listen(4)
        except OSError as exc:
            server.close()
            self.error = exc.strerror or str(exc)
            return False
        self._server = server
        # PyQt6 types the descriptor as sip.voidptr; a plain int is accepted at run time (6.4 to 6.11)
        self._notifier = QSocketNotifier(server.fileno(), QSocketNotifier.Type.Read, self)  # type: ignore[call-overload]
        self._notifier.activated.connect(self._on_connection)
        return True

    def _on_connection(self, *_: object) -> None:
        if self._server is None:
            return
        while True:
            try:
                sock, _addr = self._server.accept()
            except OSError:  # BlockingIOError: no more pending connections
                return
            sock.setblocking(False)
            notifier = QSocketNotifier(sock.fileno(), QSocketNotifier.Type.Read, self)  # type: ignore[call-overload]
            notifier.activated.connect(lambda *_a, s=sock: self._read(s))
            self._clients[sock] = notifier

    def _read(self, sock: socket.socket) -> None:
        try:
            data = sock.recv(MAX_READ)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if SHOW.strip() in data:
            self.show_requested.emit()
        self._drop(sock)  # one request per connection: the asking side sends one line and leaves

    def _drop(self, sock: socket.socket) -> None:
        notifier = self._clients.pop(sock, None)
        if notifier is not None:
            notifier.setEnabled(False)
            notifier.deleteLater()
        sock.close()

    def close(self) -> None:
        for sock in list(self._clients):
            self._drop(sock)
        if self._notifier is not None:
            self._notifier.setEnabled(False)
            self._notifier.deleteLater()
            self._notifier = None
        if self._server is not None:
            self._server.close()
            self._server = None
            with contextlib.suppress(OSError):
                os.unlink(self.path)
