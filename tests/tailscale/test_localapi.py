"""The LocalAPI client: HTTP/1.1 framing, socket checks (owner, peer credentials), the one-shot read."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.fakes.fake_localapi import FakeLocalApi
from tests.infra.require import require, require_root
from tests.tailscale.test_parse import EXPECTED
from tray_app.core.http1 import ResponseParser, build_request
from tray_app.core.lines import LineSplitter
from tray_app.core.model import TailscaleState
from tray_app.daemons.localapi import LocalApiError, SocketChoice, choose_socket, request
from tray_app.daemons.tailscale_read import read_details, read_status

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "tailscale"
FAKE = Path(__file__).resolve().parent.parent / "fakes" / "fake_localapi.py"
NOBODY = 65534


def _feed_bytewise(parser: ResponseParser, data: bytes) -> bytes:
    out = b""
    for i in range(len(data)):
        out += parser.feed(data[i : i + 1])
    return out


def test_request_has_tailscaled_host_and_no_origin() -> None:
    req = build_request("PATCH", "/localapi/v0/prefs", b'{"WantRunning":true}')
    head, _, body = req.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "PATCH /localapi/v0/prefs HTTP/1.1"
    assert "Host: local-tailscaled.sock" in lines
    assert not any(line.lower().startswith(("origin:", "referer:")) for line in lines)
    assert "Content-Length: 20" in lines and body == b'{"WantRunning":true}'


def test_chunked_stream_byte_by_byte_with_extensions_and_trailer() -> None:
    raw = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'5;ext=1\r\n{"a":\r\n3\r\n1}\n\r\n0\r\nX-Trailer: 1\r\n\r\n'
    )
    p = ResponseParser()
    assert _feed_bytewise(p, raw) == b'{"a":1}\n'
    assert p.done and p.status == 200 and p.error is None


def test_content_length_and_close_delimited_bodies() -> None:
    p = ResponseParser()
    assert p.feed(
        b"HTTP/1.1 403 Forbidden\r\nContent-Length: 26\r\n\r\nprefs write access denied\nEXTRA"
    ) == (b"prefs write access denied\n")
    assert p.done and p.status == 403
    p = ResponseParser()
    assert p.feed(b"HTTP/1.0 200 OK\r\n\r\nbody") == b"body"
    assert not p.done and p.feed_eof() and p.done


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"SSH-2.0-OpenSSH_9.2\r\n\r\n", "not an HTTP response"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY", "missing CRLF"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "bad Content-Length"),
    ],
)
def test_protocol_errors(raw: bytes, error: str) -> None:
    p = ResponseParser()
    p.feed(raw)
    assert p.error is not None and error in p.error


def test_truncation_is_an_error_not_a_response() -> None:
    p = ResponseParser()
    p.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
    assert not p.feed_eof() and p.error == "connection closed in the middle of the response"
    p = ResponseParser()
    assert not p.feed_eof() and p.error == "connection closed before a response"


def test_line_splitter() -> None:
    s = LineSplitter(16)
    assert s.feed(b'{"a"') == []
    assert s.feed(b':1}\n\n{"b":2}\n{"c"') == [b'{"a":1}', b"", b'{"b":2}']  # LocalApiCall skips blanks
    assert s.feed(b":3}\n") == [b'{"c":3}']
    assert s.overflows == 0
    assert s.feed(b"x" * 17) == [] and s.overflows == 1  # the watch stream is then broken: the call fails


def test_choose_socket_prefers_the_override(monkeypatch: pytest.MonkeyPatch) -> None:
    assert choose_socket("/x/y.sock") == SocketChoice("/x/y.sock", True)
    monkeypatch.setattr("tray_app.daemons.localapi.TAILSCALE_SOCKETS", ("/nonexistent/a", "/nonexistent/b"))
    assert choose_socket(None) == SocketChoice("/nonexistent/a", False)


def test_sync_request_and_read_status(fake: FakeLocalApi, sock_path: str) -> None:
    resp = request(SocketChoice(sock_path, True), "GET", "/localapi/v0/prefs")
    assert resp.status == 200 and b'"OperatorUser": "alice"' in resp.body
    fake.set_status("running-exit-node")
    assert read_status(sock_path, None) == EXPECTED["running-exit-node"]
    fake.status_raw = b"\x00\x01garbage"
    got = read_status(sock_path, None)
    assert got.state is TailscaleState.UNAVAILABLE and "could not read the status" in (got.detail or "")


def test_read_status_when_the_daemon_is_down(fake: FakeLocalApi, sock_path: str) -> None:
    fake.go_away("refused")
    got = read_status(sock_path, None)
    assert got.detail == (
        f"tailscaled is not answering on {sock_path} (connection refused); "
        "start tailscaled: `sudo systemctl start tailscaled`"
    )
    fake.go_away("enoent")
    assert "no socket at" in (read_status(sock_path, "/nonexistent/tailscale").detail or "")


def test_read_status_cli_fallback(sock_dir: Path) -> None:
    cli = sock_dir / "tailscale"
    cli.write_text(f"#!/bin/sh\nexec cat {FIX / 'status-json.stopped.json'}\n")
    cli.chmod(0o755)
    assert read_status(str(sock_dir / "absent.sock"), str(cli)) == EXPECTED["stopped"]


def test_a_plain_file_is_not_a_socket(sock_dir: Path) -> None:
    path = sock_dir / "file"
    path.write_text("")
    with pytest.raises(LocalApiError) as exc:
        request(SocketChoice(str(path), True), "GET", "/localapi/v0/status")
    assert "is not a socket" in exc.value.detail


# -- ownership -------------------------------------------------------------------------------------


def test_socket_file_not_owned_by_root_is_refused(fake: FakeLocalApi, sock_path: str) -> None:
    require_root()
    os.chown(sock_path, NOBODY, NOBODY)
    for explicit in (False, True):  # another user's socket, even when named explicitly
        with pytest.raises(LocalApiError) as exc:
            request(SocketChoice(sock_path, explicit), "GET", "/localapi/v0/status")
        assert exc.value.kind == "owner"
        assert (
            f"refusing to trust {sock_path}: the socket is owned by uid {NOBODY}, not root"
            in exc.value.detail
        )
    got = read_status(sock_path, None)
    assert got.state is TailscaleState.UNAVAILABLE and "--tailscale-socket" in (got.detail or "")
    assert fake.status_requests == 0  # never asked


@contextmanager
def _fake_as_nobody(sock_dir: Path) -> Iterator[str]:
    python = shutil.which("python3", path="/usr/bin:/bin")
    require(python is not None, "needs a system python3 that user nobody can run")
    assert python is not None
    sock_dir.chmod(0o777)
    path = str(sock_dir / "user.sock")
    proc = subprocess.Popen(
        [python, str(FAKE), path, "--status", "running"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        user=NOBODY,
        group=NOBODY,
        extra_groups=[],
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        yield path
    finally:
        assert proc.stdin is not None
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_peer_credentials_are_checked_too(sock_dir: Path) -> None:
    """A root-owned socket file served by a non-root process (e.g. a file swapped under us) is refused."""
    require_root()
    with _fake_as_nobody(sock_dir) as path:
        os.chown(path, 0, 0)
        with pytest.raises(LocalApiError) as exc:
            request(SocketChoice(path, False), "GET", "/localapi/v0/status")
        assert "the process serving it runs as uid 65534, not root" in exc.value.detail


def test_own_socket_is_accepted_only_when_named_explicitly(sock_dir: Path) -> None:
    """A user running tailscaled (or a fake) as themself names its socket; a default path must be root's."""
    require_root()
    with _fake_as_nobody(sock_dir) as path:
        os.seteuid(NOBODY)  # be that user for the check (geteuid() and SO_PEERCRED compare against it)
        try:
            assert read_status(path, None) == EXPECTED["running"]
            with pytest.raises(LocalApiError) as exc:
                request(SocketChoice(path, False), "GET", "/localapi/v0/status")
        finally:
            os.seteuid(0)
        assert exc.value.kind == "owner"


