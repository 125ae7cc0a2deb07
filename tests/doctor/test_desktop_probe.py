"""The doctor's desktop facts come from the real session bus and X display (tests/conftest.py)."""

from __future__ import annotations

import os
import subprocess

from tests.infra import desktop
from tests.infra.require import require, require_tools
from tray_app.desktop import desktop_probe


def _need_session() -> None:
    require(bool(os.environ.get("DISPLAY")), "needs Xvfb (apt install xvfb)")
    require(bool(os.environ.get("DBUS_SESSION_BUS_ADDRESS")), "needs dbus-daemon for a private session bus")


def test_nothing_running_reports_absence() -> None:
    _need_session()
    assert desktop_probe.notification_server() == ""
    assert desktop_probe.sni_host() is False
    assert desktop_probe.xembed_host() is False


def test_real_dunst_is_found_by_name_and_version() -> None:
    _need_session()
    with desktop.dunst():
        assert (desktop_probe.notification_server() or "").startswith("dunst ")


def test_real_sni_host_is_found() -> None:
    _need_session()
    with desktop.sni_host():
        # The watcher's name appears before the host has registered with it.
        desktop.wait_until(lambda: desktop_probe.sni_host() is True, 10, "SNI host registered")


def test_real_xembed_tray_is_found() -> None:
    _need_session()
    require_tools("trayer")
    p = subprocess.Popen(["trayer", "--edge", "top", "--SetDockType", "true"], stderr=subprocess.DEVNULL)
    try:
        desktop.wait_until(lambda: desktop_probe.xembed_host() is True, 10, "trayer owns the tray selection")
    finally:
        desktop.stop(p)
    desktop.wait_until(lambda: desktop_probe.xembed_host() is False, 5, "selection released")
