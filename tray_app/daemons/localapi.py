"""A minimal HTTP/1.1 client for tailscaled's LocalAPI over its Unix socket.

tailscaled accepts a request only with `Host: local-tailscaled.sock` (or none) and without `Origin` or
`Referer` (ipn/localapi: `validHost`), so this client sends exactly that. Each call uses its own
connection with `Connection: close`: the watch stream is long-lived anyway and status reads are rare.

Two ways to use it:
* `request()` here: blocking, with a timeout, for the `status` CLI and other one-shot reads (no Qt);
* `localapi_call.LocalApiCall`: a non-blocking call on the Qt event loop, for the `watch-ipn-bus` stream.
The HTTP itself (request bytes, the incremental response parser) is pure: `core/http1.py`.

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
from dataclasses import dataclass, field

from tray_app.core.http1 import MAX_BODY, ResponseParser, build_request
from tray_app.core.model import TailscaleStatus
from tray_app.core.tailscale_parse import daemon_absent, daemon_refused, unavailable
from tray_app.core.world import TAILSCALE_SOCKETS


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


def connect(choice: SocketChoice, timeout: float) -> socket.socket:
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


@dataclass
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def eof_error(choice: SocketChoice, reason: str) -> LocalApiError:
    return LocalApiError(
        "eof", unavailable(f"tailscaled closed the connection on {choice.path} early ({reason})")
    )


def request(
    choice: SocketChoice, method: str, target: str, body: bytes | None = None, timeout: float = 5.0
) -> Response:
    """One blocking request; raises LocalApiError when no complete response arrives within `timeout`."""
    deadline = time.monotonic() + timeout
    sock = connect(choice, timeout)
    parser = ResponseParser()
    data = bytearray()
    try:
        sock.sendall(build_request(method, target, body))
        while not parser.done:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = sock.recv(65536)
            if not chunk:
                if not parser.feed_eof():
                    raise eof_error(choice, parser.error or "eof")
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
        raise eof_error(choice, exc.strerror or str(exc)) from None
    finally:
        sock.close()
    return Response(parser.status or 0, parser.headers, bytes(data))
