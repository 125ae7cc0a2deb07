"""The XDG autostart entry: `$XDG_CONFIG_HOME/autostart/mullvad-tailscale-tray.desktop`.

Written at runtime rather than shipped in /etc/xdg/autostart, so the choice is the user's and survives
upgrades. The entry starts the tray hidden (`--hidden`) and a little late, after the panel is up, so the
icon finds its tray host (tray-anchors.md: invisible icons at login are the top complaint).
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

from tray_app.paths import autostart_file

DESKTOP_ID = "mullvad-tailscale-tray"


def exec_line() -> str:
    """How the session should start us: the installed command when it is on PATH, else this interpreter."""
    installed = shutil.which(DESKTOP_ID)
    if installed:
        return f"{shlex.quote(installed)} --hidden"
    # From a checkout: the venv's python running the package (editable install puts it on sys.path).
    return f"{shlex.quote(sys.executable)} -m tray_app --hidden"


def render() -> str:
    return (
        "[Desktop Entry]\n"
        "Type=Application\n"
        "Name=Mullvad + Tailscale\n"
        "GenericName=VPN status\n"
        "Comment=Show Mullvad VPN and Tailscale state and keep the tailnet reachable\n"
        f"Exec={exec_line()}\n"
        f"Icon={DESKTOP_ID}\n"
        "Terminal=false\n"
        "Categories=Network;\n"
        "X-GNOME-Autostart-enabled=true\n"
        "X-GNOME-Autostart-Delay=5\n"
    )


def path() -> Path:
    return autostart_file()


def is_enabled() -> bool:
    """On when our entry exists and is not disabled by a `Hidden=true` someone else wrote into it."""
    p = path()
    try:
        text = p.read_text(encoding="utf-8")
    except OSError:
        return False
    return "\nHidden=true" not in text


def enable() -> Path:
    """Write the entry atomically (write a temp file, then rename); returns its path."""
    p = path()
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(".desktop.tmp")
    tmp.write_text(render(), encoding="utf-8")
    os.replace(tmp, p)
    return p


def disable() -> bool:
    """Remove the entry; True when there was one."""
    try:
        path().unlink()
    except FileNotFoundError:
        return False
    return True
