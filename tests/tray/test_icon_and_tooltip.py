"""Icon choice and tooltip text (pure), and the rendered icons: every state combination distinguishable by
shape alone, readable on light and dark panels."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from tests.tray.standins import BYPASS_ON, MULLVAD_CONNECTED, TS_EXIT, TS_RUNNING, snap
from tray_app.core.icon_choice import Badge, IconSpec, Main, Mark, Style, all_specs, choose
from tray_app.core.model import (
    BypassState,
    BypassStatus,
    MullvadState,
    MullvadStatus,
    Snapshot,
    TailscaleState,
    TailscaleStatus,
)
from tray_app.core.tooltip import tooltip

PARTS = Path(__file__).resolve().parents[2] / "resources" / "icons" / "parts"
APP_ICON = (
    Path(__file__).resolve().parents[2] / "resources/icons/hicolor/scalable/apps/mullvad-tailscale-tray.svg"
)

# The combinations issue 4 names.
MULLVAD = {
    "connected": MullvadStatus(MullvadState.CONNECTED),
    "connecting": MullvadStatus(MullvadState.CONNECTING),
    "disconnected": MullvadStatus(MullvadState.DISCONNECTED),
    "blocked": MullvadStatus(MullvadState.ERROR, blocked=True),
    "unavailable": MullvadStatus(MullvadState.UNAVAILABLE),
}
TAILSCALE = {
    "running": TailscaleStatus(TailscaleState.RUNNING),
    "stopped": TailscaleStatus(TailscaleState.STOPPED),
    "needs login": TailscaleStatus(TailscaleState.NEEDS_LOGIN),
    "unavailable": TailscaleStatus(TailscaleState.UNAVAILABLE),
}
BYPASS = {
    "on": BypassStatus(BypassState.ON, mode="direct"),
    "off": BypassStatus(BypassState.OFF),
    "drifted": BypassStatus(BypassState.DRIFTED, mode="direct"),
}
COMBOS = list(itertools.product(MULLVAD, TAILSCALE, BYPASS))


def test_every_required_combination_gets_its_own_icon() -> None:
    specs = {choose(Snapshot(MULLVAD[m], TAILSCALE[t], BYPASS[b])) for m, t, b in COMBOS}
    assert len(specs) == len(COMBOS) == 60


def test_special_states_map_to_their_shapes() -> None:
    leak = MullvadStatus(MullvadState.ERROR, block_failure=True)
    assert choose(Snapshot(leak)).main is Main.LEAKING
    lockdown = MullvadStatus(MullvadState.DISCONNECTED, lockdown=True, blocked=True)
    assert choose(Snapshot(lockdown)).main is Main.BLOCKED
    assert choose(Snapshot(MullvadStatus(MullvadState.DISCONNECTING))).main is Main.CONNECTING
    assert (
        choose(Snapshot(tailscale=TailscaleStatus(TailscaleState.NEEDS_MACHINE_AUTH))).badge
        is Badge.NEEDS_LOGIN
    )
    assert choose(Snapshot()).mark is Mark.NONE  # unknown bypass: no mark, the tooltip says "unknown"


def test_tooltip_has_the_facts() -> None:
    text = tooltip(snap(MULLVAD_CONNECTED, TS_EXIT, BYPASS_ON))
    assert text.splitlines() == [
        "Mullvad + Tailscale",
        "Mullvad: connected to se-got-wg-001, Gothenburg, Sweden",
        "Tailscale: running on alice@example.com, this device 100.101.102.103",
        "Exit node: nas",
        "Bypass: on (direct)",
    ]


def test_tooltip_for_problems_carries_the_detail() -> None:
    s = Snapshot(
        MullvadStatus(MullvadState.UNAVAILABLE, detail="the Mullvad daemon is not running"),
        TailscaleStatus(TailscaleState.NEEDS_LOGIN),
        BypassStatus(BypassState.UNKNOWN, detail="no polkit agent"),
    )
    assert tooltip(s).splitlines()[1:] == [
        "Mullvad: not available (the Mullvad daemon is not running)",
        "Tailscale: needs login",
        "Bypass: unknown (no polkit agent)",
    ]
    lockdown = Snapshot(MullvadStatus(MullvadState.DISCONNECTED, blocked=True), TS_RUNNING)
    assert "disconnected, traffic blocked (lockdown mode)" in tooltip(lockdown)


def _luminance(hex_colour: str) -> float:
    c = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4 for x in c]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def _contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


@pytest.mark.parametrize("panel", ["#ffffff", "#202020"])
def test_every_state_colour_reads_on_light_and_dark_panels(panel: str) -> None:
    """WCAG's 3:1 for graphical objects, against a white and a near-black panel."""
    colours = set()
    for svg in PARTS.glob("*.svg"):
        text = svg.read_text()
        body = re.search(r'<g id="body">(.*?)</g>', text, re.S)
        assert body, f"{svg.name} has no body group"
        colours |= set(re.findall(r"#[0-9a-fA-F]{6}", body.group(1)))
    assert colours
    low = {c: round(_contrast(c, panel), 2) for c in colours if _contrast(c, panel) < 3.0}
    assert not low, f"too little contrast against {panel}: {low}"


