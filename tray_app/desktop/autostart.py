"""The XDG autostart entry: `$XDG_CONFIG_HOME/autostart/mullvad-tailscale-tray.desktop`.

The user's file is the switch. The entry starts the tray hidden (`--hidden`) and a little late, after the
panel is up, so the icon finds its tray host (tray-anchors.md: invisible icons at login are the top
complaint). Packages also install a system-wide entry with the same name in `/etc/xdg/autostart/`; by the XDG
autostart specification the user's file replaces it, so "off" must be a user file with `Hidden=true` when a
system entry exists (removing the user file would switch the system entry back on).
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

from tray_app import APP_ID
from tray_app.paths import autostart_file

DESKTOP_ID = APP_ID


def program() -> str:
    """The program the entry runs: the installed command when it is on PATH, else this interpreter."""
    # From a checkout: the venv's python running the package (editable install puts it on sys.path).
    return shutil.which(DESKTOP_ID) or sys.executable


def exec_line() -> str:
    """How the session should start us."""
    prog = program()
    if prog == sys.executable:
        return f"{shlex.quote(prog)} -m tray_app --hidden"
    return f"{shlex.quote(prog)} --hidden"


def render() -> str:
    return (
        "[Desktop Entry]\n"
        "Type=Application\n"
        "Name=Mullvad + Tailscale\n"
        "GenericName=VPN status\n"
        "Comment=Show Mullvad VPN and Tailscale state and keep the tailnet reachable\n"
        f"Exec={exec_line()}\n"
        # after the package is removed the session skips the entry instead of failing at every login
        f"TryExec={program()}\n"
        f"Icon={DESKTOP_ID}\n"
        "Terminal=false\n"
        "Categories=Network;\n"
        "X-GNOME-Autostart-enabled=true\n"
        "X-GNOME-Autostart-Delay=5\n"
    )


def render_hidden() -> str:
    """The user's override that switches a system-wide entry off."""
    return f"[Desktop Entry]\nType=Application\nName=Mullvad + Tailscale\nExec={exec_line()}\nHidden=true\n"


def path() -> Path:
    return autostart_file()


def system_entry() -> Path | None:
    """The packaged entry in $XDG_CONFIG_DIRS (default /etc/xdg), if any."""
    dirs = os.environ.get("XDG_CONFIG_DIRS") or "/etc/xdg"
    for d in dirs.split(":"):
        candidate = Path(d) / "autostart" / f"{DESKTOP_ID}.desktop"
        if d and candidate.is_file():
            return candidate
    return None


def _switched_off(text: str) -> bool:
    lines = {line.strip().replace(" ", "") for line in text.splitlines()}
    return "Hidden=true" in lines or "X-GNOME-Autostart-enabled=false" in lines


def is_enabled() -> bool:
    """The user's file decides when it exists; otherwise the system-wide entry does."""
    for p in (path(), system_entry()):
        if p is None:
            continue
        try:
            text = p.read_text(encoding="utf-8")
        except OSError:
            continue
        return not _switched_off(text)
    return False


def enable() -> Path:
    """Write the entry atomically (write a temp file, then rename); returns its path."""
    p = path()
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(".desktop.tmp")
    tmp.write_text(render(), encoding="utf-8")
    os.replace(tmp, p)
    return p


def disable() -> bool:
    """Switch autostart off; True when it was on. With a system-wide entry this writes the user's
    `Hidden=true` override, otherwise it removes the user's file."""
    was_on = is_enabled()
    p = path()
    if system_entry() is not None:
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(".desktop.tmp")
        tmp.write_text(render_hidden(), encoding="utf-8")
        os.replace(tmp, p)
        return was_on
    p.unlink(missing_ok=True)
    return was_on
