"""Each doctor check is a pure function of facts: ok / warn / fail / skip, with the fix a user needs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tray_app.core import doctor as d
from tray_app.core.doctor import facts as df
from tray_app.core.doctor.facts import Facts, Level
from tray_app.core.model import (
    ExitNode,
    MullvadState,
    MullvadStatus,
    TailscaleState,
    TailscaleStatus,
)

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "doctor"

CONNECTED = MullvadStatus(MullvadState.CONNECTED, relay="se-got-wg-001", lockdown=False, version="2026.4")
RUNNING = TailscaleStatus(TailscaleState.RUNNING, version="1.102.3")
PREFS: dict[str, Any] = {"OperatorUser": "alice", "NetfilterMode": 2, "NetfilterKind": "", "CorpDNS": True}


def helper_status(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "enabled": True,
        "mode": "direct",
        "options": [],
        "tailnet4": ["100.64.0.0/10"],
        "tailnet6": ["fd7a:115c:a1e0::/48"],
        "matches_expected": True,
        "mullvad": {"table": True, "split_tunnel_accept": True},
        "warnings": [],
        "protocol": 1,
        "tailscale_connmark": ">=1.100",
        "private_rules": False,
        "table52_default_route": False,
        "saved": {"mode": "direct", "options": []},
        "reconciler": {
            "pid": 812,
            "start_ticks": 1873,
            "version": 1,
            "repairs": 0,
            "last_repair": None,
        },  # published status
    }
    base.update(over)
    return base


def healthy(**over: Any) -> Facts:
    base: dict[str, Any] = {
        "helper_installed": True,
        "helper_protocol": 1,
        "helper_status": helper_status(),
        "polkit_policy_installed": True,
        "polkit_agents": ("polkit-gnome-authentication-agent-1",),
        "boot_unit": "enabled",
        "mullvad": CONNECTED,
        "mullvad_socket_uid": 0,
        "mullvad_dns_blockers": (),
        "tailscale": RUNNING,
        "tailscale_prefs": PREFS,
        "tailscale_tun": True,
        "tailscale_socket_uid": 0,
        "user": "alice",
        "resolv_conf": "../run/systemd/resolve/stub-resolv.conf",
        "ip_rules": (),
        "rp_filter": {"all": 2, "default": 2},
        "sni_host": True,
        "xembed_host": False,
        "notification_server": "dunst 1.9.0",
        "autostart": True,
    }
    base.update(over)
    return Facts(**base)


def by_id(facts: Facts) -> dict[str, df.Check]:
    return {c.id: c for c in d.run_checks(facts)}


def test_healthy_setup_has_no_warnings_or_failures() -> None:
    checks = d.run_checks(healthy())
    bad = [c for c in checks if c.status in (Level.WARN, Level.FAIL)]
    assert bad == []
    assert d.exit_code(checks) == 0
    ids = [c.id for c in checks]
    assert len(ids) == len(set(ids)), "check ids must be unique"


def test_json_shape_matches_issue() -> None:
    out = {"checks": [c.to_json() for c in d.run_checks(healthy())]}
    text = json.dumps(out)
    first = json.loads(text)["checks"][0]
    assert set(first) == {"id", "status", "summary", "detail", "fix"}


def test_unknown_facts_skip_with_reason() -> None:
    checks = d.run_checks(Facts())
    for c in checks:
        assert c.status is Level.SKIP, c
        assert c.summary
    assert d.exit_code(checks) == 0


@pytest.mark.parametrize(
    ("over", "cid", "level", "fix_part"),
    [
        ({"helper_installed": False}, "install.helper", Level.FAIL, "make install"),
        ({"helper_protocol": 99}, "install.helper", Level.FAIL, "Reinstall"),
        ({"polkit_policy_installed": False}, "install.polkit-policy", Level.FAIL, "Reinstall"),
        ({"polkit_agents": ()}, "install.polkit-agent", Level.WARN, "agent"),
        ({"boot_unit": "disabled"}, "install.boot-unit", Level.WARN, "systemctl enable --now"),
        (  # enabled, but the status came from the helper itself: the reconciler is not running
            {"helper_status": {k: v for k, v in helper_status().items() if k != "reconciler"}},
            "install.boot-unit",
            Level.WARN,
            "systemctl start mullvad-tailscale-bypass.service",
        ),
        (
            {"mullvad": MullvadStatus(MullvadState.UNAVAILABLE, detail="not running")},
            "mullvad.daemon",
            Level.WARN,
            "systemctl start mullvad-daemon",
        ),
        ({"mullvad_socket_uid": 1000}, "mullvad.socket", Level.FAIL, "restart mullvad-daemon"),
        (
            {"helper_status": helper_status(mullvad={"table": True, "split_tunnel_accept": False})},
            "mullvad.split-tunnel",
            Level.FAIL,
            "split-tunnel",
        ),
        (
            {"mullvad": MullvadStatus(MullvadState.CONNECTED, lockdown=True)},
            "mullvad.lockdown",
            Level.WARN,
            "--mode private",
        ),
        ({"mullvad_dns_blockers": ("ads",)}, "mullvad.content-blocker-dns", Level.FAIL, "custom"),
        (
            {"tailscale": TailscaleStatus(TailscaleState.UNAVAILABLE, detail="refused")},
            "tailscale.daemon",
            Level.WARN,
            "systemctl start tailscaled",
        ),
        ({"tailscale_socket_uid": 1000}, "tailscale.daemon", Level.FAIL, "restart tailscaled"),
        (
            {"tailscale_prefs": {**PREFS, "OperatorUser": ""}},
            "tailscale.operator",
            Level.WARN,
            "sudo tailscale set --operator=$USER",
        ),
        (
            {"tailscale_prefs": {**PREFS, "NetfilterMode": 1}},
            "tailscale.netfilter",
            Level.WARN,
            "--netfilter-mode=on",
        ),
        (
            {
                "helper_status": helper_status(enabled=False, saved=None, tailscale_connmark="1.96-1.98"),
                "mullvad": MullvadStatus(MullvadState.DISCONNECTED),
            },
            "tailscale.connmark",
            Level.WARN,
            "bypass on",
        ),
        (
            {"tailscale": TailscaleStatus(TailscaleState.RUNNING, exit_node=ExitNode("nl-ams", True))},
            "tailscale.exit-node",
            Level.WARN,
            "--exit-node=",
        ),
        (
            {"helper_status": helper_status(table52_default_route=True)},
            "tailscale.exit-node",
            Level.WARN,
            "--exit-node=",
        ),
        (
            {
                "tailscale_prefs": {**PREFS, "RouteAll": True},
                "helper_status": helper_status(tailnet4=["100.64.0.0/10", "8.8.8.0/24"]),
            },
            "tailscale.subnet-routes",
            Level.WARN,
            "--accept-routes=false",
        ),
        (
            {
                "tailscale_prefs": {**PREFS, "RouteAll": True},
                "helper_status": helper_status(excluded_routes=["0.0.0.0/1", "128.0.0.0/1"]),
            },
            "tailscale.subnet-routes",
            Level.WARN,
            "--accept-routes=false",
        ),
        ({"tailscale_tun": False}, "tailscale.userspace", Level.WARN, "userspace-networking"),
        ({"resolv_conf": "nameserver 100.100.100.100"}, "tailscale.dns", Level.WARN, "--accept-dns=false"),
        (
            {
                "rp_filter": {"all": 1, "default": 1},
                "helper_status": helper_status(enabled=False, saved=None),
                "mullvad": MullvadStatus(MullvadState.DISCONNECTED),
            },
            "routing.rp-filter",
            Level.WARN,
            "rp_filter=2",
        ),
        (
            {"helper_status": helper_status(enabled=False, saved=None)},
            "bypass.state",
            Level.FAIL,
            "bypass on",
        ),
        ({"helper_status": helper_status(enabled=False)}, "bypass.state", Level.FAIL, "bypass on"),
        (
            {"helper_status": helper_status(matches_expected=False, options=["exit-via-mullvad"])},
            "bypass.state",
            Level.WARN,
            "`mullvad-tailscale-tray bypass on --mode direct --exit-via-mullvad` to re-apply",
        ),
        (
            {"helper_status": helper_status(mode="private", private_rules=False)},
            "bypass.private-rules",
            Level.FAIL,
            "--mode private",
        ),
        (
            {"helper_status": helper_status(private_rules=True)},
            "bypass.private-rules",
            Level.WARN,
            "bypass off",
        ),
        ({"sni_host": False, "xembed_host": False}, "desktop.tray-host", Level.WARN, "appindicator"),
        ({"notification_server": ""}, "desktop.notifications", Level.WARN, "dunst"),
        ({"probe": df.ProbeResult("peer", False, "timeout")}, "probe.peer", Level.FAIL, "tailscale ping"),
    ],
)
def test_problem_is_reported_with_fix(over: dict[str, Any], cid: str, level: Level, fix_part: str) -> None:
    check = by_id(healthy(**over))[cid]
    assert check.status is level, check
    assert fix_part in check.fix, check
    assert check.detail or check.summary


def test_routes_kept_out_of_the_bypass_are_named() -> None:
    over = {"tailscale_prefs": {**PREFS, "RouteAll": True}}
    hs = helper_status(excluded_routes=["0.0.0.0/1", "128.0.0.0/1", "64:ff9b::/96"])
    check = by_id(healthy(**over, helper_status=hs))["tailscale.subnet-routes"]
    assert (
        check.summary
        == "Accepted routes not bypassed (too wide, or NAT64): 0.0.0.0/1, 128.0.0.0/1, 64:ff9b::/96"
    )
    assert "stays in the tunnel" in check.detail


def test_connmark_is_fine_when_bypass_repairs_it() -> None:
    check = by_id(healthy(helper_status=helper_status(tailscale_connmark="1.96-1.98")))["tailscale.connmark"]
    assert check.status is Level.OK
    assert "repairs" in check.summary


def test_exit_code_is_one_on_failure() -> None:
    checks = d.run_checks(healthy(helper_installed=False))
    assert d.exit_code(checks) == 1
    text = d.render_text(checks)
    assert "[FAIL] The bypass helper is not installed" in text
    assert "fix: Install the package" in text


def _rules(name: str) -> tuple[df.IpRule, ...]:
    data = json.loads((FIX / name).read_text())
    return df.parse_ip_rules(4, data)


def test_rule_order_mullvad_in_front_is_ok_and_explained() -> None:
    check = by_id(healthy(ip_rules=_rules("ip-rule.mullvad-in-front.json")))["routing.rule-order"]
    assert check.status is Level.OK
    assert "in front of Tailscale's (5270)" in check.summary


def test_rule_order_reversed_pair_fails() -> None:
    check = by_id(healthy(ip_rules=_rules("ip-rule.pref0-reversed.json")))["routing.rule-order"]
    assert check.status is Level.FAIL
    assert "pref 0" in check.fix


@pytest.mark.parametrize("garbage", [None, {}, "x", [1, "a", {"priority": "high"}], [{"no": "priority"}]])
def test_parse_ip_rules_tolerates_garbage(garbage: object) -> None:
    assert df.parse_ip_rules(4, garbage) == ()


def test_parse_mullvad_dns_get() -> None:
    default = "Custom DNS: no\nBlock ads: true\nBlock trackers: false\nBlock malware: true\n"
    assert df.parse_mullvad_dns(default) == ("ads", "malware")
    assert df.parse_mullvad_dns("Custom DNS: yes\nServers:\n94.140.14.14\n") == ()
    assert df.parse_mullvad_dns("Error: Management RPC server or client error\n") is None
    assert df.parse_mullvad_dns("") is None


def test_no_check_reads_ok_about_tailscale_while_tailscaled_is_unreachable() -> None:
    """Issue 14.4: with tailscaled unreachable, an empty table 52 said "[ok] No Tailscale exit node in use"."""
    down = TailscaleStatus(TailscaleState.UNAVAILABLE, detail="no socket at /run/tailscale/tailscaled.sock")
    checks = by_id(healthy(tailscale=down, tailscale_prefs=None, tailscale_socket_uid=None))
    assert checks["tailscale.daemon"].status is Level.WARN
    exit_node = checks["tailscale.exit-node"]
    assert exit_node.status is Level.SKIP and "tailscaled could not be reached" in exit_node.summary
    for cid in ("tailscale.operator", "tailscale.netfilter", "tailscale.subnet-routes", "tailscale.dns"):
        assert checks[cid].status is Level.SKIP, checks[cid]
    # the route is real evidence on its own
    used = by_id(healthy(tailscale=down, helper_status=helper_status(table52_default_route=True)))
    assert used["tailscale.exit-node"].status is Level.WARN
