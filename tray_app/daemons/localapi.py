"""A minimal HTTP/1.1 client for tailscaled's LocalAPI over its Unix socket.

tailscaled accepts a request only with `Host: local-tailscaled.sock` (or none) and without `Origin` or
`Referer` (ipn/localapi: `validHost`), so this client sends exactly that. Each call uses its own
connection with `Connection: close`: the watch stream is long-lived anyway and status reads are rare.

Two ways to use it:
* `request()`: blocking, with a timeout, for the `status` CLI and other one-shot reads;
* `LocalApiCall`: a non-blocking call on the Qt event loop (a non-blocking socket + QSocketNotifier), with
  chunked decoding and line splitting for the `watch-ipn-bus` stream.

Before trusting a socket it checks who owns it: the socket file and the process listening on it
(SO_PEERCRED) must be root. The only exception is a path the user named explicitly (`--tailscale-socket`
or `MTT_TAILSCALE_SOCKET`), which may also belong to the user themself: that is how a tailscaled run as
the user (userspace networking) or a test's fake daemon is reached, and the user chose it on purpose.
Any other owner could be a program pretending to be tailscaled, so it is refused.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from PyQt6 import sip
from PyQt6.QtCore import QObject, QSocketNotifier, QTimer, pyqtSignal

from tray_app.core.model import TailscaleStatus
from tray_app.core.tailscale_parse import daemon_absent, daemon_refused, unavailable
from tray_app.paths import TAILSCALE_SOCKETS

HOST = "local-tailscaled.sock"
USER_AGENT = "mullvad-tailscale-tray"
MAX_HEAD = 64 * 1024
MAX_BODY = 64 * 1024 * 1024  # a tailnet with hundreds of Mullvad exit nodes gives a status of a few MB
MAX_LINE = 16 * 1024 * 1024
CALL_TIMEOUT_MS = 10_000


@dataclass(frozen=True, slots=True)
class SocketChoice:
    path: str
    explicit: bool  # named by the user (--tailscale-socket / MTT_TAILSCALE_SOCKET), not a default


def choose_socket(override: str | None) -> SocketChoice:
    """The override if given, else the first default path that exists (else the first default)."""
    if override:
        return SocketChoice(override, True)
    for path in TAILSCALE_SOCKETS:
        if os.path.exists(path):
            return SocketChoice(path, False)
    return SocketChoice(TAILSCALE_SOCKETS[0], False)


class LocalApiError(Exception):
    """A call that got no complete HTTP response. `kind` says what to do next."""

    # kinds: absent (ENOENT), refused (ECONNREFUSED / stale socket), owner (refused by us), eof,
    # protocol (not HTTP / malformed), timeout, os (anything else)
    def __init__(self, kind: str, status: TailscaleStatus) -> None:
        super().__init__(status.detail)
        self.kind = kind
        self.status = status

    @property
    def detail(self) -> str:
        return self.status.detail or self.kind


def _owner_ok(uid: int, choice: SocketChoice) -> bool:
    return uid == 0 or (choice.explicit and uid == os.geteuid())


def _owner_error(choice: SocketChoice, what: str, uid: int) -> LocalApiError:
    return LocalApiError(
        "owner",
        unavailable(
            f"refusing to trust {choice.path}: {what} uid {uid}, not root, so it may not be tailscaled; "
            "if you run tailscaled as your own user, name its socket with --tailscale-socket"
        ),
    )


def check_socket_file(choice: SocketChoice) -> None:
    """Raise LocalApiError unless the path is a socket owned by an acceptable user."""
    try:
        st = os.stat(choice.path)
    except FileNotFoundError:
        raise LocalApiError("absent", daemon_absent(choice.path)) from None
    except OSError as exc:
        raise LocalApiError("os", unavailable(f"cannot inspect {choice.path}: {exc.strerror}")) from None
    if not stat.S_ISSOCK(st.st_mode):
        raise LocalApiError("os", unavailable(f"{choice.path} is not a socket; is this tailscaled's socket?"))
    if not _owner_ok(st.st_uid, choice):
        raise _owner_error(choice, "the socket is owned by", st.st_uid)


def _connect(choice: SocketChoice, timeout: float) -> socket.socket:
    check_socket_file(choice)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    sock.settimeout(timeout)
    try:
        sock.connect(choice.path)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.ENOENT:
            raise LocalApiError("absent", daemon_absent(choice.path)) from None
        if exc.errno in (errno.ECONNREFUSED, errno.EAGAIN):
            raise LocalApiError("refused", daemon_refused(choice.path)) from None
        if exc.errno == errno.EACCES:
            raise LocalApiError(
                "os",
                unavailable(
                    f"no permission to use {choice.path}; tailscaled makes it mode 0666 itself, "
                    f"so check who changed it (`ls -l {choice.path}`)"
                ),
            ) from None
        if isinstance(exc, TimeoutError):
            raise LocalApiError(
                "timeout", unavailable(f"tailscaled did not answer on {choice.path}")
            ) from None
        raise LocalApiError(
            "os", unavailable(f"cannot connect to {choice.path}: {exc.strerror or exc}")
        ) from None
    # The process on the other end, not just the file: a socket file can outlive its creator.
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    if not _owner_ok(uid, choice):
        sock.close()
        raise _owner_error(choice, "the process serving it runs as", uid)
    return sock


def build_request(method: str, target: str, body: bytes | None = None) -> bytes:
    lines = [
        f"{method} {target} HTTP/1.1",
        f"Host: {HOST}",
        f"User-Agent: {USER_AGENT}",
        "Accept: */*",
        "Connection: close",
    ]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + (body or b"")


class ResponseParser:
    """Incremental HTTP/1.1 response parser: head, then a Content-Length, chunked or close-delimited body.

    `feed()` returns the decoded body bytes that arrived; `done` is set at the end of the response;
    `error` (a short reason) is set on a protocol error, after which the connection must be dropped.
    """

    def __init__(self, max_body: int | None = MAX_BODY) -> None:
        self._max_body = max_body  # None: the caller streams the body somewhere (a Taildrop file)
        self._buf = bytearray()
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.done = False
        self.error: str | None = None
        self._mode = "head"  # head | length | chunk-size | chunk-data | chunk-crlf | trailer | close
        self._remaining = 0

    def feed(self, data: bytes) -> bytes:
        if self.done or self.error:
            return b""
        self._buf += data
        out = bytearray()
        try:
            self._run(out)
        except ValueError as exc:
            self.error = str(exc)
        return bytes(out)

    def feed_eof(self) -> bool:
        """The peer closed: fine for a close-delimited body, a truncation otherwise. Returns `done`."""
        if self.done or self.error:
            return self.done
        if self._mode == "close":
            self.done = True
        elif self.status is None:
            self.error = "connection closed before a response" if not self._buf else "truncated response head"
        else:
            self.error = "connection closed in the middle of the response"
        return self.done

    def _run(self, out: bytearray) -> None:
        while not self.done:
            if self._mode == "head":
                end = self._buf.find(b"\r\n\r\n")
                if end < 0:
                    if len(self._buf) > MAX_HEAD:
                        raise ValueError("response head too large")
                    return
                self._parse_head(bytes(self._buf[:end]).decode("latin-1"))
                del self._buf[: end + 4]
            elif self._mode == "length":
                take = min(self._remaining, len(self._buf))
                out += self._buf[:take]
                del self._buf[:take]
                self._remaining -= take
                if self._remaining == 0:
                    self.done = True
                return
            elif self._mode == "close":
                out += self._buf
                self._buf.clear()
                return
            elif self._mode == "chunk-size":
                end = self._buf.find(b"\r\n")
                if end < 0:
                    if len(self._buf) > 1024:
                        raise ValueError("bad chunk size line")
                    return
                size_text = bytes(self._buf[:end]).split(b";", 1)[0].strip()
                del self._buf[: end + 2]
                try:
                    self._remaining = int(size_text, 16)
                except ValueError:
                    raise ValueError(f"bad chunk size {size_text[:20]!r}") from None
                if self._remaining < 0:
                    raise ValueError("bad chunk size")
                self._mode = "chunk-data" if self._remaining else "trailer"
            elif self._mode == "chunk-data":
                take = min(self._remaining, len(self._buf))
                out += self._buf[:take]
                del self._buf[:take]
                self._remaining -= take
                if self._remaining:
                    return
                self._mode = "chunk-crlf"
            elif self._mode == "chunk-crlf":
                if len(self._buf) < 2:
                    return
                if self._buf[:2] != b"\r\n":
                    raise ValueError("missing CRLF after chunk")
                del self._buf[:2]
                self._mode = "chunk-size"
            elif self._mode == "trailer":
                end = self._buf.find(b"\r\n")
                if end < 0:
                    return
                line = self._buf[:end]
                del self._buf[: end + 2]
                if not line:
                    self.done = True

    def _parse_head(self, head: str) -> None:
        lines = head.split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise ValueError(f"not an HTTP response: {lines[0][:60]!r}")
        self.status = int(parts[1])
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                self.headers[name.strip().lower()] = value.strip()
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            self._mode = "chunk-size"
        elif "content-length" in self.headers:
            try:
                self._remaining = int(self.headers["content-length"])
            except ValueError:
                raise ValueError("bad Content-Length") from None
            if self._remaining < 0 or (self._max_body is not None and self._remaining > self._max_body):
                raise ValueError("bad Content-Length")
            self._mode = "length"
            if self._remaining == 0:
                self.done = True
        elif self.status in (204, 304) or 100 <= self.status < 200:
            self.done = True
        else:
            self._mode = "close"


class LineSplitter:
    """Splits a byte stream into lines (the watch stream is one JSON object per line)."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        if b"\n" not in data:
            if len(self._buf) > MAX_LINE:
                raise ValueError("watch-ipn-bus line too long")
            return []
        *lines, rest = bytes(self._buf).split(b"\n")
        self._buf = bytearray(rest)
        return [line for line in lines if line.strip()]


