"""The tray menu: built once, then updated in place from each Snapshot.

QActions are created at start and never replaced; `render()` only changes text, enabled, checked and
visible, and only when the value differs, so a menu the user has open never jumps, and SNI hosts get no
LayoutUpdated churn over D-Bus (the official Tailscale systray rebuilds its menu and needed a "Rebuild menu"
item for its empty-submenu bug, tailscale #15528).
"""

from __future__ import annotations

from dataclasses import dataclass

from PyQt6.QtCore import QObject
from PyQt6.QtGui import QAction, QActionGroup
from PyQt6.QtWidgets import QMenu

from tray_app.core.model import BypassState, MullvadState, Snapshot, TailscaleState
from tray_app.core.notify_policy import CATEGORY_LABELS, Category
from tray_app.core.tooltip import (
    bypass_in_place,
    bypass_line,
    bypass_lost,
    exit_node_line,
    mullvad_line,
    tailscale_line,
    this_device_ip,
)

MODE_TEXT = {
    "direct": "Direct: Tailscale and your peers see this device's real IP",
    "private": "Private: Tailscale sees only Mullvad's IP; peers may be relayed (slower)",
}
MODE_TIPS = {
    "direct": "tailscaled's own traffic (WireGuard to peers, DERP relays, the control server) leaves outside "
    "Mullvad. Fastest direct connections; anyone you connect to over the tailnet learns your real IP.",
    "private": "tailscaled's own traffic stays inside the Mullvad tunnel. Tailscale and your peers see a "
    "Mullvad exit IP; direct connections often fail, so traffic goes through Tailscale's relays.",
}
STYLE_TEXT = {
    "colour": "Colour",
    "light": "Monochrome for light panels",
    "dark": "Monochrome for dark panels",
}


@dataclass(frozen=True, slots=True)
class MenuFlags:
    """Things the menu shows that are not in the Snapshot."""

    bypass_wanted: bool = False
    bypass_busy: bool = False
    autostart: bool = False
    notifications: bool = True
    muted: frozenset[Category] = frozenset()
    mode: str = "direct"
    icon_style: str = "colour"


def _set(action: QAction, *, text: str | None = None, enabled: bool | None = None,
         checked: bool | None = None, visible: bool | None = None, tip: str | None = None) -> None:  # fmt: skip
    """Change only what differs: every change is a D-Bus signal in SNI mode."""
    if text is not None and action.text() != text:
        action.setText(text)
    if enabled is not None and action.isEnabled() != enabled:
        action.setEnabled(enabled)
    if checked is not None and action.isChecked() != checked:
        was = action.blockSignals(True)  # reflecting state is not a user click
        action.setChecked(checked)
        action.blockSignals(was)
    if visible is not None and action.isVisible() != visible:
        action.setVisible(visible)
    if tip is not None and action.toolTip() != tip:
        action.setToolTip(tip)


def _add(menu: QMenu, text: str) -> QAction:
    action = QAction(text, menu)
    menu.addAction(action)
    return action


