"""Mullvad location ▸ (country ▸ city, from `mullvad relay list`) and lockdown mode, with confirmation."""

from __future__ import annotations

from collections.abc import Callable, Hashable

from PyQt6.QtCore import QObject
from PyQt6.QtGui import QAction
from PyQt6.QtWidgets import QMenu

from tray_app.core.model import MullvadStatus
from tray_app.core.mullvad_relays import Country, LocationChoice, location_of_relay
from tray_app.ui.menu import _add, _set
from tray_app.ui.menu_sections.keyed import KeyedList, title_action

LOCKDOWN_ON = "Lockdown mode: on (nothing leaves while Mullvad is off)"
LOCKDOWN_OFF = "Lockdown mode: off (traffic leaves unprotected while Mullvad is off)"
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
        self._country_lists: dict[str, tuple[QMenu, KeyedList]] = {}
        self.countries = KeyedList(self.menu, self._make_country, self._sep)
        self._chosen: object = ()  # what the checks show (never a LocationChoice at start)

    def _pick(self, choice: LocationChoice) -> None:
        self._chosen = ()  # the click toggled the item by itself: the next render checks what Mullvad has
        self._on_location(choice)

    def all_actions(self) -> list[QAction]:
        out = list(self.menu.actions())
        for sub in self.country_menus.values():
            out += sub.actions()
        return out

    def render(self, m: MullvadStatus, countries: tuple[Country, ...], constraint: LocationChoice | None,
               loaded: bool, problem: str | None = None) -> None:  # fmt: skip
        if countries != self._countries_key:
            self._countries_key = countries
            self._rebuild(countries)
            self._chosen = ()  # new actions: check them again
        _set(self.loading, visible=not loaded, text=problem or "Reading Mullvad's relay list…")
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
        if chosen != self._chosen:
            self._check(chosen)
        on = bool(m.lockdown)
        _set(self.lockdown, text=LOCKDOWN_ON if on else LOCKDOWN_OFF, checked=on,
             enabled=m.lockdown is not None)  # fmt: skip

    def _check(self, chosen: LocationChoice | None) -> None:
        self._chosen = chosen
        for choice, a in self.location_actions.items():
            _set(a, checked=choice == chosen)
        for code, sub in self.country_menus.items():
            on = chosen is not None and chosen.country == code
            title = title_action(sub).text().removeprefix("✓ ")
            _set(title_action(sub), text=("✓ " + title) if on else title)

    def _rebuild(self, countries: tuple[Country, ...]) -> None:
        # Keyed: Mullvad's hourly list update changes a relay or two, so only those cities' labels change
        self.countries.sync([(c.code, c.name, None, True) for c in countries])
        self.country_menus = {str(k): self._country_lists[str(k)][0] for k in self.countries.actions}
        for code in [k for k in self._country_lists if k not in self.country_menus]:
            del self._country_lists[code]
        self.location_actions = {}
        for country in countries:
            cities = self._country_lists[country.code][1]
            whole = (LocationChoice(country.code), f"Any city in {country.name}", None, True)
            rows = [(LocationChoice(country.code, c.code), f"{c.name} ({len(c.relays)})", None, True)
                    for c in country.cities]  # fmt: skip
            cities.sync([whole, *rows])
            self.location_actions.update(cities.actions)  # type: ignore[arg-type]

    def _make_country(self, key: Hashable) -> QAction:
        sub = QMenu(str(key), self.menu)
        cities = KeyedList(sub, lambda choice: self._make_city(sub, choice))
        self._country_lists[str(key)] = (sub, cities)
        return title_action(sub)

    def _make_city(self, sub: QMenu, choice: Hashable) -> QAction:
        a = QAction(str(choice), sub)
        a.setCheckable(True)
        if isinstance(choice, LocationChoice):
            a.triggered.connect(lambda _=False, c=choice: self._pick(c))
        return a
