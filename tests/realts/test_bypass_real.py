"""The bypass by traffic with the real tailscaled's own rules, routes and transport (docs/testing-replica.md,
"Real Tailscale lab"): the replica's probe set against real daemons, a real WireGuard wg0-mullvad and the
Mullvad replica. Every LAN leak counter must stay 0.

The main combination (1.102.5, nftables, rp_filter 2) runs the full probe set, direct and private, Mullvad
connected and blocked. Every other built version x firewall mode x rp_filter runs a reduced set.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.realts import binaries
from tests.realts.conftest import require_real_lab
from tests.realts.lab import RealHelper, RealLab
from tests.replica import catalogue
from tests.replica import topology as t
from tests.replica.bypass_drivers import HelperBypass
from tests.replica.lab import LabError

pytestmark = pytest.mark.real_tailscale

REDUCED = (
    "T1_tailnet4_tcp",
    "T2_magicdns4",
    "T3_subnet_route",
    "T4_tailnet6_tcp",
    "T5_internet4",
    "T7_blocker_dns",
    "T8_tailscaled_udp",
    "T10_split_tunnel",
    "I1_incoming4",
    "I3_spoofed_lan",
)
TAILNET = [n for n in catalogue.TAILNET if n != "T2_magicdns6"]


def test_problem_reproduces_without_bypass(real_lab: RealLab) -> None:
    """Mullvad connected after Tailscale and no bypass: the tailnet is dark and tailscaled's own traffic goes
    through the Mullvad relay, as on a real machine."""
    got = real_lab.probe(real_lab.probes())
    assert {n: got[n] for n in TAILNET} == dict.fromkeys(TAILNET, "fail")
    assert got["T5_internet4"] == t.RELAY4
    assert got["T8_tailscaled_udp"] == t.RELAY4
    assert real_lab.tailscaled_path() in (t.RELAY4, "DERP")


def test_stale_flows_after_bypass_on(real_lab: RealLab, tmp_path: Path) -> None:
    """The common order: Tailscale up, Mullvad connects (tailscaled's control, DERP and peer flows now run
    through the tunnel), then `bypass on` in direct mode on the running daemon. Nothing may leave eth0 with the
    tunnel's address, and the tailnet must work."""
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o755)
    helper = HelperBypass(real_lab, state_dir)  # the plain helper: no fresh tailscaled afterwards
    # tailscaled's flows to the peer and DERP run through the tunnel before the change (also when this test
    # runs alone, right after the lab was built).
    assert real_lab.tailscaled_path() in (t.RELAY4, "DERP")
    try:
        helper.enable("direct")
        real_lab.converge()
        real_lab.reset_leaks()
        real_lab.tailscaled_path()  # tailscaled's own traffic, as the peer pings it
        real_lab.probe(real_lab.probes(REDUCED))
        assert real_lab.leaks() == catalogue.NO_LEAKS, real_lab.leaked_flows()
    finally:
        # A fresh tailscaled for what follows, while the tailnet can still converge (the bypass on).
        real_lab.restart_host()
        helper.call("disable", check=False)
        real_lab.reset_leaks()


@pytest.mark.parametrize("mode", ["direct", "private"])
def test_full_probe_set(mode: str, tmp_path: Path) -> None:
    """The bypass on (before Mullvad connects, so every flow of tailscaled's is born under it), then Mullvad
    connected and blocked: the full probe set, no leak, and tailscaled's real transport as the peer sees it."""
    build = require_real_lab()
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o755)
    with RealLab.build(build=build, firewall="nftables", bypass=(state_dir, mode)) as lab:
        assert RealHelper(lab, state_dir).status()["state"] == "on"
        for mullvad in ("connected", "blocked"):
            lab.set_mullvad(mullvad)
            lab.settle(mode)
            lab.reset_leaks()
            got = lab.probe(lab.probes())
            assert got == lab.expected(mode, mullvad), f"{mode}, Mullvad {mullvad}"
            assert lab.leaks() == catalogue.NO_LEAKS, (mode, mullvad, lab.leaked_flows())
        lab.mullvad_connect()
        lab.settle(mode)
        # tailscaled's real transport, as the peer sees it: the real IP in direct mode; never in private mode.
        path = lab.tailscaled_path()
        if mode == "direct":
            assert path == t.HOST_LAN4
        else:
            assert path in (t.RELAY4, "DERP")
        assert lab.leaks() == catalogue.NO_LEAKS, lab.leaked_flows()


