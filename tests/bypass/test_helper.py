"""The helper as a real root process in a network namespace: every verb, its JSON, the kernel state after it."""

from __future__ import annotations

import json
import os
import sys

import pytest

from tests.bypass.conftest import Lab
from tests.bypass.tables import MULLVAD_CONNECTED, MULLVAD_NO_SPLIT, TS_MANGLE_196, TS_MANGLE_1100, recreate
from tests.infra.nft_text import canonical
from tray_app.core.bypass_reply import parse_status

STATUS_KEYS = {
    "enabled",
    "state",
    "mode",
    "options",
    "tailnet4",
    "tailnet6",
    "matches_expected",
    "mullvad",
    "warnings",
    "protocol",
    "tailscale_connmark",
    "private_rules",
    "table52_default_route",
    "excluded_routes",
    "saved",
}


def test_status_on_a_clean_system(lab: Lab) -> None:
    s = lab.status()
    assert set(s) == STATUS_KEYS
    assert s["enabled"] is False and s["state"] == "off" and s["mode"] is None
    assert s["options"] == [] and s["tailnet4"] == [] and s["saved"] is None
    assert s["matches_expected"] is True
    assert s["mullvad"] == {"table": False, "split_tunnel_accept": False}
    assert s["protocol"] == 1 and s["tailscale_connmark"] == "none" and s["private_rules"] is False
    # An empty table 52 only matters for a bypass that is on: `bypass status` shows no note while it is off.
    assert s["warnings"] == []
    assert lab.ours() is None and not lab.state_file.exists()  # status changes nothing


def test_enable_direct_status_and_disable(lab: Lab) -> None:
    lab.route("100.101.102.103", "dev", "tailscale0")
    lab.route("192.168.50.0/24", "dev", "tailscale0")
    lab.route("fd7a:115c:a1e0::1234", "dev", "tailscale0", v6=True)
    lab.route("2001:db8:50::/48", "dev", "tailscale0", v6=True)
    rules_before = lab.ip_rules()
    s = lab.ok("enable")
    assert s.pop("previous") is None  # enable's answer only: the choice before it (none yet)
    assert s["enabled"] is True and s["state"] == "on" and s["mode"] == "direct" and s["options"] == []
    assert s["tailnet4"] == ["100.64.0.0/10", "192.168.50.0/24"]
    assert s["tailnet6"] == ["2001:db8:50::/48", "fd7a:115c:a1e0::/48"]
    assert s["matches_expected"] is True and s["private_rules"] is False
    assert s["saved"] == {"mode": "direct", "options": []}
    assert json.loads(lab.state_file.read_text()) == {"version": 1, "mode": "direct", "options": []}
    assert oct(lab.state_file.stat().st_mode & 0o777) == "0o644"
    table = lab.ours()
    assert table is not None
    # nft 1.0 prints -100 and -145, nft 1.1 `dstnat` and `mangle + 5`: compare the numbers
    assert "type route hook output priority -100; policy accept;" in canonical(table)
    assert "type filter hook prerouting priority -145; policy accept;" in canonical(table)
    # the tailnet's ingress names its destinations; nothing marks all of tailscale0 (exit-node clients)
    assert (
        'iifname "tailscale0" fib daddr type local ct mark set 0x00000f41 meta mark set 0x6d6f6c65' in table
    )
    assert 'iifname "tailscale0" ct mark set' not in table
    assert lab.ip_rules() == rules_before  # direct mode owns no ip rules
    assert lab.status() == s
    # one log line per change: to syslog, or to stderr on a machine without /dev/log
    r = lab.helper("refresh")
    line = "refresh: bypass table applied (mode direct, options none, 2 IPv4 and 2 IPv6 prefixes)"
    if os.path.exists("/dev/log"):
        assert r.stderr == ""
    else:
        assert r.stderr.strip() == f"mullvad-tailscale-tray-helper: {line}"
    assert lab.helper("status").stderr == ""  # status changes nothing and logs nothing

    s = lab.ok("disable")
    assert s["enabled"] is False and s["state"] == "off" and s["saved"] is None
    assert lab.ours() is None and not lab.state_file.exists()
    assert lab.ip_rules() == rules_before


