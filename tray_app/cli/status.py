"""`status` (one-shot) and `watch` (one line per change) -- DESIGN.md, "CLI".

Neither needs a display: `status` uses the sources' synchronous readers and no Qt event loop; `watch`
runs the monitor under a `QCoreApplication` (QtCore only). Both exit 0 whenever the state could be
determined -- a daemon that is not running is a state (`unavailable`, with a detail), not a failure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tray_app.core.model import BypassState, BypassStatus, MullvadStatus, Snapshot, TailscaleStatus
from tray_app.core.protocol import Verb
from tray_app.core.snapshot_fold import Part, Transition, part_value
from tray_app.core.status_text import part_text, status_lines

HELPER_TIMEOUT_S = 15.0  # pkexec + nft list; no password is ever asked for `status`
TAILSCALE_TIMEOUT_S = 3.0


# -- status -------------------------------------------------------------------------------------------


def _read_mullvad(cli: str) -> MullvadStatus:
    from tray_app.daemons.mullvad_read import read_status  # noqa: PLC0415

    return read_status(cli)


def _read_tailscale(sock: str | None, cli: str | None) -> TailscaleStatus:
    from tray_app.daemons.tailscale_read import read_status  # noqa: PLC0415

    return read_status(sock, cli, timeout=TAILSCALE_TIMEOUT_S)


def _read_bypass() -> BypassStatus:
    from tray_app.rootside.bypass_run import run_helper  # noqa: PLC0415

    result = run_helper(Verb.STATUS, timeout=HELPER_TIMEOUT_S)
    if result.status is not None:
        return result.status
    return BypassStatus(BypassState.UNKNOWN, detail=result.message or "the bypass helper gave no status")


def read_snapshot(args: argparse.Namespace) -> Snapshot:
    """The three reads run side by side: the slowest (pkexec) sets the time, not the sum."""
    with ThreadPoolExecutor(max_workers=3, thread_name_prefix="status") as pool:
        m = pool.submit(_read_mullvad, args.mullvad_cli)
        t = pool.submit(_read_tailscale, args.tailscale_socket, args.tailscale_cli)
        b = pool.submit(_read_bypass)
        return Snapshot(mullvad=m.result(), tailscale=t.result(), bypass=b.result())


def _write(text: str) -> bool:
    """Print and flush; False when the reader went away (`watch | head -1`)."""
    try:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        # Point stdout at /dev/null so the interpreter's final flush does not complain again.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return False
    return True


def run_status(args: argparse.Namespace) -> int:
    snap = read_snapshot(args)
    if args.json:
        _write(json.dumps(snap.to_json(), indent=2))
    else:
        _write("\n".join(status_lines(snap)))
    return 0


# -- watch --------------------------------------------------------------------------------------------


class WatchPrinter:
    """Turns the monitor's signals into output lines: the state found at start, then one line per change.

    Text: every line starts with the local time; a change that does not alter the visible text (e.g. a
    daemon's version) prints nothing. JSON: one `status --json` object per line, only when it differs.
    """

    def __init__(self, as_json: bool, write: Any = _write, clock: Any = None) -> None:
        self.as_json = as_json
        self._write = write
        self._clock = clock or (lambda: time.strftime("%H:%M:%S"))
        self._started = False
        self._last_json: str | None = None
        self._last_text: dict[Part, str] = {}
        self.closed = False  # the reader went away

    def initial(self, snap: Snapshot) -> None:
        self._started = True
        if self.as_json:
            self._emit_json(snap)
            return
        for part in Part:
            self._emit_text(part, part_text(part_value(snap, part)))

    def changed(self, snap: Snapshot, changes: list[Transition]) -> None:
        if not self._started:
            return  # folded into the initial lines
        if self.as_json:
            self._emit_json(snap)
            return
        for t in changes:
            self._emit_text(t.part, part_text(t.after))

    def _emit_json(self, snap: Snapshot) -> None:
        line = json.dumps(snap.to_json(), separators=(", ", ": "))
        if line != self._last_json:
            self._last_json = line
            self._out(line)

    def _emit_text(self, part: Part, text: str) -> None:
        if self._last_text.get(part) != text:
            self._last_text[part] = text
            self._out(f"{self._clock()} {text}")

    def _out(self, line: str) -> None:
        if not self.closed and not self._write(line):
            self.closed = True


def run_watch(args: argparse.Namespace) -> int:
    from PyQt6.QtCore import QCoreApplication  # noqa: PLC0415

    from tray_app.desktop.quit_signals import QuitOnSignals  # noqa: PLC0415
    from tray_app.monitor import Monitor  # noqa: PLC0415

    app = QCoreApplication.instance() or QCoreApplication([sys.argv[0], "watch"])

    quit_on_signals = QuitOnSignals(app)  # Ctrl-C and SIGTERM end the loop cleanly

    monitor = Monitor.create(args.mullvad_cli, args.tailscale_socket, args.tailscale_cli)
    printer = WatchPrinter(args.json)

    def on_ready(snap: Snapshot) -> None:
        printer.initial(snap)
        if printer.closed:
            app.quit()

    def on_transitions(changes: list[Transition]) -> None:
        printer.changed(monitor.snapshot, changes)
        if printer.closed:
            app.quit()

    monitor.ready.connect(on_ready)
    monitor.transitions.connect(on_transitions)
    monitor.start()
    try:
        app.exec()
    finally:
        monitor.stop()
        quit_on_signals.close()
    return 0
