"""Command line front end (DESIGN.md, "CLI").

Only argument parsing lives here; each command is a `run(args) -> int` in its own module, imported
lazily so that `status`, `watch`, `bypass`, `doctor` and `autostart` never need a display.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from tray_app import __version__

# command -> "module:function"
_HANDLERS = {
    "tray": "tray_app.app:run",
    "status": "tray_app.cli.status:run_status",
    "watch": "tray_app.cli.status:run_watch",
    "bypass": "tray_app.cli.bypass:run",
    "doctor": "tray_app.cli.doctor:run",
    "autostart": "tray_app.cli.autostart:run",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mullvad-tailscale-tray",
        description="Show Mullvad VPN and Tailscale state and keep the tailnet reachable while Mullvad is on.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--mullvad-cli",
        metavar="PATH",
        default=os.environ.get("MTT_MULLVAD_CLI", "mullvad"),
        help="the mullvad CLI to run (env MTT_MULLVAD_CLI; default: mullvad on PATH)",
    )
    parser.add_argument(
        "--tailscale-socket",
        metavar="PATH",
        default=os.environ.get("MTT_TAILSCALE_SOCKET"),
        help="tailscaled's LocalAPI socket (env MTT_TAILSCALE_SOCKET; default: /run/tailscale/tailscaled.sock)",
    )
    parser.add_argument(
        "--tailscale-cli",
        metavar="PATH",
        default=os.environ.get("MTT_TAILSCALE_CLI", "tailscale"),
        help="the tailscale CLI, used when the socket cannot be read (env MTT_TAILSCALE_CLI)",
    )
    parser.add_argument("--hidden", action="store_true", help="start the tray without showing a window")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("status", help="print the state of both tunnels and the bypass once")
    p.add_argument("--json", action="store_true", help="machine-readable output (schema in README)")

    p = sub.add_parser("watch", help="print one line per change until interrupted")
    p.add_argument("--json", action="store_true", help="one JSON object per line")

    p = sub.add_parser("bypass", help="turn the nftables bypass on or off, or show it")
    p.add_argument("action", choices=("on", "off", "status"))
    p.add_argument(
        "--mode",
        choices=("direct", "private"),
        default=None,
        help="with `on` (default: the last mode chosen; direct the first time)",
    )
    # Tri-state: not given keeps the last choice; --no-X turns X off.
    p.add_argument(
        "--containers",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="with `on`: let containers reach the tailnet (default: as last chosen)",
    )
    p.add_argument(
        "--exit-via-mullvad",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="with `on`: when this host is a Tailscale exit node, send its clients out through Mullvad "
        "(default: as last chosen)",
    )
    p.add_argument("--json", action="store_true", help="with `status`: print the helper's JSON")

    p = sub.add_parser("doctor", help="check the setup and explain what to fix")
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--probe", metavar="PEER", default=None, help="also test a connection to this tailnet peer"
    )

    p = sub.add_parser("autostart", help="start the tray on login")
    p.add_argument("action", choices=("on", "off", "status"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = args.command or "tray"
    module_name, func_name = _HANDLERS[command].split(":")
    try:
        handler = getattr(importlib.import_module(module_name), func_name)
    except ImportError as exc:
        print(f"mullvad-tailscale-tray: cannot start `{command}`: {exc}", file=sys.stderr)
        return 1
    try:
        result: int = handler(args)
    except KeyboardInterrupt:
        return 130
    return result
