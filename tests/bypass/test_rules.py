"""Pure tests of rendering and of the parsers over real nft 1.0.6 / iproute2 JSON (fixtures captured from them)."""

from __future__ import annotations

import json
from ipaddress import IPv4Network as N4  # noqa: N814
from ipaddress import IPv6Network as N6  # noqa: N814
from pathlib import Path

import pytest

from tray_app.core import rules, rules_readback, their_tables
from tray_app.core.routes import RouteError, build_facts, parse_table52, with_lan
from tray_app.core.rules import Config

FX = Path(__file__).parent / "fixtures"


def fx(name: str) -> str:
    return (FX / name).read_text()


FACTS = build_facts([N4("192.168.50.0/24"), N4("100.101.102.103/32")], [N6("fd7a:115c:a1e0::53/128")])


INGRESS = [
    'iifname "tailscale0" fib daddr type local ct mark set 0x00000f41 meta mark set 0x6d6f6c65',
    'iifname "tailscale0" ip daddr @lan4 fib daddr oifname != "wg0-mullvad" '
    "ct mark set 0x00000f41 meta mark set 0x6d6f6c65",
    'iifname "tailscale0" ip6 daddr @lan6 fib daddr oifname != "wg0-mullvad" '
    "ct mark set 0x00000f41 meta mark set 0x6d6f6c65",
    'iifname "tailscale0" ip daddr @tailnet4 ct mark set 0x00000f41 meta mark set 0x6d6f6c65',
    'iifname "tailscale0" ip6 daddr @tailnet6 ct mark set 0x00000f41 meta mark set 0x6d6f6c65',
    'iifname "wg0-mullvad" ct direction reply ct original ip saddr @tailnet4 meta mark set 0x6d6f6c65',
    'iifname "wg0-mullvad" ct direction reply ct original ip6 saddr @tailnet6 meta mark set 0x6d6f6c65',
]


def rule_lines(text: str) -> list[str]:
    return [ln.strip() for ln in text.splitlines()]


# --- rendering --------------------------------------------------------------------------------------------


def test_apply_batch_refills_our_table_in_place_and_never_flushes_the_ruleset() -> None:
    batch = rules.render_apply(Config(), FACTS)
    lines = batch.splitlines()
    # declare (creates it if missing), empty our chains and sets, define: one transaction, chains kept
    assert lines[0] == "table inet mullvad-tailscale {"
    flushes = [ln for ln in lines if ln.startswith("flush")]
    assert flushes == [
        "flush table inet mullvad-tailscale",
        "flush set inet mullvad-tailscale tailnet4",
        "flush set inet mullvad-tailscale tailnet6",
        "flush set inet mullvad-tailscale mullvad_dns4",
        "flush set inet mullvad-tailscale lan4",
        "flush set inet mullvad-tailscale lan6",
    ]
    assert "delete" not in batch
    assert "ruleset" not in batch
    assert "mullvad {" not in batch and "table inet mullvad " not in batch
    assert "mangle" not in batch
    assert batch.endswith(rules.render_table(Config(), FACTS))


def test_replace_batch_deletes_and_recreates_only_our_table() -> None:
    batch = rules.render_replace(Config(), FACTS)
    # create-if-missing, delete, define: one transaction that works whether or not the table exists
    assert batch.splitlines()[:3] == [
        "table inet mullvad-tailscale {}",
        "delete table inet mullvad-tailscale",
        "table inet mullvad-tailscale {",
    ]
    assert "flush" not in batch


