"""A StatusNotifierItem host's side of the tray's menu, over D-Bus: what it reads (GetLayout, after
AboutToShow as real hosts call it before drawing) and what a click sends (Event "clicked")."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from PyQt6.QtCore import QMetaType
from PyQt6.QtDBus import QDBusArgument, QDBusConnection, QDBusVariant

from tests.tray.test_tray_hosts import _call

WATCHER = "org.kde.StatusNotifierWatcher"
DBUSMENU = "com.canonical.dbusmenu"


@dataclass(frozen=True)
class Item:
    id: int
    label: str
    enabled: bool
    visible: bool
    checked: bool | None  # toggle-state: None for an item that is not checkable


@dataclass
class Host:
    conn: QDBusConnection
    service: str
    menu_path: str

    def _layout(self) -> object:
        names = QDBusArgument()
        names.add([], QMetaType.fromName(b"QStringList").id())
        _rev, layout = _call(self.conn, self.service, self.menu_path, DBUSMENU, "GetLayout", 0, -1, names)
        return layout

    def items(self, *, opening: bool = True) -> dict[str, Item]:
        """Label -> item, as a host sees the menu it is about to draw."""
        if opening:
            _call(self.conn, self.service, self.menu_path, DBUSMENU, "AboutToShow", 0)
        out: dict[str, Item] = {}

        def walk(node: object) -> None:
            item_id, props, children = node  # type: ignore[misc]
            if "label" in props:
                state = props.get("toggle-state")
                checked = None if state is None or props.get("toggle-type", "") == "" else state == 1
                out[str(props["label"])] = Item(
                    item_id,
                    str(props["label"]),
                    props.get("enabled", True),
                    props.get("visible", True),
                    checked,
                )
            for child in children:
                walk(child)

        walk(self._layout())
        return out

    def enabled(self, label: str) -> bool:
        """An item with exactly this label is there and can be clicked."""
        item = self.items().get(label)
        return item is not None and item.enabled and item.visible

    def click(self, label: str) -> None:
        ts = QDBusArgument()
        ts.add(0, QMetaType.fromName(b"uint").id())
        item = self.items()[label]
        _call(
            self.conn,
            self.service,
            self.menu_path,
            DBUSMENU,
            "Event",
            item.id,
            "clicked",
            QDBusVariant(0),
            ts,
        )

    def tooltip(self) -> str:
        (tip,) = _call(self.conn, self.service, "/StatusNotifierItem", "org.freedesktop.DBus.Properties", "Get",
                       "org.kde.StatusNotifierItem", "ToolTip")  # fmt: skip
        return str(tip[2]) + "\n" + str(tip[3])  # type: ignore[index]

    def prop(self, name: str) -> object:
        (value,) = _call(self.conn, self.service, "/StatusNotifierItem", "org.freedesktop.DBus.Properties",
                         "Get", "org.kde.StatusNotifierItem", name)  # fmt: skip
        return value


@contextmanager
def host_view(qtbot: object, name: str = "dbusmenu-host") -> Iterator[Host]:
    """Our registered item as the SNI host sees it (the sni_host fixture must be running)."""
    conn = QDBusConnection.connectToBus(QDBusConnection.BusType.SessionBus, name)
    try:

        def items() -> list[str]:
            (v,) = _call(conn, WATCHER, "/StatusNotifierWatcher", "org.freedesktop.DBus.Properties", "Get",
                         WATCHER, "RegisteredStatusNotifierItems")  # fmt: skip
            return list(v)  # type: ignore[call-overload]

        qtbot.waitUntil(lambda: bool(items()), timeout=5000)  # type: ignore[attr-defined]
        service = items()[0].split("/")[0]
        (menu,) = _call(conn, service, "/StatusNotifierItem", "org.freedesktop.DBus.Properties", "Get",
                        "org.kde.StatusNotifierItem", "Menu")  # fmt: skip
        yield Host(conn, service, str(menu))
    finally:
        QDBusConnection.disconnectFromBus(name)
