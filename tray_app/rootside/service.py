"""The one owner of the tray's conversation with the root side (DESIGN.md, "The bypass service").

Everything the tray learns about the bypass, and every change it asks for, goes through `BypassService`:

* `state_changed(BypassStatus)` -- the bypass as the last answer says: the reconciler's published file, a
  `status` run, or the reply of the user's own `enable`/`disable` (both print the status after the change,
  DESIGN.md "Helper contract"), so a toggle costs one helper run (one pkexec) and nothing reads it back;
* `toggle_finished(HelperResult)` -- the user's `enable`/`disable` ended: the controller's consent and messages;
* `busy_changed(bool)` -- a toggle is running (the menu greys the switch).

Reads are coalesced. `read_soon()` (a hint: netlink, Mullvad's state) waits out the burst; at most one
`status` run is in flight and asks made while it runs collapse into one re-read after it; while the
reconciler's published file is valid no helper runs at all; during a toggle no read starts (its reply is
newer). Two directories are watched (inotify, no polling): the reconciler's run directory (it renames a new
status in on every change: read at once) and the helper's state directory (`bypass on|off` run elsewhere
saves or clears the choice there: read soon, unless the directory is as the last answer saw it).
"""

from __future__ import annotations

import dataclasses
import os

from PyQt6.QtCore import QFileSystemWatcher, QObject, QTimer, pyqtSignal

from tray_app.core.bypass_reply import HelperResult
from tray_app.core.helper_errors import Problem
from tray_app.core.model import BypassState, BypassStatus
from tray_app.core.protocol import CHANGES, Verb
from tray_app.paths import STATE_DIR
from tray_app.rootside import published
from tray_app.rootside.bypass_client import BypassClient
from tray_app.rootside.bypass_run import EnableOptions, HelperCommand

READ_DEBOUNCE_MS = 300  # a Mullvad connect is a burst of link, address, route and rule events
# a toggle that ended this way may have changed something without saying what: the state is read again
UNCERTAIN = frozenset({Problem.FAILED, Problem.BAD_REPLY})

DirStamp = tuple[int, int, int] | None


