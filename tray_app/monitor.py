"""The monitor: every source folded into one immutable `Snapshot` (DESIGN.md, "Status sources").

It owns the Mullvad source, the Tailscale source, the netlink watcher and the bypass service
(`rootside.service.BypassService`), and turns what they report into:

* `snapshot_changed(Snapshot)` -- only on real change (a repeated value is dropped);
* `transitions(list[Transition])` -- right after it, what changed (`core.snapshot_fold.Transition`);
* `ready(Snapshot)` -- once, when every part has been reported at least once (or the start-up wait ran
  out): the state found at start-up, which `watch` prints first and the notification policy does not
  announce.

Netlink hints wake the sources and tell the bypass service that the bypass may have changed, and so does a
change of Mullvad's state (its firewall changes with it, without a netlink event); the service decides whether
that costs a read (see its module). Timers run only for a moment after such events: with both daemons up and
nothing happening, the monitor runs no timer at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PyQt6.QtCore import QObject, QTimer, pyqtSignal

from tray_app.core.model import BypassState, BypassStatus, Snapshot
from tray_app.core.snapshot_fold import Folded, Part, PartStatus, Transition, fold
from tray_app.daemons.base import Source
from tray_app.daemons.netlink import NetlinkWatcher

if TYPE_CHECKING:
    from tray_app.rootside.bypass_run import HelperCommand
    from tray_app.rootside.service import BypassService

READY_TIMEOUT_MS = 10_000  # a source that never answers must not keep `watch` silent forever


class Monitor(QObject):
    snapshot_changed = pyqtSignal(object)  # Snapshot
    transitions = pyqtSignal(list)  # list[Transition]
    ready = pyqtSignal(object)  # Snapshot

    def __init__(
        self,
        mullvad: Source,
        tailscale: Source,
        bypass: BypassService | None = None,
        netlink: NetlinkWatcher | None = None,
        *,
        ready_timeout_ms: int = READY_TIMEOUT_MS,
        parent: QObject | None = None,
    ) -> None:
        """`bypass` None: the bypass stays unknown (the helper is not used here)."""
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
        self._ready_timer = self._timer("ready", ready_timeout_ms, self._send_ready)

        mullvad.changed.connect(self._on_value)
        tailscale.changed.connect(self._on_value)
        if bypass is not None:
            bypass.state_changed.connect(self._on_value)
        if netlink is not None:
            netlink.mullvad_hint.connect(mullvad.hint)
            netlink.tailscale_hint.connect(tailscale.hint)
            for hint in (
                netlink.mullvad_hint,
                netlink.tailscale_hint,
                netlink.rules_changed,
                netlink.resynced,
            ):
                # table 52 changes come with tailscale_hint: the reconciler re-applies the sets, a read shows it
                hint.connect(self._bypass_may_have_changed)

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
        """The real sources; `helper` is a `rootside.bypass_run.HelperCommand` (default: the installed one)."""
        from tray_app.daemons.mullvad import MullvadSource  # noqa: PLC0415
        from tray_app.daemons.tailscale import TailscaleSource  # noqa: PLC0415
        from tray_app.rootside.service import BypassService  # noqa: PLC0415  (sources load lazily)

        return cls(
            MullvadSource(mullvad_cli),
            TailscaleSource(tailscale_socket, tailscale_cli),
            BypassService(helper),
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
        if self.bypass is None:
            self._on_value(BypassStatus(BypassState.UNKNOWN, detail="the bypass helper is not used here"))
        else:
            self.bypass.start()

    def stop(self) -> None:
        self._started = False
        self._ready_timer.stop()
        if self.netlink is not None:
            self.netlink.stop()
        self.mullvad.stop()
        self.tailscale.stop()
        if self.bypass is not None:
            self.bypass.stop()

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
                self._bypass_may_have_changed()

    def _send_ready(self) -> None:
        self._ready_timer.stop()
        if self._ready_sent or not self._started:
            return
        self._ready_sent = True
        self.ready.emit(self._state.snapshot)

    def _bypass_may_have_changed(self) -> None:
        if self.bypass is not None and self._started:
            self.bypass.read_soon()
