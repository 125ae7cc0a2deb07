"""Mullvad status source: `mullvad status --json listen` under QProcess (DESIGN.md, "Status sources").

Event-driven: while the daemon is up the only thing running is the listen process; no timer ticks. The
stream prints the current state first (so no separate `status --json` is needed) and then every daemon event, one JSON object per line; only lines with a
top-level `"state"` are states (settings events are read for the lockdown flag, relay lists of megabytes are
dropped without being decoded). CLIs older than 2024.5 reject `--json`: then `mullvad status listen` (text)
is used only as a trigger to re-read `mullvad status`, which `hint()` also does. The one-shot read for the
`status` command is `mullvad_read.py` (no Qt).

When the stream ends (daemon stopped or restarting, socket refused, binary missing) the source reports
`unavailable` with the reason and retries with `Backoff` (1 s doubling to 30 s); `hint()` retries at once.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable

from PyQt6.QtCore import QObject, QProcess, QTimer, pyqtSignal

from tray_app.core.backoff import Backoff
from tray_app.core.lines import LineSplitter
from tray_app.core.model import MullvadState, MullvadStatus
from tray_app.core.mullvad_parse import (
    LOGIN_THEN_CONNECT,
    MAX_LINE,
    NOT_LOGGED_IN,
    cli_error_detail,
    is_json_unsupported,
    is_state_line,
    is_unknown_subcommand,
    lockdown_from_settings,
    merge_status,
    missing_cli_detail,
    parse_lockdown,
    parse_text_status,
    parse_version,
    status_from_json,
    unavailable,
)
from tray_app.daemons.base import Source

# Lines up to this size are decoded when they look like JSON objects (settings events are a few KB); longer
# ones are only decoded when they start like a state, and dropped whole beyond MAX_LINE.
_DECODE_ANY = 64 * 1024
_STDERR_KEEP = 16 * 1024


class MullvadSource(Source):
    """Watches the Mullvad daemon through its CLI and emits `changed(MullvadStatus)` on real change."""

    action_failed = pyqtSignal(str)

    def __init__(self, cli: str = "mullvad", parent: QObject | None = None, max_line: int = MAX_LINE) -> None:
        super().__init__(parent)
        self.cli = cli
        self._retry = QTimer(self)
        self._retry.setSingleShot(True)
        self._retry.timeout.connect(self._connect)
        self._backoff = Backoff()
        self._reader = LineSplitter(max_line)
        self._listen: QProcess | None = None
        self._procs: set[QProcess] = set()
        self._running = False
        self._json = True
        self._generation = 0  # bumps on every (re)connect; late answers of older ones are ignored
        self._stream_seen = False
        self._state: MullvadStatus | None = None
        self._version: str | None = None
        self._lockdown: bool | None = None
        self._text_busy = False
        self._text_again = False
        # Answers awaited before the first state of a connection is shown, so that it appears once, complete
        # (with version and lockdown), instead of as two changes.
        self._awaiting: set[str] = set()
        self._last: MullvadStatus | None = None

    # --- Source interface ---------------------------------------------------------------------------------

    @property
    def status(self) -> MullvadStatus | None:
        """The last emitted status (None before the first)."""
        return self._last

    @property
    def uses_json(self) -> bool:
        return self._json

    def start(self) -> None:
        if self._running:
            return
        self._running = True
        self._connect()

    def stop(self) -> None:
        self._running = False
        self._retry.stop()
        self._generation += 1
        self._kill_listen()
        for proc in list(self._procs):
            self._discard(proc)

    def hint(self) -> None:
        if not self._running:
            return
        if self._retry.isActive() or self._listen is None:
            self._retry.stop()
            self._connect()
        elif not self._json:
            self._reread_text()

    def next_retry_ms(self) -> int | None:
        """Milliseconds until the next reconnect attempt, or None when none is scheduled."""
        return self._retry.remainingTime() if self._retry.isActive() else None

    def retry_delay_ms(self) -> int | None:
        """The back-off delay of the scheduled reconnect attempt, or None when none is scheduled."""
        return self._retry.interval() if self._retry.isActive() else None

    def listen_pid(self) -> int | None:
        """The process id of the running `status listen` (diagnostics and tests)."""
        return int(self._listen.processId()) or None if self.is_streaming() and self._listen else None

    def is_streaming(self) -> bool:
        """True while the listen process runs (the daemon is being watched, no timer is needed)."""
        return self._listen is not None and self._listen.state() != QProcess.ProcessState.NotRunning

    # --- actions --------------------------------------------------------------------------------------------

    def connect_tunnel(self) -> None:
        self._action("connect")

    def disconnect_tunnel(self) -> None:
        self._action("disconnect")

    def reconnect_tunnel(self) -> None:
        self._action("reconnect")

    def _action(self, verb: str) -> None:
        def done(code: int, out: str, err: str) -> None:
            if code == 0:
                if NOT_LOGGED_IN in out:  # the CLI warns and goes on; the daemon then blocks (auth failed)
                    self.action_failed.emit(f"Mullvad is not logged in: {LOGIN_THEN_CONNECT}")
                return
            reason = err if code == -1 else cli_error_detail(err, code, f"mullvad {verb}")
            self.action_failed.emit(f"Could not {verb} Mullvad: {reason}")

        self._run([verb], done, tagged=False)

    # --- connection -----------------------------------------------------------------------------------------

    def _connect(self) -> None:
        if not self._running:
            return
        self._retry.stop()
        self._generation += 1
        self._kill_listen()
        for proc in list(self._procs):
            if proc.property("tagged"):
                self._discard(proc)
        self._reader.reset()
        self._stream_seen = False
        self._version = None
        self._text_busy = self._text_again = False
        self._awaiting = {"version", "lockdown"}

        proc = QProcess(self)
        proc.setProgram(self.cli)
        proc.setArguments(["status", "--json", "listen"] if self._json else ["status", "listen"])
        proc.readyReadStandardOutput.connect(self._on_listen_output)
        proc.finished.connect(self._on_listen_finished)
        proc.errorOccurred.connect(self._on_listen_error)
        self._listen = proc
        proc.start()

        # `status --json listen` prints the current state as its first line, so a separate `status --json`
        # would only add a race (an answer older than the stream's first line); the text mode has no such
        # first line it can trust (it prints differences), so it reads `status` once.
        if not self._json:
            self._reread_text()
        self._run(["version"], self._on_version)
        self._run(["lockdown-mode", "get"], self._on_lockdown)

    def _kill_listen(self) -> None:
        proc, self._listen = self._listen, None
        if proc is None:
            return
        for signal in (proc.readyReadStandardOutput, proc.finished, proc.errorOccurred):
            signal.disconnect()
        if proc.state() != QProcess.ProcessState.NotRunning:
            proc.kill()
            proc.waitForFinished(1000)
        proc.deleteLater()

    def _on_listen_output(self) -> None:
        proc = self._listen
        if proc is None:
            return
        for line in self._reader.feed(proc.readAllStandardOutput().data()):
            self._on_line(line)

    def _on_line(self, line: bytes) -> None:
        if not self._json:
            # Text listen prints only what changed and in a layout that varies by release: any line is just
            # the cue to re-read the full `mullvad status` (re-reads coalesce while one runs).
            if line.strip() and not line.startswith(b"Warning"):
                self._reread_text()
            return
        stripped = line.strip()
        if not stripped.startswith(b"{"):
            return  # the logged-out warning and anything else that is not an object
        if len(stripped) > _DECODE_ANY and not is_state_line(stripped):
            return  # relay list and other big events: never decoded
        try:
            obj = json.loads(stripped)
        except (ValueError, RecursionError):
            return
        status = status_from_json(obj)
        if status is not None:
            self._daemon_answered()
            self._set_state(status)
            return
        lockdown = lockdown_from_settings(obj)
        if lockdown is not None and lockdown != self._lockdown:
            self._lockdown = lockdown
            self._publish()

    def _on_listen_error(self, error: QProcess.ProcessError) -> None:
        if error != QProcess.ProcessError.FailedToStart or self.sender() is not self._listen:
            return  # other errors end with `finished`
        proc = self._listen
        detail = missing_cli_detail(self.cli)
        if shutil.which(self.cli) is not None and proc is not None:
            detail = f"cannot run the Mullvad command `{self.cli}`: {proc.errorString()}"
        self._lost(detail)

    def _on_listen_finished(self, code: int, exit_status: QProcess.ExitStatus) -> None:
        proc = self._listen
        if proc is None or self.sender() is not proc:
            return
        for line in self._reader.feed(proc.readAllStandardOutput().data() + b"\n"):
            self._on_line(line)
        err = proc.readAllStandardError().data()[-_STDERR_KEEP:].decode("utf-8", "replace")
        if self._json and is_json_unsupported(err, code):
            self._json = False  # a CLI older than 2024.5: watch the text output instead
            self._connect()
            return
        if exit_status == QProcess.ExitStatus.CrashExit:
            # Killed by a signal (OOM killer, a user's kill): not the daemon's fault; reconnect.
            detail = f"`{self.cli} status listen` was killed: reconnecting to the Mullvad daemon"
        elif code == 0 and not err.strip():
            detail = "the Mullvad daemon closed its event stream: reconnecting"
        else:
            detail = cli_error_detail(err, code, "mullvad status listen")
        self._lost(detail)

    def _lost(self, detail: str) -> None:
        self._kill_listen()
        self._set_state(unavailable(detail))
        if self._running:
            self._retry.start(int(self._backoff.next_delay() * 1000))

    # --- one-shot commands ----------------------------------------------------------------------------------

    def _run(self, args: list[str], done: Callable[[int, str, str], None], tagged: bool = True) -> None:
        """Runs `mullvad ARGS` without blocking; `done(exit_code, stdout, stderr)`, exit_code -1 if not started."""
        generation = self._generation
        proc = QProcess(self)
        proc.setProperty("tagged", tagged)
        proc.setProgram(self.cli)
        proc.setArguments(args)
        self._procs.add(proc)

        def finished(code: int, exit_status: QProcess.ExitStatus) -> None:
            out = proc.readAllStandardOutput().data().decode("utf-8", "replace")
            err = proc.readAllStandardError().data()[-_STDERR_KEEP:].decode("utf-8", "replace")
            self._discard(proc)
            if tagged and generation != self._generation:
                return
            if exit_status == QProcess.ExitStatus.CrashExit and code == 0:
                code = 128
            done(code, out, err)

        def error(kind: QProcess.ProcessError) -> None:
            if kind != QProcess.ProcessError.FailedToStart:
                return
            self._discard(proc)
            if tagged and generation != self._generation:
                return
            if shutil.which(self.cli) is None:
                done(-1, "", missing_cli_detail(self.cli))
            else:
                done(-1, "", f"cannot run `{self.cli}`: {proc.errorString()}")

        proc.finished.connect(finished)
        proc.errorOccurred.connect(error)
        proc.start()

    def _discard(self, proc: QProcess) -> None:
        if proc not in self._procs:
            return
        self._procs.discard(proc)
        proc.finished.disconnect()
        proc.errorOccurred.disconnect()
        if proc.state() != QProcess.ProcessState.NotRunning:
            proc.kill()
            proc.waitForFinished(1000)
        proc.deleteLater()

    def _reread_text(self) -> None:
        if self._text_busy:
            self._text_again = True
            return
        self._text_busy = True
        self._run(["status"], self._on_text_status)

    def _on_text_status(self, code: int, out: str, err: str) -> None:
        self._text_busy = False
        if code == 0:
            self._daemon_answered()
            self._set_state(parse_text_status(out, err))
        elif self.is_streaming():
            self._set_state(unavailable(err if code == -1 else cli_error_detail(err, code)))
        if self._text_again:
            self._text_again = False
            self._reread_text()

    def _daemon_answered(self) -> None:
        """The first state of this connection: the daemon is up."""
        if self._stream_seen:
            return
        self._stream_seen = True
        self._backoff.reset()
        if self._version is None and "version" not in self._awaiting:
            # `mullvad version` ran while the daemon was still starting; ask again before showing the state.
            self._awaiting.add("version")
            self._run(["version"], self._on_version)

    def _answered(self, what: str) -> None:
        self._awaiting.discard(what)
        self._publish()

    def _on_version(self, code: int, out: str, _err: str) -> None:
        if code == 0:
            self._version = parse_version(out)
        self._answered("version")

    def _on_lockdown(self, code: int, out: str, err: str) -> None:
        if code == 0:
            value = parse_lockdown(out)
            if value is not None:
                self._lockdown = value
        elif is_unknown_subcommand(err, code):
            self._run(["block-when-disconnected", "get"], self._on_lockdown_old)
            return
        self._answered("lockdown")

    def _on_lockdown_old(self, code: int, out: str, _err: str) -> None:
        if code == 0:
            self._lockdown = parse_lockdown(out)
        self._answered("lockdown")

    # --- emitting -------------------------------------------------------------------------------------------

    def _set_state(self, status: MullvadStatus) -> None:
        self._state = status
        self._publish()

    def _publish(self) -> None:
        if self._state is None:
            return
        if self._awaiting and self._state.state is not MullvadState.UNAVAILABLE:
            return
        status = merge_status(self._state, self._version, self._lockdown)
        if status != self._last:
            self._last = status
            self.changed.emit(status)
