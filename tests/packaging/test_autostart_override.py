"""The packaged /etc/xdg/autostart entry and the tray's per-user toggle, resolved the way sessions resolve them.

XDG autostart spec: for each file name, the entry in $XDG_CONFIG_HOME/autostart wins over those in
$XDG_CONFIG_DIRS/*/autostart; an entry with Hidden=true (or, for GNOME, X-GNOME-Autostart-enabled=false)
starts nothing. So with the system entry installed, "off" must be a user entry that hides it.
"""

from __future__ import annotations

import configparser
import os
from pathlib import Path

import pytest

from tray_app.desktop import autostart

from .conftest import Install

NAME = "mullvad-tailscale-tray.desktop"


def session_starts_tray(config_home: Path, config_dirs: list[Path]) -> bool:
    """What an XDG-compliant session (and GNOME's extension key) does at login for our file name."""
    for d in [config_home, *config_dirs]:
        entry = d / "autostart" / NAME
        if entry.is_file():
            cp = configparser.ConfigParser(interpolation=None)
            cp.optionxform = str  # type: ignore[assignment,method-assign]
            cp.read_string(entry.read_text())
            e = cp["Desktop Entry"]
            return (
                e.get("Hidden", "false") != "true" and e.get("X-GNOME-Autostart-enabled", "true") != "false"
            )
    return False


@pytest.fixture
def session(installed: Install, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[Path]]:
    home = tmp_path / "config"
    dirs = [installed.destdir / "etc" / "xdg"]
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_DIRS", os.pathsep.join(map(str, dirs)))
    return home, dirs


def test_installed_system_entry_starts_the_tray_and_status_says_so(session: tuple[Path, list[Path]]) -> None:
    home, dirs = session
    assert session_starts_tray(home, dirs)
    assert autostart.is_enabled(), "`autostart status` says off while the packaged entry starts the tray"


def test_autostart_off_stops_the_packaged_entry(session: tuple[Path, list[Path]]) -> None:
    home, dirs = session
    autostart.disable()
    assert not session_starts_tray(home, dirs), (
        "after `autostart off` the session still starts the tray from /etc/xdg/autostart: the user file must "
        "override it with Hidden=true instead of being removed"
    )
    assert not autostart.is_enabled()


def test_autostart_on_after_off_starts_it_again(session: tuple[Path, list[Path]]) -> None:
    home, dirs = session
    autostart.disable()
    autostart.enable()
    assert session_starts_tray(home, dirs)
    assert autostart.is_enabled()
