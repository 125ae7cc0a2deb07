"""Mullvad's relay list and location constraint from its CLI (pure: no Qt, no I/O).

`mullvad relay list` (mullvad-cli cmds/relay.rs) prints, sorted by name:

    Sweden (se)
    <TAB>Gothenburg (got) @ 57.70887°N, 11.97456°W
    <TAB><TAB>se-got-wg-001 (185.213.154.66, 2a03:1b20:5:f011::a01f) - WireGuard, hosted by 31173 (Mullvad-owned)

older releases end relay lines after the protocol (`- WireGuard`) or print no IPv6 address; only the
indentation, the names and the codes in parentheses are relied on. `mullvad relay get` prints
`Location: any`, `Location: country se`, `Location: city got, se` or
`Location: city got, se, hostname se-got-wg-004` (GeographicLocationConstraint's Display), indented.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_CODE = re.compile(r"^(?P<name>.+?) \((?P<code>[A-Za-z0-9-]+)\)(?: @ .*)?$")


@dataclass(frozen=True, slots=True)
class City:
    name: str
    code: str
    relays: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Country:
    name: str
    code: str
    cities: tuple[City, ...]


@dataclass(frozen=True, slots=True)
class LocationChoice:
    """A location constraint: country code, optional city code, optional hostname. Empty country: any."""

    country: str = ""
    city: str = ""
    hostname: str = ""

    def args(self) -> list[str]:
        """The arguments of `mullvad relay set location`."""
        return [x for x in (self.country, self.city, self.hostname) if x]


def parse_relay_list(text: str) -> tuple[Country, ...]:
    countries: list[Country] = []
    cname = ccode = ""
    cities: list[City] = []
    city: tuple[str, str] | None = None
    relays: list[str] = []

    def close_city() -> None:
        nonlocal city, relays
        if city is not None:
            cities.append(City(city[0], city[1], tuple(relays)))
        city, relays = None, []

    def close_country() -> None:
        nonlocal cities, cname, ccode
        close_city()
        if cname and cities:
            countries.append(Country(cname, ccode, tuple(cities)))
        cname = ccode = ""
        cities = []

    for raw in text.splitlines():
        if not raw.strip():
            continue
        depth = len(raw) - len(raw.lstrip("\t"))
        line = raw.strip()
        if depth == 2:
            if city is not None:
                relays.append(line.split(" ", 1)[0])
            continue
        m = _CODE.match(line)
        if m is None:
            continue  # a warning or a line of a newer layout: skip it, keep the rest
        if depth == 0:
            close_country()
            cname, ccode = m["name"], m["code"].lower()
        elif depth == 1 and cname:
            close_city()
            city = (m["name"], m["code"].lower())
    close_country()
    return tuple(countries)


def parse_location_constraint(text: str) -> LocationChoice | None:
    """The `Location:` line of `mullvad relay get`; None when there is none (custom endpoint, unknown)."""
    for raw in text.splitlines():
        line = raw.strip()
        if not line.lower().startswith("location:"):
            continue
        value = line.split(":", 1)[1].strip()
        if value == "any":
            return LocationChoice()
        m = re.match(r"country (\S+)$", value)
        if m:
            return LocationChoice(m[1].lower())
        m = re.match(r"city (\S+), (\S+?)(?:, hostname (\S+))?$", value)
        if m:
            return LocationChoice(m[2].lower(), m[1].lower(), m[3] or "")
        return None
    return None


def location_of_relay(hostname: str | None) -> LocationChoice | None:
    """`se-got-wg-001` -> se, got: where a connected relay is (hostnames encode country and city)."""
    parts = (hostname or "").split("-")
    if len(parts) < 3 or not parts[0].isalpha() or not parts[1].isalpha():
        return None
    return LocationChoice(parts[0].lower(), parts[1].lower())


def total_relays(countries: tuple[Country, ...]) -> int:
    return sum(len(c.relays) for country in countries for c in country.cities)
