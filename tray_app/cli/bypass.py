"""`mullvad-tailscale-tray bypass on|off|status`: the bypass from a terminal, without Qt.

Runs the root helper through pkexec (directly when already root). pkexec's text agent can ask for the
password in this terminal when the desktop has no polkit agent. One line per outcome; the exit code is
the helper's contract code (core.protocol.Exit), pkexec's 126/127, or 1 for an answer nobody understood.
"""

from __future__ import annotations

import argparse
import json
import sys

from tray_app.core.bypass_reply import HelperResult
from tray_app.core.model import BypassState, BypassStatus
from tray_app.core.protocol import Exit, Verb
from tray_app.rootside.bypass_run import EnableOptions, run_helper

_PROG = "mullvad-tailscale-tray"


def _describe(mode: str | None, options: tuple[str, ...] | list[str]) -> str:
    words = [f"{mode or 'direct'} mode", *(o.replace("-", " ") for o in options)]
    return ", ".join(words)


def _status_line(status: BypassStatus) -> str:
    if status.state is BypassState.ON:
        line = f"bypass: on ({_describe(status.mode, status.options)})"
    elif status.state is BypassState.DRIFTED and status.mode:
        line = f"bypass: drifted ({_describe(status.mode, status.options)})"
    else:
        line = f"bypass: {status.state.value}"
    if status.detail:  # the helper's warnings: each names its fix
        line += f"\n  note: {status.detail}"
    return line


# What a change of mode means for the user: said whenever `on` changed it, so it never happens silently.
MODE_MEANS = {
    "direct": "Tailscale, its relays and your peers now see this device's real IP",
    "private": "Tailscale and your peers now see only Mullvad's IP; peer connections may be relayed (slower)",
}


def change_note(previous: object, status: BypassStatus) -> str | None:
    """`note: changed from ... to ...` when `on` changed the last choice (the helper's `previous`)."""
    if not isinstance(previous, dict) or status.state is BypassState.UNKNOWN or not status.mode:
        return None
    mode, options = previous.get("mode"), previous.get("options")
    if not isinstance(mode, str) or not isinstance(options, list):
        return None
    if mode == status.mode and sorted(map(str, options)) == sorted(status.options):
        return None
    note = f"  note: changed from {_describe(mode, options)} to {_describe(status.mode, status.options)}"
    if mode != status.mode and status.mode in MODE_MEANS:
        note += f": {MODE_MEANS[status.mode]}"
    return note


def _fail(result: HelperResult) -> int:
    if result.problem is None:  # a status that parsed but carried no state: cannot happen, say so anyway
        print(f"{_PROG}: the bypass helper gave no answer", file=sys.stderr)
        return 1
    print(f"{_PROG}: {result.problem.message}", file=sys.stderr)
    return result.problem.code


def run(args: argparse.Namespace) -> int:
    action: str = args.action
    options = EnableOptions(
        mode=args.mode, containers=args.containers, exit_via_mullvad=args.exit_via_mullvad
    )
    if action != "on" and (
        args.mode is not None or args.containers is not None or args.exit_via_mullvad is not None
    ):
        print(
            f"{_PROG}: --mode, --[no-]containers and --[no-]exit-via-mullvad go with `bypass on` only",
            file=sys.stderr,
        )
        return int(Exit.USAGE)
    if args.json and action != "status":
        print(f"{_PROG}: --json goes with `bypass status` only", file=sys.stderr)
        return int(Exit.USAGE)

    if action in ("on", "off"):
        result = run_helper(Verb.ENABLE, options) if action == "on" else run_helper(Verb.DISABLE)
        # The helper prints the state it left behind, also when it exits 6 after enabling.
        if result.status is not None and result.status.state is not BypassState.UNKNOWN:
            print(_status_line(result.status))
            note = change_note((result.raw or {}).get("previous"), result.status) if action == "on" else None
            if note:
                print(note)
        elif result.ok:
            print(f"bypass {action}")
        return 0 if result.ok else _fail(result)

    result = run_helper(Verb.STATUS)
    if not result.ok or result.status is None:
        return _fail(result)
    if args.json:
        print(json.dumps(result.raw, sort_keys=True))
    else:
        print(_status_line(result.status))
    return 0