def test_private_mode_owns_the_pref_5200_rules(lab: Lab) -> None:
    before = lab.ip_rules()
    s = lab.ok("enable", "--mode", "private", "--containers")
    assert s["mode"] == "private" and s["options"] == ["containers"] and s["private_rules"] is True
    assert s["state"] == "on"
    for fam in ("-4", "-6"):
        out = lab.ns.run("ip", fam, "rule", "show", "pref", "5200").stdout
        assert out.strip() == "5200:\tfrom all fwmark 0x80000/0xff0000 lookup 1836018789", out
    table = lab.ours()
    # private mode: tailscaled's traffic is neither accepted nor re-marked (only kept out of the tailnet lines)
    assert table is not None
    output = table.split("chain output", 1)[1].split("}", 1)[0]
    assert "0x00080000 ct mark set" not in output and "0x00080000 oifname" not in output
    assert 'iifname { "br-*", "docker0" } ip6 daddr @tailnet6' in table
    # idempotent: enabling again keeps one rule per family
    lab.ok("enable", "--mode", "private", "--containers")
    assert lab.ns.run("ip", "rule", "show", "pref", "5200").stdout.count("5200:") == 1
    # switching to direct removes them
    s = lab.ok("enable", "--mode", "direct")
    assert s["private_rules"] is False and lab.ip_rules() == before
    assert "0x00080000 ct mark set" in (lab.ours() or "")
    lab.ok("enable", "--mode", "private")
    s = lab.ok("disable")
    assert s["private_rules"] is False
    assert lab.ip_rules() == before and lab.ours() is None


def test_exit_via_mullvad_option(lab: Lab) -> None:
    s = lab.ok("enable", "--exit-via-mullvad")
    assert s["options"] == ["exit-via-mullvad"] and s["state"] == "on"
    table = lab.ours() or ""
    # positive: only this host, its LAN and the tailnet bypass Mullvad; the guard drops the rest off the tunnel
    assert 'iifname "tailscale0" fib daddr type local' in table
    assert 'iifname "tailscale0" ip daddr @lan4 fib daddr oifname != "wg0-mullvad"' in table
    assert 'iifname "tailscale0" oifname != "wg0-mullvad" ip daddr != @lan4 drop' in table
    assert "192.168.1.0/24" not in table or "lan4" in table
    assert 'iifname "tailscale0" ct mark set 0x00000f41 meta mark set 0x6d6f6c65\n' not in table


def test_enable_is_idempotent(lab: Lab) -> None:
    lab.route("192.168.50.0/24", "dev", "tailscale0")
    first = lab.ok("enable")
    assert first.pop("previous") is None  # the first choice ever
    listing = lab.ours()
    for _ in range(3):
        again = lab.ok("enable")
        assert again.pop("previous") == {"mode": "direct", "options": []}
        assert again == first
    assert lab.ours() == listing


def test_enable_keeps_the_last_choice_for_what_is_not_given(lab: Lab) -> None:
    """A bare `enable` used to mean direct mode without options: private mode (and --exit-via-mullvad) were
    switched off silently. Each part not given now keeps the last choice, which outlives `disable`."""
    choice = lab.state_dir / "choice.json"

    def enable(*args: str) -> tuple[str, list[str], object]:
        s = lab.ok("enable", *args)
        assert s["state"] == "on" and s["saved"] == {"mode": s["mode"], "options": s["options"]}
        assert s["private_rules"] is (s["mode"] == "private")
        return s["mode"], s["options"], s["previous"]

    assert enable("--mode", "private", "--exit-via-mullvad") == ("private", ["exit-via-mullvad"], None)
    last = {"mode": "private", "options": ["exit-via-mullvad"]}
    assert enable() == ("private", ["exit-via-mullvad"], last)
    assert oct(choice.stat().st_mode & 0o777) == "0o644"
    assert lab.ok("disable")["state"] == "off" and not lab.state_file.exists()
    assert json.loads(choice.read_text()) == {"version": 1, **last}  # kept: it is a preference, not the state
    lab.ok("restore")
    assert lab.ours() is None  # ... and never turns the bypass on by itself
    assert enable() == ("private", ["exit-via-mullvad"], last)
    assert enable("--no-exit-via-mullvad") == ("private", [], last)
    assert enable("--mode", "direct", "--containers") == (
        "direct",
        ["containers"],
        {"mode": "private", "options": []},
    )
    assert enable("--no-containers", "--containers") == (
        "direct",
        ["containers"],
        {"mode": "direct", "options": ["containers"]},
    )  # last one wins

    # Saved by a version without choice.json: bypass.json is the last choice.
    choice.unlink()
    lab.state_file.write_text('{"version": 1, "mode": "private", "options": []}')
    assert enable() == ("private", [], {"mode": "private", "options": []})


