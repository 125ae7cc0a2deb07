"""The monitor: every source folded into one immutable `Snapshot` (DESIGN.md, "Status sources").

It owns the Mullvad source, the Tailscale source, the netlink watcher and the bypass status reader, and
turns what they report into:

* `snapshot_changed(Snapshot)` -- only on real change (a repeated value is dropped);
* `transitions(list[Transition])` -- right after it, what changed (`core.snapshot_fold.Transition`);
* `ready(Snapshot)` -- once, when every part has been reported at least once (or the start-up wait ran
  out): the state found at start-up, which `watch` prints first and the notification policy does not
  announce;
* `table52_changed()` -- Tailscale's routes changed (debounced). Nothing in the app acts on it any more:
  the root reconciler keeps the sets right (docs/bypass.md); kept for issue 13's one bypass service.

Netlink hints wake the sources and, debounced, re-read the bypass status, which is also re-read on start,
when Mullvad's state changes (its firewall changes with it, without a netlink event) and when told
(`refresh_bypass()` after the user toggles). Timers run only for a moment after such events: with both
daemons up and nothing happening, the monitor runs no timer at all.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from PyQt6.QtCore import QFileSystemWatcher, QObject, QTimer, pyqtSignal

from tray_app.core.model import BypassState, BypassStatus, Snapshot
from tray_app.core.snapshot_fold import Folded, Part, PartStatus, Transition, fold
from tray_app.daemons.base import Source
from tray_app.daemons.netlink import NetlinkWatcher
from tray_app.paths import STATE_DIR
from tray_app.sources import published

if TYPE_CHECKING:
    from tray_app.core.bypass_reply import HelperResult
    from tray_app.sources.bypass_client import BypassClient
    from tray_app.sources.bypass_run import HelperCommand

BYPASS_DEBOUNCE_MS = 300  # a Mullvad connect is a burst of link, address, route and rule events
TABLE52_DEBOUNCE_MS = 300  # tailscaled adds its routes one by one
# After table 52 changes the bypass sets are stale until the reconciler re-applied them (milliseconds; its
# published status is read at once). Without a reconciler nobody re-applies them, so this grace only delays
# the "drifted" a status read then reports.
TABLE52_GRACE_MS = 1500
READY_TIMEOUT_MS = 10_000  # a source that never answers must not keep `watch` silent forever


class Monitor(QObject):
    snapshot_changed = pyqtSignal(object)  # Snapshot
    transitions = pyqtSignal(list)  # list[Transition]
    ready = pyqtSignal(object)  # Snapshot
    table52_changed = pyqtSignal()

    def __init__(
        self,
        mullvad: Source,
        tailscale: Source,
        bypass: BypassClient | None = None,
        netlink: NetlinkWatcher | None = None,
        *,
        bypass_debounce_ms: int = BYPASS_DEBOUNCE_MS,
        table52_debounce_ms: int = TABLE52_DEBOUNCE_MS,
        table52_grace_ms: int = TABLE52_GRACE_MS,
        ready_timeout_ms: int = READY_TIMEOUT_MS,
        state_dir: str | None = STATE_DIR,
        parent: QObject | None = None,
    ) -> None:
        """`bypass` is a `sources.bypass_client.BypassClient` (or None: the bypass stays unknown).

        `state_dir` is where the helper saves the bypass state on enable/disable; watching it (inotify,
        no polling) notices `bypass on|off` run from a terminal, which changes no link, route or rule.
        """
        super().__init__(parent)
        self.mullvad = mullvad
        self.tailscale = tailscale
        self.bypass = bypass
        self.netlink = netlink
        for child in (mullvad, tailscale, bypass, netlink):
            if child is not None and child.parent() is None:
                child.setParent(self)
        self._state = Folded()
        self._started = False
        self._ready_sent = False
        self._bypass_pending = False  # a read was asked for while one was running
        self._table52_grace_ms = table52_grace_ms
        self._state_dir = state_dir
        self._files: QFileSystemWatcher | None = None
        self._bypass_debounce_ms = bypass_debounce_ms

        self._bypass_timer = self._timer("bypass", bypass_debounce_ms, self._read_bypass)
        self._table52_timer = self._timer("table52", table52_debounce_ms, self._on_table52_settled)
        self._ready_timer = self._timer("ready", ready_timeout_ms, self._send_ready)

        mullvad.changed.connect(self._on_value)
        tailscale.changed.connect(self._on_value)
        if bypass is not None:
            bypass.finished.connect(self._on_bypass_result)
        if netlink is not None:
            netlink.mullvad_hint.connect(mullvad.hint)
            netlink.tailscale_hint.connect(tailscale.hint)
            for hint in (
                netlink.mullvad_hint,
                netlink.tailscale_hint,
                netlink.rules_changed,
                netlink.resynced,
            ):
                hint.connect(self._schedule_bypass)
            netlink.table52_changed.connect(self._on_table52)

    def _timer(self, name: str, ms: int, slot: Any) -> QTimer:
        t = QTimer(self)
        t.setObjectName(f"Monitor.{name}")
        t.setSingleShot(True)
        t.setInterval(ms)
        t.timeout.connect(slot)
        return t

    @classmethod
    def create(
        cls,
        mullvad_cli: str,
        tailscale_socket: str | None,
        tailscale_cli: str | None,
        *,
        helper: HelperCommand | None = None,
        parent: QObject | None = None,
    ) -> Monitor:
        """The real sources; `helper` is a `sources.bypass_run.HelperCommand` (default: the installed one)."""
        from tray_app.daemons.mullvad import MullvadSource  # noqa: PLC0415
        from tray_app.daemons.tailscale import TailscaleSource  # noqa: PLC0415
        from tray_app.sources.bypass_client import BypassClient  # noqa: PLC0415  (sources load lazily)

        return cls(
            MullvadSource(mullvad_cli),
            TailscaleSource(tailscale_socket, tailscale_cli),
            BypassClient(helper),
            NetlinkWatcher(),
            parent=parent,
        )

    # -- public ------------------------------------------------------------------------------------

    @property
    def snapshot(self) -> Snapshot:
        return self._state.snapshot

    @property
    def is_ready(self) -> bool:
        return self._ready_sent

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        self._ready_timer.start()
        if self.netlink is not None:
            self.netlink.start()  # before the sources: a change during their first read is not lost
        self.mullvad.start()
        self.tailscale.start()
        self._watch_state_dir()
        if self.bypass is None:
            self._on_value(BypassStatus(BypassState.UNKNOWN, detail="the bypass helper is not used here"))
        else:
            self._read_bypass()

    def stop(self) -> None:
        self._started = False
        for t in (self._bypass_timer, self._table52_timer, self._ready_timer):
            t.stop()
        if self._files is not None:
            self._files.deleteLater()
            self._files = None
        if self.netlink is not None:
            self.netlink.stop()
        self.mullvad.stop()
        self.tailscale.stop()
        if self.bypass is not None:
            self.bypass.stop()

    def refresh_bypass(self) -> None:
        """Re-read the bypass now (e.g. after the user toggled it)."""
        self._bypass_timer.stop()
        self._read_bypass()

    def timers_active(self) -> list[str]:
        """Running timers of the monitor and everything it owns (sources included): none while idle."""
        out = []
        for timer in self.findChildren(QTimer):
            if timer.isActive():
                name = timer.objectName() or f"{type(timer.parent()).__name__}.timer"
                out.append(f"{name} ({timer.interval()} ms)")
        return sorted(out)

    # -- folding -----------------------------------------------------------------------------------

    def _on_value(self, value: object) -> None:
        if not isinstance(value, PartStatus):
            return  # a source bug must not break the snapshot
        self._state, changes = fold(self._state, value)
        if changes:
            self.snapshot_changed.emit(self._state.snapshot)
            self.transitions.emit(changes)
            self._react(changes)
        if self._state.complete and not self._ready_sent:
            self._send_ready()

    def _react(self, changes: list[Transition]) -> None:
        for t in changes:
            # Mullvad's firewall follows its state; our bypass status includes how it fits that firewall.
            if t.part is Part.MULLVAD and t.state_changed and not t.initial:
                self._schedule_bypass()

    def _send_ready(self) -> None:
        self._ready_timer.stop()
        if self._ready_sent or not self._started:
            return
        self._ready_sent = True
        self.ready.emit(self._state.snapshot)

    # -- bypass ------------------------------------------------------------------------------------

    def _schedule_bypass(self, delay_ms: int | None = None) -> None:
        """One read after the burst; a pending longer wait (the table-52 grace) is never shortened."""
        if self.bypass is None or not self._started:
            return
        delay = self._bypass_debounce_ms if delay_ms is None else delay_ms
        if self._bypass_timer.isActive():
            delay = max(delay, self._bypass_timer.remainingTime())
        self._bypass_timer.start(delay)

    def _watch_state_dir(self) -> None:
        if self.bypass is None or self._files is not None:
            return
        self._files = QFileSystemWatcher(self)
        self._files.directoryChanged.connect(self._on_dir)
        self._on_dir("")

    def _wanted_dirs(self) -> list[str]:
        # The reconciler's run directory: it renames a new status in on every change (read at once, no
        # pkexec). The state directory: `bypass on|off` run elsewhere saves or clears the choice there.
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
            self._bypass_timer.stop()
            self._read_bypass()
        elif path in wanted or appeared:
            self._schedule_bypass()

    def _on_table52(self) -> None:
        self._table52_timer.start()
        # Push any status read (including one a link event just asked for) past the grace, so a re-apply in
        # flight is not reported as drifted; `refresh_bypass()` ends it early.
        self._schedule_bypass(self._table52_timer.interval() + self._table52_grace_ms)

    def _on_table52_settled(self) -> None:
        self.table52_changed.emit()

    def _read_bypass(self) -> None:
        if self.bypass is None or not self._started:
            return
        if self.bypass.busy("status"):
            self._bypass_pending = True
            return
        self._bypass_pending = False
        self.bypass.request("status")

    def _on_bypass_result(self, result: HelperResult) -> None:
        if result.verb != "status":
            return  # enable/disable/refresh of a client shared with the controller
        status = result.status
        if status is None:  # the helper could not even be started
            status = BypassStatus(BypassState.UNKNOWN, detail=result.message or "the helper gave no status")
        self._on_value(status)
        if self._bypass_pending:
            self._read_bypass()
