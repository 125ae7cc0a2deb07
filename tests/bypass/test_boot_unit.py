"""The boot unit's sandbox and the installed launcher: what they promise, and that `restore` works inside it.

There is no systemd here, so the unit's privileges are reproduced with setpriv: root whose capability bounding
set holds only CAP_NET_ADMIN, no new privileges, inside a network namespace.
"""

from __future__ import annotations

import configparser
import json
import subprocess
import sys
from pathlib import Path

from tests.bypass.conftest import ROOT, Lab
from tests.infra.require import require_tools
from tray_app import paths

UNIT = ROOT / "resources/systemd/mullvad-tailscale-bypass.service"
LAUNCHER = ROOT / "packaging/bypass-helper"

# What the unit's CapabilityBoundingSet= and NoNewPrivileges= leave the helper.
BOOT_PRIVS = ("setpriv", "--bounding-set=-all,+net_admin", "--inh-caps=-all", "--no-new-privs")


def _unit() -> configparser.ConfigParser:
    cp = configparser.ConfigParser(interpolation=None, strict=False)
    cp.optionxform = str  # type: ignore[assignment,method-assign]
    cp.read_string(UNIT.read_text())
    return cp


def test_unit_runs_restore_as_root_with_net_admin_only() -> None:
    s = _unit()["Service"]
    assert s["ExecStart"] == f"{paths.HELPER_PATH} watch"
    assert s["Type"] == "notify" and s["NotifyAccess"] == "main"  # ready once the saved choice is applied
    assert s["RuntimeDirectory"] == "mullvad-tailscale-tray" and s["RuntimeDirectoryMode"] == "0755"
    assert "User" not in s and "DynamicUser" not in s  # nft and ip need uid 0 with CAP_NET_ADMIN
    assert s["CapabilityBoundingSet"].split() == ["CAP_NET_ADMIN"]
    assert "AmbientCapabilities" not in s
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "RestrictNamespaces": "yes",
        "RestrictSUIDSGID": "yes",
        "StateDirectory": "mullvad-tailscale-tray",
        "StateDirectoryMode": "0755",  # the helper refuses a state directory others can write
        "SystemCallFilter": "@system-service",
        "IPAddressDeny": "any",
    }.items():
        assert s.get(key) == value, key
    families = set(s["RestrictAddressFamilies"].split())
    assert {"AF_NETLINK", "AF_UNIX"} <= families  # nft/ip talk netlink; syslog is a unix socket
    assert "ReadWritePaths" not in s  # nothing but the state directory is writable


def test_unit_follows_nftables() -> None:
    cp = _unit()
    u = cp["Unit"]
    assert "nftables.service" in u["After"].split()  # its `flush ruleset` must not wipe what we restore
    assert u["PartOf"] == "nftables.service" and u["ReloadPropagatedFrom"] == "nftables.service"
    # stop + start of nftables (PartOf stopped us) starts us again
    assert set(cp["Install"]["WantedBy"].split()) == {"multi-user.target", "nftables.service"}


def test_launcher_is_isolated_python() -> None:
    lines = LAUNCHER.read_text().splitlines()
    # -I: no PYTHONPATH, user site or current directory; -S: no site directories and no .pth files
    assert lines[0] == "#!/usr/bin/python3 -IS"
    # ... and the package from one fixed directory (Debian's; `make install-data` writes its PYTHONDIR)
    assert (
        'PACKAGE_DIR = "/usr/lib/python3/dist-packages"  # `make install-data` writes its PYTHONDIR here'
        in lines
    )


def test_restore_works_with_the_boot_units_privileges(lab: Lab) -> None:
    """An nftables reload wiped the table; `restore` with only CAP_NET_ADMIN puts it back, private rules too."""
    require_tools("setpriv")
    lab.route("192.168.50.0/24", "dev", "tailscale0")
    lab.ok("enable", "--mode", "private", "--containers")
    expected = lab.ours()
    lab.nft("delete", "table", "inet", "mullvad-tailscale")
    lab.ns.run("ip", "rule", "del", "pref", "5200")
    r = lab.ns.run(*BOOT_PRIVS, sys.executable, "-m", "tray_app.helper", "restore", check=False, env=lab.env)
    assert r.returncode == 0, r.stderr
    assert (
        r.stdout == ""
    )  # restore prints nothing; its one log line goes to stderr where there is no /dev/log
    assert all(ln.startswith("mullvad-tailscale-tray-helper: restore: ") for ln in r.stderr.splitlines())
    assert lab.ours() == expected
    s = lab.status()
    assert s["state"] == "on" and s["private_rules"] is True


def test_status_without_namespaces_falls_back_safely(lab: Lab) -> None:
    """The drift check's scratch namespace needs CAP_SYS_ADMIN (the unit forbids namespaces): status still
    answers, says it could not compare exactly, and leaves no child behind."""
    require_tools("setpriv")
    lab.ok("enable", "--exit-via-mullvad")
    r = lab.ns.run(*BOOT_PRIVS, sys.executable, "-m", "tray_app.helper", "status", check=False, env=lab.env)
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["state"] == "on" and s["options"] == ["exit-via-mullvad"]
    assert any("cannot compare the rules exactly" in w for w in s["warnings"])
    pids = subprocess.run(["ip", "netns", "pids", lab.ns.name], capture_output=True, text=True, check=False)
    assert pids.stdout.strip() == ""


def test_systemd_accepts_the_unit_ordered_after_nftables(tmp_path: Path) -> None:
    """`systemd-analyze verify` on the unit next to an nftables.service: no warning at all (an unknown key or
    value, a bad ordering or dependency is printed, and fails this)."""
    require_tools("systemd-analyze")
    (tmp_path / "nftables.service").write_text(
        "[Unit]\nDescription=stand-in\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n"
    )
    unit = tmp_path / UNIT.name
    unit.write_text(UNIT.read_text().replace(paths.HELPER_PATH, "/bin/true"))  # the helper is not installed
    r = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(tmp_path / "nftables.service"), str(unit)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0 and r.stderr.strip() == "" and r.stdout.strip() == "", r.stderr + r.stdout


def test_package_scripts_start_restart_and_stop_the_reconciler() -> None:
    """The long-running unit must run the installed helper's code: started on install, restarted on upgrade,
    stopped on removal, in every package."""
    rules = (ROOT / "packaging/debian/rules").read_text()
    assert (
        "--no-start" not in rules and "--no-restart" not in rules and "--no-stop" not in rules
    )  # dh defaults
    spec = (ROOT / "packaging/rpm/mullvad-tailscale-tray.spec").read_text()
    assert "systemctl start mullvad-tailscale-bypass.service" in spec
    assert "systemctl try-restart mullvad-tailscale-bypass.service" in spec
    assert "disable --now mullvad-tailscale-bypass.service" in spec
    arch = (ROOT / "packaging/arch/mullvad-tailscale-tray.install").read_text()
    assert "post_upgrade()" in arch and "try-restart mullvad-tailscale-bypass.service" in arch
    assert "disable --now mullvad-tailscale-bypass.service" in arch