def test_direct_mode_is_the_reference_table() -> None:
    body = rule_lines(rules.render_table(Config("direct"), FACTS))
    assert body == [
        "table inet mullvad-tailscale {",
        "set tailnet4 { type ipv4_addr; flags interval; elements = { 100.64.0.0/10, 192.168.50.0/24 }; }",
        "set tailnet6 { type ipv6_addr; flags interval; elements = { fd7a:115c:a1e0::/48 }; }",
        "set mullvad_dns4 { type ipv4_addr; flags interval; elements = { 100.64.0.0/26 }; }",
        "set lan4 { type ipv4_addr; flags interval; }",
        "set lan6 { type ipv6_addr; flags interval; }",
        "chain output {",
        "type route hook output priority -100; policy accept;",
        # flows tailscaled began in the tunnel stay there (docs/bypass.md, "Flows from before a change")
        'meta mark & 0x00ff0000 == 0x00080000 oifname "wg0-mullvad" '
        "ct status & (confirmed | snat) == confirmed fib saddr . oif type local return",
        "meta mark & 0x00ff0000 == 0x00080000 ct mark set 0x00000f41",
        'meta mark & 0x00ff0000 == 0x00080000 oifname "wg0-mullvad" meta mark set 0x6d6f6c65',
        "meta mark & 0x00ff0000 == 0x00080000 return",
        "ip daddr @mullvad_dns4 return",
        "ip daddr @tailnet4 ct mark set 0x00000f41 meta mark set 0x6d6f6c65",
        "ip6 daddr @tailnet6 ct mark set 0x00000f41 meta mark set 0x6d6f6c65",
        "ct state new meta mark 0x6d6f6c65 ct mark != 0x00000f41 ct mark set 0x00000f41",
        "}",
        "chain prerouting {",
        "type filter hook prerouting priority -145; policy accept;",
        # tailnet ingress, named positively (this host, its LAN, the tailnet); an exit node's clients'
        # internet gets no marks, and replies to it through the tunnel find tailscale0
        *INGRESS,
        'iifname != "wg0-mullvad" ct mark 0x00000f41 meta mark set 0x6d6f6c65',
        'iifname != "wg0-mullvad" ct mark { 0x00006c00, 0x006f0000 } meta mark set 0x6d6f6c65',
        "}",
        # the fail-closed guard (issue 9 item 1): marked for the tailnet, but not leaving through tailscale0
        "chain postrouting {",
        "type filter hook postrouting priority 0; policy accept;",
        'oifname "tailscale0" return',
        'meta mark & 0x00ff0000 == 0x00080000 oifname != { "wg0-mullvad", "lo" } '
        "ct status & (confirmed | snat) == confirmed fib saddr . oif type != local drop",
        "meta mark 0x6d6f6c65 ip daddr @tailnet4 drop",
        "meta mark 0x6d6f6c65 ip6 daddr @tailnet6 drop",
        'iifname "tailscale0" ip daddr @tailnet4 drop',
        'iifname "tailscale0" ip6 daddr @tailnet6 drop',
        "}",
        "}",
    ]


def test_private_mode_drops_the_tailscaled_lines_only() -> None:
    direct = rule_lines(rules.render_table(Config("direct"), FACTS))
    private = rule_lines(rules.render_table(Config("private"), FACTS))
    assert [ln for ln in direct if ln not in private] == [
        'meta mark & 0x00ff0000 == 0x00080000 oifname "wg0-mullvad" '
        "ct status & (confirmed | snat) == confirmed fib saddr . oif type local return",
        "meta mark & 0x00ff0000 == 0x00080000 ct mark set 0x00000f41",
        'meta mark & 0x00ff0000 == 0x00080000 oifname "wg0-mullvad" meta mark set 0x6d6f6c65',
    ]
    # the guard drops tailscaled's flows left from direct mode outside the tunnel
    assert [ln for ln in private if ln not in direct] == [
        'meta mark & 0x00ff0000 == 0x00080000 ct mark 0x00000f41 oifname != { "wg0-mullvad", "lo" } drop'
    ]
    assert rules.PRIVATE_RULE_ARGS == ("pref", "5200", "fwmark", "0x80000/0xff0000", "lookup", "1836018789")


