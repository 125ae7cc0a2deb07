"""One tray per user session: a QLocalServer socket in $XDG_RUNTIME_DIR.

A second start connects, asks the running tray to show its status window and exits. A socket left behind
by a crashed tray refuses connections, so it is removed and taken over.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from PyQt6.QtCore import QObject, pyqtSignal
from PyQt6.QtNetwork import QLocalServer, QLocalSocket

SHOW = b"show\n"
PING = b"ping\n"  # "are you there?" only: what a hidden (autostart) start asks


def socket_path() -> str:
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    return str(Path(base) / f"mullvad-tailscale-tray-{os.getuid()}.sock")


class SingleInstance(QObject):
    show_requested = pyqtSignal()

    def __init__(self, path: str | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.path = path or socket_path()
        self._server: QLocalServer | None = None
        self.error = ""

    def ask_running_instance(self, timeout_ms: int = 1000, *, show: bool = True) -> bool:
        """True when another tray answered (told to show itself unless `show` is False)."""
        sock = QLocalSocket()
        sock.connectToServer(self.path)
        if not sock.waitForConnected(timeout_ms):
            return False
        sock.write(SHOW if show else PING)
        sock.flush()
        sock.waitForBytesWritten(timeout_ms)
        sock.disconnectFromServer()
        return True

    def listen(self) -> bool:
        """Become the instance; False (with the reason in `error`) when the socket cannot be created."""
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not server.listen(self.path):
            QLocalServer.removeServer(self.path)  # stale socket of a crashed tray
            if not server.listen(self.path):
                self.error = server.errorString()
                return False
        server.newConnection.connect(self._on_connection)
        self._server = server
        return True

    def _on_connection(self) -> None:
        if self._server is None:
            return
        while (sock := self._server.nextPendingConnection()) is not None:
            sock.readyRead.connect(lambda s=sock: self._read(s))
            sock.disconnected.connect(sock.deleteLater)
            if sock.bytesAvailable():
                self._read(sock)

    def _read(self, sock: QLocalSocket) -> None:
        data = bytes(sock.readAll().data())
        if SHOW.strip() in data:
            self.show_requested.emit()

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
