"""Account ▸: the Tailscale profiles the daemon knows; picking one switches like `tailscale switch`; then
"Add another account…" (like `tailscale login`) and "Log out…" (confirmed first; `tailscale logout`)."""

from __future__ import annotations

from collections.abc import Callable, Hashable

from PyQt6.QtCore import QObject
from PyQt6.QtGui import QAction
from PyQt6.QtWidgets import QMenu

from tray_app.core.tailnet import Profile
from tray_app.ui.menu import _add, _set
from tray_app.ui.menu_sections.keyed import KeyedList, title_action


class AccountsSection(QObject):
    def __init__(self, on_switch: Callable[[str], None], on_open: Callable[[], None],
                 parent: QObject | None = None, on_add: Callable[[], None] = lambda: None,
                 on_logout: Callable[[], None] = lambda: None) -> None:  # fmt: skip
        super().__init__(parent)
        self._on_switch = on_switch
        self.menu = QMenu("Tailscale account")
        self.menu.setToolTipsVisible(True)
        self.problem = _add(self.menu, "")
        self.problem.setEnabled(False)
        self.problem.setVisible(False)
        separator = self.menu.addSeparator()
        self.add = _add(self.menu, "Add another account…")
        self.add.setToolTip("A new, empty account; its login page opens in your browser (`tailscale login`)")
        self.add.triggered.connect(on_add)
        self.logout = _add(self.menu, "Log out…")
        self.logout.setToolTip("This device leaves the tailnet until you log in again (asks first)")
        self.logout.triggered.connect(on_logout)
        self.list = KeyedList(self.menu, self._make, before=separator)
        self.menu.aboutToShow.connect(on_open)  # profiles change rarely: re-read when the user looks

    def _make(self, key: Hashable) -> QAction:
        a = QAction(str(key), self.menu)
        a.setCheckable(True)
        a.triggered.connect(lambda _=False, k=str(key): self._on_switch(k))
        return a

    def render(self, profiles: tuple[Profile, ...], current: str, problem: str | None) -> None:
        cur = next((p for p in profiles if p.id == current), None)
        _set(title_action(self.menu), text=f"Tailscale account: {cur.name}" if cur else "Tailscale account")
        self.list.sync([(p.id, p.label, p.id == current, True) for p in profiles])
        _set(self.problem, text=problem or "", visible=problem is not None)
        _set(self.logout, visible=cur is not None)  # logged out already: nothing to leave
