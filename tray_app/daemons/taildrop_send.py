"""Taildrop: files to a tailnet device through tailscaled, as `tailscale file cp FILE DEVICE:` sends them.

`PUT /localapi/v0/file-put/<StableNodeID>/<path-escaped name>` with the file's size as Content-Length and the
file as the body (client/local `PushFile`), streamed from disk by `LocalApiCall` without blocking the event
loop. tailscaled answers when the peer has the file (200), or: 403 `file access denied` (not root or the
operator), 404 `node not found` (no file target), 502 (the peer did not answer: offline).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

from PyQt6.QtCore import QObject, pyqtSignal

from tray_app.core.taildrop_send import UPLOAD_SILENCE_MS, send_failed, sent_text
from tray_app.daemons.localapi import LocalApiError, choose_socket
from tray_app.daemons.localapi_call import LocalApiCall

FILE_PUT = "/localapi/v0/file-put/"


def file_put_path(node_id: str, name: str) -> str:
    return FILE_PUT + quote(node_id, safe="") + "/" + quote(name, safe="")


class FileSender(QObject):
    """Sends files one after the other; `sent(text)` when all went, `failed(text)` at the first that did
    not (the rest are not sent: the same cause would stop them)."""

    sent = pyqtSignal(str)
    failed = pyqtSignal(str)

    def __init__(self, socket_path: str | None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._socket_path = socket_path
        self._call: LocalApiCall | None = None
        self._queue: list[Path] = []
        self._done: list[str] = []
        self._node = self._device = ""

    def busy(self) -> bool:
        return self._call is not None or bool(self._queue)

    def send(self, node_id: str, device: str, paths: list[Path]) -> None:
        self._node, self._device = node_id, device
        self._queue, self._done = list(paths), []
        self._next()

    def stop(self) -> None:
        self._queue.clear()
        if self._call is not None:
            self._call.abort()
            self._call.deleteLater()
            self._call = None

    def _next(self) -> None:
        if not self._queue:
            if self._done:
                self.sent.emit(sent_text(self._device, self._done))
            return
        path = self._queue.pop(0)
        try:
            f = open(path, "rb")  # noqa: SIM115  (closed when the call ends, below)
        except OSError as exc:
            self._give_up(f"Could not read {path.name}: {exc.strerror or exc}.")
            return
        size = os.fstat(f.fileno())
        if not stat.S_ISREG(size.st_mode):
            f.close()
            self._give_up(f"{path.name} is not a file: Taildrop sends files (pick the files in a folder).")
            return
        call = LocalApiCall(
            choose_socket(self._socket_path), "PUT", file_put_path(self._node, path.name),
            upload=(f, size.st_size), timeout_ms=UPLOAD_SILENCE_MS, parent=self,
        )  # fmt: skip
        err = call.start()
        if err is not None:
            f.close()
            call.deleteLater()
            self._give_up(f"Could not reach tailscaled to send {path.name}: {err.detail}")
            return
        self._call = call

        def finished(code: int, body: bytes) -> None:
            self._end(call, f)
            if 200 <= code < 300:
                self._done.append(path.name)
                self._next()
            else:
                self._give_up(send_failed(self._device, path.name, code, body))

        def failed(e: LocalApiError) -> None:
            self._end(call, f)
            if e.kind == "file":
                self._give_up(f"{path.name} was not sent: {e.detail}")
            elif e.kind == "timeout":
                self._give_up(send_failed(self._device, path.name, 504, b""))
            else:
                self._give_up(f"{path.name} was not sent: tailscaled stopped answering ({e.detail}).")

        call.finished.connect(finished)
        call.failed.connect(failed)

    def _end(self, call: LocalApiCall, f: BinaryIO) -> None:
        f.close()
        call.deleteLater()
        self._call = None

    def _give_up(self, text: str) -> None:
        self._queue.clear()
        if self._done:
            text += " " + sent_text(self._device, self._done)
        self.failed.emit(text)