def test_containers_option_adds_v4_and_v6_bridge_lines_with_dns_carve_out() -> None:
    body = rules.render_table(Config("direct", frozenset({"containers"})), FACTS)
    assert (
        'iifname { "docker0", "br-*" } ip daddr @tailnet4 ip daddr != @mullvad_dns4 '
        "ct mark set 0x00000f41 meta mark set 0x6d6f6c65" in body
    )
    assert (
        'iifname { "docker0", "br-*" } ip6 daddr @tailnet6 ct mark set 0x00000f41 meta mark set 0x6d6f6c65'
        in body
    )
    assert 'iifname "tailscale0" ct mark set 0x00000f41 meta mark set 0x6d6f6c65' not in body
    assert "eth0" not in body  # never a LAN interface (§5.3)


def test_the_tailnet_ingress_is_the_same_in_every_mode_and_the_option_only_adds_the_guard() -> None:
    """No tailnet ingress line marks everything from tailscale0: an exit node's clients' internet is never
    let past Mullvad (it was, with the real IP, before). The LAN sets hold the host's LAN in every mode;
    --exit-via-mullvad only adds the postrouting drops (through Mullvad or nowhere, also while it is off)."""
    facts = build_facts(
        [N4("192.168.50.0/24")], [], lan4=[N4("192.168.1.0/24")], lan6=[N6("fd12:3456:789a::/64")]
    )
    plain = rule_lines(rules.render_table(Config("direct"), facts))
    for cfg in rules.all_configs():
        body = rule_lines(rules.render_table(cfg, facts))
        assert 'iifname "tailscale0" ct mark set 0x00000f41 meta mark set 0x6d6f6c65' not in body
        assert "set lan4 { type ipv4_addr; flags interval; elements = { 192.168.1.0/24 }; }" in body
        assert "set lan6 { type ipv6_addr; flags interval; elements = { fd12:3456:789a::/64 }; }" in body
        i = body.index(INGRESS[0])
        assert body[i : i + len(INGRESS)] == INGRESS
    exit_only = rule_lines(rules.render_table(Config("direct", frozenset({"exit-via-mullvad"})), facts))
    drops = [
        'iifname "tailscale0" oifname != "wg0-mullvad" ip daddr != @lan4 drop',
        'iifname "tailscale0" oifname != "wg0-mullvad" ip6 daddr != @lan6 drop',
    ]
    assert [ln for ln in exit_only if ln not in plain] == drops
    assert exit_only[-4:-2] == drops  # the guard's last lines
    assert [ln for ln in plain if ln not in exit_only] == []


def test_remove_batch_is_safe_when_absent() -> None:
    assert rules.render_remove() == "table inet mullvad-tailscale {}\ndelete table inet mullvad-tailscale\n"


def test_config_refuses_unknown_mode_and_option() -> None:
    with pytest.raises(ValueError):
        Config("evil")
    with pytest.raises(ValueError):
        Config("direct", frozenset({"everything"}))
    assert len(rules.all_configs()) == 8
    assert Config("direct", frozenset({"exit-via-mullvad", "containers"})).option_list == [
        "containers",
        "exit-via-mullvad",
    ]


# --- table 52 ---------------------------------------------------------------------------------------------