def test_parts_exist_for_every_spec_value() -> None:
    for m in Main:
        assert (PARTS / f"main-{m.value}.svg").is_file()
    for b in Badge:
        assert (PARTS / f"badge-{b.value}.svg").is_file()
    for k in Mark:
        assert k is Mark.NONE or (PARTS / f"mark-{k.value}.svg").is_file()
    assert APP_ICON.is_file()


def _mask(img: object) -> bytes:
    """Alpha channel only: what is left when colour is ignored."""
    from PyQt6.QtGui import QImage

    assert isinstance(img, QImage)
    return bytes(img.pixelColor(x, y).alpha() // 64 for y in range(img.height()) for x in range(img.width()))


@pytest.mark.parametrize("size", [16, 22])
def test_every_icon_differs_by_shape_alone(qapp: object, size: int) -> None:
    """Monochrome renders (colour removed) are pairwise different in at least a few pixels at tray sizes."""
    from tray_app.ui.icon import render

    masks = {spec: _mask(render(spec, size, Style.LIGHT_PANEL)) for spec in all_specs()}
    for (a, ma), (b, mb) in itertools.combinations(masks.items(), 2):
        diff = sum(1 for x, y in zip(ma, mb, strict=True) if x != y)
        assert diff >= 3, f"{a.key} and {b.key} differ in only {diff} pixels at {size} px"


def test_colour_and_monochrome_renders_are_not_empty(qapp: object) -> None:
    from tray_app.ui.icon import icon, render

    for style in Style:
        img = render(IconSpec(Main.CONNECTED, Badge.RUNNING, Mark.ON), 22, style)
        opaque = sum(1 for y in range(22) for x in range(22) if img.pixelColor(x, y).alpha() > 128)
        assert opaque > 22 * 22 // 5
    ic = icon(IconSpec(Main.DISCONNECTED, Badge.STOPPED, Mark.NONE))
    assert not ic.isNull() and {s.width() for s in ic.availableSizes()} >= {16, 22, 32, 64}


def test_monochrome_styles_use_the_panel_contrast(qapp: object) -> None:
    from tray_app.ui.icon import render

    spec = IconSpec(Main.CONNECTED, Badge.RUNNING, Mark.NONE)
    dark_glyphs = render(spec, 32, Style.LIGHT_PANEL).pixelColor(8, 12)
    light_glyphs = render(spec, 32, Style.DARK_PANEL).pixelColor(8, 12)
    assert dark_glyphs.alpha() == light_glyphs.alpha() == 255
    assert dark_glyphs.lightness() < 60 and light_glyphs.lightness() > 200
