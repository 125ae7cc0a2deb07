"""Internet traffic ▸: Mullvad, a Tailscale exit node, or directly: one choice (core/internet_route.py)."""

from __future__ import annotations

from collections.abc import Callable, Hashable

from PyQt6.QtCore import QObject
from PyQt6.QtGui import QAction
from PyQt6.QtWidgets import QMenu

from tray_app.core.exit_node_host import FIX_TEXT, FIX_TIP, host_view
from tray_app.core.internet_route import RouteKind, current, last_used, last_used_name
from tray_app.core.model import MullvadState, Snapshot
from tray_app.core.tailnet import Peer, Tailnet, best_available, exit_node_label, mullvad_groups
from tray_app.ui.menu import _add, _set
from tray_app.ui.menu_sections.keyed import KeyedList, title_action

EXIT_NODE_HINT = "Picking an exit node disconnects Mullvad"
EXIT_NODE_TIP = "Behind Mullvad an exit node would not be used, so Mullvad is disconnected first."
WARNING_TEXT = "⚠ Exit node and Mullvad both set: pick one"
BEST = "Best available"
HOST_TEXT = "Run this device as an exit node"
HOST_TIP = (
    "Offer this device to your tailnet as an exit node (`tailscale set --advertise-exit-node`); the admin "
    "console approves it"
)


