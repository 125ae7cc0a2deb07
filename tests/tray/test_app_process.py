"""The applet as a user starts it: `python -m tray_app` against the fake daemons, on Xvfb and the private bus.

No tray host: it says so once (stderr and a notification, with the fix) and keeps running. A second start
tells the first to show its status window and exits.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.fake_localapi import FakeLocalApi
from tests.fakes.fake_mullvad import FakeMullvad
from tests.infra.desktop import stop, wait_until
from tests.infra.require import require_tools
from tests.tray.conftest import needs_x


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[list[str]]:
    mullvad = FakeMullvad(tmp_path / "mullvad", state="connected")
    ts = FakeLocalApi(tmp_path / "ts.sock", status="running").start()
    try:
        yield ["--mullvad-cli", str(mullvad.cli), "--tailscale-socket", str(tmp_path / "ts.sock")]
    finally:
        ts.stop()


def _tray(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "tray_app", *args],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=os.environ.copy(),
        )


def _visible_windows(name: str) -> list[str]:
    r = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", name], capture_output=True, text=True)
    return r.stdout.split()


def test_without_a_tray_host_it_says_so_once_and_keeps_running(
    dunst, daemons: list[str], tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    needs_x()
    log = tmp_path / "stderr.txt"
    p = _tray(["--hidden", *daemons], log)
    try:
        wait_until(lambda: "No system tray was found" in log.read_text(), 15, "the no-tray message")
        time.sleep(1.0)
        assert p.poll() is None, "the tray must keep running without a tray host"
        text = log.read_text()
        assert text.count("No system tray was found") == 1
        assert "gnome-shell-extension-appindicator" in text
        shown = [h for h in dunst() if h["summary"] == "No system tray found"]
        assert len(shown) == 1 and "AppIndicator extension" in shown[0]["body"]
    finally:
        stop(p)  # type: ignore[arg-type]
    assert p.returncode is not None


def test_second_start_shows_the_first_and_exits(xembed_host, daemons: list[str], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    needs_x()
    first = _tray(["--hidden", *daemons], tmp_path / "first.txt")
    try:
        sock = Path(os.environ["XDG_RUNTIME_DIR"]) / f"mullvad-tailscale-tray-{os.getuid()}.sock"
        wait_until(sock.exists, 15, "the first tray's socket")
        assert _visible_windows("Mullvad \\+ Tailscale") == []  # started hidden
        second = subprocess.run(
            [sys.executable, "-m", "tray_app", *daemons], capture_output=True, text=True, timeout=30
        )
        assert second.returncode == 0
        assert "already running" in second.stdout
        wait_until(lambda: bool(_visible_windows("Mullvad \\+ Tailscale")), 10, "the status window")
        assert first.poll() is None
    finally:
        stop(first)  # type: ignore[arg-type]


def test_with_an_sni_host_there_is_no_false_alarm(sni_host, daemons: list[str], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    needs_x()
    log = tmp_path / "stderr.txt"
    p = _tray(["--hidden", *daemons], log)
    try:
        time.sleep(4.5)  # past the 3 s check
        assert p.poll() is None
        assert "No system tray" not in log.read_text()
    finally:
        stop(p)  # type: ignore[arg-type]


def test_ctrl_c_and_sigterm_end_it_cleanly(xembed_host, daemons: list[str], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    needs_x()
    sock = Path(os.environ["XDG_RUNTIME_DIR"]) / f"mullvad-tailscale-tray-{os.getuid()}.sock"
    for sig in (signal.SIGINT, signal.SIGTERM):
        p = _tray(["--hidden", *daemons], tmp_path / f"{sig.name}.txt")
        try:
            wait_until(sock.exists, 15, "the tray's socket")
            p.send_signal(sig)
            assert p.wait(10) == 0
            assert not sock.exists()  # a clean exit removes it: the next start is not confused
        finally:
            if p.poll() is None:
                stop(p)  # type: ignore[arg-type]


def test_a_hidden_second_start_shows_nothing(xembed_host, daemons: list[str], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Issue 14.11: --hidden is what autostart runs (a second login entry, a session restore): it must not
    pop the running tray's status window."""
    needs_x()
    first = _tray(["--hidden", *daemons], tmp_path / "first.txt")
    try:
        sock = Path(os.environ["XDG_RUNTIME_DIR"]) / f"mullvad-tailscale-tray-{os.getuid()}.sock"
        wait_until(sock.exists, 15, "the first tray's socket")
        second = subprocess.run(
            [sys.executable, "-m", "tray_app", "--hidden", *daemons],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert second.returncode == 0
        assert second.stdout.strip() == "mullvad-tailscale-tray is already running"
        time.sleep(1.5)  # the window would have been shown by now (the visible-start test waits for it)
        assert _visible_windows("Mullvad \\+ Tailscale") == []
        assert first.poll() is None
    finally:
        stop(first)  # type: ignore[arg-type]


def test_when_the_session_bus_dies_the_tray_exits_and_a_new_start_works(
    daemons: list[str], tmp_path: Path
) -> None:
    """Issue 14.10: a tray whose session bus died has no icon and no notifications; it must not linger and
    make the next start say "already running"."""
    needs_x()
    require_tools("dbus-daemon")
    bus = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"], stdout=subprocess.PIPE,
                           text=True)  # fmt: skip
    try:
        address = bus.stdout.readline().strip()  # type: ignore[union-attr]
        env = {**os.environ, "DBUS_SESSION_BUS_ADDRESS": address}
        log = tmp_path / "stderr.txt"
        with log.open("wb") as err:
            p = subprocess.Popen([sys.executable, "-m", "tray_app", "--hidden", *daemons], env=env,
                                 stdout=subprocess.DEVNULL, stderr=err)  # fmt: skip
        sock = Path(os.environ["XDG_RUNTIME_DIR"]) / f"mullvad-tailscale-tray-{os.getuid()}.sock"
        try:
            wait_until(sock.exists, 15, "the tray's socket")
            time.sleep(0.5)
            assert p.poll() is None
            stop(bus)  # type: ignore[arg-type]
            assert p.wait(15) == 0, log.read_text()
        finally:
            if p.poll() is None:
                stop(p)  # type: ignore[arg-type]
        assert "the D-Bus session bus went away" in log.read_text()
        assert not sock.exists()
        second = _tray(["--hidden", *daemons], tmp_path / "second.txt")  # the session's own bus again
        try:
            wait_until(sock.exists, 15, "the new tray's socket")
            assert second.poll() is None
            assert "already running" not in (tmp_path / "second.txt").read_text()
        finally:
            stop(second)  # type: ignore[arg-type]
    finally:
        if bus.poll() is None:
            stop(bus)  # type: ignore[arg-type]
