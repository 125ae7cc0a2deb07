"""The tray icon: renders a Snapshot (icon, tooltip, menu, status window) and routes clicks to the controller.

Nothing here talks to a daemon: state comes in through `render(snapshot)`, actions leave through the
controller, the settings and the autostart file.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from PyQt6.QtCore import QObject, pyqtSignal
from PyQt6.QtGui import QAction, QIcon
from PyQt6.QtWidgets import QSystemTrayIcon

from tray_app.controller import Controller
from tray_app.core.icon_choice import IconSpec, choose
from tray_app.core.model import Snapshot
from tray_app.core.notify_policy import Category, Urgency
from tray_app.core.tooltip import bypass_in_place, lines, tooltip
from tray_app.desktop import autostart
from tray_app.ui.icon import app_icon_path, icon, resolve_style
from tray_app.ui.menu import MenuFlags, TrayMenu
from tray_app.ui.status_popup import StatusPopup

if TYPE_CHECKING:  # imported when first opened: not needed to start
    from tray_app.ui.about import AboutDialog
    from tray_app.ui.doctor_window import DoctorWindow

_BALLOON_ICON = {
    Urgency.LOW: QSystemTrayIcon.MessageIcon.Information,
    Urgency.NORMAL: QSystemTrayIcon.MessageIcon.Information,
    Urgency.CRITICAL: QSystemTrayIcon.MessageIcon.Critical,
}


class TrayUI(QObject):
    quit_requested = pyqtSignal()
    settings_changed = pyqtSignal()  # notifications on/off, muted categories: the app updates the policy
    middle_clicked = pyqtSignal()  # the host passed a middle click on (what it does: tray_app/features.py)

    def __init__(
        self, controller: Controller, parent: QObject | None = None, *, overrides: Sequence[str] = ()
    ) -> None:
        super().__init__(parent)
        self.controller = controller
        self.overrides = list(overrides)  # the tray's daemon options, passed on to what it runs
        self.settings = controller.settings
        self.snapshot = Snapshot()
        self.spec: IconSpec | None = None
        self.style = resolve_style(self.settings.icon_style)
        self.menus = TrayMenu(self)
        self.tray = self._new_tray()
        self.shown = False
        self._popup: StatusPopup | None = None  # built on first use: most starts are --hidden
        self.doctor: DoctorWindow | None = None
        self.about: AboutDialog | None = None
        self._wire()
        self.render(self.snapshot)

    # -- wiring ---------------------------------------------------------------------------------------

    def _wire(self) -> None:
        c, m = self.controller, self.menus
        m.bypass.triggered.connect(lambda checked: c.set_bypass(bool(checked)))
        for mode, a in m.mode_actions.items():
            a.triggered.connect(lambda _=False, mode=mode: self._choose_mode(mode))
        m.mullvad_connect.triggered.connect(c.mullvad_connect)
        m.mullvad_disconnect.triggered.connect(c.mullvad_disconnect)
        m.mullvad_reconnect.triggered.connect(c.mullvad_reconnect)
        m.tailscale_toggle.triggered.connect(self._tailscale_toggle)
        m.tailscale_login.triggered.connect(c.tailscale_login)
        m.operator_hint.triggered.connect(c.copy_operator_fix)
        m.copy_ip.triggered.connect(self._copy_ip)
        m.autostart.triggered.connect(self._autostart)
        m.notifications.triggered.connect(self._notifications)
        for cat, a in m.category_actions.items():
            a.triggered.connect(lambda checked, cat=cat: self._category(cat, bool(checked)))
        for style, a in m.style_actions.items():
            a.triggered.connect(lambda _=False, style=style: self._style(style))
        m.doctor.triggered.connect(self.open_doctor)
        m.about.triggered.connect(self.open_about)
        m.quit.triggered.connect(self.quit_requested.emit)
        c.busy_changed.connect(lambda _busy: self.render(self.snapshot))
        # what is not in the Snapshot (the autostart file: `autostart off` in a terminal) is read again
        # whenever the menu opens; SNI hosts send AboutToShow before they draw it
        m.menu.aboutToShow.connect(lambda: self.render(self.snapshot))

    @property
    def popup(self) -> StatusPopup:
        """The status window. Building it costs about 40 ms, so not at start-up when it stays hidden."""
        if self._popup is None:
            self._popup = StatusPopup()
            self._popup.bypass_button.clicked.connect(
                lambda: self.controller.set_bypass(not bypass_in_place(self.snapshot.bypass))
            )
            self._popup.menu_button.clicked.connect(self._menu_from_popup)
            self._update_popup()
        return self._popup

    def _update_popup(self, flags: MenuFlags | None = None) -> None:
        if self._popup is None:
            return
        flags = flags or self.flags()
        self._popup.update_view(
            self.current_icon(),
            lines(self.snapshot),
            bypass_on=bypass_in_place(self.snapshot.bypass),
            bypass_enabled=not flags.bypass_busy,
        )

    def _new_tray(self) -> QSystemTrayIcon:
        tray = QSystemTrayIcon(self)
        tray.setContextMenu(self.menus.menu)
        tray.activated.connect(self._activated)
        return tray

    def reattach(self) -> None:
        """A StatusNotifierItem host appeared after start-up (a panel that came up late at login): Qt decides
        between SNI and XEmbed when a tray icon is created, so create it again. The menu and its actions
        stay the same objects."""
        old = self.tray
        self.tray = self._new_tray()
        if self.spec is not None:
            self.tray.setIcon(icon(self.spec, self.style))
        self.tray.setToolTip(old.toolTip())
        if self.shown:
            self.tray.show()
        old.hide()
        old.setContextMenu(None)
        old.deleteLater()

    # -- rendering ------------------------------------------------------------------------------------

    def flags(self) -> MenuFlags:
        return MenuFlags(
            bypass_wanted=self.settings.bypass_wanted,
            bypass_busy=self.controller.bypass_busy,
            autostart=autostart.is_enabled(),
            notifications=self.settings.notifications,
            muted=self.settings.muted,
            mode=self.settings.bypass_mode,
            icon_style=self.style.value,
        )

    def render(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        spec = choose(snapshot)
        if spec != self.spec:
            self.spec = spec
            self.tray.setIcon(icon(spec, self.style))
        tip = tooltip(snapshot)
        if self.tray.toolTip() != tip:
            self.tray.setToolTip(tip)
        flags = self.flags()
        self.menus.render(snapshot, flags)
        self._update_popup(flags)

    def current_icon(self) -> QIcon:
        return icon(self.spec or choose(self.snapshot), self.style)

    def show(self) -> None:
        self.shown = True
        self.tray.show()

    def hide(self) -> None:
        self.shown = False
        self.tray.hide()
        if self._popup is not None:
            self._popup.hide()

    # -- user actions ---------------------------------------------------------------------------------

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        # Left click: the status window (like the Mullvad app's window toggle); the right button opens the
        # menu in every host. Hosts that only ever show the menu (GNOME AppIndicator) never send Trigger.
        if reason == QSystemTrayIcon.ActivationReason.Trigger:
            if self._popup is not None and self._popup.isVisible():
                self._popup.hide()
            else:
                self.show_status()
        elif reason == QSystemTrayIcon.ActivationReason.MiddleClick:
            self.middle_clicked.emit()

    def show_status(self) -> None:
        self.render(self.snapshot)
        geometry = self.tray.geometry()
        self.popup.show_near(geometry if geometry.x() > 0 else None)

    def _menu_from_popup(self) -> None:
        self.popup.hide()
        self.menus.menu.popup(self.popup.pos())

    def _choose_mode(self, mode: str) -> None:
        self.controller.set_bypass_mode(mode)
        self.render(self.snapshot)

    def _tailscale_toggle(self) -> None:
        if self.controller.tailscale_running() or self.snapshot.tailscale.state.value == "starting":
            self.controller.tailscale_down()
        else:
            self.controller.tailscale_up()

    def _copy_ip(self) -> None:
        self.controller.copy_ip()

    def _autostart(self, checked: bool) -> None:
        try:
            if checked:
                autostart.enable()
            else:
                autostart.disable()
        except OSError as exc:
            self.controller.message.emit(
                "Could not change start on login",
                f"{autostart.path()}: {exc.strerror or exc}. Check that {autostart.path().parent} is writable.",
            )
        self.render(self.snapshot)

    def _notifications(self, checked: bool) -> None:
        self.settings.notifications = checked
        self.settings_changed.emit()
        self.render(self.snapshot)

    def _category(self, cat: Category, checked: bool) -> None:
        muted = set(self.settings.muted)
        if checked:
            muted.discard(cat)
        else:
            muted.add(cat)
        self.settings.muted = frozenset(muted)
        self.settings_changed.emit()
        self.render(self.snapshot)

    def _style(self, style: str) -> None:
        self.settings.icon_style = style
        self.style = resolve_style(style)
        self.spec = None  # force the new icon
        self.render(self.snapshot)

    def open_doctor(self) -> None:
        if self.doctor is None:
            from tray_app.ui.doctor_window import DoctorWindow  # noqa: PLC0415

            self.doctor = DoctorWindow(overrides=self.overrides)
        self.doctor.show()
        self.doctor.raise_()
        self.doctor.run()

    def open_about(self) -> None:
        if self.about is None:
            from tray_app.ui.about import AboutDialog  # noqa: PLC0415

            path = app_icon_path()
            self.about = AboutDialog(QIcon(str(path)) if path.is_file() else self.current_icon())
        self.about.show()
        self.about.raise_()

    def balloon(self, summary: str, body: str, urgency: Urgency) -> None:
        """Fallback when no notification server exists (Qt draws a balloon in XEmbed mode)."""
        self.tray.showMessage(summary, body, _BALLOON_ICON[urgency], 8000)

    def action(self, name: str) -> QAction:
        """Look up a menu action by attribute name (tests, screenshots)."""
        a = getattr(self.menus, name)
        if not isinstance(a, QAction):
            raise KeyError(name)
        return a
