"""The helper reads routes and ip rules over rtnetlink in-process (tray_app/helper/rtnl.py) instead of running
`ip -j`. These tests put awkward tables into a namespace (multipath, IPv6, throw/blackhole/unreachable, host
routes, a /1 pair, NAT64, a LAN, inverted and narrowed copies of our ip rule, rt_tables naming the tables)
and check that both readings give the same routes, the same RouteFacts and the same rule counts."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tests.bypass.conftest import ROOT, Lab
from tests.bypass.test_rt_tables import _named
from tests.infra.require import require_tools

# Runs inside the namespace: both readings, printed as JSON for the test to compare.
CHILD = """
import ipaddress, json, socket, subprocess, sys
sys.path.insert(0, sys.argv[1])
from tray_app.core import routes, rules, their_tables
from tray_app.helper import facts, rtnl

def ip(*args):
    r = subprocess.run(["ip", *args], capture_output=True, text=True)
    return r.stdout if r.returncode == 0 else None

def norm(listing):
    out = []
    for r in listing or []:
        dst = r["dst"] if r["dst"] == "default" else str(ipaddress.ip_network(r["dst"]))
        hops = [h.get("dev") for h in r.get("nexthops", [])]
        out.append([dst, r.get("type", "unicast"), r.get("dev"), hops])
    return sorted(out, key=repr)

raw = {}
for fam, af in (("-4", socket.AF_INET), ("-6", socket.AF_INET6)):
    for table, num in (("52", 52), ("main", 254)):
        text = ip(fam, "-j", "route", "show", "table", table)
        raw[f"{fam} {table}"] = [norm(json.loads(text) if text else []), norm(rtnl.routes(af, num))]
    raw[f"{fam} rules"] = [
        their_tables.count_private_rules(ip(fam, "-N", "-j", "rule", "show") or ""),
        their_tables.count_private_rules(rtnl.rules(af)),
    ]