@dataclass
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def _eof_error(choice: SocketChoice, reason: str) -> LocalApiError:
    return LocalApiError(
        "eof", unavailable(f"tailscaled closed the connection on {choice.path} early ({reason})")
    )


def request(
    choice: SocketChoice, method: str, target: str, body: bytes | None = None, timeout: float = 5.0
) -> Response:
    """One blocking request; raises LocalApiError when no complete response arrives within `timeout`."""
    deadline = time.monotonic() + timeout
    sock = _connect(choice, timeout)
    parser = ResponseParser()
    data = bytearray()
    try:
        sock.sendall(build_request(method, target, body))
        while not parser.done:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = sock.recv(65536)
            if not chunk:
                if not parser.feed_eof():
                    raise _eof_error(choice, parser.error or "eof")
                break
            data += parser.feed(chunk)
            if parser.error:
                raise LocalApiError(
                    "protocol", unavailable(f"tailscaled's answer is not HTTP: {parser.error}")
                )
            if len(data) > MAX_BODY:
                raise LocalApiError("protocol", unavailable("tailscaled's answer is too large"))
    except TimeoutError:
        raise LocalApiError(
            "timeout", unavailable(f"tailscaled did not answer on {choice.path} in time")
        ) from None
    except OSError as exc:
        raise _eof_error(choice, exc.strerror or str(exc)) from None
    finally:
        sock.close()
    return Response(parser.status or 0, parser.headers, bytes(data))


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
        parent: QObject | None = None,
    ) -> None:
        """`sink`: a 200 body goes there chunk by chunk instead of into memory (no size limit; the
        deadline then counts from the last chunk, so a big download is not cut off)."""
        super().__init__(parent)
        self.choice = choice
        self._request = build_request(method, target, body)
        self._stream = stream
        self._sink = sink
        self._sock: socket.socket | None = None
        self._notifier: QSocketNotifier | None = None
        self._parser = ResponseParser(None if sink is not None else MAX_BODY)
        self._lines = LineSplitter()
        self._body = bytearray()
        self._timer: QTimer | None = None

    @property
    def active(self) -> bool:
        return self._sock is not None

    def start(self) -> LocalApiError | None:
        try:
            sock = _connect(self.choice, 2.0)
            sock.sendall(self._request)
        except LocalApiError as exc:
            return exc
        except OSError as exc:
            return _eof_error(self.choice, exc.strerror or str(exc))
        sock.setblocking(False)
        self._sock = sock
        self._notifier = QSocketNotifier(sip.voidptr(sock.fileno()), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._on_readable)
        if not self._stream:
            # Only a bounded request has a deadline; the watch stream is idle for hours by design.
            self._timer = QTimer(self)
            self._timer.setSingleShot(True)
            self._timer.timeout.connect(self._on_timeout)
            self._timer.start(CALL_TIMEOUT_MS)
        return None

    def abort(self) -> None:
        """Close without emitting anything."""
        if self._timer is not None:
            self._timer.stop()
        if self._notifier is not None:
            # Disable before closing the fd so that a reused fd number never reaches this notifier.
            self._notifier.setEnabled(False)
            self._notifier.deleteLater()
            self._notifier = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

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
                self._fail(_eof_error(self.choice, exc.strerror or str(exc)))
                return
            if not chunk:
                if self._parser.feed_eof():
                    self._complete()
                else:
                    self._fail(_eof_error(self.choice, self._parser.error or "eof"))
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
            try:
                lines = self._lines.feed(data)
            except ValueError as exc:
                self._fail(LocalApiError("protocol", unavailable(str(exc))))
                return
            for line in lines:
                if self._sock is None:
                    return
                self.line.emit(line)
        elif self._sink is not None and self._parser.status == 200:
            if self._timer is not None:
                self._timer.start(CALL_TIMEOUT_MS)  # still arriving: the deadline is for silence
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
