"""The fake `mullvad` prints what the real CLI prints (checked against the fixtures), so tests through it count."""

from __future__ import annotations

import json
import os
import select
import subprocess
import time
from pathlib import Path

import pytest

from tests.fakes.fake_mullvad import FakeMullvad, make_state
from tray_app.core import mullvad_parse as mp

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "mullvad"


def run(fake: FakeMullvad, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(fake.cli), *args], capture_output=True, text=True, timeout=10)


@pytest.mark.parametrize(
    ("state", "kwargs", "fixture"),
    [
        ("connected", {"ipv4": "198.51.100.24"}, "status.connected.txt"),
        ("connecting", {}, "status.connecting.txt"),
        ("disconnected", {"locked_down": True}, "status.disconnected-lockdown.txt"),
        ("disconnecting", {}, "status.disconnecting.txt"),
        ("error", {"cause": "is_offline"}, "status.blocked-offline.txt"),
        (
            "error",
            {"cause": "auth_failed", "cause_details": "[EXPIRED_ACCOUNT]"},
            "status.blocked-auth-failed.txt",
        ),
        (
            "error",
            {"cause": "tunnel_parameter_error", "cause_details": "no_matching_relay"},
            "status.blocked-no-matching-relay.txt",
        ),
    ],
)
def test_text_matches_fixture(tmp_path: Path, state: str, kwargs: dict[str, object], fixture: str) -> None:
    fake = FakeMullvad(tmp_path, state=state, **kwargs)
    assert run(fake, "status").stdout == (FIX / fixture).read_text()
    verbose = FIX / fixture.replace("status.", "status-v.")
    assert run(fake, "status", "-v").stdout == verbose.read_text()


@pytest.mark.parametrize(
    ("state", "kwargs", "fixture"),
    [
        ("connected", {"ipv4": "198.51.100.24"}, "status-json.connected.json"),
        ("connecting", {}, "status-json.connecting.json"),
        ("disconnected", {"locked_down": True}, "status-json.disconnected-lockdown.json"),
        ("disconnecting", {}, "status-json.disconnecting.json"),
        ("error", {"cause": "is_offline"}, "status-json.blocked-offline.json"),
    ],
)
def test_json_matches_fixture(tmp_path: Path, state: str, kwargs: dict[str, object], fixture: str) -> None:
    fake = FakeMullvad(tmp_path, state=state, **kwargs)
    out = run(fake, "status", "--json").stdout
    assert out == (FIX / fixture).read_text()
    assert json.loads(out) == make_state(state, **kwargs)  # type: ignore[arg-type]


def test_other_commands_match_fixtures(tmp_path: Path) -> None:
    fake = FakeMullvad(tmp_path, lockdown=True)
    assert run(fake, "version").stdout == (FIX / "version.txt").read_text()
    assert run(fake, "lockdown-mode", "get").stdout == (FIX / "lockdown-mode-get.on.txt").read_text()
    fake.configure(daemon_version="2026.3", cli_version="2026.4", lockdown=False, suggested_upgrade="2026.4")
    assert run(fake, "version").stdout == (FIX / "version.daemon-mismatch.txt").read_text()
    assert run(fake, "lockdown-mode", "get").stdout == (FIX / "lockdown-mode-get.off.txt").read_text()


def test_stopped_daemon_matches_fixtures(tmp_path: Path) -> None:
    fake = FakeMullvad(tmp_path, running=False)
    result = run(fake, "status", "--json")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (FIX / "status-json.daemon-not-running.stderr.txt").read_text()
    result = run(fake, "version")
    assert result.returncode == 1
    assert result.stdout + result.stderr == (FIX / "version.daemon-not-running.txt").read_text()
    fake.configure(failure="refused")
    assert run(fake, "status").stderr == (FIX / "status.daemon-refused.stderr.txt").read_text()
    fake.configure(failure="permission-denied")
    assert run(fake, "status").stderr == (FIX / "status.permission-denied.stderr.txt").read_text()


def test_old_cli_rejects_json_like_clap(tmp_path: Path) -> None:
    fake = FakeMullvad(tmp_path, json_supported=False, layout="2022", state="connected")
    result = run(fake, "status", "--json", "listen")
    assert result.returncode == 2
    assert mp.is_json_unsupported(result.stderr, result.returncode)
    assert run(fake, "status").stdout == (FIX / "oneline-2022/status.connected.txt").read_text()
    fake.configure(layout="2021")
    assert run(fake, "status").stdout.startswith("Tunnel status: Connected to WireGuard ")
    assert run(fake, "lockdown-mode", "get").returncode == 2
    assert mp.parse_lockdown(run(fake, "block-when-disconnected", "get").stdout) is False


class Lines:
    """Reads a child's stdout line by line with a deadline, so a broken fake fails instead of hanging."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        self.fd = proc.stdout.fileno()
        self.buf = b""

    def next(self, timeout: float = 10.0) -> str:
        end = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = end - time.monotonic()
            ready, _, _ = select.select([self.fd], [], [], max(0.0, left))
            if not ready:
                raise TimeoutError(f"no line within {timeout} s (have {self.buf[:80]!r})")
            chunk = os.read(self.fd, 65536)
            if not chunk:
                raise EOFError(self.buf[:80])
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode()


def test_listen_streams_changes_then_ends_when_the_daemon_stops(tmp_path: Path) -> None:
    fake = FakeMullvad(tmp_path, state="error", cause="auth_failed", logged_in=False)
    proc = subprocess.Popen(
        [str(fake.cli), "status", "--json", "listen"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        lines = Lines(proc)
        # the logged-out warning comes before the first state, like the real CLI
        assert lines.next() == "Warning: You are not logged in to an account."
        assert mp.parse_json_line(lines.next()) == mp.parse_json_output(
            '{"state":"error","details":{"cause":{"reason":"auth_failed"},"block_failure":null}}'
        )
        fake.set_state("disconnected")
        assert run(fake, "connect").returncode == 0
        seen = [mp.parse_json_line(lines.next()) for _ in range(3)]
        assert [s.state.value if s else None for s in seen] == ["disconnected", "connecting", "connected"]
        fake.send_line("not json")
        assert lines.next() == "not json"
        fake.send_huge_line(3_000_000)
        assert len(lines.next()) == 3_000_000
        fake.stop_daemon()
        assert proc.wait(10) == 1
        assert proc.stderr is not None
        assert b"Management RPC server or client error" in proc.stderr.read()
        assert fake.listener_count() == 0
        assert run(fake, "status").returncode == 1
    finally:
        proc.kill()
        proc.wait()


def test_actions(tmp_path: Path) -> None:
    fake = FakeMullvad(tmp_path, state="disconnected", connect_delay=0)
    result = run(fake, "reconnect")
    assert result.returncode == 1
    assert "Not reconnecting due to being in disconnected state" in result.stderr
    assert run(fake, "connect").returncode == 0
    assert fake.read()["state"]["state"] == "connected"
    fake.configure(fail={"disconnect": "Error: boom"})
    assert run(fake, "disconnect").returncode == 1
    fake.configure(fail={})
    assert run(fake, "disconnect").returncode == 0
    assert fake.read()["state"]["state"] == "disconnected"
