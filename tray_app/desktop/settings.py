"""User settings, kept with QSettings in `$XDG_CONFIG_HOME/mullvad-tailscale-tray/settings.ini`.

Typed accessors so the rest of the app never handles QVariant strings. The bypass consent lives here: the
tray only ever turns the bypass on by itself (restore, refresh) when the user turned it on before.
"""

from __future__ import annotations

from PyQt6.QtCore import QSettings

from tray_app.core.notify_policy import Category
from tray_app.paths import config_dir

_MODES = ("direct", "private")
_ICON_STYLES = ("colour", "light", "dark")


class Settings:
    def __init__(self, path: str | None = None) -> None:
        self.path = path or str(config_dir() / "settings.ini")
        self._q = QSettings(self.path, QSettings.Format.IniFormat)

    def _bool(self, key: str, default: bool) -> bool:
        value = self._q.value(key, default)
        if isinstance(value, str):
            return value.lower() in ("true", "1", "yes")
        return bool(value)

    def _set(self, key: str, value: object) -> None:
        self._q.setValue(key, value)
        self._q.sync()  # a crash or a second instance must see the choice at once

    # The user wants the bypass on (consent given by turning it on in the tray or from a notification).
    @property
    def bypass_wanted(self) -> bool:
        return self._bool("bypass/wanted", False)

    @bypass_wanted.setter
    def bypass_wanted(self, value: bool) -> None:
        self._set("bypass/wanted", value)

    @property
    def bypass_mode(self) -> str:
        value = str(self._q.value("bypass/mode", "direct"))
        return value if value in _MODES else "direct"

    @bypass_mode.setter
    def bypass_mode(self, value: str) -> None:
        if value not in _MODES:
            raise ValueError(f"unknown bypass mode {value!r}: use direct or private")
        self._set("bypass/mode", value)

    @property
    def notifications(self) -> bool:
        return self._bool("notifications/enabled", True)

    @notifications.setter
    def notifications(self, value: bool) -> None:
        self._set("notifications/enabled", value)

    @property
    def muted(self) -> frozenset[Category]:
        raw = self._q.value("notifications/muted", "")
        items = raw if isinstance(raw, list) else str(raw or "").split(",")
        return frozenset(
            Category(i) for i in (x.strip() for x in items) if i in Category.__members__.values()
        )

    @muted.setter
    def muted(self, value: frozenset[Category]) -> None:
        self._set("notifications/muted", ",".join(sorted(c.value for c in value)))

    @property
    def icon_style(self) -> str:
        value = str(self._q.value("icon/style", "colour"))
        return value if value in _ICON_STYLES else "colour"

    @icon_style.setter
    def icon_style(self, value: str) -> None:
        if value not in _ICON_STYLES:
            raise ValueError(f"unknown icon style {value!r}: use colour, light or dark")
        self._set("icon/style", value)

    # issue 12: devices whose coming and going the user wants to hear about; what a middle click does
    def _strings(self, key: str) -> frozenset[str]:
        raw = self._q.value(key, "")
        items = raw if isinstance(raw, list) else str(raw or "").split(",")
        return frozenset(i.strip() for i in items if i.strip())

    def _set_strings(self, key: str, value: frozenset[str]) -> None:
        self._set(key, ",".join(sorted(value)))

    @property
    def watched_devices(self) -> frozenset[str]:
        return self._strings("devices/watched")

    @watched_devices.setter
    def watched_devices(self, value: frozenset[str]) -> None:
        self._set_strings("devices/watched", value)

    @property
    def last_exit_node(self) -> str:
        """The exit node (stable ID) the tray saw in use last: "Last used" when tailscaled kept none."""
        return str(self._q.value("route/last_exit_node", "") or "")

    @last_exit_node.setter
    def last_exit_node(self, value: str) -> None:
        self._set("route/last_exit_node", value)

    @property
    def middle_click(self) -> str:
        value = str(self._q.value("tray/middle_click", "bypass"))
        return value if value in ("bypass", "none") else "bypass"

    @middle_click.setter
    def middle_click(self, value: str) -> None:
        self._set("tray/middle_click", value if value in ("bypass", "none") else "none")

    @property
    def tailnet_notify(self) -> frozenset[str]:
        """Opt-in tailnet notifications (core.tailnet_notify.TailnetKind values); none by default."""
        return self._strings("notifications/tailnet")

    @tailnet_notify.setter
    def tailnet_notify(self, value: frozenset[str]) -> None:
        self._set_strings("notifications/tailnet", value)
