"""`mullvad-tailscale-tray autostart on|off|status`: start the tray on login (no display needed)."""

from __future__ import annotations

import argparse
import sys

from tray_app.desktop import autostart


def run(args: argparse.Namespace) -> int:
    action = args.action
    try:
        if action == "on":
            p = autostart.enable()
            print(f"autostart on: {p} starts the tray hidden at login")
        elif action == "off":
            was_on = autostart.disable()
            if not was_on:
                print("autostart was already off")
            elif autostart.path().exists():
                print(
                    f"autostart off: {autostart.path()} hides the system-wide entry {autostart.system_entry()}"
                )
            else:
                print(f"autostart off: removed {autostart.path()}")
        else:
            on = autostart.is_enabled()
            where = (
                autostart.path()
                if autostart.path().exists()
                else (autostart.system_entry() or autostart.path())
            )
            print(f"autostart {'on' if on else 'off'} ({where})")
    except OSError as exc:
        print(
            f"mullvad-tailscale-tray: cannot change {autostart.path()}: {exc.strerror or exc}. "
            f"Check that {autostart.path().parent} is writable by you.",
            file=sys.stderr,
        )
        return 1
    return 0