class BypassService(QObject):
    state_changed = pyqtSignal(object)  # BypassStatus
    toggle_finished = pyqtSignal(object)  # HelperResult of enable/disable
    busy_changed = pyqtSignal(bool)

    def __init__(
        self,
        command: HelperCommand | None = None,
        *,
        state_dir: str | None = STATE_DIR,
        debounce_ms: int = READ_DEBOUNCE_MS,
        parent: QObject | None = None,
    ) -> None:
        """`command`: how to reach the helper (default: the installed one, through pkexec unless root).
        `state_dir`: where the helper saves the user's choice (None: not watched)."""
        super().__init__(parent)
        self.client = BypassClient(command, self)  # the helper processes; tests count its `finished`
        self.client.finished.connect(self._on_finished)
        self._state_dir = state_dir
        self._started = False
        self._reread = False  # a read was asked for while one ran
        self._hint = False  # the pending read was asked for by a hint (not only by state-directory news)
        self._hint_in_toggle = False  # ... and every such hint came while a toggle ran: its reply is newer
        self._echo_turn = False  # the event-loop turn in which a toggle's reply came: hints are its echo
        self._last: BypassStatus | None = None
        self._dir_known: DirStamp = None  # the state directory as the last answer saw it
        self._dir_at_read: DirStamp = None
        self._replies = 0  # toggle replies taken: a status run started before the last one answers too late
        self._replies_at_read = 0
        self._files: QFileSystemWatcher | None = None
        self._timer = QTimer(self)
        self._timer.setObjectName("BypassService.read")
        self._timer.setSingleShot(True)
        self._timer.setInterval(debounce_ms)
        self._timer.timeout.connect(self._on_timer)

    # -- public ------------------------------------------------------------------------------------------

    @property
    def toggling(self) -> bool:
        return self.client.busy(Verb.ENABLE) or self.client.busy(Verb.DISABLE)

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        self._files = QFileSystemWatcher(self)
        self._files.directoryChanged.connect(self._on_dir)
        self._on_dir("")
        self._read()

    def stop(self) -> None:
        self._started = False
        self._timer.stop()
        if self._files is not None:
            self._files.deleteLater()
            self._files = None
        self.client.stop()

    def read_soon(self) -> None:
        """A hint that the bypass may have changed: one read after the burst."""
        if not self._started or self._echo_turn:
            return
        quiet = self.toggling and (self._hint_in_toggle or not self._hint)
        self._hint, self._hint_in_toggle = True, quiet
        self._timer.start()

    def read_now(self) -> None:
        self._timer.stop()
        self._hint = self._hint_in_toggle = False
        self._read()

    def toggle(self, on: bool, options: EnableOptions | None = None) -> None:
        """The user's `enable` (with `options`) or `disable`; the state comes from its reply."""
        if on:
            self.client.request(Verb.ENABLE, options)
        else:
            self.client.request(Verb.DISABLE)
        self.busy_changed.emit(True)

    # -- reading -----------------------------------------------------------------------------------------

    def _on_timer(self) -> None:
        hint, self._hint, self._hint_in_toggle = self._hint, False, False
        if hint or self._dir_known is None or self._dir_stamp() != self._dir_known:
            self._read()

    def _read(self) -> None:
        if not self._started:
            return
        answer = published.read_status()
        if answer is not None and answer.status is not None:
            self._take(answer.status)
            return
        if self.toggling:
            return  # its reply is newer than any read started now
        if self.client.busy(Verb.STATUS):
            self._reread = True
            return
        self._reread = False
        self._dir_at_read = self._dir_stamp()
        self._replies_at_read = self._replies
        self.client.request(Verb.STATUS)

    def _on_finished(self, result: HelperResult) -> None:
        if result.verb in CHANGES:
            self._toggled(result)
            return
        if result.verb != Verb.STATUS:
            return
        status = result.status or BypassStatus(
            BypassState.UNKNOWN, detail=result.message or "the helper gave no status"
        )
        if self._replies_at_read == self._replies:
            self._dir_known = self._dir_at_read
            self._take(status)
        # else: it read the bypass before a toggle's reply that came in first: that reply stands
        if self._reread:
            self._read()

    def _toggled(self, result: HelperResult) -> None:
        self.busy_changed.emit(self.toggling)
        self.toggle_finished.emit(result)
        status = result.status
        if status is not None:
            last = self._last
            if last is not None and last.reconciled and not status.reconciled:
                # The helper's own reply has no reconciler part: keep the published one's until it renews.
                status = dataclasses.replace(
                    status, reconciled=True, repairs=last.repairs, last_repair=last.last_repair
                )
            self._dir_known = self._dir_stamp()  # the helper has exited: its saves are in
            self._replies += 1
            if self._hint_in_toggle:
                self._hint = self._hint_in_toggle = False  # e.g. the private mode's own ip rule
            # The kernel told of that ip rule before the helper exited, but the event loop may hand both
            # news over in one turn, the reply first: hints until the turn ends are that echo too.
            self._echo_turn = True
            QTimer.singleShot(0, self._end_echo_turn)
            self._take(status)
        elif result.problem is not None and result.problem.kind in UNCERTAIN:
            self.read_now()
        # any other failure (dismissed, not authorized, rejected, busy) changed nothing: nothing to read

    def _end_echo_turn(self) -> None:
        self._echo_turn = False

    def _take(self, status: BypassStatus) -> None:
        self._last = status
        self.state_changed.emit(status)

    # -- watching ----------------------------------------------------------------------------------------

    def _dir_stamp(self) -> DirStamp:
        """The state directory's identity and last change; stat needs no read access to a root-only dir."""
        if self._state_dir is None:
            return None
        try:
            st = os.stat(self._state_dir)
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_ctime_ns)

    def _wanted_dirs(self) -> list[str]:
        dirs = [published.run_dir()]
        if self._state_dir is not None:
            dirs.append(self._state_dir)
        return [d.rstrip("/") or "/" for d in dirs]

    def _on_dir(self, _path: str) -> None:
        """A watched directory changed; until a directory exists, its parent is watched for its creation."""
        files = self._files
        if files is None:
            return
        wanted = self._wanted_dirs()
        targets = {w if os.path.isdir(w) else (os.path.dirname(w) or "/") for w in wanted}
        current = set(files.directories())
        appeared = {w for w in wanted if w in targets and w not in current}
        if current != targets:
            if current - targets:
                files.removePaths(sorted(current - targets))
            for t in sorted(targets - current):
                if os.path.isdir(t):
                    files.addPath(t)
        if not _path:
            return
        path = _path.rstrip("/") or "/"
        # /run and /var/lib change all the time: only our directories' news counts
        if path == wanted[0] or wanted[0] in appeared:
            self.read_now()  # the reconciler published: a file read, no helper run
        elif path in wanted or appeared:
            # someone ran `bypass on|off`, or it is our own toggle's echo: the timer tells them apart
            self._timer.start()
