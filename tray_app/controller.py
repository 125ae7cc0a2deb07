"""The one object user actions go through (DESIGN.md: "User actions go the other way through one controller").

Menu items and notification actions call methods here; this calls the sources and the bypass service
(`rootside.service.BypassService`, which also brings the new bypass state to the monitor) and records the
user's bypass consent in the settings. Keeping the bypass right is the root reconciler's job
(`bypass-helper watch`, mullvad-tailscale-bypass.service): the tray never runs the helper by itself.

* without a reconciler (a checkout, the unit disabled), drift and a lost table are shown with "Repair" /
  "Restore bypass", and only that click (the user's consent, again) runs `enable` with the saved mode;
* a `bypass off` run anywhere is the user's choice: it is recorded (nothing offers to restore it);
* never `enable` without a user action.

Failures come back as `message(title, text)`, each text carrying its fix; the tray shows them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from PyQt6.QtCore import QObject, pyqtSignal

from tray_app.core.bypass_reply import HelperResult
from tray_app.core.helper_errors import Problem
from tray_app.core.model import BypassState, Snapshot, TailscaleState
from tray_app.core.notify_policy import Category, Subject, UserIntent
from tray_app.core.protocol import MODES, Exit, Verb
from tray_app.core.tooltip import bypass_in_place, this_device_ip
from tray_app.desktop.settings import Settings
from tray_app.rootside.bypass_run import EnableOptions
from tray_app.rootside.service import BypassService

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
        bypass: BypassService | None,
        *,
        clipboard: Callable[[str], None] | None = None,
        open_url: Callable[[str], None] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.settings = settings
        self._mullvad = mullvad
        self._tailscale = tailscale
        self._bypass = bypass
        self._clipboard = clipboard
        self._open_url = open_url
        self.snapshot = Snapshot()
        self._pending_enable_mode: str | None = None
        self.start_login: Callable[[], None] | None = None  # set by the tailnet features (LocalAPI login)
        if bypass is not None:
            bypass.toggle_finished.connect(self._on_toggle_finished)
            bypass.busy_changed.connect(self.busy_changed)
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
        return self._bypass is not None and self._bypass.toggling

    def set_bypass(self, on: bool) -> None:
        """The user's toggle. Consent is recorded only once the helper succeeded."""
        if self._bypass is None:
            self.message.emit(
                "Bypass unavailable", "The bypass helper is not installed: reinstall the package."
            )
            return
        self._enable_or_disable(on=on)

    def _enable_or_disable(self, *, on: bool, exit_via_mullvad: bool | None = None) -> None:
        if self._bypass is None:
            return
        self.user_action.emit(BYPASS_ON if on else BYPASS_OFF)
        if on:
            self._pending_enable_mode = self.settings.bypass_mode
        options = EnableOptions(mode=self.settings.bypass_mode, exit_via_mullvad=exit_via_mullvad)
        self._bypass.toggle(on, options if on else None)

    def enable_exit_via_mullvad(self) -> None:
        """The one fix for this device's exit-node clients cut off (the bypass off while Mullvad is up): `enable`
        with the bypass's --exit-via-mullvad option, the chosen mode and the other options kept (one pkexec)."""
        if self._bypass is None:
            self.set_bypass(True)  # says the helper is missing
            return
        self._enable_or_disable(on=True, exit_via_mullvad=True)

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

    def _on_toggle_finished(self, result: HelperResult) -> None:
        """The user's enable/disable ended; the service has already brought its new state to the monitor."""
        enable = result.verb == Verb.ENABLE
        if result.ok:
            self._record_consent(enable)
            return
        problem = result.problem
        if problem is not None and problem.kind is Problem.CANCELLED:
            return  # the user dismissed the password dialog: that is an answer, not an error
        applied = enable and _applied_despite_precondition(result)
        if applied:
            # exit 6: on and saved for boot, only not effective until Mullvad's firewall allows it. The
            # user's consent stands, so the reconciler keeps it right; the message still says why.
            self._record_consent(True)
            title = "Bypass on, but Mullvad does not let it through"
        else:
            title = "Could not turn on the bypass" if enable else "Could not turn off the bypass"
        self.message.emit(title, result.message)

    def _record_consent(self, enable: bool) -> None:
        """The helper did what the user asked: remember the choice (and the mode it was enabled with)."""
        self.settings.bypass_wanted = enable
        if enable and self._pending_enable_mode:
            self.settings.bypass_mode = self._pending_enable_mode

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
        elif self.start_login is not None:
            self.start_login()  # no URL yet (e.g. after a log out): ask tailscaled for one, as `tailscale login`
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
