"""The Tailscale status source: tailscaled's LocalAPI, event-driven (DESIGN.md, "Status sources").

While tailscaled is up this keeps one `watch-ipn-bus` stream open and re-reads `/localapi/v0/status`
after State, Prefs and Health messages (Linux daemons since 1.100 no longer push the netmap on the bus, so
the bus alone cannot keep peers and the exit node fresh). Re-reads are debounced: the first event of a
burst is read at once (low latency), the rest of a 250 ms window collapses into one trailing read. The
debounce timer runs only while events are pending: a connected, idle source has no timer at all.

When the stream ends it reconnects: at once after "consumer fell behind" or a clean EOF of a healthy
stream, else with `Backoff` (1 s doubling to 30 s), woken early by `hint()`. A missing daemon is the
`unavailable` state with the fix, not an error. When the socket cannot be used but the `tailscale` CLI
works (a non-standard socket path), `tailscale status --json` is read instead, every 5 s, only until the
socket works again.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace

from PyQt6.QtCore import QObject, QProcess, QTimer, pyqtSignal

from tray_app.core.backoff import Backoff
from tray_app.core.model import TailscaleState, TailscaleStatus
from tray_app.core.tailnet import ExitPrefs, Tailnet, tailnet_from_status, with_prefs
from tray_app.core.tailscale_parse import (
    OPERATOR_HINT,
    START_FIX,
    WATCH_MASK,
    cli_status,
    http_detail,
    parse_bus_line,
    parse_status_doc,
    unavailable,
)
from tray_app.daemons.base import Source
from tray_app.daemons.localapi import LocalApiError, SocketChoice, choose_socket
from tray_app.daemons.localapi_call import LocalApiCall
from tray_app.daemons.tailscale_read import PREFS_PATH, STATUS_PATH

WATCH_PATH = f"/localapi/v0/watch-ipn-bus?mask={WATCH_MASK}"
DEBOUNCE_MS = 250
CLI_POLL_MS = 5000
CLI_TIMEOUT_S = 5.0
# An immediate reconnect is allowed once per this many seconds; more often means a broken daemon.
QUICK_RECONNECT_S = 1.0


class TailscaleSource(Source):
    """Emits `changed(TailscaleStatus)` on real change; `action_failed(str)` when up/down fails."""

    action_failed = pyqtSignal(str)
    # core.tailnet.Tailnet, read from the same /status: devices and exit nodes (menus, not the Snapshot)
    tailnet_changed = pyqtSignal(object)
    files_waiting = pyqtSignal()  # the bus said Taildrop files arrived (FilesWaiting / IncomingFiles)
    browse_to_url = pyqtSignal(str)  # the bus's BrowseToURL (a login or re-authentication to open)

    def __init__(
        self,
        socket_path: str | None = None,
        cli_path: str | None = "tailscale",
        *,
        backoff: Backoff | None = None,
        debounce_ms: int = DEBOUNCE_MS,
        cli_poll_ms: int = CLI_POLL_MS,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._socket_path = socket_path
        self._cli = cli_path or None
        self._backoff = backoff or Backoff()
        self._cli_poll_ms = cli_poll_ms
        self._running = False
        self._watch: LocalApiCall | None = None
        self._status_call: LocalApiCall | None = None
        self._writes: set[LocalApiCall] = set()
        self._watch_lines = 0
        self._fell_behind = False
        self._last_quick = 0.0
        self._pending = False
        self._status_failures = 0
        self._last: TailscaleStatus | None = None
        self._can_write: bool | None = None
        self._prefs: ExitPrefs | None = None  # the exit-node facts of the bus's last Prefs
        self._tailnet: Tailnet | None = None
        self._socket_failure: LocalApiError | None = None
        self._proc: QProcess | None = None
        self._proc_timer = QTimer(self)
        self._proc_timer.setSingleShot(True)
        self._proc_timer.timeout.connect(self._on_cli_timeout)
        self._retry = QTimer(self)
        self._retry.setSingleShot(True)
        self._retry.timeout.connect(self._connect)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(debounce_ms)
        self._debounce.timeout.connect(self._on_debounce)

    # -- public interface ---------------------------------------------------------------------------

    @property
    def status(self) -> TailscaleStatus | None:
        return self._last

    @property
    def connected(self) -> bool:
        return self._watch is not None and self._watch_lines > 0

    def timers_active(self) -> list[str]:
        """Names of running timers (for tests and `doctor`: none while connected and idle)."""
        named = {"retry": self._retry, "debounce": self._debounce, "cli-timeout": self._proc_timer}
        return [name for name, timer in named.items() if timer.isActive()]

    def start(self) -> None:
        self._running = True
        self._connect()

    def stop(self) -> None:
        self._running = False
        for timer in (self._retry, self._debounce, self._proc_timer):
            timer.stop()
        self._close_watch()
        for call in list(self._writes):
            call.abort()
        self._writes.clear()
        self._kill_cli()

    def hint(self) -> None:
        if not self._running:
            return
        if self._retry.isActive() or (self._watch is None and self._proc is None):
            self._retry.stop()
            self._connect()
        elif self._watch is not None:
            self._schedule_refresh()

    def up(self) -> None:
        self._write_prefs(True)

    def down(self) -> None:
        self._write_prefs(False)

    # -- connection ---------------------------------------------------------------------------------

    def _connect(self) -> None:
        if not self._running:
            return
        self._retry.stop()
        self._close_watch()
        choice = choose_socket(self._socket_path)
        watch = LocalApiCall(choice, "GET", WATCH_PATH, stream=True, parent=self)
        err = watch.start()
        if err is not None:
            watch.deleteLater()
            self._on_socket_failed(err)
            return
        self._watch = watch
        self._watch_lines = 0
        self._fell_behind = False
        watch.line.connect(self._on_line)
        watch.finished.connect(self._on_watch_finished)
        watch.failed.connect(self._on_watch_failed)

    def _close_watch(self) -> None:
        self._debounce.stop()
        self._pending = False
        for call in (self._watch, self._status_call):
            if call is not None:
                call.abort()
                call.deleteLater()
        self._watch = None
        self._status_call = None

    def _on_socket_failed(self, err: LocalApiError) -> None:
        """Cannot watch: try the CLI (unless we refused the socket's owner), else report and back off."""
        self._socket_failure = err
        if err.kind != "owner" and self._cli and self._proc is None:
            self._run_cli()
            return
        self._emit(err.status)
        self._schedule_retry()

    def _schedule_retry(self, delay_ms: int | None = None) -> None:
        if not self._running:
            return
        if delay_ms is None:
            delay_ms = int(self._backoff.next_delay() * 1000)
        self._retry.start(delay_ms)

    def _stream_ended(self, status: TailscaleStatus) -> None:
        healthy = self._watch_lines > 0
        fell_behind = self._fell_behind
        self._close_watch()
        now = time.monotonic()
        if (fell_behind or healthy) and now - self._last_quick > QUICK_RECONNECT_S:
            # The daemon may just have restarted or dropped a slow reader: reconnect without a gap, and
            # only show "unavailable" if that fails.
            self._last_quick = now
            self._connect()
            return
        self._emit(status)
        self._schedule_retry()

    def _on_watch_finished(self, code: int, body: bytes) -> None:
        if code != 200:
            self._close_watch()
            self._emit(unavailable(http_detail("watch-ipn-bus", code, body)))
            self._schedule_retry()
            return
        self._stream_ended(
            unavailable(f"tailscaled ended the watch stream; retrying ({START_FIX} if it stopped)")
        )

    def _on_watch_failed(self, err: LocalApiError) -> None:
        self._stream_ended(err.status)

    def _on_line(self, line: bytes) -> None:
        msg = parse_bus_line(line)
        if msg.has_prefs:
            prefs = ExitPrefs(msg.allow_lan, msg.prior_exit_node, msg.advertised_routes)
            if prefs != self._prefs:
                self._prefs = prefs
                if self._tailnet is not None:
                    self._tailnet = with_prefs(self._tailnet, prefs)
                    self.tailnet_changed.emit(self._tailnet)
        first = self._watch_lines == 0
        self._watch_lines += 1
        if "FilesWaiting" in msg.other_keys or "IncomingFiles" in msg.other_keys:
            self.files_waiting.emit()
        if msg.browse_to_url:
            self.browse_to_url.emit(msg.browse_to_url)
        if msg.fell_behind:
            self._fell_behind = True  # tailscaled closes the stream next; reconnect and re-read then
            return
        if first:
            # Subscribed first, read second: no change between the two can be missed.
            self._backoff.reset()
            self._kill_cli()
            if msg.initial_status is not None:
                self._emit(msg.initial_status)
            self._fetch_status()
            return
        if msg.needs_refresh or msg.detail is not None:
            self._schedule_refresh()

    # -- status reads -------------------------------------------------------------------------------

    def _schedule_refresh(self) -> None:
        """Leading-edge read now, one trailing read for everything else within the debounce window."""
        if self._debounce.isActive() or self._status_call is not None:
            self._pending = True
            if not self._debounce.isActive():
                self._debounce.start()
            return
        self._fetch_status()
        self._debounce.start()

    def _on_debounce(self) -> None:
        if self._pending and self._watch is not None:
            self._pending = False
            self._fetch_status()
            self._debounce.start()  # a burst that goes on gets at most one read per window

    def _fetch_status(self) -> None:
        if self._watch is None:
            return
        if self._status_call is not None:
            self._status_call.abort()
            self._status_call.deleteLater()
        call = LocalApiCall(self._watch.choice, "GET", STATUS_PATH, parent=self)
        err = call.start()
        if err is not None:
            call.deleteLater()
            self._status_call = None
            return  # the watch stream breaks right after; reconnecting handles it
        self._status_call = call
        call.finished.connect(self._on_status)
        call.failed.connect(self._on_status_failed)

    def _on_status(self, code: int, body: bytes) -> None:
        call, self._status_call = self._status_call, None
        if call is not None:
            call.deleteLater()
        self._status_failures = 0
        if code != 200:
            self._emit(unavailable(http_detail(STATUS_PATH, code, body)))
            return
        status, doc = parse_status_doc(body)
        self._emit(status)
        if doc is not None:  # else parse_status_doc already reported what was wrong
            self._emit_tailnet(doc)

    @property
    def socket_path(self) -> str | None:
        """The socket named by the user (None: the default paths), for other LocalAPI clients."""
        return self._socket_path

    @property
    def tailnet(self) -> Tailnet | None:
        return self._tailnet

    def _emit_tailnet(self, doc: object) -> None:
        tailnet = tailnet_from_status(doc, prefs=self._prefs)
        if tailnet != self._tailnet:
            self._tailnet = tailnet
            self.tailnet_changed.emit(tailnet)

    def _on_status_failed(self, err: LocalApiError) -> None:
        call, self._status_call = self._status_call, None
        if call is not None:
            call.deleteLater()
        self._status_failures += 1
        if err.kind in ("eof", "refused", "absent") and self._status_failures == 1:
            # Maybe the daemon is going away: its watch stream ends next and the reconnect handles it.
            # If the stream stays, read once more before telling the user.
            self._pending = True
            if not self._debounce.isActive():
                self._debounce.start()
            return
        self._emit(err.status)

    def _emit(self, status: TailscaleStatus) -> None:
        if self._can_write is not None and status.state is not TailscaleState.UNAVAILABLE:
            status = replace(status, can_write=self._can_write)
        if status != self._last:
            self._last = status
            self.changed.emit(status)

    # -- CLI fallback -------------------------------------------------------------------------------

    def _run_cli(self) -> None:
        if self._cli is None:
            return
        proc = QProcess(self)
        self._proc = proc
        proc.finished.connect(self._on_cli_finished)
        proc.errorOccurred.connect(self._on_cli_error)
        proc.start(self._cli, ["status", "--json"])
        self._proc_timer.start(int(CLI_TIMEOUT_S * 1000))

    def _kill_cli(self) -> None:
        self._proc_timer.stop()
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.finished.disconnect()
            proc.errorOccurred.disconnect()
            proc.kill()
            proc.waitForFinished(1000)
            proc.deleteLater()

    def _cli_done(self, status: TailscaleStatus | None) -> None:
        self._kill_cli()
        failure = self._socket_failure
        if status is not None and status.state is not TailscaleState.UNAVAILABLE:
            self._emit(status)
            self._schedule_retry(self._cli_poll_ms)  # polling is allowed only while the socket is unusable
            return
        self._emit(
            failure.status if failure is not None else status or unavailable("tailscaled not reachable")
        )
        self._schedule_retry()

    def _on_cli_finished(self, code: int, _exit_status: QProcess.ExitStatus) -> None:
        proc = self._proc
        if proc is None:
            return
        out = bytes(proc.readAllStandardOutput().data()).decode("utf-8", "replace")
        err = bytes(proc.readAllStandardError().data()).decode("utf-8", "replace")
        self._cli_done(cli_status(self._cli or "tailscale", out, err, code))

    def _on_cli_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self._cli_done(None)  # no CLI: the socket's own reason is what the user needs

    def _on_cli_timeout(self) -> None:
        self._cli_done(None)

    # -- writes -------------------------------------------------------------------------------------

    def _write_prefs(self, want_running: bool) -> None:
        body = json.dumps({"WantRunning": want_running, "WantRunningSet": True}).encode()
        choice: SocketChoice = self._watch.choice if self._watch else choose_socket(self._socket_path)
        call = LocalApiCall(choice, "PATCH", PREFS_PATH, body, parent=self)
        err = call.start()
        if err is not None:
            call.deleteLater()
            self.action_failed.emit(f"Could not reach tailscaled: {err.detail}")
            return
        self._writes.add(call)
        call.finished.connect(lambda code, data: self._on_written(call, code, data))
        call.failed.connect(lambda e: self._on_write_failed(call, e))

    def _on_written(self, call: LocalApiCall, code: int, body: bytes) -> None:
        self._writes.discard(call)
        call.deleteLater()
        if code == 200:
            self._set_can_write(True)
            if self._watch is not None:
                self._schedule_refresh()
            return
        if code == 403:
            self._set_can_write(False)
            reason = " ".join(body.decode("utf-8", "replace").split())[:80] or "access denied"
            self.action_failed.emit(f"Tailscale refused the change ({reason}): {OPERATOR_HINT}")
            return
        self.action_failed.emit(http_detail("the prefs change", code, body))

    def _on_write_failed(self, call: LocalApiCall, err: LocalApiError) -> None:
        self._writes.discard(call)
        call.deleteLater()
        self.action_failed.emit(f"Could not reach tailscaled: {err.detail}")

    def _set_can_write(self, value: bool) -> None:
        self._can_write = value
        if self._last is not None and self._last.state is not TailscaleState.UNAVAILABLE:
            self._emit(self._last)
