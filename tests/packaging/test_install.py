"""`make install` / `make uninstall` put every file where docs/DESIGN.md ("Files on disk") says."""

from __future__ import annotations

import json
import os
import stat
import struct
import subprocess
import sys
from pathlib import Path

from tests.infra.netns import NetNS
from tests.infra.require import require, require_root, require_tools
from tests.polkit.install import SYSTEM_PYTHON
from tray_app import __version__, paths
from tray_app.core.protocol import PROTOCOL_VERSION

from .conftest import PYTHONDIR, ROOT, UNITDIR, Install, run_make

APP = "mullvad-tailscale-tray"
ICON_SIZES = (16, 22, 24, 32, 48, 64, 128, 256)
PARTS = sorted(p.name for p in (ROOT / "resources" / "icons" / "parts").glob("*.svg"))

# Everything but the Python package, with its mode (None: a symlink).
EXPECTED: dict[str, int | None] = {
    f"/usr/bin/{APP}": 0o755,
    paths.HELPER_PATH: 0o755,
    paths.POLKIT_POLICY: 0o644,
    f"/usr/share/doc/{APP}/examples/50-mullvad-tailscale-tray.rules.example": 0o644,
    f"{UNITDIR}/{paths.BOOT_UNIT}": 0o644,
    f"/usr/share/applications/{APP}.desktop": 0o644,
    f"/etc/xdg/autostart/{APP}.desktop": 0o644,
    "/usr/share/metainfo/io.github.mullvad_tailscale_tray.metainfo.xml": 0o644,
    f"/usr/share/icons/hicolor/scalable/apps/{APP}.svg": 0o644,
    **{f"/usr/share/icons/hicolor/{s}x{s}/apps/{APP}.png": 0o644 for s in ICON_SIZES},
    **{f"/usr/share/{APP}/icons/parts/{name}": 0o644 for name in PARTS},
    f"/usr/share/{APP}/icons/hicolor/scalable/apps/{APP}.svg": None,
    f"/usr/share/man/man1/{APP}.1": 0o644,
}


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    w, h = struct.unpack(">II", data[16:24])
    return int(w), int(h)


def test_every_file_lands_where_design_says_with_its_mode(installed: Install) -> None:
    files = installed.files()
    python_files = {f for f in files if f.startswith(PYTHONDIR + "/")}
    assert files - python_files == set(EXPECTED), "installed set differs from DESIGN's list"
    for path, mode in EXPECTED.items():
        st = (installed.destdir / path.lstrip("/")).lstat()
        if mode is None:
            assert stat.S_ISLNK(st.st_mode), f"{path} should be a symlink"
        else:
            assert stat.S_ISREG(st.st_mode), f"{path} should be a regular file"
            assert stat.S_IMODE(st.st_mode) == mode, f"{path} has mode {stat.S_IMODE(st.st_mode):o}"
            if os.geteuid() == 0:
                assert (st.st_uid, st.st_gid) == (0, 0), f"{path} must be root-owned"


def test_example_polkit_rules_are_not_active(installed: Install) -> None:
    # The example lets a whole group skip the password: documentation, never installed into rules.d.
    assert not any("/rules.d/" in f for f in installed.files())


def test_png_icons_are_rendered_at_their_sizes(installed: Install) -> None:
    for s in ICON_SIZES:
        png = installed.destdir / f"usr/share/icons/hicolor/{s}x{s}/apps/{APP}.png"
        assert _png_size(png) == (s, s)


def test_app_icon_link_resolves_to_the_hicolor_icon(installed: Install) -> None:
    link = installed.destdir / f"usr/share/{APP}/icons/hicolor/scalable/apps/{APP}.svg"
    target = installed.destdir / f"usr/share/icons/hicolor/scalable/apps/{APP}.svg"
    assert not os.path.isabs(os.readlink(link)), "absolute links break under DESTDIR staging"
    assert link.resolve() == target.resolve()


def test_python_package_is_complete_and_compiled(installed: Install) -> None:
    site = installed.destdir / PYTHONDIR.lstrip("/")
    source = {
        p.relative_to(ROOT)
        for p in (ROOT / "tray_app").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert source <= {p.relative_to(site) for p in (site / "tray_app").rglob("*") if p.is_file()}
    assert list((site / "tray_app" / "helper").glob("__pycache__/main.*.pyc")), "not byte-compiled"


def test_installed_launcher_runs_the_installed_package(installed: Install) -> None:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(installed.destdir / PYTHONDIR.lstrip("/"))}
    out = subprocess.run(
        [installed.destdir / f"usr/bin/{APP}", "--version"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert out.stdout.strip() == f"{APP} {__version__}"


def test_helper_launcher_runs_isolated(installed: Install, tmp_path: Path) -> None:
    helper = installed.destdir / paths.HELPER_PATH.lstrip("/")
    # The Makefile points the shebang at the target Python and keeps -IS (isolated, no site), and sets the
    # one directory the package is imported from.
    lines = helper.read_text().splitlines()
    assert lines[0] == f"#!{installed.python} -IS"
    assert f'PACKAGE_DIR = "{PYTHONDIR}"  # PYTHONDIR of `make install-data`' in lines
    evil = tmp_path / "evil"
    (evil / "tray_app" / "helper").mkdir(parents=True)
    (evil / "tray_app" / "__init__.py").write_text('raise SystemExit("INJECTED")\n')
    (evil / "tray_app" / "helper" / "__init__.py").write_text("")
    (evil / "tray_app" / "helper" / "main.py").write_text('def main():\n    raise SystemExit("INJECTED")\n')
    out = subprocess.run(
        [helper, "version"],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(evil)},
        cwd=evil,
        check=False,
    )
    assert "INJECTED" not in out.stdout + out.stderr, "a user's PYTHONPATH or cwd reached the root helper"


def test_installed_helper_answers_version(installed: Install) -> None:
    # Without -I's isolation there is no way to point it at DESTDIR: run the same file with the package path.
    helper = installed.destdir / paths.HELPER_PATH.lstrip("/")
    out = subprocess.run(
        [sys.executable, helper, "version"],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(installed.destdir / PYTHONDIR.lstrip("/"))},
        check=True,
    )
    assert out.stdout.strip() == str(PROTOCOL_VERSION)


