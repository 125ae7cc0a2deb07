"""One LocalAPI request on the Qt event loop: a non-blocking socket watched by a QSocketNotifier, with
chunked decoding and line splitting for the `watch-ipn-bus` stream (the socket checks are `localapi.py`'s)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import BinaryIO

from PyQt6 import sip
from PyQt6.QtCore import QObject, QSocketNotifier, QTimer, pyqtSignal

from tray_app.core.http1 import MAX_BODY, ResponseParser, build_request
from tray_app.core.lines import LineSplitter
from tray_app.core.tailscale_parse import unavailable
from tray_app.daemons.localapi import LocalApiError, SocketChoice, connect, eof_error

CALL_TIMEOUT_MS = 10_000
MAX_LINE = 16 * 1024 * 1024  # one bus message; a netmap of a big tailnet is a few MB


class LocalApiCall(QObject):
    """One LocalAPI request on the Qt event loop.

    `start()` connects and sends synchronously (a local Unix socket answers connect at once) and returns
    the connect error, if any, instead of emitting it, so callers never re-enter themselves. Afterwards:
    * `line(bytes)` for every line of a 200 body when `stream=True`;
    * `finished(status, body)` when the response is complete (in stream mode body is empty for a 200);
    * `failed(LocalApiError)` when the connection ends before that (EOF, protocol error, timeout).
    Exactly one of `finished` / `failed` is emitted, then the call is closed.
    """

    line = pyqtSignal(bytes)
    finished = pyqtSignal(int, bytes)
    failed = pyqtSignal(object)

    def __init__(
        self,
        choice: SocketChoice,
        method: str,
        target: str,
        body: bytes | None = None,
        *,
        stream: bool = False,
        sink: Callable[[bytes], object] | None = None,
        upload: tuple[BinaryIO, int] | None = None,
        timeout_ms: int = CALL_TIMEOUT_MS,
        parent: QObject | None = None,
    ) -> None:
        """`sink`: a 200 body goes there chunk by chunk instead of into memory (no size limit; the
        deadline then counts from the last chunk, so a big download is not cut off). `upload`: (file,
        size): the body is read from the file while the socket takes it, never whole into memory; an
        early answer (a refusal) stops the sending. `timeout_ms`: the longest silence allowed."""
        super().__init__(parent)
        self.choice = choice
        self._upload = upload
        self._left = upload[1] if upload else 0
        self._pending = b""
        self._writer: QSocketNotifier | None = None
        self._timeout_ms = timeout_ms
        self._request = build_request(method, target, body, upload=upload[1] if upload else None)
        self._stream = stream
        self._sink = sink
        self._sock: socket.socket | None = None
        self._notifier: QSocketNotifier | None = None
        self._parser = ResponseParser(None if sink is not None else MAX_BODY)
        self._lines = LineSplitter(MAX_LINE)
        self._body = bytearray()
        self._timer: QTimer | None = None

    @property
    def active(self) -> bool:
        return self._sock is not None

    def start(self) -> LocalApiError | None:
        try:
            sock = connect(self.choice, 2.0)
            sock.sendall(self._request)
        except LocalApiError as exc:
            return exc
        except OSError as exc:
            return eof_error(self.choice, exc.strerror or str(exc))
        sock.setblocking(False)
        self._sock = sock
        self._notifier = QSocketNotifier(sip.voidptr(sock.fileno()), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._on_readable)
        if self._upload is not None and self._left:
            self._writer = QSocketNotifier(sip.voidptr(sock.fileno()), QSocketNotifier.Type.Write, self)
            self._writer.activated.connect(self._on_writable)
        if not self._stream:
            # Only a bounded request has a deadline; the watch stream is idle for hours by design.
            self._timer = QTimer(self)
            self._timer.setSingleShot(True)
            self._timer.timeout.connect(self._on_timeout)
            self._timer.start(self._timeout_ms)
        return None

    def abort(self) -> None:
        """Close without emitting anything."""
        if self._timer is not None:
            self._timer.stop()
        self._stop_writing()
        if self._notifier is not None:
            # Disable before closing the fd so that a reused fd number never reaches this notifier.
            self._notifier.setEnabled(False)
            self._notifier.deleteLater()
            self._notifier = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _stop_writing(self) -> None:
        if self._writer is not None:
            self._writer.setEnabled(False)
            self._writer.deleteLater()
            self._writer = None

    def _on_writable(self) -> None:
        """Send the next piece of the upload: only what the socket takes now, so the loop never waits."""
        sock, upload = self._sock, self._upload
        if sock is None or upload is None:
            return
        while self._left or self._pending:
            if not self._pending:
                try:
                    self._pending = upload[0].read(min(65536, self._left))
                except OSError as exc:
                    self._fail(
                        LocalApiError("file", unavailable(f"could not read it: {exc.strerror or exc}"))
                    )
                    return
                if not self._pending:
                    self._fail(LocalApiError("file", unavailable("the file got shorter while it was sent")))
                    return
                self._left -= len(self._pending)
            try:
                sent = sock.send(self._pending)
            except BlockingIOError:
                return
            except OSError:
                self._stop_writing()  # tailscaled answered without reading on (a refusal): read its answer
                return
            self._pending = self._pending[sent:]
            if self._timer is not None:
                self._timer.start(self._timeout_ms)  # still moving: the deadline is for silence
        self._stop_writing()

    def _fail(self, err: LocalApiError) -> None:
        self.abort()
        self.failed.emit(err)

    def _on_timeout(self) -> None:
        self._fail(
            LocalApiError("timeout", unavailable(f"tailscaled did not answer on {self.choice.path} in time"))
        )

    def _on_readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        # Drain what is there now; a burst of bus messages arrives in one wake-up.
        while self._sock is not None:
            try:
                chunk = sock.recv(65536)
            except BlockingIOError:
                return
            except OSError as exc:
                self._fail(eof_error(self.choice, exc.strerror or str(exc)))
                return
            if not chunk:
                if self._parser.feed_eof():
                    self._complete()
                else:
                    self._fail(eof_error(self.choice, self._parser.error or "eof"))
                return
            self._consume(self._parser.feed(chunk))
            if not self.active:
                return  # a slot aborted us while handling a line
            if self._parser.error:
                self._fail(
                    LocalApiError(
                        "protocol", unavailable(f"tailscaled's answer is not HTTP: {self._parser.error}")
                    )
                )
                return
            if self._parser.done:
                self._complete()
                return

    def _consume(self, data: bytes) -> None:
        if not data:
            return
        if self._stream and self._parser.status == 200:
            lines = self._lines.feed(data)
            if self._lines.overflows:
                self._fail(LocalApiError("protocol", unavailable("watch-ipn-bus line too long")))
                return
            for line in lines:
                if self._sock is None:
                    return
                if line.strip():
                    self.line.emit(line)
        elif self._sink is not None and self._parser.status == 200:
            if self._timer is not None:
                self._timer.start(self._timeout_ms)  # still arriving: the deadline is for silence
            self._sink(data)
        else:
            self._body += data
            if len(self._body) > MAX_BODY:
                self._fail(LocalApiError("protocol", unavailable("tailscaled's answer is too large")))

    def _complete(self) -> None:
        status = self._parser.status or 0
        body = bytes(self._body)
        self.abort()
        self.finished.emit(status, body)
