"""Fail-closed transitions with the real daemon: the tailnet changes under a bypass that is on, with no refresh
(no tray running), and nothing may leave on the physical link in the clear (docs/testing-replica.md, "Real
Tailscale lab"). Where the tailnet still exists afterwards, it must still work.

The withdrawn route and the stopped daemon leaked on the real daemon before the fail-closed guard (issue 9):
1 packet to the withdrawn subnet and 3-12 tailnet packets on the LAN.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.realts import binaries
from tests.realts.conftest import require_real_lab
from tests.realts.lab import RealHelper, RealLab
from tests.replica import catalogue
from tests.replica import topology as t

pytestmark = pytest.mark.real_tailscale
LAB_BYPASS = "direct"  # on before Mullvad connects: no flow of tailscaled's predates it
TAILNET = ("T1_tailnet4_tcp", "T3_subnet_route", "T4_tailnet6_tcp", "I1_incoming4")
AROUND = (*TAILNET, "T5_internet4", "T8_tailscaled_udp", "T10_split_tunnel")


def probe_gone(lab: RealLab, names: tuple[str, ...]) -> dict[str, str]:
    """Probes to destinations whose route is gone: they must fail, and nothing may reach the LAN."""
    lab.reset_leaks()
    got = lab.probe(lab.probes(names))
    return {"results": str(sorted(got.items())), **{k: str(v) for k, v in lab.leaks().items()}}


def test_subnet_route_withdrawn_by_the_router(real_lab: RealLab, real_helper: RealHelper) -> None:
    assert real_lab.probe(real_lab.probes(("T3_subnet_route",)))["T3_subnet_route"] == real_lab.ip("host")
    real_lab.ts("router", "set", "--advertise-routes=")
    try:
        real_lab.wait(lambda: t.SUBNET not in real_lab.table52(), 30, "the route to leave table 52")
        real_lab.reset_leaks()
        got = real_lab.probe(real_lab.probes(("T3_subnet_route", "T1_tailnet4_tcp")))
        assert real_lab.leaks() == catalogue.NO_LEAKS, got
        assert got == {"T3_subnet_route": "fail", "T1_tailnet4_tcp": real_lab.ip("host")}
    finally:
        real_lab.ts("router", "set", f"--advertise-routes={t.SUBNET}")
        real_lab.wait(lambda: t.SUBNET in real_lab.table52(), 30, "the route back in table 52")


def test_tailscaled_stopped_then_restarted(real_lab: RealLab, real_helper: RealHelper) -> None:
    mode = "direct"
    real_lab.stop_tailscaled("host")
    try:
        real_lab.reset_leaks()
        got = real_lab.probe(real_lab.probes(("T1_tailnet4_tcp", "T3_subnet_route", "T4_tailnet6_tcp")))
        assert real_lab.leaks() == catalogue.NO_LEAKS, got
        assert set(got.values()) == {"fail"}
    finally:
        real_lab.start_tailscaled("host")
        real_lab.wait(lambda: t.SUBNET in real_lab.table52(), 60, "tailscaled back with its routes")
        real_lab.converge()
    real_lab.reset_leaks()
    assert real_lab.probe(real_lab.probes(AROUND)) == real_lab.expected(mode, "connected", AROUND)
    assert real_lab.leaks() == catalogue.NO_LEAKS


def test_exit_node_chosen_and_cleared(real_lab: RealLab, real_helper: RealHelper) -> None:
    """Choosing an exit node puts a default route into table 52; the bypass never turns it into a bypass of
    everything (refresh included: a tray would run one), and clearing it brings the tailnet back as before."""
    real_lab.ts("host", "set", f"--exit-node={real_lab.ip('exit')}")
    try:
        real_lab.wait(
            lambda: "default" in real_lab.table52(), 30, "the exit node's default route in table 52"
        )
        for refresh in (False, True):
            if refresh:
                real_helper.call("refresh", check=False)
            real_lab.reset_leaks()
            got = real_lab.probe(real_lab.probes(AROUND))
            assert real_lab.leaks() == catalogue.NO_LEAKS, (refresh, got)
            # The internet never leaves with the real IP: through Mullvad (its rules are in front), or not at all.
            assert got["T5_internet4"] in (t.RELAY4, "fail"), (refresh, got)
    finally:
        real_lab.ts("host", "set", "--exit-node=")
    real_lab.wait(lambda: "default" not in real_lab.table52(), 30, "the default route to leave table 52")
    real_helper.call("refresh")
    real_lab.converge()
    real_lab.reset_leaks()
    assert real_lab.probe(real_lab.probes(AROUND)) == real_lab.expected("direct", "connected", AROUND)
    assert real_lab.leaks() == catalogue.NO_LEAKS


def _upgrade_pairs() -> list[tuple[str, str]]:
    versions = [b.version for b in binaries.builds()]
    return [(old, binaries.MAIN) for old in versions if old != binaries.MAIN] or [
        (binaries.MAIN, binaries.MAIN)
    ]


@pytest.mark.parametrize(("old", "new"), _upgrade_pairs())
def test_upgrade_between_versions(old: str, new: str, tmp_path: Path) -> None:
    """This host's tailscaled replaced by another version while the bypass is on (the package upgrade: stop,
    new binary, start, same state): no leak, and the tailnet works on the new connmark generation without a
    refresh."""
    require_real_lab()
    by_version = {b.version: b for b in binaries.builds()}
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o755)
    with RealLab.build(build=by_version[old], firewall="nftables", bypass=(state_dir, "direct")) as lab:
        helper = RealHelper(lab, state_dir)
        assert lab.probe(lab.probes(AROUND)) == lab.expected("direct", "connected", AROUND)
        lab.start_tailscaled("host", by_version[new])  # stops the old one first
        lab.wait(lambda: t.SUBNET in lab.table52(), 60, "the new tailscaled's routes")
        lab.wait(lambda: lab.peers_online() == 3, 60, "the peers")
        assert lab.status()["Version"].startswith(by_version[new].short)  # type: ignore[union-attr]
        lab.converge()
        lab.reset_leaks()
        assert lab.probe(lab.probes(AROUND)) == lab.expected("direct", "connected", AROUND)
        assert lab.leaks() == catalogue.NO_LEAKS
        assert helper.status()["state"] == "on"