def test_an_unreadable_last_choice_is_never_guessed(lab: Lab) -> None:
    lab.ok("enable", "--mode", "private")
    (lab.state_dir / "choice.json").write_text("{not json")
    before_table, before_rules = lab.ours(), lab.ip_rules()
    for args in ([], ["--mode", "direct"], ["--mode", "direct", "--no-containers"]):
        r = lab.helper("enable", *args)
        assert r.returncode == 6, (args, r.stderr)
        assert "choice.json is corrupt" in r.stderr and "choose every part once" in r.stderr
        assert lab.ours() == before_table and lab.ip_rules() == before_rules
    s = lab.ok("enable", "--mode", "direct", "--no-containers", "--no-exit-via-mullvad")
    assert s["mode"] == "direct" and s["previous"] is None
    assert json.loads((lab.state_dir / "choice.json").read_text())["mode"] == "direct"


def test_refresh_picks_up_new_routes(lab: Lab) -> None:
    lab.route("192.168.50.0/24", "dev", "tailscale0")
    lab.ok("enable")
    lab.route("10.20.0.0/16", "dev", "tailscale0")
    lab.route("2001:db8:7::/48", "dev", "tailscale0", v6=True)
    s = lab.status()
    assert s["enabled"] is True and s["matches_expected"] is False and s["state"] == "drifted"
    # one fix, and one the CLI really has (issue 14 item 8)
    assert s["warnings"][-1] == "to put it right, run `mullvad-tailscale-tray bypass on --mode direct`"
    assert not any("refresh" in w or "disable" in w for w in s["warnings"])
    s = lab.ok("refresh")
    assert s["state"] == "on" and s["matches_expected"] is True
    assert s["tailnet4"] == ["10.20.0.0/16", "100.64.0.0/10", "192.168.50.0/24"]
    assert s["tailnet6"] == ["2001:db8:7::/48", "fd7a:115c:a1e0::/48"]
    # a route going away leaves the set too
    lab.ns.run("ip", "route", "del", "10.20.0.0/16", "table", "52")
    assert lab.ok("refresh")["tailnet4"] == ["100.64.0.0/10", "192.168.50.0/24"]


def test_refresh_when_off_is_a_no_op(lab: Lab) -> None:
    s = lab.ok("refresh")
    assert s["enabled"] is False and lab.ours() is None and not lab.state_file.exists()


def test_disable_on_a_clean_system_succeeds(lab: Lab) -> None:
    s = lab.ok("disable")
    assert s["enabled"] is False and s["state"] == "off"
    assert lab.ok("disable")["enabled"] is False


def test_restore_reapplies_saved_state(lab: Lab) -> None:
    lab.route("192.168.50.0/24", "dev", "tailscale0")
    # nothing saved: nothing to do
    r = lab.helper("restore")
    assert r.returncode == 0 and lab.ours() is None
    lab.ok("enable", "--mode", "private", "--exit-via-mullvad")
    # a reboot (or `nft flush ruleset` by an nftables reload) loses table and ip rules, not the state file
    lab.nft("flush", "ruleset")
    lab.ns.run("ip", "rule", "del", "pref", "5200")
    lab.ns.run("ip", "-6", "rule", "del", "pref", "5200")
    s = lab.status()
    assert s["enabled"] is False and s["state"] == "drifted" and s["saved"]["mode"] == "private"
    assert any("saved as on but its table is not loaded" in w for w in s["warnings"])
    r = lab.helper("restore")
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""  # the boot unit gets no report
    s = lab.status()
    assert s["state"] == "on" and s["mode"] == "private" and s["options"] == ["exit-via-mullvad"]
    assert s["private_rules"] is True and s["tailnet4"] == ["100.64.0.0/10", "192.168.50.0/24"]


def test_other_tables_are_never_touched(lab: Lab) -> None:
    lab.load(MULLVAD_CONNECTED)
    lab.load(TS_MANGLE_196)
    lab.route("192.168.50.0/24", "dev", "tailscale0")
    mullvad, mangle = lab.listing("inet", "mullvad"), lab.listing("ip", "mangle")
    for verb in (
        ["status"],
        ["enable"],
        ["refresh"],
        ["enable", "--mode", "private", "--containers", "--exit-via-mullvad"],
        ["restore"],
        ["disable"],
        ["disable"],
    ):
        r = lab.helper(*verb)
        assert r.returncode == 0, (verb, r.stderr)
        assert lab.listing("inet", "mullvad") == mullvad, verb
        assert lab.listing("ip", "mangle") == mangle, verb


