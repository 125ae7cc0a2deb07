"""A submenu whose entries come from data: rebuilt only when the entries' content changed."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Hashable, Sequence

from PyQt6.QtGui import QAction
from PyQt6.QtWidgets import QMenu

from tray_app.ui.menu import _set


def title_action(menu: QMenu) -> QAction:
    """A submenu's own action (its title in the parent menu); Qt always has one."""
    action = menu.menuAction()
    if action is None:  # pragma: no cover - Qt creates it with the menu
        raise RuntimeError("QMenu without its menu action")
    return action


class KeyedList:
    """Keeps one QAction per key inside `menu`, in the given order, between `anchor` and the next fixed
    item (or at the end). `sync(entries)` returns True when it had to touch the menu."""

    def __init__(
        self, menu: QMenu, make: Callable[[Hashable], QAction], before: QAction | None = None
    ) -> None:
        self.menu = menu
        self._make = make
        self._before = before
        self.actions: dict[Hashable, QAction] = {}
        self._order: list[Hashable] = []
        self._content: object = None

    def sync(
        self, entries: Sequence[tuple[Hashable, str, bool | None, bool]], content: object = None
    ) -> bool:
        """entries: (key, text, checked or None, enabled); `content` (default: the entries) is what
        decides whether anything changed at all."""
        content = tuple(entries) if content is None else content
        if content == self._content:
            # a click toggled a checkable item by itself: show the daemon's truth again
            for key, _text, checked, _enabled in entries:
                if checked is not None:
                    _set(self.actions[key], checked=checked)
            return False
        self._content = content
        keys = [e[0] for e in entries]
        gone = set(self.actions) - set(keys)
        for key in gone:
            action = self.actions.pop(key)
            self.menu.removeAction(action)
            owner = action.menu()  # a submenu's own action belongs to the submenu: delete the submenu
            if owner is not None:
                owner.deleteLater()
            else:
                action.deleteLater()
        for key, text, checked, enabled in entries:
            found = self.actions.get(key)
            action = found if found is not None else self._make(key)
            self.actions[key] = action
            _set(action, text=text, enabled=enabled)
            if checked is not None:
                _set(action, checked=checked)
        if keys != self._order:
            self._reorder(keys)
            self._order = keys
        return True

    def _reorder(self, keys: list[Hashable]) -> None:
        """Move only the actions that are out of place (a device going offline moves one entry, not 500):
        the entries in the longest run that is already in order stay, the others are inserted before
        their successor (insertAction moves an action that is already in the menu)."""
        where = {k: i for i, k in enumerate(self._order)}
        stay = _longest_increasing([where.get(k, -1) for k in keys])
        anchor = self._before
        for i in range(len(keys) - 1, -1, -1):
            action = self.actions[keys[i]]
            if i not in stay:
                self.menu.insertAction(anchor, action)
            anchor = action


def _longest_increasing(seq: list[int]) -> set[int]:
    """Indices of one longest strictly increasing subsequence of `seq` (-1: new, never kept)."""
    tails: list[int] = []  # index into seq of the smallest tail of each length
    prev = [-1] * len(seq)
    values: list[int] = []
    for i, v in enumerate(seq):
        if v < 0:
            continue
        j = bisect.bisect_left(values, v)
        if j == len(values):
            values.append(v)
            tails.append(i)
        else:
            values[j] = v
            tails[j] = i
        prev[i] = tails[j - 1] if j else -1
    out: set[int] = set()
    i = tails[-1] if tails else -1
    while i >= 0:
        out.add(i)
        i = prev[i]
    return out
