"""The helper as installed runs it: the launcher's `python3 -IS`, where no site directory, so no PyQt6 and no
pyroute2, can be imported. It must still work, and load nothing but the standard library and its own modules.

The static rules are import-linter's contracts (pyproject.toml, run by scripts/test); this proves the running
process, lazy imports included.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.bypass.conftest import Lab
from tests.infra.require import require
from tray_app.core.protocol import PROTOCOL_VERSION

ROOT = Path(__file__).resolve().parents[2]
SYSTEM_PYTHON = "/usr/bin/python3"  # the launcher's shebang on Debian
# Every tray_app module a helper run may load: the helper, the pure modules it renders and parses with, paths.
ALLOWED = {
    "tray_app",
    "tray_app.paths",
    "tray_app.core",
    "tray_app.core.procstat",  # `watch` names its start time in the published status
    "tray_app.core.protocol",
    "tray_app.core.routes",
    "tray_app.core.rules",
    "tray_app.core.rules_readback",  # our table read back and compared
    "tray_app.core.their_tables",  # Mullvad's and Tailscale's tables, the ip rules
    "tray_app.core.world",  # the outside world's constants (marks, tables, interface names)
}

# Runs the launcher as `python3 -IS launcher VERB` would, then writes where each loaded module came from.
PROBE = """
import atexit, json, runpy, sys
out, launcher = sys.argv[1], sys.argv[2]
def dump():
    with open(out, "w") as f:
        json.dump({n: getattr(m, "__file__", None) for n, m in list(sys.modules.items())}, f)
atexit.register(dump)
sys.argv = sys.argv[2:]
runpy.run_path(launcher, run_name="__main__")
"""


@pytest.fixture
def launcher(tmp_path: Path) -> Path:
    """packaging/bypass-helper with PACKAGE_DIR pointing at this checkout (what `make install` does)."""
    require(os.access(SYSTEM_PYTHON, os.X_OK), f"{SYSTEM_PYTHON} is missing (scripts/test installs python3)")
    text = (ROOT / "packaging" / "bypass-helper").read_text()
    lines = [f'PACKAGE_DIR = "{ROOT}"' if ln.startswith("PACKAGE_DIR = ") else ln for ln in text.splitlines()]
    assert lines != text.splitlines(), "the launcher has no PACKAGE_DIR line"
    assert lines[0] == "#!/usr/bin/python3 -IS"
    path = tmp_path / "bypass-helper"
    path.write_text("\n".join(lines) + "\n")
    return path


def run_isolated(
    prefix: list[str], launcher: Path, verb: str, out: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, SYSTEM_PYTHON, "-I", "-S", "-c", PROBE, str(out), str(launcher), verb],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def check_loaded(out: Path) -> None:
    loaded: dict[str, str | None] = json.loads(out.read_text())
    ours = {name for name in loaded if name.split(".")[0] == "tray_app"}
    assert {"tray_app.helper.main", "tray_app.core.rules"} <= ours  # the probe saw the real run
    assert {n for n in ours if not n.startswith("tray_app.helper")} <= ALLOWED
    where = (
        "import sysconfig; print(sysconfig.get_paths()['stdlib']); print(sysconfig.get_paths()['platstdlib'])"
    )
    paths = subprocess.run(
        [SYSTEM_PYTHON, "-I", "-S", "-c", where], capture_output=True, text=True, check=True
    )
    stdlib = tuple(str(Path(line).resolve()) + "/" for line in paths.stdout.split())
    # Built-in and frozen modules have no file; every other module must come from the standard library.
    foreign = {
        name: file
        for name, file in loaded.items()
        if file and name.split(".")[0] != "tray_app" and not str(Path(file).resolve()).startswith(stdlib)
    }
    assert not foreign, f"the helper loaded modules from outside the standard library: {foreign}"
    assert not [n for n in loaded if n.split(".")[0] in ("PyQt6", "pyroute2", "jeepney")]


def test_pyqt6_and_pyroute2_are_not_importable_under_dash_is() -> None:
    """The proof below means something only if PyQt6 and pyroute2 are installed for this python3 but hidden by
    -IS."""
    require(os.access(SYSTEM_PYTHON, os.X_OK), f"{SYSTEM_PYTHON} is missing (scripts/test installs python3)")
    plain = subprocess.run([SYSTEM_PYTHON, "-c", "import PyQt6, pyroute2"], capture_output=True, text=True)
    require(
        plain.returncode == 0,
        f"python3-pyqt6 / python3-pyroute2 missing (scripts/test installs them): {plain.stderr}",
    )
    for name in ("PyQt6", "pyroute2"):
        hidden = subprocess.run(
            [SYSTEM_PYTHON, "-I", "-S", "-c", f"import {name}"], capture_output=True, text=True
        )
        assert hidden.returncode == 1 and f"No module named '{name}'" in hidden.stderr


def test_version_without_qt(launcher: Path, tmp_path: Path) -> None:
    out = tmp_path / "modules.json"
    r = run_isolated([], launcher, "version", out, {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(PROTOCOL_VERSION)
    check_loaded(out)


def test_status_without_qt_in_a_netns(lab: Lab, launcher: Path, tmp_path: Path) -> None:
    """`status` as root reads nft, table 52 and the saved state: the whole read path, still stdlib only."""
    lab.route("100.100.1.0/24", "dev", "tailscale0")
    out = tmp_path / "modules.json"
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "MTT_STATE_DIR": str(lab.state_dir)}
    r = run_isolated(lab.ns.argv(), launcher, "status", out, env)
    assert r.returncode == 0, r.stderr
    status = json.loads(r.stdout)
    assert status["state"] == "off" and status["tailnet4"] == [] and status["protocol"] == PROTOCOL_VERSION
    check_loaded(out)