def test_status_reports_mullvad_and_tailscale_tables(lab: Lab) -> None:
    lab.load(MULLVAD_CONNECTED)
    lab.load(TS_MANGLE_1100)
    s = lab.status()
    assert s["mullvad"] == {"table": True, "split_tunnel_accept": True}
    assert s["tailscale_connmark"] == ">=1.100"
    lab.load(recreate(TS_MANGLE_196, "ip", "mangle"))
    lab.load(recreate(MULLVAD_NO_SPLIT, "inet", "mullvad"))
    s = lab.status()
    assert s["mullvad"] == {"table": True, "split_tunnel_accept": False}
    assert s["tailscale_connmark"] == "1.96-1.98"
    assert any("no split-tunnel accept rule" in w for w in s["warnings"])


def test_enable_without_mullvad_split_accept_applies_and_says_so(lab: Lab) -> None:
    lab.load(MULLVAD_NO_SPLIT)
    r = lab.helper("enable")
    assert r.returncode == 6
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith(
        "bypass-helper: error: the bypass is on, but Mullvad's firewall has no split-tunnel"
    )
    s = json.loads(r.stdout)
    assert s["state"] == "on" and s["mullvad"] == {"table": True, "split_tunnel_accept": False}
    assert lab.state_file.exists()  # it takes effect once Mullvad's split tunnelling is up (after early boot)
    # refresh and restore are not failures in that situation (boot runs before mullvad-daemon takes over)
    assert lab.helper("refresh").returncode == 0
    assert lab.helper("restore").returncode == 0


def test_table52_default_route_is_reported(lab: Lab) -> None:
    lab.route("default", "dev", "tailscale0")
    s = lab.ok("enable")
    assert s["table52_default_route"] is True
    assert any("exit node" in w for w in s["warnings"])
    assert s["tailnet4"] == ["100.64.0.0/10"]  # never the default route


def test_drift_is_detected(lab: Lab) -> None:
    lab.route("192.168.50.0/24", "dev", "tailscale0")
    lab.ok("enable")
    # someone adds a rule to our table by hand
    lab.nft("add", "rule", "inet", "mullvad-tailscale", "prerouting", "iifname", "eth0", "accept")
    s = lab.status()
    assert s["enabled"] is True and s["state"] == "drifted" and s["matches_expected"] is False
    assert any("changed by something else" in w for w in s["warnings"])
    assert lab.ok("refresh")["state"] == "on"
    # someone adds an element to a set
    lab.nft("add", "element", "inet", "mullvad-tailscale", "tailnet4", "{ 8.8.8.8 }")
    s = lab.status()
    assert s["state"] == "drifted" and "8.8.8.8/32" in s["tailnet4"]
    lab.ok("refresh")
    # the private rule removed behind our back
    lab.ok("enable", "--mode", "private")
    lab.ns.run("ip", "rule", "del", "pref", "5200")
    s = lab.status()
    assert s["state"] == "drifted" and s["private_rules"] is False
    assert lab.ok("refresh")["state"] == "on"
    # our table loaded with other mode than saved (e.g. by hand): drifted
    lab.ok("enable", "--mode", "direct")
    lab.state_file.write_text('{"version": 1, "mode": "direct", "options": ["containers"]}\n')
    s = lab.status()
    assert s["state"] == "drifted" and s["mode"] == "direct" and s["options"] == []


def test_table_without_saved_state_is_on_but_warns(lab: Lab) -> None:
    lab.ok("enable")
    lab.state_file.unlink()
    s = lab.status()
    assert s["state"] == "on" and s["saved"] is None
    assert any("not saved" in w for w in s["warnings"])
    # refresh only acts on saved state
    r = lab.helper("refresh")
    assert r.returncode == 0 and lab.ours() is not None


def test_mullvad_reconnect_keeps_our_table(lab: Lab) -> None:
    lab.load(MULLVAD_CONNECTED)
    lab.route("192.168.50.0/24", "dev", "tailscale0")
    on = lab.ok("enable")
    del on["previous"]  # enable's answer only: the choice before it
    ours = lab.ours()
    for _ in range(3):  # Mullvad deletes and re-creates its table on every state change
        lab.load(recreate(MULLVAD_NO_SPLIT, "inet", "mullvad"))
        lab.load(recreate(MULLVAD_CONNECTED, "inet", "mullvad"))
        lab.nft("delete", "table", "inet", "mullvad")  # disconnect without lockdown
        lab.load(MULLVAD_CONNECTED)
    assert lab.ours() == ours
    assert lab.status() == on