# Captured from iproute2 6.1 (`ip -j route show table 52`) with tailscale0 a tun and eth0 a veth.
IP4 = json.dumps(
    [
        {"dst": "default", "dev": "tailscale0", "scope": "link", "flags": ["linkdown"]},
        {"dst": "10.7.0.0/16", "dev": "eth0", "scope": "link", "flags": []},
        {"type": "local", "dst": "10.20.0.1", "dev": "tailscale0", "scope": "host", "flags": []},
        {"type": "broadcast", "dst": "10.30.0.255", "dev": "tailscale0", "scope": "link", "flags": []},
        {"type": "throw", "dst": "192.168.1.0/24", "flags": []},
        {"type": "unreachable", "dst": "10.9.0.0/16", "flags": []},
        {"type": "blackhole", "dst": "10.8.0.0/16", "flags": []},
        {"dst": "10.50.0.0/16", "flags": [], "nexthops": [{"dev": "tailscale0"}, {"dev": "eth0"}]},
        {"dst": "10.51.0.0/16", "flags": [], "nexthops": [{"dev": "tailscale0"}, {"dev": "tailscale0"}]},
        {"dst": "100.100.100.100", "dev": "tailscale0", "scope": "link", "metric": 5, "flags": []},
        {"dst": "100.101.102.103", "dev": "tailscale0", "scope": "link", "flags": []},
        {"dst": "192.168.50.0/24", "dev": "tailscale0", "scope": "link", "flags": []},
        {"dst": "192.168.50.7", "dev": "tailscale0", "scope": "link", "flags": []},
        {"type": "multicast", "dst": "224.1.0.0/16", "dev": "tailscale0", "scope": "link", "flags": []},
        {"dst": "224.2.0.0/16", "dev": "tailscale0", "scope": "link", "flags": []},
        {"dst": "127.0.0.0/8", "dev": "tailscale0", "flags": []},
        {"dst": "169.254.0.0/16", "dev": "tailscale0", "flags": []},
    ]
)
IP6 = json.dumps(
    [
        {"dst": "fd7a:115c:a1e0::53", "dev": "tailscale0", "metric": 1024, "flags": [], "pref": "medium"},
        {"dst": "2001:db8:5::/48", "dev": "tailscale0", "metric": 1024, "flags": [], "pref": "medium"},
        {"dst": "default", "dev": "tailscale0", "metric": 1024, "flags": [], "pref": "medium"},
        {"type": "throw", "dst": "2001:db8::/32", "dev": "lo", "metric": 1024, "flags": [], "pref": "medium"},
        {"dst": "fe80::/64", "dev": "tailscale0", "metric": 256, "flags": [], "pref": "medium"},
        {"dst": "ff00::/8", "dev": "tailscale0", "metric": 256, "flags": [], "pref": "medium"},
    ]
)


def test_table52_keeps_unicast_tailscale0_routes_only() -> None:
    f = parse_table52(IP4, IP6)
    assert [str(n) for n in f.tailnet4] == ["10.51.0.0/16", "100.64.0.0/10", "192.168.50.0/24"]
    assert [str(n) for n in f.tailnet6] == ["2001:db8:5::/48", "fd7a:115c:a1e0::/48"]
    assert f.default_route is True
    assert any("exit node" in w for w in f.warnings)


def test_missing_or_empty_table52_means_tailscale_ranges_and_a_warning() -> None:
    for v4, v6 in ((None, None), ("[]", "[]"), ("", "")):
        f = parse_table52(v4, v6)
        assert [str(n) for n in f.tailnet4] == ["100.64.0.0/10"]
        assert [str(n) for n in f.tailnet6] == ["fd7a:115c:a1e0::/48"]
        assert f.table_found is False
        assert any("table 52 is missing or empty" in w for w in f.warnings)


@pytest.mark.parametrize(
    "bad",
    [
        "{",
        "{}",
        "[1]",
        '[{"dev": "tailscale0"}]',
        '[{"dst": "not-an-ip", "dev": "tailscale0"}]',
        '[{"dst": "fd00::/8", "dev": "tailscale0"}]',
    ],
)
def test_table52_garbage_is_an_error_not_a_guess(bad: str) -> None:
    with pytest.raises(RouteError):
        parse_table52(bad, "[]")


def test_peer_inside_mullvad_dns_range_warns_naming_it() -> None:
    f = build_facts([N4("100.64.0.7/32"), N4("100.101.102.103/32")], [])
    clash = [w for w in f.warnings if "100.64.0.0/26" in w]
    assert len(clash) == 1 and "100.64.0.7/32" in clash[0] and "100.101.102.103" not in clash[0]
    assert [str(n) for n in f.tailnet4] == [
        "100.64.0.0/10"
    ]  # the carve-out set handles it, not the tailnet set


def test_tailscales_own_range_alone_is_no_dns_clash() -> None:
    """Issue 14 item 7: table 52 with only 100.64.0.0/10 (some platforms, Headscale) warns about nothing."""
    f = parse_table52(json.dumps([{"dst": "100.64.0.0/10", "dev": "tailscale0", "flags": []}]), "[]")
    assert f.warnings == () and f.excluded == ()