# -- the fake as a subprocess (how the CLI, tray and benchmark tests drive it) -------------------------


def test_fake_subprocess_protocol(sock_dir: Path) -> None:
    path = str(sock_dir / "sub.sock")
    proc = subprocess.Popen(
        [sys.executable, str(FAKE), path, "--status", "stopped"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None

    def cmd(line: str) -> str:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(line + "\n")
        proc.stdin.flush()
        return proc.stdout.readline().strip()

    try:
        assert proc.stdout.readline() == "ready\n"
        assert read_status(path, None) == EXPECTED["stopped"]
        assert cmd("status needs-login-auth-url") == "ok"
        assert read_status(path, None) == EXPECTED["needs-login-auth-url"]
        assert cmd("down refused") == "ok"
        assert "connection refused" in (read_status(path, None).detail or "")
        assert cmd("up") == "ok"
        assert cmd("stats").startswith('{"status_requests": 2')
        assert proc.stdout.readline().strip() == "ok"
        assert cmd("bogus").startswith("error")
        proc.stdin.write("quit\n")
        proc.stdin.flush()
        assert proc.wait(5) == 0
        assert not os.path.exists(path)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_read_details_for_doctor(fake: FakeLocalApi, sock_path: str, sock_dir: Path) -> None:
    details = read_details(sock_path, None)
    assert details.status == EXPECTED["running"]
    assert details.tun is True
    assert details.prefs is not None and details.prefs["OperatorUser"] == "alice"
    assert details.prefs["NetfilterMode"] == 2
    fake.go_away("enoent")
    details = read_details(sock_path, None)
    assert (
        details.status.state is TailscaleState.UNAVAILABLE and details.prefs is None and details.tun is None
    )
    cli = sock_dir / "tailscale"
    cli.write_text(f"#!/bin/sh\nexec cat {FIX / 'status-json.running.json'}\n")
    cli.chmod(0o755)
    details = read_details(sock_path, str(cli))
    assert details.status == EXPECTED["running"] and details.tun is True and details.prefs is None


def test_socket_without_permission_says_so(fake: FakeLocalApi, sock_path: str) -> None:
    require_root()
    os.chmod(sock_path, 0o600)
    os.seteuid(NOBODY)
    try:
        got = read_status(sock_path, None)
    finally:
        os.seteuid(0)
    assert got.state is TailscaleState.UNAVAILABLE
    assert got.detail == (
        f"no permission to use {sock_path}; tailscaled makes it mode 0666 itself, "
        f"so check who changed it (`ls -l {sock_path}`)"
    )