def test_concurrent_callers_are_serialised(lab: Lab) -> None:
    """An applet refresh racing CLI enables: every call succeeds and the result is one consistent bypass."""
    lab.route("192.168.50.0/24", "dev", "tailscale0")
    lab.ok("enable", "--mode", "private")
    verbs = [
        ["enable", "--mode", "private"],
        ["refresh"],
        ["enable", "--mode", "private", "--containers"],
    ] * 3
    procs = [
        lab.ns.popen([sys.executable, "-m", "tray_app.helper", *v], env=lab.env, stdout=-1, stderr=-1)
        for v in verbs
    ]
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    s = lab.status()
    assert s["state"] == "on" and s["mode"] == "private" and s["private_rules"] is True
    assert lab.ns.run("ip", "rule", "show", "pref", "5200").stdout.count("5200:") == 1
    assert lab.ns.run("ip", "-6", "rule", "show", "pref", "5200").stdout.count("5200:") == 1


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--mode", "private"],
        ["--containers", "--exit-via-mullvad"],
        ["--mode", "private", "--containers"],
    ],
)
def test_enables_answer_is_what_status_reads_back(lab: Lab, argv: list[str]) -> None:
    """`enable` builds its answer from what it applied (no re-read on the toggle's hot path): it must equal
    what `status` then finds, field by field, from off and from another mode (switching leaves no rule)."""
    lab.route("192.168.50.0/24", "dev", "tailscale0")
    lab.route("fd7a:115c:a1e0::1234", "dev", "tailscale0", v6=True)
    lab.route("100.64.0.5", "dev", "tailscale0")  # in Mullvad's DNS range: a warning in both
    for before in ([], ["--mode", "private"]):
        lab.ok("disable")
        if before:
            lab.ok("enable", *before)
        answer = lab.ok("enable", *argv)
        answer.pop("previous")  # enable's own addition: the choice it started from
        assert answer == lab.status()


def test_disables_answer_is_what_status_reads_back(lab: Lab) -> None:
    lab.load(MULLVAD_NO_SPLIT)  # a warning that stays after disable
    lab.route("default", "dev", "tailscale0")
    for argv in ([], ["--mode", "private"], None):
        if argv is not None:
            lab.helper("enable", *argv)
        assert lab.ok("disable") == lab.status()


def test_only_tailscales_range_in_table_52_is_on_without_a_word(lab: Lab) -> None:
    """Issue 14 item 7: 100.64.0.0/10 alone (Headscale, some platforms) is no peer in Mullvad's DNS range;
    `bypass.detail` is null while on. A route that really points into 100.64.0.0/26 is named."""
    lab.route("100.64.0.0/10", "dev", "tailscale0")
    s = lab.ok("enable")
    assert s["state"] == "on" and s["warnings"] == [], s["warnings"]
    assert parse_status(json.dumps(s))[0].detail is None
    lab.route("100.64.0.9/32", "dev", "tailscale0")
    warnings = lab.ok("refresh")["warnings"]
    assert len(warnings) == 1 and "100.64.0.9/32 point into Mullvad's DNS range" in warnings[0], warnings


def test_wide_and_nat64_routes_are_kept_out_and_said(lab: Lab) -> None:
    """Issue 9 item 3 through the real helper: the /1 pair and a NAT64 route never enter the sets; `status`
    names them (warnings, `excluded_routes`) and counts the pair as an exit node."""
    for prefix in ("0.0.0.0/1", "128.0.0.0/1", "192.168.50.0/24"):
        lab.route(prefix, "dev", "tailscale0")
    lab.route("64:ff9b::/96", "dev", "tailscale0", v6=True)
    s = lab.ok("enable")
    assert s["tailnet4"] == ["100.64.0.0/10", "192.168.50.0/24"]
    assert s["tailnet6"] == ["fd7a:115c:a1e0::/48"]
    assert s["excluded_routes"] == ["0.0.0.0/1", "128.0.0.0/1", "64:ff9b::/96"]
    assert s["table52_default_route"] is True and s["state"] == "on"
    assert any("0.0.0.0/1, 128.0.0.0/1 are not bypassed" in w for w in s["warnings"])
    assert any("64:ff9b::/96 are not bypassed" in w for w in s["warnings"])
