"""Tailnet devices ▸: yours first, then shared; online first with their OS; offline with when last seen.

Each device is a submenu: copy its MagicDNS name or an IP, "Send a file…" (Taildrop, offered only where
tailscaled says the device can receive; otherwise greyed with the reason), and "Notify when it comes online
or goes offline". With 500 devices this is 500 submenus of five items: the list is rebuilt only when a device,
its label or its state changed, and then each device's submenu is reused (text updated in place).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from datetime import datetime

from PyQt6.QtCore import QObject
from PyQt6.QtGui import QAction
from PyQt6.QtWidgets import QMenu

from tray_app.core.taildrop_send import send_item
from tray_app.core.tailnet import Peer, Tailnet, device_label, now_utc
from tray_app.ui.menu import _add, _set
from tray_app.ui.menu_sections.keyed import KeyedList, title_action


class _Device:
    def __init__(self, parent: QMenu, section: DevicesSection, key: str) -> None:
        self.menu = QMenu(key, parent)
        self.copy_name = _add(self.menu, "Copy name")
        self.copy_ipv4 = _add(self.menu, "Copy IPv4")
        self.copy_ipv6 = _add(self.menu, "Copy IPv6")
        self.send_file = _add(self.menu, "Send a file…")
        self.send_file.setVisible(False)
        self.watch = _add(self.menu, "Notify when it comes online or goes offline")
        self.watch.setCheckable(True)
        self.copy_name.triggered.connect(lambda: section.copy(str(self.copy_name.data() or "")))
        self.copy_ipv4.triggered.connect(lambda: section.copy(str(self.copy_ipv4.data() or "")))
        self.copy_ipv6.triggered.connect(lambda: section.copy(str(self.copy_ipv6.data() or "")))
        self.watch.triggered.connect(lambda checked: section.on_watch(key, bool(checked)))
        self.send_file.triggered.connect(lambda: section.on_send(key))

    def render(self, p: Peer, watched: bool) -> None:
        v6 = next((ip for ip in p.ips if ":" in ip), None)
        name = p.dns_name or p.name
        _set(self.copy_name, text=f"Copy name ({name})")
        self.copy_name.setData(name)
        _set(
            self.copy_ipv4,
            text=f"Copy IPv4 ({p.ipv4})" if p.ipv4 else "Copy IPv4",
            enabled=p.ipv4 is not None,
        )
        self.copy_ipv4.setData(p.ipv4 or "")
        _set(self.copy_ipv6, text=f"Copy IPv6 ({v6})" if v6 else "Copy IPv6", visible=v6 is not None)
        self.copy_ipv6.setData(v6 or "")
        text, enabled, visible = send_item(p)
        _set(self.send_file, visible=visible)  # first: Qt reports a hidden action as disabled
        _set(self.send_file, text=text, enabled=enabled)
        _set(self.watch, checked=watched)


class DevicesSection(QObject):
    def __init__(
        self,
        copy: Callable[[str], None],
        on_watch: Callable[[str, bool], None],
        parent: QObject | None = None,
        on_send: Callable[[str], None] = lambda _id: None,
    ) -> None:
        super().__init__(parent)
        self.copy = copy
        self.on_watch = on_watch
        self.on_send = on_send
        self.menu = QMenu("Tailnet devices")
        self.empty = _add(self.menu, "No other devices in your tailnet")
        self.empty.setEnabled(False)
        self.devices: dict[str, _Device] = {}
        self.list = KeyedList(self.menu, self._make)
        self._shown: dict[str, tuple[Peer, bool]] = {}  # what each device's submenu shows

    def _make(self, key: Hashable) -> QAction:
        dev = _Device(self.menu, self, str(key))
        self.devices[str(key)] = dev
        return title_action(dev.menu)

    def render(self, t: Tailnet, watched: frozenset[str], now: datetime | None = None) -> bool:
        """Returns True when the device list had to change."""
        now = now or now_utc()
        devices = t.devices
        online = sum(p.online for p in devices)
        _set(title_action(self.menu), text=f"Tailnet devices ({online}/{len(devices)} online)")
        _set(self.empty, visible=not devices)
        entries = [(p.id, device_label(p, now), None, True) for p in devices]
        content = (tuple(entries), tuple(devices), watched)
        changed = self.list.sync(entries, content)
        if changed:
            for key in [k for k in self.devices if k not in self.list.actions]:
                del self.devices[key]  # KeyedList deleted its submenu
                self._shown.pop(key, None)
            for p in devices:
                shown = (p, p.id in watched)
                if self._shown.get(p.id) != shown:  # only the devices that changed
                    self._shown[p.id] = shown
                    self.devices[p.id].render(*shown)
        return changed