def test_wide_routes_never_enter_the_sets_and_the_slash1_pair_is_an_exit_node() -> None:
    f = build_facts([N4("0.0.0.0/1"), N4("128.0.0.0/1"), N4("192.168.50.0/24")], [N6("2000::/3")])
    assert [str(n) for n in f.tailnet4] == ["100.64.0.0/10", "192.168.50.0/24"]
    assert [str(n) for n in f.tailnet6] == ["fd7a:115c:a1e0::/48"]
    assert f.default_route is True
    assert f.excluded == ("0.0.0.0/1", "128.0.0.0/1", "2000::/3")
    assert any("0.0.0.0/1, 128.0.0.0/1, 2000::/3 are not bypassed" in w for w in f.warnings)
    assert any("exit node" in w for w in f.warnings)
    # 256 narrow routes that together are the whole IPv4 space: the same
    f = build_facts([N4(f"{i}.0.0.0/8") for i in range(256)], [])
    assert [str(n) for n in f.tailnet4] == ["100.64.0.0/10"] and f.default_route is True
    # a /8 alone is narrow enough
    f = build_facts([N4("10.0.0.0/8")], [])
    assert "10.0.0.0/8" in [str(n) for n in f.tailnet4] and not f.warnings


@pytest.mark.parametrize(
    "prefix", ["64:ff9b::/96", "64:ff9b::/120", "64:ff9b:1::/48", "::ffff:0:0/96", "64::/16"]
)
def test_nat64_and_ipv4_mapped_are_never_bypassed(prefix: str) -> None:
    f = build_facts([], [N6(prefix), N6("2001:db8::/48")])
    assert [str(n) for n in f.tailnet6] == ["2001:db8::/48", "fd7a:115c:a1e0::/48"]
    assert f.excluded == (prefix,)
    assert any(prefix in w and "NAT64" in w for w in f.warnings)


def test_lan_is_read_from_main_without_tunnels_default_or_wide_routes() -> None:
    main4 = json.dumps(
        [
            {"dst": "default", "gateway": "192.168.1.1", "dev": "eth0", "flags": []},
            {"dst": "192.168.1.0/24", "dev": "eth0", "protocol": "kernel", "scope": "link", "flags": []},
            {"dst": "10.64.0.1", "dev": "wg0-mullvad", "flags": []},
            {"dst": "172.17.0.0/16", "dev": "docker0", "flags": []},
            {"dst": "0.0.0.0/1", "gateway": "192.168.1.1", "dev": "eth0", "flags": []},
            {"dst": "100.100.100.100", "dev": "eth0", "flags": []},
            {"type": "unreachable", "dst": "10.99.0.0/16", "flags": []},
        ]
    )
    main6 = json.dumps(
        [{"dst": "fd12:3456:789a::/64", "dev": "eth0", "flags": []}, {"dst": "fe80::/64", "dev": "eth0"}]
    )
    f = with_lan(build_facts([], []), main4, main6)
    assert [str(n) for n in f.lan4] == ["172.17.0.0/16", "192.168.1.0/24"]
    assert [str(n) for n in f.lan6] == ["fd12:3456:789a::/64"]


def test_public_routes_in_main_are_never_lan() -> None:
    """TunnelVision (CVE-2024-3661): a rogue DHCP server (option 121) or RA puts public prefixes into main via
    the LAN. Only private ranges may enter lan4/lan6 (what Mullvad's "allow LAN" allows); a route wider than
    one keeps only the private part."""
    main4 = json.dumps(
        [
            {"dst": "9.9.9.0/24", "gateway": "192.168.1.1", "dev": "eth0", "flags": []},
            {"dst": "1.0.0.0/8", "gateway": "192.168.1.1", "dev": "eth0", "flags": []},
            {"dst": "172.0.0.0/8", "gateway": "192.168.1.1", "dev": "eth0", "flags": []},
            {"dst": "10.20.0.0/16", "dev": "eth1", "flags": []},
        ]
    )
    main6 = json.dumps(
        [
            {"dst": "2001:db8:1::/64", "dev": "eth0", "flags": []},
            {"dst": "2a00:1450::/32", "gateway": "fe80::1", "dev": "eth0", "flags": []},
            {"dst": "fd12:3456:789a::/64", "dev": "eth0", "flags": []},
        ]
    )
    f = with_lan(build_facts([], []), main4, main6)
    assert [str(n) for n in f.lan4] == ["10.20.0.0/16", "172.16.0.0/12"]
    assert [str(n) for n in f.lan6] == ["fd12:3456:789a::/64"]