class TrayMenu(QObject):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.menu = QMenu()
        self.menu.setToolTipsVisible(True)
        m = self.menu
        # facts at the top (GNOME's AppIndicator shows no tooltip; the menu is where people look)
        self.mullvad_info = _add(m, "Mullvad: …")
        self.tailscale_info = _add(m, "Tailscale: …")
        self.exit_info = _add(m, "Exit node: …")
        self.bypass_info = _add(m, "Bypass: …")
        for a in (self.mullvad_info, self.tailscale_info, self.exit_info, self.bypass_info):
            a.setEnabled(False)
        m.addSeparator()
        self.bypass = _add(m, "Tailnet bypass")
        self.bypass.setCheckable(True)
        self.bypass.setToolTip("Let tailnet traffic go around Mullvad so Tailscale keeps working")
        self.mode_group = QActionGroup(self)
        self.mode_actions: dict[str, QAction] = {}
        for mode in ("direct", "private"):
            a = _add(m, MODE_TEXT[mode])
            a.setCheckable(True)
            a.setToolTip(MODE_TIPS[mode])
            a.setData(mode)
            self.mode_group.addAction(a)
            self.mode_actions[mode] = a
        m.addSeparator()
        self.mullvad_connect = _add(m, "Mullvad: connect")
        self.mullvad_disconnect = _add(m, "Mullvad: disconnect")
        self.mullvad_reconnect = _add(m, "Mullvad: reconnect")
        m.addSeparator()
        self.tailscale_toggle = _add(m, "Tailscale: up")
        self.tailscale_login = _add(m, "Tailscale: log in…")
        self.operator_hint = _add(m, "Not permitted: copy `sudo tailscale set --operator=$USER`")
        self.operator_hint.setToolTip(
            "Tailscale refused the change: only its operator may start or stop it. Run the copied command "
            "once in a terminal, then try again."
        )
        self.copy_ip = _add(m, "Copy this device's Tailscale IP")
        m.addSeparator()
        self.autostart = _add(m, "Start on login")
        self.autostart.setCheckable(True)
        self.notifications = _add(m, "Notifications")
        self.notifications.setCheckable(True)
        self.categories_menu = QMenu("Notify about")
        self.category_actions: dict[Category, QAction] = {}
        for cat in Category:
            a = _add(self.categories_menu, CATEGORY_LABELS[cat])
            a.setCheckable(True)
            a.setData(cat.value)
            self.category_actions[cat] = a
        m.addMenu(self.categories_menu)
        self.style_menu = QMenu("Icon style")
        self.style_group = QActionGroup(self)
        self.style_actions: dict[str, QAction] = {}
        for style, text in STYLE_TEXT.items():
            a = _add(self.style_menu, text)
            a.setCheckable(True)
            a.setData(style)
            self.style_group.addAction(a)
            self.style_actions[style] = a
        m.addMenu(self.style_menu)
        m.addSeparator()
        self.doctor = _add(m, "Doctor…")
        self.about = _add(m, "About…")
        self.quit = _add(m, "Quit")

    def all_actions(self) -> list[QAction]:
        out = list(self.menu.actions())
        out += self.categories_menu.actions() + self.style_menu.actions()
        return out

    def render(self, s: Snapshot, flags: MenuFlags) -> None:
        _set(self.mullvad_info, text=mullvad_line(s.mullvad))
        _set(self.tailscale_info, text=tailscale_line(s.tailscale))
        exit_line = exit_node_line(s.tailscale)
        _set(self.exit_info, text=exit_line or "Exit node: none", visible=exit_line is not None)
        _set(self.bypass_info, text=bypass_line(s.bypass))

        b = s.bypass
        on = bypass_in_place(b)
        _set(self.bypass, checked=on, enabled=not flags.bypass_busy)
        if flags.bypass_busy:
            _set(self.bypass, text="Tailnet bypass (waiting for authentication…)")
        elif bypass_lost(b):
            _set(self.bypass, text="Tailnet bypass (lost: click to restore)")
        elif b.state is BypassState.DRIFTED:
            _set(self.bypass, text="Tailnet bypass (out of date, refreshing)")
        elif b.state is BypassState.UNKNOWN:
            _set(self.bypass, text="Tailnet bypass (state unknown)")
        else:
            _set(self.bypass, text="Tailnet bypass")
        active_mode = b.mode if on and b.mode else flags.mode
        for mode, a in self.mode_actions.items():
            _set(a, checked=mode == active_mode, enabled=not flags.bypass_busy)

        m = s.mullvad.state
        mullvad_up = m is not MullvadState.UNAVAILABLE
        _set(
            self.mullvad_connect, enabled=mullvad_up and m in (MullvadState.DISCONNECTED, MullvadState.ERROR)
        )
        _set(
            self.mullvad_disconnect,
            enabled=mullvad_up and m in (MullvadState.CONNECTED, MullvadState.CONNECTING, MullvadState.ERROR),
        )
        _set(self.mullvad_reconnect, enabled=m in (MullvadState.CONNECTED, MullvadState.CONNECTING))

        t = s.tailscale
        running = t.state in (TailscaleState.RUNNING, TailscaleState.STARTING)
        can_write = t.can_write is not False
        _set(
            self.tailscale_toggle,
            text="Tailscale: down" if running else "Tailscale: up",
            enabled=can_write
            and t.state in (TailscaleState.RUNNING, TailscaleState.STARTING, TailscaleState.STOPPED),
        )
        _set(self.operator_hint, visible=not can_write)
        needs_login = t.state in (TailscaleState.NEEDS_LOGIN, TailscaleState.NO_STATE)
        _set(self.tailscale_login, visible=needs_login, enabled=needs_login)
        ip = this_device_ip(t)
        _set(
            self.copy_ip,
            text=f"Copy this device's Tailscale IP ({ip})" if ip else "Copy this device's Tailscale IP",
            enabled=ip is not None,
        )

        _set(self.autostart, checked=flags.autostart)
        _set(self.notifications, checked=flags.notifications)
        for cat, a in self.category_actions.items():
            _set(a, checked=cat not in flags.muted, enabled=flags.notifications)
        for style, a in self.style_actions.items():
            _set(a, checked=style == flags.icon_style)
