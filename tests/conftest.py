"""Session-wide test environment, prepared before pytest-qt creates the QApplication.

* Xvfb on a free display (QT_QPA_PLATFORM=xcb) so tray tests see a real X server; without Xvfb the
  platform is offscreen and X tests skip (fail in CI) with the reason.
* a hermetic private session bus (tests/infra/test-session-bus.conf: no service activation), so
  notification and SNI tests never touch a developer's desktop session.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.infra.netns import NetNS
from tests.infra.require import require_root, require_tools
from tests.infra.session import start_session_bus, start_xvfb

ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    procs: list[subprocess.Popen[Any]] = []
    config._mtt_procs = procs  # type: ignore[attr-defined]
    os.environ["NO_AT_BRIDGE"] = "1"  # keep GTK hosts (trayer, gtk-sni-tray, dunst) off at-spi
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
    if shutil.which("Xvfb") and os.environ.get("TEST_DISPLAY", "xvfb") == "xvfb":
        p, disp = start_xvfb()
        procs.append(p)
        os.environ["DISPLAY"] = disp
        os.environ["QT_QPA_PLATFORM"] = "xcb"
    else:
        os.environ.pop("DISPLAY", None)
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    if shutil.which("dbus-daemon"):
        bus, addr = start_session_bus()
        procs.append(bus)
        os.environ["DBUS_SESSION_BUS_ADDRESS"] = addr


def pytest_report_header(config: pytest.Config) -> list[str]:
    from tests.realts import binaries

    built = [b.short for b in binaries.builds()]
    return [
        f"env: QT_QPA_PLATFORM={os.environ.get('QT_QPA_PLATFORM')} DISPLAY={os.environ.get('DISPLAY')} "
        f"session-bus={os.environ.get('DBUS_SESSION_BUS_ADDRESS')} uid={os.geteuid()} CI={os.environ.get('CI')}",
        f"real tailscaled: {' '.join(built) if built else 'none built'} (in {binaries.CACHE})",
    ]


def pytest_unconfigure(config: pytest.Config) -> None:
    for p in reversed(getattr(config, "_mtt_procs", [])):
        p.terminate()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()


@pytest.fixture(autouse=True)
def no_host_reconciler(monkeypatch: pytest.MonkeyPatch) -> None:
    """Readers take the bypass status from a running reconciler's file (/run/mullvad-tailscale-tray) first:
    a test must never see the one of the machine it runs on. Tests with their own reconciler set it again."""
    monkeypatch.setenv("MTT_STATUS_FILE", "/nonexistent/mullvad-tailscale-tray-test/bypass-status.json")


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A world-readable temp dir with a short path: Unix socket paths are limited to 107 bytes, and pytest's
    tmp_path can be longer."""
    d = Path(tempfile.mkdtemp(prefix="mtt-", dir="/tmp"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def netns() -> Iterator[NetNS]:
    """A fresh, empty network namespace (loopback up). Needs root and iproute2."""
    require_root()
    require_tools("ip")
    ns = NetNS()
    try:
        yield ns
    finally:
        ns.delete()


def wait_for(pred: object, timeout: float = 10.0, what: str = "condition") -> None:
    """Poll a predicate in tests that have no event to wait on (never used by product code)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise TimeoutError(what)