by_ip = routes.with_lan(
    routes.parse_table52(ip("-4", "-j", "route", "show", "table", "52"), ip("-6", "-j", "route", "show", "table", "52")),
    ip("-4", "-j", "route", "show", "table", "main"),
    ip("-6", "-j", "route", "show", "table", "main"),
)
print(json.dumps({"raw": raw, "facts": [repr(by_ip), repr(facts.routes())]}))
"""


def _readings(lab: Lab, tmp_path: Path, setup: str = "") -> Any:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    if setup:
        argv = [
            "unshare",
            "-m",
            "sh",
            "-c",
            f'{setup} && exec "$0" "$@"',
            sys.executable,
            str(script),
            str(ROOT),
        ]
    else:
        argv = [sys.executable, str(script), str(ROOT)]
    r = lab.ns.run(*argv, check=False)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def _awkward_tables(lab: Lab) -> None:
    ns = lab.ns
    ns.run("ip", "link", "add", "lan0", "type", "veth", "peer", "name", "lan1")
    for dev in ("lan0", "lan1"):
        ns.run("ip", "link", "set", dev, "up")
    ns.run("ip", "addr", "add", "192.168.1.2/24", "dev", "lan0")
    ns.run("ip", "-6", "addr", "add", "2001:db8:1::2/64", "dev", "lan0", "nodad")
    ns.run("ip", "route", "add", "10.30.0.0/16", "via", "192.168.1.1")
    ns.run("ip", "route", "add", "10.31.0.0/16", "nexthop", "via", "192.168.1.1", "nexthop", "dev", "lan1")
    ns.run("ip", "route", "add", "blackhole", "10.32.0.0/16")
    for dst in (
        "100.101.102.103",
        "192.168.50.0/24",
        "10.20.0.0/16",
        "0.0.0.0/1",
        "128.0.0.0/1",
        "100.64.0.5",
    ):
        lab.route(dst, "dev", "tailscale0")
    for i, kind in enumerate(("throw", "blackhole", "unreachable", "prohibit")):
        lab.route(kind, f"10.{40 + i}.0.0/16")
    multipath = ("table", "52", "nexthop", "dev", "tailscale0", "nexthop", "dev")  # `table` before the hops
    ns.run("ip", "route", "add", "10.50.0.0/16", *multipath, "wg0-mullvad")
    hop = ("dev", "tailscale0", "onlink")
    ns.run("ip", "route", "add", "10.51.0.0/16", "table", "52", "nexthop", "via", "100.100.1.1", *hop,
           "nexthop", "via", "100.100.1.2", *hop)  # fmt: skip
    lab.route("10.52.0.0/16", "dev", "wg0-mullvad")
    for dst in ("fd7a:115c:a1e0::/48", "fd00:50::/64", "fd00:51::1", "64:ff9b::/96", "2000::/3"):
        lab.route(dst, "dev", "tailscale0", v6=True)
    lab.route("throw", "fd00:52::/64", v6=True)
    lab.route("blackhole", "fd00:53::/64", v6=True)
    ns.run("ip", "-6", "route", "add", "fd00:54::/64", "table", "52", "nexthop", "via", "fe80::1", "dev",
           "tailscale0", "nexthop", "via", "fe80::2", "dev", "wg0-mullvad")  # fmt: skip
    ours = ("fwmark", "0x80000/0xff0000", "lookup", "1836018789")
    ns.run("ip", "rule", "add", "pref", "5200", *ours)
    # Copies that are not ours: inverted (the kernel takes it as a duplicate of ours: IPv6 only), narrowed
    # by source, another mask, another table.
    ns.run("ip", "-6", "rule", "add", "not", "pref", "5200", *ours)
    ns.run("ip", "rule", "add", "pref", "5200", "from", "10.0.0.0/8", *ours)
    ns.run("ip", "rule", "add", "pref", "5200", "fwmark", "0x80000", "lookup", "1836018789")
    ns.run("ip", "rule", "add", "pref", "5200", "fwmark", "0x80000/0xff0000", "lookup", "100")
    ns.run("ip", "-6", "rule", "add", "pref", "5200", "from", "fd00::/8", *ours)


def _check(got: Any) -> None:
    for what, (by_ip, by_netlink) in got["raw"].items():
        assert by_ip == by_netlink, what
    by_ip_facts, by_netlink_facts = got["facts"]
    assert by_ip_facts == by_netlink_facts


def test_netlink_reads_match_ip_json(lab: Lab, tmp_path: Path) -> None:
    _awkward_tables(lab)
    got = _readings(lab, tmp_path)
    _check(got)
    # The setup bites: every kind of route and rule above is there to be read.
    assert got["raw"]["-4 rules"] == [1, 1] and got["raw"]["-6 rules"] == [0, 0]
    table52 = got["raw"]["-4 52"][1]
    assert {r[1] for r in table52} == {"unicast", "throw", "blackhole", "unreachable", "prohibit"}
    assert ["10.50.0.0/16", "unicast", None, ["tailscale0", "wg0-mullvad"]] in table52
    assert "10.51.0.0/16" in got["facts"][1] and "10.50.0.0" not in got["facts"][1]
    assert "lan4=(IPv4Network('10.30.0.0/15')" in got["facts"][1]  # the LAN: via a gateway, and multipath
    assert "IPv6Network('fd00:51::1/128')" in got["facts"][1]


def test_netlink_reads_match_ip_json_with_named_tables(lab: Lab, tmp_path: Path) -> None:
    require_tools("unshare", "mount")
    _awkward_tables(lab)
    got = _readings(lab, tmp_path, _named(tmp_path))
    _check(got)
    assert got["raw"]["-4 rules"] == [1, 1]


def test_empty_tables_read_as_absent(lab: Lab, tmp_path: Path) -> None:
    got = _readings(lab, tmp_path)
    _check(got)
    assert got["raw"]["-4 52"] == [[], []] and got["raw"]["-4 rules"] == [0, 0]
    assert "table_found=False" in got["facts"][1]
