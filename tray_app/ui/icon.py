"""Draws the tray icon for an IconSpec from the SVG parts in `resources/icons/parts/`.

Each part has a `body` group (drawn in its colour), an optional `cut` group (a glyph: white in the colour
style, knocked out of the body in the monochrome styles) and, for badge and mark, a `halo` group knocked out
of whatever lies below so the badge stands apart from the shield at 16 px.
"""

from __future__ import annotations

import os
import re
import sys
from functools import cache
from pathlib import Path

from PyQt6.QtCore import QByteArray
from PyQt6.QtGui import QIcon, QImage, QPainter, QPixmap
from PyQt6.QtSvg import QSvgRenderer

from tray_app.core.icon_choice import IconSpec, Mark, Style

SIZES = (16, 22, 24, 32, 48, 64)
CANVAS = 64.0
_MONO_FG = {Style.LIGHT_PANEL: "#202020", Style.DARK_PANEL: "#f2f2f2"}
_HEX = re.compile(r"#[0-9a-fA-F]{6}\b")


def parts_dir() -> Path:
    """The SVG parts: $MTT_RESOURCES, the checkout's resources/, the package's own copy (a wheel: `pip` or
    `pipx install`), or the installed share directory (distribution packages, `make install`)."""
    candidates = []
    if os.environ.get("MTT_RESOURCES"):
        candidates.append(Path(os.environ["MTT_RESOURCES"]) / "icons" / "parts")
    here = Path(__file__).resolve()
    candidates += [
        here.parents[2] / "resources" / "icons" / "parts",
        here.parents[1] / "resources" / "icons" / "parts",  # put there by setup.py's build_py
        Path(sys.prefix) / "share" / "mullvad-tailscale-tray" / "icons" / "parts",
        Path("/usr/local/share/mullvad-tailscale-tray/icons/parts"),
        Path("/usr/share/mullvad-tailscale-tray/icons/parts"),
    ]
    for c in candidates:
        if (c / "main-connected.svg").is_file():
            return c
    raise FileNotFoundError(
        "icon sources not found in " + ", ".join(map(str, candidates)) + ": reinstall mullvad-tailscale-tray"
    )


def app_icon_path() -> Path:
    return parts_dir().parents[0] / "hicolor" / "scalable" / "apps" / "mullvad-tailscale-tray.svg"


@cache
def _renderer(name: str, style: Style) -> QSvgRenderer:
    text = (parts_dir() / f"{name}.svg").read_text(encoding="utf-8")
    if style is not Style.COLOUR:
        text = _HEX.sub(_MONO_FG[style], text)
    return QSvgRenderer(QByteArray(text.encode()))


def _draw(p: QPainter, r: QSvgRenderer, element: str, scale: float, mode: QPainter.CompositionMode) -> None:
    if not r.elementExists(element):
        return
    p.setCompositionMode(mode)
    p.save()
    p.scale(scale, scale)
    r.render(p, element, r.boundsOnElement(element))
    p.restore()


def _draw_part(p: QPainter, r: QSvgRenderer, style: Style, scale: float) -> None:
    src_over = QPainter.CompositionMode.CompositionMode_SourceOver
    knock = QPainter.CompositionMode.CompositionMode_DestinationOut
    _draw(p, r, "halo", scale, knock)
    _draw(p, r, "body", scale, src_over)
    _draw(p, r, "cut", scale, src_over if style is Style.COLOUR else knock)
    p.setCompositionMode(src_over)


def render(spec: IconSpec, size: int, style: Style = Style.COLOUR) -> QImage:
    names = [f"main-{spec.main.value}", f"badge-{spec.badge.value}"]
    if spec.mark is not Mark.NONE:
        names.append(f"mark-{spec.mark.value}")
    renderers = [_renderer(n, style) for n in names]  # may raise: before any painter is active
    img = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    img.fill(0)  # transparent; not Qt.GlobalColor: the first Qt.* lookup builds all of Qt's enums (12 ms)
    p = QPainter(img)
    try:
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        for r in renderers:
            _draw_part(p, r, style, size / CANVAS)
    finally:
        p.end()
    return img


def state_icon_file(spec: IconSpec) -> str:
    """The icon of a state as a PNG file, for notifications (servers take a path, not pixels we draw).
    Written once per state into the user's runtime directory; "" when it cannot be written."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if not runtime:  # no private directory (no session): the app's own icon will do
        return ""
    base = Path(runtime) / "mullvad-tailscale-tray-icons"
    path = base / f"{spec.key}.png"
    try:
        base.mkdir(mode=0o700, exist_ok=True)
        if not path.is_file() and not render(spec, 64).save(str(path)):
            return ""
    except (OSError, FileNotFoundError):
        return ""
    return str(path)


_icons: dict[tuple[str, Style], QIcon] = {}
_warned = False


def icon(spec: IconSpec, style: Style = Style.COLOUR) -> QIcon:
    """A QIcon with crisp pixmaps for every common tray size (cached: a state change costs a lookup)."""
    key = (spec.key, style)
    if key not in _icons:
        ic = QIcon()
        try:
            for s in SIZES:
                ic.addPixmap(QPixmap.fromImage(render(spec, s, style)))
        except FileNotFoundError as exc:
            # a broken installation must not take the tray down: say why once, show a generic icon
            global _warned  # noqa: PLW0603
            if not _warned:
                _warned = True
                print(f"mullvad-tailscale-tray: {exc}", file=sys.stderr)
            return QIcon.fromTheme("network-vpn")
        _icons[key] = ic
    return _icons[key]


def resolve_style(setting: str) -> Style:
    """The `icon/style` setting: "colour", or "light"/"dark" naming the panel for the monochrome icon."""
    try:
        return Style(setting)
    except ValueError:
        return Style.COLOUR