# --- our table's JSON -------------------------------------------------------------------------------------


def test_parse_our_table_listing() -> None:
    view = rules_readback.parse_table(fx("ours-direct.json"))
    assert view is not None
    assert set(view.chains) == {"output", "prerouting", "postrouting"}
    assert view.chains["output"].type == "route" and view.chains["output"].prio == -100
    assert view.chains["prerouting"].hook == "prerouting" and view.chains["prerouting"].prio == -145
    assert view.chains["postrouting"].hook == "postrouting" and view.chains["postrouting"].prio == 0
    assert len(view.chains["output"].rules) == 8 and len(view.chains["prerouting"].rules) == 9
    assert len(view.chains["postrouting"].rules) == 6
    assert view.sets["lan4"].intervals == () and view.sets["lan6"].intervals == ()
    assert rules_readback.set_networks(view.sets["tailnet4"]) == [
        "10.1.0.0/16",
        "100.64.0.0/10",
        "192.168.50.0/24",
    ]
    assert rules_readback.set_networks(view.sets["tailnet6"]) == ["fd00:50::/64", "fd7a:115c:a1e0::/48"]
    assert rules_readback.set_networks(view.sets["mullvad_dns4"]) == ["100.64.0.0/26"]
    assert rules_readback.parse_table(fx("mullvad-connected.json")) is None  # other tables are not ours


def test_guess_config_from_rules() -> None:
    direct = rules_readback.parse_table(fx("ours-direct.json"))
    allopts = rules_readback.parse_table(fx("ours-private-all.json"))
    assert direct is not None and allopts is not None
    assert rules_readback.guess_config(direct) == Config("direct")
    assert rules_readback.guess_config(allopts) == Config(
        "private", frozenset({"containers", "exit-via-mullvad"})
    )
    # the previous layout (no guard, no LAN sets) is still recognised, and is not ours to refill in place:
    # the helper upgrades it by deleting and re-creating the table
    previous = rules_readback.parse_table(fx("ours-previous-direct.json"))
    assert previous is not None and rules_readback.guess_config(previous) == Config("direct")
    assert not rules_readback.same_layout(previous) and rules_readback.same_layout(direct)


def test_compare_against_reference_listing() -> None:
    live = rules_readback.parse_table(fx("ours-direct.json"))
    ref_direct = rules_readback.parse_table(fx("ours-direct.json"))
    ref_private = rules_readback.parse_table(fx("ours-private-all.json"))
    assert live and ref_direct and ref_private
    facts = build_facts([N4("192.168.50.0/24"), N4("10.1.0.0/16")], [N6("fd00:50::/64")])
    names = {"a": Config("private", frozenset(OPTS)), "b": Config("direct")}
    refs = {"a": ref_private, "b": ref_direct}
    v = rules_readback.compare(live, facts, refs, names, Config("direct"))
    assert v.matches and v.config == Config("direct") and not v.differences
    # saved state says private: the loaded rules do not match it
    v = rules_readback.compare(live, facts, refs, names, Config("private"))
    assert not v.matches and v.config == Config("direct")
    # a route appeared in table 52 since the last apply: the sets are stale
    v = rules_readback.compare(live, build_facts([N4("192.168.60.0/24")], []), refs, names, Config("direct"))
    assert v.rules_match and not v.sets_match and any("table 52" in d for d in v.differences)
    # a rule edited by hand matches no reference
    tampered = json.loads(fx("ours-direct.json"))
    for it in tampered["nftables"]:
        if "rule" in it and it["rule"]["chain"] == "prerouting":
            it["rule"]["expr"][0]["match"]["right"] = "eth0"
            break
    tv = rules_readback.parse_table(json.dumps(tampered))
    assert tv is not None
    v = rules_readback.compare(tv, facts, refs, names, Config("direct"))
    assert not v.matches and v.config is None


