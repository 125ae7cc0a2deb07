"""Re-applying keeps our base chains registered: a re-created hook can drop a packet crossing the switch
(tests/replica/reapply_loss.py measured 1-3 lost echoes per 800 delete-and-recreate re-applies)."""

from __future__ import annotations

import json
from typing import Any

from tests.bypass.conftest import Lab
from tests.infra.nft_text import canonical
from tray_app.core import rules
from tray_app.core.routes import build_facts


def chain_handles(lab: Lab) -> dict[str, int]:
    data: dict[str, Any] = json.loads(lab.nft("-j", "list", "table", "inet", "mullvad-tailscale").stdout)
    return {i["chain"]["name"]: i["chain"]["handle"] for i in data["nftables"] if "chain" in i}


def test_refresh_and_mode_switch_keep_the_same_chains(lab: Lab) -> None:
    lab.route("100.101.102.103/32", "dev", "tailscale0")
    lab.ok("enable")
    before = chain_handles(lab)
    assert set(before) == {"output", "prerouting", "postrouting"}
    lab.route("192.168.50.0/24", "dev", "tailscale0")
    assert lab.ok("refresh")["matches_expected"] is True
    assert "192.168.50.0/24" in lab.status()["tailnet4"]
    lab.ok("enable", "--mode", "private", "--containers")
    assert chain_handles(lab) == before  # same chain objects: the hooks were never re-registered
    status = lab.status()
    assert status["mode"] == "private" and status["options"] == ["containers"]
    assert status["matches_expected"] is True


def test_a_table_of_another_layout_is_replaced_whole(lab: Lab) -> None:
    # An older version's table: same name, a chain at another priority and a set we no longer use.
    lab.load(
        "table inet mullvad-tailscale {\n"
        "  set tailnet4 { type ipv4_addr; flags interval; elements = { 100.64.0.0/10 } }\n"
        "  set legacy { type ipv4_addr; }\n"
        "  chain output { type route hook output priority 0; policy accept; ip daddr @tailnet4 accept; }\n"
        "}\n"
    )
    status = lab.ok("enable")
    assert status["matches_expected"] is True, status
    ours = lab.ours() or ""
    assert "legacy" not in ours
    assert "type route hook output priority -100;" in canonical(ours)


def test_a_table_whose_chain_differs_only_in_priority_is_replaced(lab: Lab) -> None:
    # Same names as ours, so the in-place batch is tried first; nft rejects redeclaring the hook.
    lab.load(
        "table inet mullvad-tailscale {\n"
        "  set tailnet4 { type ipv4_addr; flags interval; }\n"
        "  set tailnet6 { type ipv6_addr; flags interval; }\n"
        "  set mullvad_dns4 { type ipv4_addr; flags interval; }\n"
        "  chain output { type route hook output priority 0; policy accept; }\n"
        "  chain prerouting { type filter hook prerouting priority -145; policy accept; }\n"
        "}\n"
    )
    assert lab.ok("enable")["matches_expected"] is True
    assert lab.status()["state"] == "on"


# What the previous version loaded (no guard chain, no LAN sets), as its renderer wrote it.
PREVIOUS_LAYOUT = """table inet mullvad-tailscale {
  set tailnet4 { type ipv4_addr; flags interval; elements = { 100.64.0.0/10 }; }
  set tailnet6 { type ipv6_addr; flags interval; elements = { fd7a:115c:a1e0::/48 }; }
  set mullvad_dns4 { type ipv4_addr; flags interval; elements = { 100.64.0.0/26 }; }
  chain output {
    type route hook output priority -100; policy accept;
    meta mark & 0x00ff0000 == 0x00080000 ct mark set 0x00000f41
    ip daddr @mullvad_dns4 return
    ip daddr @tailnet4 ct mark set 0x00000f41 meta mark set 0x6d6f6c65
  }
  chain prerouting {
    type filter hook prerouting priority -145; policy accept;
    iifname "tailscale0" ct mark set 0x00000f41 meta mark set 0x6d6f6c65
  }
}
"""


def test_a_table_of_the_previous_layout_is_upgraded_by_refresh(lab: Lab) -> None:
    """An upgrade: the boot unit or the tray's `refresh` meets the old table; the in-place batch would keep the
    old chains without the guard, so the table is replaced whole (once) and then refilled in place."""
    lab.ok("enable")
    lab.load("table inet mullvad-tailscale {}\ndelete table inet mullvad-tailscale\n" + PREVIOUS_LAYOUT)
    assert lab.status()["state"] == "drifted"
    assert lab.ok("refresh")["state"] == "on"
    upgraded = chain_handles(lab)
    assert set(upgraded) == {"output", "prerouting", "postrouting"}
    assert lab.ok("refresh")["state"] == "on"
    assert chain_handles(lab) == upgraded  # from now on refilled in place


def test_the_catch_all_tailnet_ingress_of_the_last_release_is_replaced_in_place(lab: Lab) -> None:
    """The release before the positive ingress had the same sets and chains but marked everything from
    tailscale0 (exit-node clients' internet included): `status` calls it drifted and `refresh` refills the
    chains in place (hooks kept), leaving no catch-all line."""
    lab.ok("enable")
    before = chain_handles(lab)
    ingress = rules.render_table(rules.Config(), build_facts([], [])).splitlines()
    old = [
        ln for ln in ingress if not ln.startswith(('    iifname "tailscale0"', '    iifname "wg0-mullvad"'))
    ]
    at = ingress.index("    type filter hook prerouting priority -145; policy accept;") + 1
    old.insert(at, '    iifname "tailscale0" ct mark set 0x00000f41 meta mark set 0x6d6f6c65')
    lab.load("flush table inet mullvad-tailscale\n" + "\n".join(old) + "\n")
    assert lab.status()["state"] == "drifted"
    assert lab.ok("refresh")["state"] == "on"
    table = lab.ours() or ""
    assert 'iifname "tailscale0" ct mark set' not in table and "fib daddr type local" in table
    assert chain_handles(lab) == before
