"""The one object user actions go through (DESIGN.md: "User actions go the other way through one controller").

Menu items and notification actions call methods here; this calls the sources and the bypass client and
records the user's bypass consent in the settings. Keeping the bypass right is the root reconciler's job
(`bypass-helper watch`, mullvad-tailscale-bypass.service): the tray never runs the helper by itself.

* without a reconciler (a checkout, the unit disabled), drift and a lost table are shown with "Repair" /
  "Restore bypass", and only that click (the user's consent, again) runs `enable` with the saved mode;
* a `bypass off` run anywhere is the user's choice: it is recorded (nothing offers to restore it);
* never `enable` without a user action.

Failures come back as `message(title, text)`, each text carrying its fix; the tray shows them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Protocol

from PyQt6.QtCore import QObject, pyqtSignal

from tray_app.core.bypass_reply import HelperResult
from tray_app.core.helper_errors import Problem
from tray_app.core.model import BypassState, Snapshot, TailscaleState
from tray_app.core.notify_policy import Category, Subject, UserIntent
from tray_app.core.protocol import MODES, Exit
from tray_app.core.tooltip import bypass_in_place, this_device_ip
from tray_app.desktop.settings import Settings
from tray_app.sources.bypass_client import BypassClient
from tray_app.sources.bypass_run import EnableOptions

OPERATOR_FIX = "sudo tailscale set --operator=$USER"

# what each user action asks for: only these outcomes are quieted as the user's own (notify_policy)
BYPASS_ON = UserIntent(Subject.BYPASS, frozenset({"on"}))
BYPASS_OFF = UserIntent(Subject.BYPASS, frozenset({"off"}))
MULLVAD_EXPECT = {
    "connect_tunnel": frozenset({"connected"}),
    "reconnect_tunnel": frozenset({"connected"}),
    "disconnect_tunnel": frozenset({"disconnected", "blocked"}),  # blocked: lockdown mode
}


class MullvadActions(Protocol):
    def connect_tunnel(self) -> None: ...
    def disconnect_tunnel(self) -> None: ...
    def reconnect_tunnel(self) -> None: ...


class TailscaleActions(Protocol):
    def up(self) -> None: ...
    def down(self) -> None: ...


def _applied_despite_precondition(result: HelperResult) -> bool:
    """`enable` exited 6 (precondition) after loading our table: its status JSON shows the table in place.
    (A precondition met before anything changed, e.g. an unusable state directory, prints no status.)"""
    return result.code == Exit.PRECONDITION and result.status is not None and bypass_in_place(result.status)


class Controller(QObject):
    message = pyqtSignal(str, str)  # title, text with the fix
    user_action = pyqtSignal(object)  # notify_policy.Subject the user just asked to change
    busy_changed = pyqtSignal(bool)  # a bypass request is running (the menu greys the toggle)
    wanted_changed = pyqtSignal(bool)  # the user's bypass choice, learnt from elsewhere (`bypass off`)

    def __init__(
        self,
        settings: Settings,
        mullvad: MullvadActions | None,
        tailscale: TailscaleActions | None,
        helper: BypassClient | None,
        *,
        clipboard: Callable[[str], None] | None = None,
        open_url: Callable[[str], None] | None = None,
        reread_bypass: Callable[[], None] | None = None,
        report: Callable[[object], None] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.settings = settings
        self._mullvad = mullvad
        self._tailscale = tailscale
        self._helper = helper
        self._clipboard = clipboard
        self._open_url = open_url
        self._reread_bypass = reread_bypass  # the monitor's refresh_bypass: folds the new state in
        self._report = report  # the monitor's report: folds a status the helper already gave us
        self.snapshot = Snapshot()
        self._pending_enable_mode: str | None = None
        if helper is not None:
            helper.finished.connect(self._on_helper_finished)
        for source in (mullvad, tailscale):
            signal = getattr(source, "action_failed", None)
            if signal is not None:
                signal.connect(self._on_action_failed)

    # -- state in ---------------------------------------------------------------------------------------

    def on_snapshot(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        live_mode = snapshot.bypass.mode if snapshot.bypass.state is BypassState.ON else None
        if live_mode in MODES and live_mode != self.settings.bypass_mode and not self.bypass_busy:
            # Changed elsewhere (`bypass on --mode ...` in a terminal): the tray's next `on` must not switch it
            # back behind the user's back. (While our own enable runs, the old mode is still in place.)
            self.settings.bypass_mode = live_mode
        if snapshot.bypass.state is BypassState.OFF and self.settings.bypass_wanted and not self.bypass_busy:
            # Off means nothing is saved any more: `bypass off` ran somewhere (a terminal, another user).
            # That is the user's choice; record it, so nothing offers to restore what they turned off.
            self.settings.bypass_wanted = False
            self.wanted_changed.emit(False)

    # -- bypass -----------------------------------------------------------------------------------------

    @property
    def bypass_busy(self) -> bool:
        return self._helper is not None and (self._helper.busy("enable") or self._helper.busy("disable"))

    def set_bypass(self, on: bool) -> None:
        """The user's toggle. Consent is recorded only once the helper succeeded."""
        if self._helper is None:
            self.message.emit(
                "Bypass unavailable", "The bypass helper is not installed: reinstall the package."
            )
            return
        self._enable_or_disable(on=on)

    def _enable_or_disable(self, *, on: bool) -> None:
        if self._helper is None:
            return
        self.user_action.emit(BYPASS_ON if on else BYPASS_OFF)
        if on:
            self._pending_enable_mode = self.settings.bypass_mode
            self._helper.request("enable", EnableOptions(mode=self.settings.bypass_mode))
        else:
            self._helper.request("disable")
        self.busy_changed.emit(True)

    def restore_bypass(self) -> None:
        """The user asks for the bypass again ("Restore bypass" or "Repair" in a notification, or the menu):
        `enable` with the chosen mode (the administrator's password, kept for a while by polkit)."""
        self._enable_or_disable(on=True)

    def repair_bypass(self) -> None:
        self.restore_bypass()

    def set_bypass_mode(self, mode: str) -> None:
        if mode == self.settings.bypass_mode:
            return
        self.settings.bypass_mode = mode
        # already on: apply the new mode now (the user chose it while it was on: that is consent)
        if bypass_in_place(self.snapshot.bypass) and self.settings.bypass_wanted:
            self.set_bypass(True)

    def never_suggest(self) -> None:
        self.settings.muted = self.settings.muted | {Category.SUGGEST}

    def _on_helper_finished(self, result: HelperResult) -> None:
        verb = result.verb
        if verb in ("enable", "disable"):
            self.busy_changed.emit(self.bypass_busy)
        if result.ok:
            if verb == "enable":
                self.settings.bypass_wanted = True
                if self._pending_enable_mode:
                    self.settings.bypass_mode = self._pending_enable_mode
            elif verb == "disable":
                self.settings.bypass_wanted = False
            if verb in ("enable", "disable"):
                self._take_reply(result)
            return
        problem = result.problem
        if problem is not None and problem.kind is Problem.CANCELLED:
            return  # the user dismissed the password dialog: that is an answer, not an error
        applied = verb == "enable" and _applied_despite_precondition(result)
        if applied:
            # exit 6: on and saved for boot, only not effective until Mullvad's firewall allows it. The
            # user's consent stands, so reconcile keeps refreshing it; the message still says why.
            self.settings.bypass_wanted = True
            if self._pending_enable_mode:
                self.settings.bypass_mode = self._pending_enable_mode
        title = (
            "Bypass on, but Mullvad does not let it through"
            if applied
            else {
                "enable": "Could not turn on the bypass",
                "disable": "Could not turn off the bypass",
                "status": "Could not read the bypass state",
            }.get(verb, "Bypass helper failed")
        )
        if verb == "status":
            return  # the monitor shows a failed status read as "unknown" with its reason
        self.message.emit(title, result.message)
        self._read_back()

    def _take_reply(self, result: HelperResult) -> None:
        """enable/disable/refresh print the status after the change: with a reconciler publishing the rest,
        that is all the tray needs (no second pkexec). Without one, read back as before."""
        now = self.snapshot.bypass
        if result.status is not None and self._report is not None and now.reconciled:
            # The helper's own answer has no reconciler part: keep the published one's until it renews.
            self._report(
                dataclasses.replace(
                    result.status, reconciled=True, repairs=now.repairs, last_repair=now.last_repair
                )
            )
            return
        self._read_back()

    def _read_back(self) -> None:
        """Read what is really in place now (a failed enable may still have changed nothing or something)."""
        if self._reread_bypass is not None:
            self._reread_bypass()
        elif self._helper is not None and not self._helper.busy("status"):
            self._helper.request("status")

    # -- Mullvad and Tailscale --------------------------------------------------------------------------

    def mullvad_connect(self) -> None:
        self._mullvad_do("connect_tunnel")

    def mullvad_disconnect(self) -> None:
        self._mullvad_do("disconnect_tunnel")

    def mullvad_reconnect(self) -> None:
        self._mullvad_do("reconnect_tunnel")

    def _mullvad_do(self, method: str) -> None:
        if self._mullvad is None:
            self.message.emit(
                "Mullvad not available", "Install the Mullvad app: https://mullvad.net/download"
            )
            return
        self.user_action.emit(UserIntent(Subject.MULLVAD, MULLVAD_EXPECT.get(method)))
        getattr(self._mullvad, method)()

    def tailscale_up(self) -> None:
        self._tailscale_do(up=True)

    def tailscale_down(self) -> None:
        self._tailscale_do(up=False)

    def _tailscale_do(self, *, up: bool) -> None:
        if self._tailscale is None:
            self.message.emit("Tailscale not available", "Install Tailscale: https://tailscale.com/download")
            return
        self.user_action.emit(UserIntent(Subject.TAILSCALE, frozenset({"running" if up else "stopped"})))
        if up:
            self._tailscale.up()
        else:
            self._tailscale.down()

    def tailscale_login(self) -> None:
        url = self.snapshot.tailscale.auth_url
        if url and self._open_url is not None:
            self._open_url(url)
        else:
            self.message.emit("Tailscale needs login", "Run `tailscale login` in a terminal.")

    def copy_operator_fix(self) -> None:
        if self._clipboard is not None:
            self._clipboard(OPERATOR_FIX)

    def copy_text(self, text: str) -> None:
        if self._clipboard is not None:
            self._clipboard(text)

    def copy_ip(self) -> str | None:
        ip = this_device_ip(self.snapshot.tailscale)
        if ip and self._clipboard is not None:
            self._clipboard(ip)
        return ip

    def tailscale_running(self) -> bool:
        return self.snapshot.tailscale.state is TailscaleState.RUNNING

    def _on_action_failed(self, text: str) -> None:
        self.message.emit("Action failed", text)