def test_uninstall_removes_every_installed_file(installed: Install, tmp_path: Path) -> None:
    # A second install of its own: the module's fixture stays intact for the other tests.
    own = Install(destdir=tmp_path / "root", builddir=installed.builddir, python=installed.python)
    own.make("install")
    assert own.files()
    own.make("uninstall")
    assert own.files() == set(), "uninstall left files behind"


def test_uninstall_keeps_files_it_did_not_install(installed: Install, tmp_path: Path) -> None:
    own = Install(destdir=tmp_path / "root", builddir=installed.builddir, python=installed.python)
    own.make("install")
    neighbour = own.destdir / "usr/share/applications/someone-else.desktop"
    neighbour.write_text("[Desktop Entry]\n")
    own.make("uninstall")
    assert own.files() == {"/usr/share/applications/someone-else.desktop"}


def test_prefix_other_than_usr_is_refused_with_the_reason(tmp_path: Path) -> None:
    p = run_make(
        "install",
        check=False,
        PREFIX="/usr/local",
        DESTDIR=str(tmp_path / "root"),
        BUILDDIR=str(tmp_path / "build"),
    )
    assert p.returncode == 2
    assert "PREFIX=/usr/local is not supported" in p.stderr
    assert "/usr/share/polkit-1/actions" in p.stderr
    assert not (tmp_path / "root").exists(), "nothing may be installed after the refusal"


def test_a_missing_input_fails_the_build_by_name(tmp_path: Path) -> None:
    p = run_make(
        "install",
        check=False,
        POLICY="polkit/not-there.policy",
        DESTDIR=str(tmp_path / "root"),
        BUILDDIR=str(tmp_path / "build"),
    )
    assert p.returncode != 0
    assert "polkit/not-there.policy" in p.stderr
    assert not (tmp_path / "root").exists()


# Planted where Debian's python3 looks before dpkg's copy (/usr/local/lib/python3.X/dist-packages, which
# `pip install` or `make install` fill): a tray_app that announces itself, and a .pth file, which the site
# module runs at start-up.
PLANT = r"""
set -e
v=$(/usr/bin/python3 -c 'import sys; print(f"python3.{sys.version_info.minor}")')
mount -t tmpfs -o mode=0755 tmpfs /usr/local/lib
d=/usr/local/lib/$v/dist-packages
mkdir -p "$d/tray_app/helper"
echo 'raise SystemExit("PLANTED tray_app imported")' > "$d/tray_app/__init__.py"
echo 'import sys; print("PLANTED .pth ran", file=sys.stderr)' > "$d/zz-planted.pth"
mount --bind "$STAGED" /usr/lib/python3/dist-packages
"""


def test_root_helper_imports_only_the_installed_package(netns: NetNS, tmp_path: Path) -> None:
    """`python3 -I` still ran site: .pth files, and /usr/local/lib/python3*/dist-packages before the packaged
    copy, so a `pip`/`make install` copy of tray_app replaced the root helper's code. The installed launcher
    (-IS, PACKAGE_DIR) imports only the installed package; in a private mount namespace the staged install
    stands in for dpkg's files and the planted copy sits where Debian's python3 would find it first."""
    require_root()
    require_tools("unshare", "mount", "make", "rsvg-convert", "nft", "ip")
    require(os.path.exists(SYSTEM_PYTHON), f"{SYSTEM_PYTHON} is missing: install python3 (scripts/test does)")
    own = Install(destdir=tmp_path / "root", builddir=tmp_path / "build", python=SYSTEM_PYTHON)
    own.make("install")  # PYTHONDIR=/usr/lib/python3/dist-packages (the .deb's), PYTHON=/usr/bin/python3
    helper = own.destdir / paths.HELPER_PATH.lstrip("/")
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    tmp_path.chmod(0o755)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "MTT_STATE_DIR": str(state)}
    env["STAGED"] = str(own.destdir / PYTHONDIR.lstrip("/"))

    def in_planted(*cmd: str) -> subprocess.CompletedProcess[str]:
        script = PLANT + 'exec "$@"\n'
        return netns.run("unshare", "-m", "sh", "-c", script, "sh", *cmd, check=False, env=env)

    # The plant bites: plain isolated mode (the old launcher's `-I`) runs the .pth and imports that copy.
    r = in_planted(SYSTEM_PYTHON, "-I", "-c", "import tray_app")
    assert r.stderr.splitlines() == ["PLANTED .pth ran", "PLANTED tray_app imported"], r.stderr
    # The installed launcher does neither, and works as root: version, enable, status, disable.
    r = in_planted(str(helper), "version")
    assert (r.returncode, r.stdout, r.stderr) == (0, f"{PROTOCOL_VERSION}\n", "")
    for verb in (["enable", "--mode", "private"], ["status"], ["disable"]):
        r = in_planted(str(helper), *verb)
        assert r.returncode == 0 and "PLANTED" not in r.stderr, (verb, r.stderr)
        s = json.loads(r.stdout)
        assert s["state"] == ("off" if verb == ["disable"] else "on"), s
    assert not (state / "bypass.json").exists()
