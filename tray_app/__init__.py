"""mullvad-tailscale-tray: keep the tailnet reachable while Mullvad VPN is connected.

This package must stay importable without Qt: the root helper and the CLI's status/bypass/doctor
commands import from it.
"""

__version__ = "0.1.0"

APP_ID = "mullvad-tailscale-tray"
DISPLAY_NAME = "Mullvad + Tailscale"
