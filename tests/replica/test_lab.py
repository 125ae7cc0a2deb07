"""The replica itself: it must reproduce the problem and the published lab results before it can judge the
product's helper (coexistence.md §7). The "blog" rules are the control that shows these probes can fail."""

from __future__ import annotations

import json

import pytest

from tests.replica import catalogue as c
from tests.replica import topology as t
from tests.replica.bypass_drivers import ReferenceBypass
from tests.replica.lab import Lab


def _prefs(lab: Lab, family: str) -> list[tuple[int, str]]:
    out = []
    for rule in lab.ip_rules(family):
        what = "not fwmark" if "not" in rule else str(rule.get("fwmark", ""))  # ip -j shows "not": null
        out.append(
            (int(str(rule["priority"])), f"{what} {rule.get('table', rule.get('action', ''))}".strip())
        )
    return out


@pytest.mark.parametrize("family", ["-4", "-6"])
def test_mullvad_rules_land_in_front_of_tailscale(lab: Lab, family: str) -> None:
    """Mullvad adds its rules without a priority after tailscaled: the kernel puts them at 5208/5209."""
    for step in ("connected", "reconnected"):
        if step == "reconnected":
            lab.mullvad_reconnect()
        prefs = _prefs(lab, family)
        assert (5208, "main") in prefs, (step, prefs)
        assert (5209, f"not fwmark {t.MULLVAD_TABLE}") in prefs, (step, prefs)
        assert (5270, "52") in prefs, (step, prefs)


def test_blocked_has_no_mullvad_rules_and_keeps_split_tunnel_accept(lab: Lab) -> None:
    lab.mullvad_block()
    try:
        prefs = [p for p, _ in _prefs(lab, "-4")]
        assert 5208 not in prefs and 5209 not in prefs
        output = lab.run("host", "nft", "list", "chain", "inet", "mullvad", "output").stdout
        assert "ct mark 0x00000f41 accept" in output
    finally:
        lab.mullvad_connect()


@pytest.mark.parametrize(
    ("connmark", "rp_filter"), [("none", 2), ("buggy", 1), ("fixed", 2), ("ipt96", 1), ("ipt100", 2)]
)
def test_baseline_reproduces_the_problem(lab: Lab, connmark: str, rp_filter: int) -> None:
    """Mullvad connected and no bypass: every tailnet probe fails, tailscaled goes through the tunnel, and on
    Tailscale >= 1.96 `mullvad-exclude` breaks and leaks the tunnel IP on the LAN (mullvad#10416)."""
    lab.set_rp_filter(rp_filter)
    lab.set_tailscale(connmark=connmark)
    try:
        lab.reset_leaks()
        assert lab.probe(c.PROBES) == c.without_bypass(connmark, rp_filter)
        leaks = lab.leaks()
        assert leaks == {**c.NO_LEAKS, "tunnel_src": leaks["tunnel_src"]}
        assert (leaks["tunnel_src"] > 0) == (connmark != "none"), leaks
    finally:
        lab.set_rp_filter(2)
        lab.set_tailscale(connmark="none")


@pytest.mark.parametrize(("connmark", "rp_filter"), [("buggy", 1), ("fixed", 2), ("ipt96", 1)])
def test_reference_table_passes_every_probe(
    lab: Lab, reference: ReferenceBypass, connmark: str, rp_filter: int
) -> None:
    """coexistence.md's table, loaded by hand, gives the published result: everything passes, no leaks,
    connected, after a reconnect and in lockdown."""
    lab.set_rp_filter(rp_filter)
    lab.set_tailscale(connmark=connmark)
    reference.enable("direct")
    lab.reset_leaks()
    assert lab.probe(c.PROBES) == c.with_bypass("direct", "connected")
    lab.mullvad_reconnect()
    assert lab.probe(c.PROBES) == c.with_bypass("direct", "connected")
    lab.mullvad_block()
    assert lab.probe(c.PROBES) == c.with_bypass("direct", "blocked")
    assert lab.leaks() == c.NO_LEAKS


