"""Mullvad location ▸ (country ▸ city, from `mullvad relay list`) and lockdown mode, with confirmation."""

from __future__ import annotations

from collections.abc import Callable

from PyQt6.QtCore import QObject
from PyQt6.QtGui import QAction
from PyQt6.QtWidgets import QMenu

from tray_app.core.model import MullvadStatus
from tray_app.core.mullvad_relays import Country, LocationChoice, location_of_relay
from tray_app.ui.menu import _add, _set
from tray_app.ui.menu_sections.keyed import title_action

LOCKDOWN_ON = "Lockdown mode: on (nothing leaves while Mullvad is disconnected)"
LOCKDOWN_OFF = "Lockdown mode: off (traffic leaves unprotected while Mullvad is disconnected)"
LOCKDOWN_TIP = (
    "Lockdown mode makes Mullvad block all network traffic whenever it is not connected, including when "
    "you disconnect it yourself. With the bypass on, Tailscale keeps working while Mullvad blocks."
)


class MullvadLocationSection(QObject):
    def __init__(
        self,
        on_location: Callable[[LocationChoice], None],
        on_lockdown: Callable[[bool], None],
        on_open: Callable[[], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._on_location = on_location
        self.menu = QMenu("Mullvad location")
        self.menu.setToolTipsVisible(True)
        self.loading = _add(self.menu, "Reading Mullvad's relay list…")
        self.loading.setEnabled(False)
        self.any = _add(self.menu, "Any location")
        self.any.setCheckable(True)
        self.any.triggered.connect(lambda: self._pick(LocationChoice()))
        self._sep = self.menu.addSeparator()
        self.lockdown = QAction(LOCKDOWN_OFF, self)
        self.lockdown.setCheckable(True)
        self.lockdown.setToolTip(LOCKDOWN_TIP)
        self.lockdown.triggered.connect(lambda checked: on_lockdown(bool(checked)))
        self.menu.aboutToShow.connect(on_open)  # the relay list is read when first needed
        self._countries_key: tuple[Country, ...] | None = None
        self.country_menus: dict[str, QMenu] = {}
        self.location_actions: dict[LocationChoice, QAction] = {}

    def _pick(self, choice: LocationChoice) -> None:
        self._on_location(choice)

    def all_actions(self) -> list[QAction]:
        out = list(self.menu.actions())
        for sub in self.country_menus.values():
            out += sub.actions()
        return out

    def render(self, m: MullvadStatus, countries: tuple[Country, ...], constraint: LocationChoice | None,
               loaded: bool) -> None:  # fmt: skip
        if countries != self._countries_key:
            self._countries_key = countries
            self._rebuild(countries)
        _set(self.loading, visible=not loaded)
        if m.location:
            _set(title_action(self.menu), text=f"Mullvad location: {m.location}")
        else:
            _set(title_action(self.menu), text="Mullvad location")
        chosen = constraint
        if chosen is None:
            chosen = location_of_relay(m.relay)
        if chosen is not None and chosen.hostname:
            chosen = LocationChoice(chosen.country, chosen.city)
        _set(self.any, checked=chosen == LocationChoice())
        for choice, a in self.location_actions.items():
            _set(a, checked=choice == chosen)
        for code, sub in self.country_menus.items():
            on = chosen is not None and chosen.country == code
            title = title_action(sub).text().removeprefix("✓ ")
            _set(title_action(sub), text=("✓ " + title) if on else title)
        on = bool(m.lockdown)
        _set(self.lockdown, text=LOCKDOWN_ON if on else LOCKDOWN_OFF, checked=on,
             enabled=m.lockdown is not None)  # fmt: skip

    def _rebuild(self, countries: tuple[Country, ...]) -> None:
        for sub in self.country_menus.values():
            self.menu.removeAction(title_action(sub))
            sub.deleteLater()
        self.country_menus.clear()
        self.location_actions.clear()
        for country in countries:
            sub = QMenu(country.name, self.menu)
            self.menu.insertMenu(self._sep, sub)
            self.country_menus[country.code] = sub
            whole = LocationChoice(country.code)
            a = _add(sub, f"Any city in {country.name}")
            a.setCheckable(True)
            a.triggered.connect(lambda _=False, c=whole: self._pick(c))
            self.location_actions[whole] = a
            for city in country.cities:
                choice = LocationChoice(country.code, city.code)
                a = _add(sub, f"{city.name} ({len(city.relays)})")
                a.setCheckable(True)
                a.triggered.connect(lambda _=False, c=choice: self._pick(c))
                self.location_actions[choice] = a
