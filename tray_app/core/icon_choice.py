"""Which icon parts show a Snapshot: Mullvad is the main shape, Tailscale the badge, the bypass the mark.

Pure: the UI maps each part to an SVG source in `resources/icons/parts/`. Every part differs in shape, not
only in colour, so the 5 x 4 x 3 combinations stay distinguishable for colour-blind users and in the
monochrome (symbolic) style.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from tray_app.core.model import BypassState, MullvadState, Snapshot, TailscaleState


class Main(StrEnum):
    """Mullvad: a shield. Closed with a tick, open with dots, empty, crossed out, or dashed with a '?'."""

    CONNECTED = "connected"
    CONNECTING = "connecting"
    DISCONNECTED = "disconnected"
    BLOCKED = "blocked"
    LEAKING = "leaking"  # error state in which blocking itself failed: traffic may leave unprotected
    UNAVAILABLE = "unavailable"


class Badge(StrEnum):
    """Tailscale, bottom right: a filled disc, a ring, a triangle with '!', or a small cross."""

    RUNNING = "running"
    STARTING = "starting"
    STOPPED = "stopped"
    NEEDS_LOGIN = "needs-login"
    UNAVAILABLE = "unavailable"


class Mark(StrEnum):
    """The bypass, top right: a filled diamond (on), a hollow diamond with '!' (drifted), nothing (off)."""

    ON = "on"
    DRIFTED = "drifted"
    NONE = "none"


class Style(StrEnum):
    """Colour icon (with outlines that read on any panel) or monochrome for light or dark panels."""

    COLOUR = "colour"
    LIGHT_PANEL = "light"  # dark glyphs
    DARK_PANEL = "dark"  # light glyphs


@dataclass(frozen=True, slots=True)
class IconSpec:
    main: Main
    badge: Badge
    mark: Mark

    @property
    def key(self) -> str:
        """Stable name for caches and file names, e.g. `connected+running+on`."""
        return f"{self.main.value}+{self.badge.value}+{self.mark.value}"


_MAIN = {
    MullvadState.CONNECTED: Main.CONNECTED,
    MullvadState.CONNECTING: Main.CONNECTING,
    MullvadState.DISCONNECTING: Main.CONNECTING,  # in motion either way; the tooltip says which
    MullvadState.DISCONNECTED: Main.DISCONNECTED,
    MullvadState.ERROR: Main.BLOCKED,
    MullvadState.UNAVAILABLE: Main.UNAVAILABLE,
}

_BADGE = {
    TailscaleState.RUNNING: Badge.RUNNING,
    TailscaleState.STARTING: Badge.STARTING,
    TailscaleState.STOPPED: Badge.STOPPED,
    TailscaleState.NEEDS_LOGIN: Badge.NEEDS_LOGIN,
    TailscaleState.NEEDS_MACHINE_AUTH: Badge.NEEDS_LOGIN,
    TailscaleState.NO_STATE: Badge.NEEDS_LOGIN,  # never logged in: the fix is the same, log in
    TailscaleState.UNAVAILABLE: Badge.UNAVAILABLE,
}

_MARK = {
    BypassState.ON: Mark.ON,
    BypassState.DRIFTED: Mark.DRIFTED,
    BypassState.OFF: Mark.NONE,
    BypassState.UNKNOWN: Mark.NONE,
}


def choose(snapshot: Snapshot) -> IconSpec:
    m = snapshot.mullvad
    if m.state is MullvadState.ERROR and m.block_failure:
        main = Main.LEAKING
    elif m.state is MullvadState.DISCONNECTED and m.blocked:
        main = Main.BLOCKED  # lockdown mode while disconnected: nothing gets out, like the error state
    else:
        main = _MAIN[m.state]
    return IconSpec(main, _BADGE[snapshot.tailscale.state], _MARK[snapshot.bypass.state])


def all_specs() -> list[IconSpec]:
    """Every combination the icon can show (used by tests, the screenshot script and the icon cache)."""
    return [IconSpec(m, b, k) for m in Main for b in Badge for k in Mark]
