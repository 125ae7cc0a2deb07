"""A plain `pip install` / `pipx install` of the project: a non-editable wheel in a fresh venv, run from
outside the checkout, must draw its tray icon from the icons the wheel carries (issue 14, item 16)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.infra.require import require_tools

from .conftest import ROOT

PARTS = sorted(p.name for p in (ROOT / "resources" / "icons" / "parts").glob("*.svg"))
# What a user's environment has: none of this checkout, no PYTHONPATH, no MTT_RESOURCES.
CLEAN_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": "/root"}

# Inside the installed venv: where the icons came from, and that every icon state draws visible pixels.
RENDER_CHECK = """
import sys
from PyQt6.QtGui import QGuiApplication
app = QGuiApplication(sys.argv)
from tray_app.core.icon_choice import all_specs
from tray_app.ui import icon
print(icon.parts_dir())
print(icon.app_icon_path().is_file())
blank = []
for spec in all_specs():
    img = icon.render(spec, 22)
    if not any(img.pixelColor(x, y).alpha() for x in range(22) for y in range(22)):
        blank.append(spec.key)
    if icon.icon(spec).isNull():
        blank.append(spec.key + " (QIcon)")
print("blank:", blank)
"""


@dataclass(frozen=True)
class WheelInstall:
    wheel: Path
    venv: Path
    home: Path

    def run(self, *args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args, cwd=self.home, env={**CLEAN_ENV, "HOME": str(self.home), **env},
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip


def _copy_tree(dest: Path) -> None:
    """The files a release carries (tracked plus new, unignored ones), as packaging/source-files.sh does."""
    names = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.split(b"\0")  # fmt: skip
    for raw in filter(None, names):
        src = ROOT / os.fsdecode(raw)
        if src.is_file():
            (dest / src.relative_to(ROOT)).parent.mkdir(parents=True, exist_ok=True)
            (dest / src.relative_to(ROOT)).write_bytes(src.read_bytes())


@pytest.fixture(scope="module")
def wheel_install(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WheelInstall]:
    require_tools("git", "dbus-run-session")
    base = tmp_path_factory.mktemp("wheel")
    src, out, venv, home = base / "src", base / "dist", base / "venv", base / "home"
    for d in (src, out, home):
        d.mkdir()
    _copy_tree(src)
    pip = (sys.executable, "-m", "pip", "--disable-pip-version-check")
    # Built as `pip install .` builds it: in an isolated environment with the build backend from PyPI.
    subprocess.run([*pip, "wheel", "-q", "--no-deps", "-w", str(out), str(src)], check=True, cwd=base)
    wheel = next(out.glob("*.whl"))
    subprocess.run(["/usr/bin/python3", "-m", "venv", str(venv)], check=True)
    # PyQt6 from PyPI as pipx would get it, pinned with its Qt (PyPI has PyQt6 releases without one).
    subprocess.run(
        [str(venv / "bin/python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
         "-c", str(ROOT / "requirements-dev.txt"), str(wheel)],
        check=True, cwd=base,
    )  # fmt: skip
    yield WheelInstall(wheel, venv, home)


def test_the_wheel_carries_the_icons_the_tray_draws(wheel_install: WheelInstall) -> None:
    names = set(zipfile.ZipFile(wheel_install.wheel).namelist())
    missing = [p for p in PARTS if f"tray_app/resources/icons/parts/{p}" not in names]
    assert not missing, f"the wheel lacks icon parts: {missing}"
    assert "tray_app/resources/icons/hicolor/scalable/apps/mullvad-tailscale-tray.svg" in names


def test_installed_wheel_draws_every_icon_from_its_own_copy(wheel_install: WheelInstall) -> None:
    r = wheel_install.run(
        str(wheel_install.venv / "bin/python"), "-c", RENDER_CHECK, QT_QPA_PLATFORM="offscreen"
    )
    assert r.returncode == 0, r.stderr
    parts_dir, app_icon, blank = r.stdout.strip().splitlines()[-3:]
    assert parts_dir.startswith(str(wheel_install.venv)), (
        f"icons came from {parts_dir}, not the installed wheel"
    )
    assert app_icon == "True"
    assert blank == "blank: []"


def test_installed_tray_starts_with_an_icon(wheel_install: WheelInstall) -> None:
    """The console script pip wrote starts the tray; before the fix it said "icon sources not found" and Qt
    "No Icon set"."""
    exe = str(wheel_install.venv / "bin/mullvad-tailscale-tray")
    r = wheel_install.run(exe, "--version")
    assert r.returncode == 0 and r.stdout.startswith("mullvad-tailscale-tray "), r
    runtime = wheel_install.home / "runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    r = wheel_install.run(
        "dbus-run-session", "--", "timeout", "5", exe, "--hidden",
        QT_QPA_PLATFORM="offscreen", XDG_RUNTIME_DIR=str(runtime),
        MTT_MULLVAD_CLI="/nonexistent/mullvad", MTT_TAILSCALE_CLI="/nonexistent/tailscale",
        MTT_TAILSCALE_SOCKET="/nonexistent/tailscaled.sock",
    )  # fmt: skip
    assert r.returncode == 124, f"the tray exited early ({r.returncode}): {r.stdout}{r.stderr}"
    out = r.stdout + r.stderr
    assert "Traceback" not in out and "icon sources not found" not in out and "No Icon set" not in out, out
