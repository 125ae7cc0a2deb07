"""Installed locations and fixed names (DESIGN.md, "Names" and "Files on disk")."""

from __future__ import annotations

import os
import typing

if typing.TYPE_CHECKING:  # pathlib is imported where used: the root helper reads constants only here
    from pathlib import Path

from tray_app.core import world

HELPER_PATH = world.HELPER_PATH  # defined with the outside world's constants, which pure messages quote

STATE_DIR = "/var/lib/mullvad-tailscale-tray"
BOOT_UNIT = "mullvad-tailscale-bypass.service"
# The reconciler (`bypass-helper watch`) publishes the bypass status here for unprivileged readers.
RUN_DIR = "/run/mullvad-tailscale-tray"
STATUS_FILE_NAME = "bypass-status.json"
STATUS_FILE = RUN_DIR + "/" + STATUS_FILE_NAME
POLKIT_POLICY = "/usr/share/polkit-1/actions/io.github.mullvad-tailscale-tray.policy"


def config_dir() -> Path:
    """$XDG_CONFIG_HOME/mullvad-tailscale-tray (user settings; never written by the helper)."""
    from pathlib import Path  # noqa: PLC0415  (see the import above)

    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "mullvad-tailscale-tray"


def autostart_file() -> Path:
    from pathlib import Path  # noqa: PLC0415  (see the import above)

    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "autostart" / "mullvad-tailscale-tray.desktop"
