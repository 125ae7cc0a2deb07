"""The shipped metadata is valid and agrees with itself: desktop files, AppStream, polkit, unit, versions."""

from __future__ import annotations

import configparser
import re
import subprocess
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.infra.require import require_tools
from tray_app import __version__, paths
from tray_app.core.protocol import ACTIONS

from .conftest import ROOT

APP = "mullvad-tailscale-tray"
DESKTOP = ROOT / "resources" / f"{APP}.desktop"
AUTOSTART = ROOT / "resources" / f"{APP}-autostart.desktop"
METAINFO = ROOT / "resources" / "io.github.mullvad_tailscale_tray.metainfo.xml"
POLICY = ROOT / "polkit" / "io.github.mullvad-tailscale-tray.policy"
UNIT = ROOT / "resources" / "systemd" / "mullvad-tailscale-bypass.service"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _desktop_entry(path: Path) -> configparser.SectionProxy:
    cp = configparser.ConfigParser(interpolation=None, comment_prefixes=("#",))
    cp.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    cp.read_string(path.read_text())
    return cp["Desktop Entry"]


@pytest.mark.parametrize("path", [DESKTOP, AUTOSTART], ids=["applications", "autostart"])
def test_desktop_file_validates(path: Path) -> None:
    require_tools("desktop-file-validate")
    p = subprocess.run(["desktop-file-validate", path], capture_output=True, text=True, check=False)
    assert p.returncode == 0 and "error" not in p.stdout, p.stdout + p.stderr


def test_desktop_entries_start_the_installed_program_with_the_installed_icon() -> None:
    script = next(iter(PYPROJECT["project"]["scripts"]))
    for path in (DESKTOP, AUTOSTART):
        e = _desktop_entry(path)
        assert e["Exec"].split()[0] == script == APP
        assert e["TryExec"] == APP
        assert e["Icon"] == APP
        assert e["Name"] == "Mullvad + Tailscale"


def test_autostart_entry_starts_hidden_and_is_overridden_by_the_users_toggle() -> None:
    e = _desktop_entry(AUTOSTART)
    assert "--hidden" in e["Exec"].split()
    assert e.get("Hidden", "false") == "false"
    assert e["X-GNOME-Autostart-enabled"] == "true"
    # XDG autostart: a user file of the same name replaces the system one. The Makefile installs the
    # autostart entry under the name the app's toggle writes.
    makefile = (ROOT / "Makefile").read_text()
    assert "$(SYSCONFDIR)/xdg/autostart/$(APP).desktop" in makefile
    assert paths.autostart_file().name == f"{APP}.desktop"


def test_metainfo_validates() -> None:
    require_tools("appstreamcli")
    p = subprocess.run(
        ["appstreamcli", "validate", "--no-net", "--pedantic", METAINFO],
        capture_output=True,
        text=True,
        check=False,
    )
    assert p.returncode == 0, p.stdout + p.stderr


def test_metainfo_names_itself_the_desktop_file_and_this_release() -> None:
    root = ET.parse(METAINFO).getroot()  # noqa: S314  (the project's own file)
    assert root.get("type") == "desktop-application"
    cid = root.findtext("id")
    assert METAINFO.name == f"{cid}.metainfo.xml"
    assert root.findtext("launchable[@type='desktop-id']") == DESKTOP.name
    assert root.findtext("provides/binary") == APP
    assert root.findtext("project_license") == PYPROJECT["project"]["license"]["text"]
    newest = root.find("releases/release")
    assert newest is not None and newest.get("version") == PYPROJECT["project"]["version"]


def test_policy_is_well_formed_and_each_action_runs_the_installed_helper() -> None:
    root = ET.parse(POLICY).getroot()  # noqa: S314  (the project's own file)
    actions = {a.get("id"): a for a in root.findall("action")}
    assert set(actions) == set(ACTIONS.values())
    for verb, action_id in ACTIONS.items():
        a = actions[action_id]
        notes = {n.get("key"): n.text for n in a.findall("annotate")}
        assert notes["org.freedesktop.policykit.exec.path"] == paths.HELPER_PATH
        assert notes["org.freedesktop.policykit.exec.argv1"] == verb


def test_boot_unit_runs_the_installed_helper() -> None:
    cp = configparser.ConfigParser(interpolation=None, strict=False)
    cp.optionxform = str  # type: ignore[assignment,method-assign]
    cp.read_string(UNIT.read_text())
    assert cp["Service"]["ExecStart"].split()[0] == paths.HELPER_PATH
    assert cp["Install"]["WantedBy"].split() == ["multi-user.target", "nftables.service"]


def test_every_packaging_recipe_carries_the_project_version() -> None:
    v = PYPROJECT["project"]["version"]
    assert __version__ == v
    changelog = (ROOT / "packaging/debian/changelog").read_text().splitlines()[0]
    assert changelog.startswith(f"mullvad-tailscale-tray ({v})")
    spec = (ROOT / "packaging/rpm/mullvad-tailscale-tray.spec").read_text()
    assert re.search(rf"^Version:\s+{re.escape(v)}$", spec, re.M)
    assert re.search(rf"^\* .* - {re.escape(v)}-1$", spec, re.M), (
        "spec %changelog has no entry for this version"
    )
    assert re.search(rf"^pkgver={re.escape(v)}$", (ROOT / "packaging/arch/PKGBUILD").read_text(), re.M)
    assert f"\tpkgver = {v}\n" in (ROOT / "packaging/arch/.SRCINFO").read_text()
    assert f'"mullvad-tailscale-tray {v}"' in (ROOT / "packaging/mullvad-tailscale-tray.1").read_text()


def test_srcinfo_matches_the_pkgbuild() -> None:
    out = subprocess.run(
        ["bash", ROOT / "packaging/arch/gen-srcinfo.sh"], capture_output=True, text=True, check=True
    ).stdout
    assert out == (ROOT / "packaging/arch/.SRCINFO").read_text(), (
        "packaging/arch/.SRCINFO is stale: run packaging/arch/gen-srcinfo.sh > packaging/arch/.SRCINFO"
    )


@pytest.mark.parametrize(
    "script",
    [
        "packaging/arch/PKGBUILD",
        "packaging/arch/mullvad-tailscale-tray.install",
        "packaging/build-deb.sh",
        "packaging/build-rpm.sh",
        "packaging/ci-smoke.sh",
        "packaging/ci-debian13.sh",
        "packaging/smoke-checks.sh",
        "packaging/smoke-in-root.sh",
        "scripts/with-nft",
        "packaging/arch/gen-srcinfo.sh",
        "packaging/debian/prerm",
        "packaging/debian/postrm",
    ],
)
def test_shell_scripts_parse(script: str) -> None:
    subprocess.run(["bash", "-n", ROOT / script], check=True)
