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
    "route": "tray_app.cli.route:run",
}


_DAEMON_OPTIONS = (
    ("--mullvad-cli", "MTT_MULLVAD_CLI", "mullvad",
     "the mullvad CLI to run (env MTT_MULLVAD_CLI; default: mullvad on PATH)"),
    ("--tailscale-socket", "MTT_TAILSCALE_SOCKET", None,
     "tailscaled's LocalAPI socket (env MTT_TAILSCALE_SOCKET; default: /run/tailscale/tailscaled.sock)"),
    ("--tailscale-cli", "MTT_TAILSCALE_CLI", "tailscale",
     "the tailscale CLI, used when the socket cannot be read (env MTT_TAILSCALE_CLI)"),
)  # fmt: skip


def _daemon_options(parser: argparse.ArgumentParser, *, after_command: bool) -> None:
    """The overrides for non-standard installs. They are global options; the commands that read the daemons
    accept them after the command too (`status --tailscale-socket X`), where SUPPRESS keeps a global
    value given first from being reset to the default."""
    for option, env, default, text in _DAEMON_OPTIONS:
        parser.add_argument(
            option,
            metavar="PATH",
            default=argparse.SUPPRESS if after_command else os.environ.get(env, default),
            help=text,
        )


def _on_off_status(parser: argparse.ArgumentParser, text: str) -> None:
    # the metavar makes a missing action say "required: on|off|status" instead of "required: action"
    parser.add_argument("action", choices=("on", "off", "status"), metavar="on|off|status", help=text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mullvad-tailscale-tray",
        description="Show Mullvad VPN and Tailscale state and keep the tailnet reachable while Mullvad is on. "
        "Run it without a COMMAND to start the tray (one per session: a second start shows the running "
        "one). The commands work without the tray and none of them starts it.",
        epilog="`mullvad-tailscale-tray COMMAND --help` describes each command. The tray itself starts from "
        "the desktop's menu, at login (`autostart on`), or by running this program without a COMMAND.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _daemon_options(parser, after_command=False)
    parser.add_argument(
        "--hidden",
        action="store_true",
        help="with no COMMAND: start the tray without showing its status window (what autostart uses)",
    )
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", title="commands (none of them starts the tray)"
    )

    p = sub.add_parser("status", help="print the state of both tunnels and the bypass once")
    p.add_argument("--json", action="store_true", help="machine-readable output (schema in README)")
    _daemon_options(p, after_command=True)

    p = sub.add_parser("watch", help="print one line per change until interrupted")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    _daemon_options(p, after_command=True)

    p = sub.add_parser("bypass", help="turn the nftables bypass on or off, or show it")
    _on_off_status(
        p, "on: load the bypass (asks for the administrator password); off: remove it; status: show it"
    )
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
        help="with `on`: when this host is a Tailscale exit node, its clients' internet goes through Mullvad "
        "or nowhere, also while Mullvad is disconnected (without it they leave directly then) "
        "(default: as last chosen)",
    )
    p.add_argument("--json", action="store_true", help="with `status`: print the helper's JSON")

    p = sub.add_parser("doctor", help="check the setup and explain what to fix")
    p.add_argument(
        "--json",
        action="store_true",
        help='machine-readable output: {"checks": [{"id", "status", "summary", "detail", "fix"}]}',
    )
    p.add_argument(
        "--probe", metavar="PEER", default=None, help="also test a connection to this tailnet peer"
    )
    _daemon_options(p, after_command=True)

    p = sub.add_parser(
        "route", help="show or choose where internet traffic goes: Mullvad, an exit node, directly"
    )
    p.add_argument(
        "target", nargs="?", choices=("mullvad", "exit-node", "last-used", "direct"), default=None,
        help="mullvad: connect Mullvad and clear the exit node; exit-node NODE: disconnect Mullvad first, then "
        "use NODE; last-used: the exit node used before, back on; direct: neither. Without it: show the route "
        "and the exit nodes",
    )  # fmt: skip
    p.add_argument("node", nargs="?", default=None, help="with exit-node: its name, Tailscale IP or ID")
    p.add_argument("--country", metavar="COUNTRY", default=None,
                   help="with exit-node instead of NODE: the best available Mullvad exit node of COUNTRY "
                   "(name or code), as Tailscale's own clients pick it")  # fmt: skip
    lan = p.add_mutually_exclusive_group()
    lan.add_argument("--allow-lan", dest="allow_lan", action="store_true", default=None,
                     help="keep local network access while an exit node is used")  # fmt: skip
    lan.add_argument("--no-allow-lan", dest="allow_lan", action="store_false",
                     help="block local network access while an exit node is used")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print the route and the exit nodes as JSON")
    _daemon_options(p, after_command=True)

    p = sub.add_parser("autostart", help="start the tray on login (or not), or show whether it does")
    _on_off_status(p, "on: start the tray at login; off: do not; status: say which")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        misplaced = [a.split("=")[0] for a in extra if a.split("=")[0] in {o for o, *_ in _DAEMON_OPTIONS}]
        if misplaced:
            parser.error(
                f"{misplaced[0]} is a global option: put it before the command "
                f"(`mullvad-tailscale-tray {misplaced[0]} PATH {args.command} ...`)"
            )
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
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
        # Ctrl-C at pkexec's "Password:" prompt: end that line, so the shell prompt starts on its own
        if command != "watch":  # watch ends its own output cleanly
            print("\nmullvad-tailscale-tray: interrupted (Ctrl-C)", file=sys.stderr)
        return 130
    return result