OPTS = ("containers", "exit-via-mullvad")


def test_set_elements_in_every_json_spelling_normalise_to_the_same_coverage() -> None:
    # nft prints prefixes, single addresses, ranges, and (newer, or with counters) {"elem": {"val": ...}}
    doc = {
        "nftables": [
            {"metainfo": {"version": "1.1.1", "json_schema_version": 1}},
            {"table": {"family": "inet", "name": "mullvad-tailscale", "handle": 7}},
            {
                "set": {
                    "family": "inet",
                    "name": "tailnet4",
                    "table": "mullvad-tailscale",
                    "type": "ipv4_addr",
                    "flags": "interval",
                    "elem": [
                        {"prefix": {"addr": "10.0.0.0", "len": 25}},
                        {"range": ["10.0.0.128", "10.0.0.255"]},
                        {"elem": {"val": "10.0.1.0", "counter": {"packets": 0, "bytes": 0}}},
                        {"elem": {"val": {"prefix": {"addr": "100.64.0.0", "len": 10}}}},
                    ],
                }
            },
        ]
    }
    view = rules_readback.parse_table(json.dumps(doc))
    assert view is not None
    assert view.sets["tailnet4"].flags == ("interval",)
    assert rules_readback.set_networks(view.sets["tailnet4"]) == [
        "10.0.0.0/24",
        "10.0.1.0/32",
        "100.64.0.0/10",
    ]


@pytest.mark.parametrize(
    "bad", ["", "nope", "[]", '{"x": 1}', '{"nftables": [{"set": {"elem": [{"prefix": 3}]}}]}']
)
def test_bad_nft_json_raises(bad: str) -> None:
    with pytest.raises(rules_readback.NftJsonError):
        rules_readback.parse_tables(bad)


# --- other daemons' tables --------------------------------------------------------------------------------


def test_mullvad_split_tunnel_accept_rule() -> None:
    assert their_tables.mullvad_split_accept(fx("mullvad-connected.json")) is True
    assert their_tables.mullvad_split_accept(fx("mullvad-no-split.json")) is False
    assert their_tables.mullvad_split_accept(fx("mullvad-narrow-accept.json")) is False


def test_tailscale_connmark_generation() -> None:
    assert their_tables.tailscale_connmark(None) == "none"
    assert their_tables.tailscale_connmark(fx("mangle-other.json")) == "none"
    assert their_tables.tailscale_connmark(fx("mangle-1.96.json")) == "1.96-1.98"
    assert their_tables.tailscale_connmark(fx("mangle-1.100.json")) == ">=1.100"
    xt = {
        "nftables": [
            {"table": {"family": "ip", "name": "mangle"}},
            {
                "rule": {
                    "family": "ip",
                    "table": "mangle",
                    "chain": "OUTPUT",
                    "expr": [{"xt": {"type": "target", "name": "CONNMARK"}}],
                }
            },
        ]
    }
    assert (
        their_tables.tailscale_connmark(json.dumps(xt)) == "unknown"
    )  # iptables-nft hides the mask from nft


def test_private_rule_counting() -> None:
    ours = {"priority": 5200, "src": "all", "fwmark": "0x80000", "fwmask": "0xff0000", "table": "1836018789"}
    listing = [
        {"priority": 0, "src": "all", "table": "local"},
        ours,
        ours,
        {**ours, "not": None},  # `not fwmark ...` is a different rule
        {**ours, "priority": 5210, "table": "main"},  # Tailscale's
        {**ours, "fwmask": "0xffffffff"},
        {"priority": 32766, "src": "all", "table": "main"},
    ]
    assert their_tables.count_private_rules(json.dumps(listing)) == 2
    assert their_tables.count_private_rules("") == 0
    assert their_tables.count_private_rules("garbage") == 0