def _matrix() -> list[tuple[str, str, str]]:
    versions = [b.version for b in binaries.builds()] or [binaries.MAIN]
    return [
        (v, fw, mode) for v in versions for fw in ("nftables", "iptables") for mode in ("direct", "private")
    ]


@pytest.mark.parametrize(("version", "firewall", "mode"), _matrix())
def test_reduced_matrix(version: str, firewall: str, mode: str, tmp_path: Path) -> None:
    """Each built version in each firewall mode, rp_filter 1 and 2, direct and private, Mullvad connected and
    blocked: the reduced probe set with the real daemon's netfilter rules, no leak."""
    require_real_lab()
    build = next(b for b in binaries.builds() if b.version == version)
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o755)
    # One lab per mode, the bypass on before Mullvad connects: a mode switch on a running daemon carries its
    # flows over (docs/tailscale.md, "Flows from before a change").
    with RealLab.build(build=build, firewall=firewall, bypass=(state_dir, mode)) as lab:
        for rp_filter in (1, 2):
            lab.set_rp_filter(rp_filter)
            for mullvad in ("connected", "blocked"):
                lab.set_mullvad(mullvad)
                where = f"{build.short} {firewall} rp_filter {rp_filter} {mode} Mullvad {mullvad}"
                try:
                    lab.settle(mode)
                except LabError as e:
                    raise AssertionError(f"{where}: {e}") from e
                lab.reset_leaks()
                assert lab.probe(lab.probes(REDUCED)) == lab.expected(mode, mullvad, REDUCED), where
                assert lab.leaks() == catalogue.NO_LEAKS, (where, lab.leaked_flows())
            lab.mullvad_connect()
        RealHelper(lab, state_dir).disable()


def _connmark_builds() -> list[str]:
    return [b.version for b in binaries.builds() if b.connmark != "none"] or [binaries.MAIN]


@pytest.mark.parametrize("version", _connmark_builds())
def test_mullvad_flow_from_before_bypass(version: str, tmp_path: Path) -> None:
    """Tailscale >= 1.96 in nftables mode, strict rp_filter, no bypass: a new WireGuard flow of Mullvad's gets
    Tailscale's saved ct mark, Tailscale's restore puts it on the relay's replies and rp_filter drops them, so
    Mullvad's tunnel is dead (Tailscale's bug, docs/tailscale.md "The real daemon"). `bypass on` must bring the
    tunnel back on that same flow."""
    require_real_lab()
    build = next(b for b in binaries.builds() if b.version == version)
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o755)
    with RealLab.build(build=build, firewall="nftables") as lab:
        lab.set_rp_filter(1)
        # A new source port: a new flow to the relay, born under Tailscale's save rule and not under ours.
        lab._wg_set("host", t.WG_IF, ["listen-port", str(t.RELAY_PORT + 7)])
        internet = lab.probes(("T5_internet4",))
        # Dead, not slow: longer than WireGuard's 5 s handshake retry.
        for _ in range(4):
            assert lab.probe(internet)["T5_internet4"] == "fail", "Mullvad's tunnel works without the bypass"
            time.sleep(2)
        HelperBypass(lab, state_dir).enable("direct")
        lab.wait(lambda: lab.probe(internet)["T5_internet4"] == t.RELAY4, 60, "Mullvad's tunnel")
        HelperBypass(lab, state_dir).call("disable")
