"""Adds the runtime icons to the Python package (pyproject.toml holds everything else).

The tray draws its icon from `resources/icons/` (parts, and the app icon). Distribution packages and
`make install` put them under /usr/share/mullvad-tailscale-tray/icons; a wheel (`pip install`, `pipx
install`) has no such place, so the build copies them into the package as `tray_app/resources/icons/`, where
`tray_app/ui/icon.py` looks first. The source tree keeps one copy: `resources/` stays the only original.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

TOP = Path(__file__).resolve().parent
# What the running app reads (tray_app/ui/icon.py), relative to resources/.
RUNTIME = ("icons/parts", "icons/hicolor/scalable/apps")


class BuildPyWithIcons(build_py):  # type: ignore[misc]
    def run(self) -> None:
        super().run()
        for rel in RUNTIME:
            src = TOP / "resources" / rel
            svgs = sorted(src.glob("*.svg"))
            if not svgs:  # a wheel without them draws no icon: fail the build instead
                raise SystemExit(f"error: no SVG files in {src}: build from a complete source tree")
            dest = Path(self.build_lib) / "tray_app" / "resources" / rel
            dest.mkdir(parents=True, exist_ok=True)
            for svg in svgs:
                shutil.copyfile(svg, dest / svg.name)


setup(cmdclass={"build_py": BuildPyWithIcons})
