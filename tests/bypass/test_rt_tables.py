"""Routing tables with names: `/etc/iproute2/rt_tables` naming Mullvad's table (1836018789) and Tailscale's
(52), as some users' setups and guides do. `ip -j rule` then prints the names, so the helper reads rules with
`ip -N` (numeric). Each helper run gets that rt_tables in a private mount namespace; the host's stays as is."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.bypass.conftest import Lab
from tests.bypass.test_bad_input import _in_mount_ns
from tests.infra.require import require, require_tools

RT_TABLES = "255 local\n254 main\n253 default\n0 unspec\n52 tailscale\n1836018789 mullvad\n"


def _named(tmp_path: Path) -> str:
    """Shell setup: a tmpfs holding only our rt_tables over /etc/iproute2, which iproute2 reads first, or,
    where there is no such directory (Debian 13 ships its defaults in /usr/share/iproute2 alone), over that."""
    dirs = [d for d in ("/etc/iproute2", "/usr/share/iproute2") if Path(d).is_dir()]
    require(bool(dirs), "neither /etc/iproute2 nor /usr/share/iproute2 exists (install iproute2)")
    src = tmp_path / "rt_tables"
    src.write_text(RT_TABLES)
    return f"mount -t tmpfs -o mode=0755 tmpfs {dirs[0]} && cp {src} {dirs[0]}/rt_tables"


def _helper(lab: Lab, setup: str, *argv: str) -> Any:
    r: Any = _in_mount_ns(lab, setup, *argv)
    assert r.returncode == 0, (argv, r.stderr)
    return json.loads(r.stdout) if r.stdout.strip() else None


def test_private_mode_is_recognised_when_rt_tables_names_mullvads_table(lab: Lab, tmp_path: Path) -> None:
    require_tools("unshare", "mount")
    setup = _named(tmp_path)
    lab.route("192.168.50.0/24", "dev", "tailscale0")
    # The setup bites: in that mount namespace plain `ip -j rule` names the table.
    lab.ns.run("ip", "rule", "add", "pref", "5300", "fwmark", "0x1", "lookup", "1836018789")
    shown = lab.ns.run("unshare", "-m", "sh", "-c", f"{setup} && ip -j rule show pref 5300").stdout
    assert json.loads(shown)[0]["table"] == "mullvad"
    lab.ns.run("ip", "rule", "del", "pref", "5300")

    s = _helper(lab, setup, "enable", "--mode", "private")
    assert s["state"] == "on" and s["mode"] == "private" and s["private_rules"] is True, s
    assert not any("pref 5200" in w for w in s["warnings"]), s["warnings"]
    assert lab.ns.run("ip", "rule", "show", "pref", "5200").stdout.count("5200:") == 1

    # refresh used to fail forever here ("private mode's ip rule ... is missing") and add a second rule
    s = _helper(lab, setup, "refresh")
    assert s["state"] == "on" and s["private_rules"] is True, s
    assert lab.ns.run("ip", "rule", "show", "pref", "5200").stdout.count("5200:") == 1
    assert lab.ns.run("ip", "-6", "rule", "show", "pref", "5200").stdout.count("5200:") == 1

    # disable used to leave the pref-5200 rule behind (tailscaled's traffic kept going to Mullvad's table)
    s = _helper(lab, setup, "disable")
    assert s["state"] == "off" and s["private_rules"] is False, s
    assert "5200:" not in lab.ns.run("ip", "rule", "show").stdout
    assert "5200:" not in lab.ns.run("ip", "-6", "rule", "show").stdout


def test_direct_mode_with_named_tables_leaves_no_private_rule(lab: Lab, tmp_path: Path) -> None:
    """private -> direct with names in rt_tables: the pref-5200 rule must go (it was not seen before)."""
    require_tools("unshare", "mount")
    setup = _named(tmp_path)
    _helper(lab, setup, "enable", "--mode", "private")
    s = _helper(lab, setup, "enable", "--mode", "direct")
    assert s["state"] == "on" and s["mode"] == "direct" and s["private_rules"] is False, s
    assert "5200:" not in lab.ns.run("ip", "rule", "show").stdout