class RouteSection(QObject):
    def __init__(self, on_pick: Callable[[str, str], None], parent: QObject | None = None) -> None:
        """`on_pick(kind, key)`: kind "mullvad" | "direct" | "exit-node" (key: stable ID) | "allow-lan" |
        "best" (key: country) | "last-used" | "advertise" (key "1" on, "" off) | "exit-via-mullvad"."""
        super().__init__(parent)
        self._on_pick = on_pick
        self.menu = QMenu("Internet traffic")
        self.menu.setToolTipsVisible(True)
        m = self.menu
        self.mullvad = _add(m, "Through Mullvad")
        self.direct = _add(m, "Directly (no VPN)")
        for a in (self.mullvad, self.direct):
            a.setCheckable(True)
        self.mullvad.triggered.connect(lambda: self._pick("mullvad", ""))
        self.direct.triggered.connect(lambda: self._pick("direct", ""))
        self.warning = _add(m, "")
        self.warning.setEnabled(False)
        m.addSeparator()
        self.exit_header = _add(m, "Tailscale exit nodes")
        self.exit_header.setEnabled(False)
        self.hint = _add(m, EXIT_NODE_HINT)
        self.hint.setEnabled(False)
        self.hint.setToolTip(EXIT_NODE_TIP)
        self.recommended = _add(m, "Recommended: …")
        self.recommended.setCheckable(True)
        self.recommended.triggered.connect(
            lambda: self._pick("exit-node", str(self.recommended.data() or ""))
        )
        self.last_used = _add(m, "Last used: …")
        self.last_used.setToolTip("Turn the exit node used before back on (Mullvad is disconnected first)")
        self.last_used.triggered.connect(lambda: self._pick("last-used", ""))
        self.none_hint = _add(m, "No exit nodes in your tailnet")
        self.none_hint.setEnabled(False)
        self.none_hint.setToolTip(
            "Run `sudo tailscale set --advertise-exit-node` on a device and approve it in the admin console"
        )
        self.mullvad_nodes = QMenu("Mullvad exit nodes (through Tailscale)")
        m.addMenu(self.mullvad_nodes)
        self.mullvad_nodes_action = title_action(self.mullvad_nodes)
        self._end = m.addSeparator()
        self.allow_lan = _add(m, "Allow local network access")
        self.allow_lan.setCheckable(True)
        self.allow_lan.setToolTip(
            "While an exit node is used, keep reaching printers and other local devices"
        )
        self.allow_lan.triggered.connect(lambda checked: self._pick("allow-lan", "1" if checked else ""))
        m.addSeparator()
        # this device as an exit node, and where its clients' traffic goes while Mullvad runs here
        self.host = _add(m, HOST_TEXT)
        self.host.setCheckable(True)
        self.host.setToolTip(HOST_TIP)
        self.host.triggered.connect(lambda checked: self._pick("advertise", "1" if checked else ""))
        self.clients = _add(m, "")
        self.clients.setEnabled(False)
        self.fix = _add(m, FIX_TEXT)
        self.fix.setToolTip(FIX_TIP)
        self.fix.triggered.connect(lambda: self._pick("exit-via-mullvad", ""))
        self.nodes = KeyedList(m, self._make_node, self.mullvad_nodes_action)
        self._mullvad_key: object = None
        self._countries: dict[str, QMenu] = {}
        self._mullvad_actions: dict[str, QAction] = {}

    def _pick(self, kind: str, key: str) -> None:
        self._on_pick(kind, key)

    def _make_node(self, key: Hashable) -> QAction:
        a = QAction(str(key), self.menu)
        a.setCheckable(True)
        a.setData(key)
        a.triggered.connect(lambda _=False, k=str(key): self._pick("exit-node", k))
        return a

    def all_actions(self) -> list[QAction]:
        out = list(self.menu.actions())
        for country in self._countries.values():
            out += country.actions()
            for a in country.actions():
                sub = a.menu()
                if sub is not None:
                    out += sub.actions()
        return out

    def render(
        self, s: Snapshot, t: Tailnet, suggestion: tuple[str, str] | None, remembered: str = ""
    ) -> None:
        """`remembered`: the exit node the tray saw last (for "Last used" when tailscaled kept none)."""
        route = current(s, t)
        _set(title_action(self.menu), text=f"Internet: {route.text}")
        _set(self.mullvad, checked=route.kind is RouteKind.MULLVAD,
             text=f"Through Mullvad ({s.mullvad.location})" if s.mullvad.location else "Through Mullvad",
             enabled=s.mullvad.state is not MullvadState.UNAVAILABLE)  # fmt: skip
        _set(self.direct, checked=route.kind is RouteKind.DIRECT)
        _set(self.warning, text=WARNING_TEXT, tip=route.warning or "", visible=route.warning is not None)
        mullvad_up = s.mullvad.state in (MullvadState.CONNECTED, MullvadState.CONNECTING)
        _set(self.hint, visible=mullvad_up and bool(t.exit_nodes or t.mullvad_exit_nodes))
        chosen = t.exit_node_id
        own = t.exit_nodes
        self.nodes.sync([(p.id, exit_node_label(p), p.id == chosen, True) for p in own])
        if suggestion:
            sid, name = suggestion
            _set(self.recommended, text=f"Recommended: {name}", visible=True, checked=sid == chosen)
            self.recommended.setData(sid)
        else:
            _set(self.recommended, visible=False)
        last = last_used(t, remembered)
        _set(
            self.last_used,
            visible=last is not None,
            text=f"Last used: {last_used_name(t, last[0])}" if last else None,
        )
        _set(self.none_hint, visible=not own and not t.mullvad_exit_nodes)
        self._render_mullvad(t.mullvad_exit_nodes, chosen)
        _set(self.allow_lan, checked=bool(t.allow_lan), enabled=t.allow_lan is not None)
        host = host_view(s, t)
        _set(self.host, checked=host.advertising, enabled=host.known)
        _set(self.clients, text=host.text, tip=host.tip, visible=host.advertising)
        _set(self.fix, visible=host.fix_offered)

    def _render_mullvad(self, nodes: tuple[Peer, ...], chosen: str) -> None:
        _set(self.mullvad_nodes_action, visible=bool(nodes))
        key = tuple((p.id, exit_node_label(p), p.location) for p in nodes)
        if key != self._mullvad_key:
            self._mullvad_key = key
            self._rebuild_mullvad(nodes)
        for pid, a in self._mullvad_actions.items():
            _set(a, checked=pid == chosen)

    def _rebuild_mullvad(self, nodes: tuple[Peer, ...]) -> None:
        # country -> city -> node; rebuilt only when Tailscale's list of Mullvad nodes itself changed
        self.mullvad_nodes.clear()
        for sub in self._countries.values():
            sub.deleteLater()
        self._countries.clear()
        self._mullvad_actions.clear()
        for country, cities in mullvad_groups(nodes):
            cmenu = QMenu(country, self.mullvad_nodes)
            self.mullvad_nodes.addMenu(cmenu)
            self._countries[country] = cmenu
            if best_available(nodes, country) is not None:  # the official client's first entry
                best = _add(cmenu, BEST)
                best.setToolTip(f"The best online Mullvad exit node in {country}, as Tailscale ranks them")
                best.triggered.connect(lambda _=False, c=country: self._pick("best", c))
                cmenu.addSeparator()
            for city, peers in cities:
                target = cmenu if len(cities) == 1 else QMenu(city, cmenu)
                if target is not cmenu:
                    cmenu.addMenu(target)
                for p in peers:
                    a = _add(target, exit_node_label(p))
                    a.setCheckable(True)
                    a.triggered.connect(lambda _=False, k=p.id: self._pick("exit-node", k))
                    self._mullvad_actions[p.id] = a
