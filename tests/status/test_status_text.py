"""The human lines of `status` and `watch`: what a user reads at a glance."""

from __future__ import annotations

import json
from ipaddress import IPv4Network

from tray_app.core.bypass_reply import parse_status
from tray_app.core.model import (
    BypassState,
    BypassStatus,
    ExitNode,
    MullvadState,
    MullvadStatus,
    Snapshot,
    TailscaleSelf,
    TailscaleState,
    TailscaleStatus,
)
from tray_app.core.routes import build_facts
from tray_app.core.snapshot_fold import Part
from tray_app.core.status_text import (
    PART_TEXT,
    bypass_text,
    mullvad_text,
    status_lines,
    tailscale_text,
    watch_line,
)

LAPTOP = TailscaleSelf("laptop", "laptop.example.ts.net.", ("fd7a:115c:a1e0::1", "100.101.102.103"))
RUNNING = TailscaleStatus(
    TailscaleState.RUNNING, self_node=LAPTOP, tailnet="example.ts.net", peers_online=3, peers_total=5
)
CONNECTED = MullvadStatus(
    MullvadState.CONNECTED, relay="se-got-wg-001", location="Gothenburg, Sweden", lockdown=False
)


def test_every_part_has_its_line_in_status_order() -> None:
    """The status text's table (DESIGN.md, "Adding a status source"): one row per Part, in Part's order."""
    assert list(PART_TEXT) == list(Part)


def test_the_three_lines_of_a_healthy_setup() -> None:
    snap = Snapshot(CONNECTED, RUNNING, BypassStatus(BypassState.ON, mode="direct"))
    assert status_lines(snap) == [
        "Mullvad: connected to se-got-wg-001 (Gothenburg, Sweden), lockdown off",
        "Tailscale: running as laptop (100.101.102.103) on example.ts.net, 3/5 devices online",
        "Bypass: on (direct)",
    ]


def test_hint_when_the_tailnet_is_cut_off() -> None:
    lines = status_lines(Snapshot(CONNECTED, RUNNING, BypassStatus(BypassState.OFF)))
    assert lines[2] == "Bypass: off"
    assert lines[3] == (
        "Hint: the tailnet is cut off while Mullvad is connected: run `mullvad-tailscale-tray bypass on`"
    )


def test_mullvad_states() -> None:
    assert mullvad_text(MullvadStatus(MullvadState.DISCONNECTED, lockdown=True, blocked=True)) == (
        "Mullvad: disconnected, lockdown on, internet blocked"
    )
    assert mullvad_text(MullvadStatus(MullvadState.CONNECTING, relay="se-got-wg-001")) == (
        "Mullvad: connecting to se-got-wg-001"
    )
    assert mullvad_text(MullvadStatus(MullvadState.DISCONNECTING)) == "Mullvad: disconnecting"
    assert mullvad_text(MullvadStatus(MullvadState.ERROR, blocked=True, detail="account expired")) == (
        "Mullvad: error, internet blocked (account expired)"
    )
    assert "traffic may leak" in mullvad_text(MullvadStatus(MullvadState.ERROR, block_failure=True))
    assert mullvad_text(
        MullvadStatus(MullvadState.UNAVAILABLE, detail="the Mullvad daemon is not running")
    ) == ("Mullvad: unavailable (the Mullvad daemon is not running)")


def test_tailscale_states() -> None:
    exit_off = TailscaleStatus(
        TailscaleState.RUNNING,
        self_node=LAPTOP,
        tailnet="example.ts.net",
        exit_node=ExitNode("nyc-exit", online=False),
        peers_online=0,
        peers_total=2,
        health=("Tailscale could not connect to the control server",),
    )
    assert tailscale_text(exit_off) == (
        "Tailscale: running as laptop (100.101.102.103) on example.ts.net, 0/2 devices online,"
        " exit node nyc-exit (offline); health: Tailscale could not connect to the control server"
    )
    assert tailscale_text(TailscaleStatus(TailscaleState.STOPPED)) == "Tailscale: stopped"
    assert tailscale_text(
        TailscaleStatus(TailscaleState.NEEDS_LOGIN, auth_url="https://login.example/a")
    ) == ("Tailscale: needs login at https://login.example/a")
    assert tailscale_text(
        TailscaleStatus(TailscaleState.UNAVAILABLE, detail="tailscaled is not running")
    ) == ("Tailscale: unavailable (tailscaled is not running)")
    assert "sudo tailscale set --operator=$USER" in tailscale_text(
        TailscaleStatus(TailscaleState.STOPPED, can_write=False)
    )


def test_bypass_states() -> None:
    assert bypass_text(BypassStatus(BypassState.ON, mode="private", options=("containers",))) == (
        "Bypass: on (private, containers)"
    )
    assert bypass_text(BypassStatus(BypassState.UNKNOWN, detail="polkit is not running")) == (
        "Bypass: unknown (polkit is not running)"
    )
    assert bypass_text(BypassStatus(BypassState.DRIFTED, mode="direct", detail="tailnet4 is stale")) == (
        "Bypass: drifted (direct): tailnet4 is stale"
    )


def test_watch_line_has_a_time_stamp() -> None:
    assert watch_line("16:50:01", BypassStatus(BypassState.OFF)) == "16:50:01 Bypass: off"


def test_routes_kept_out_of_the_bypass_are_said_on_the_bypass_line() -> None:
    """Issue 9 item 3: what the helper kept out of the sets reaches the `status`/`watch` line and the tray's
    status window (both show `bypass_text`), from the helper's own warning."""
    facts = build_facts([IPv4Network("0.0.0.0/1"), IPv4Network("128.0.0.0/1")], [])
    reply = {"enabled": True, "state": "on", "mode": "direct", "options": [], "matches_expected": True}
    status, _ = parse_status(json.dumps({**reply, "warnings": list(facts.warnings)}))
    line = bypass_text(status)
    assert line.startswith("Bypass: on (direct); table 52 route(s) 0.0.0.0/1, 128.0.0.0/1 are not bypassed")
    assert "exit node" in line
    # and nothing at all with only Tailscale's own range (issue 14 item 7)
    quiet = build_facts([IPv4Network("100.64.0.0/10")], [])
    status, _ = parse_status(json.dumps({**reply, "warnings": list(quiet.warnings)}))
    assert bypass_text(status) == "Bypass: on (direct)"