def test_blog_rules_fail_where_documented(lab: Lab, blog: ReferenceBypass) -> None:
    """Control: the widely copied rules miss IPv6 and subnet routes, leak the content-blocker DNS query in the
    clear, break `mullvad-exclude` on Tailscale >= 1.96 and let a spoofed CGNAT source in without ts-input's
    drop. If the probes could not see that, they could not vouch for the helper either."""
    lab.set_tailscale(connmark="fixed", cgnat_drop=False)
    blog.enable()
    lab.reset_leaks()
    got = lab.probe(c.PROBES)
    leaks = lab.leaks()
    assert got["T1_tailnet4_tcp"] == t.HOST_TS4  # what it does fix
    assert got["T3_subnet_route"] == "fail"
    assert got["T4_tailnet6_tcp"] == "fail"
    assert got["I2_incoming6"] == "fail"
    assert got["T10_split_tunnel"] == "fail"
    assert got["I3_spoofed_lan"] == f"fail (arrived as {t.SPOOF_SRC})"
    assert leaks["dns"] > 0 and leaks["tailnet_dst"] > 0, leaks  # 100.64.0.7 query out eth0
    assert leaks["tunnel_src"] > 0, leaks  # mullvad-exclude's SYN with the tunnel IP on the LAN


# coexistence.md §2.4/§7, blog rules after a Mullvad reconnect: tailscaled's transport breaks only under strict
# rp_filter with the 1.96-1.98 restore; `mullvad-exclude` breaks on every >= 1.96 variant; Mullvad's own
# handshake survives the iptables backend's masked restore but not the nft one under strict rp_filter.
_DIRECT = {"T8_tailscaled_udp": t.HOST_LAN4, "T9_tailscaled_tcp": t.HOST_LAN4}
_TRANSPORT_FAILS = {"T8_tailscaled_udp": f"fail (arrived as {t.HOST_LAN4})", "T9_tailscaled_tcp": "fail"}
_WG_FAILS = {"T11_mullvad_wg": f"fail (arrived as {t.HOST_LAN4})"}


@pytest.mark.parametrize(
    ("connmark", "rp_filter", "expected"),
    [
        pytest.param("ipt96", 1, {**_TRANSPORT_FAILS, "T11_mullvad_wg": t.HOST_LAN4}, id="ipt96-rp1"),
        pytest.param("ipt96", 2, {**_DIRECT, "T11_mullvad_wg": t.HOST_LAN4}, id="ipt96-rp2"),
        pytest.param("ipt100", 1, {**_DIRECT, "T11_mullvad_wg": t.HOST_LAN4}, id="ipt100-rp1"),
        pytest.param("buggy", 1, {**_TRANSPORT_FAILS, **_WG_FAILS}, id="buggy-rp1"),
    ],
)
def test_blog_rules_fail_per_connmark_variant(
    lab: Lab, blog: ReferenceBypass, connmark: str, rp_filter: int, expected: dict[str, str]
) -> None:
    lab.set_rp_filter(rp_filter)
    lab.set_tailscale(connmark=connmark)
    blog.enable()
    lab.mullvad_reconnect()
    names = ("T1_tailnet4_tcp", "T10_split_tunnel", *expected)
    got = lab.probe(c.by_name(*names))
    assert got == {"T1_tailnet4_tcp": t.HOST_TS4, "T10_split_tunnel": "fail", **expected}


@pytest.mark.parametrize(("connmark", "seen"), [("ipt96", "0x6d006c65"), ("ipt100", "0x6d6f6c65")])
def test_iptables_restore_arithmetic(lab: Lab, reference: ReferenceBypass, connmark: str, seen: str) -> None:
    """The emulated masked restore does what §2.4 says iptables does to a bypassed flow's replies (ct 0xf41,
    which Mullvad's -199 rule marks 0x6d6f6c65): 1.96-1.98 clears bits 16-23 (0x6d006c65), >= 1.100 leaves
    the mark alone because the ct mark has no bits in 0xff0000. Counted just after the restore, at -149."""
    lab.set_tailscale(connmark=connmark)
    reference.enable("direct")
    watch = f"""table inet marks {{
  counter seen {{
  }}
  counter other {{
  }}
  chain pre {{ type filter hook prerouting priority -149; policy accept;
    iifname "{t.TS_IF}" ip saddr {t.PEER4} tcp sport 80 meta mark {seen} counter name "seen" return
    iifname "{t.TS_IF}" ip saddr {t.PEER4} tcp sport 80 counter name "other"
  }}
}}
"""
    lab.nft("host", watch)
    try:
        assert lab.probe(c.by_name("T1_tailnet4_tcp")) == {"T1_tailnet4_tcp": t.HOST_TS4}
        out = json.loads(lab.run("host", "nft", "-j", "list", "counters", "table", "inet", "marks").stdout)
        counts = {x["counter"]["name"]: x["counter"]["packets"] for x in out["nftables"] if "counter" in x}
    finally:
        lab.nft("host", "table inet marks {}\ndelete table inet marks\n")
    assert counts["seen"] > 0 and counts["other"] == 0, counts
