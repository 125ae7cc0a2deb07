"""The helper's options on a host that routes: `--containers` (Docker -> tailnet, coexistence.md §6.5) and
`--exit-via-mullvad` (this host as exit node, clients leaving through Mullvad). Judged by forwarded traffic
from a container namespace, the tailnet peer and a LAN host, alongside every host probe of the catalogue.
Run with rp_filter 2: with strict rp_filter exit-node traffic fails, which Tailscale already warns about."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.replica import catalogue as c
from tests.replica import topology as t
from tests.replica.bypass_drivers import HelperBypass
from tests.replica.conftest import require_lab_tools
from tests.replica.lab import Lab
from tests.replica.tailscale_replica import CONNMARK_VARIANTS

PROBES = c.PROBES + c.ROUTER_PROBES


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    require_lab_tools()
    with Lab.build(rp_filter=2, connmark="none", forwarding=True) as built:
        yield built


def _check(lab: Lab, name: str, expected: dict[str, str], problems: list[str]) -> None:
    lab.reset_leaks()
    got = lab.probe(PROBES)
    leaks = lab.leaks()
    problems += [f"{name}: {k} gave {got[k]!r}, expected {v!r}" for k, v in expected.items() if got[k] != v]
    if leaks != c.NO_LEAKS:
        problems.append(f"{name}: LAN leak counters {leaks}")


# One iptables variant is enough here: ipt96 is the one whose restore rewrites forwarded replies (§2.4).
@pytest.mark.parametrize("connmark", [cm for cm in CONNMARK_VARIANTS if cm != "ipt100"])
def test_containers_and_exit_node_options(lab: Lab, helper: HelperBypass, connmark: str) -> None:
    lab.set_tailscale(connmark=connmark)
    problems: list[str] = []
    lab.reset_leaks()
    before = lab.probe(c.ROUTER_PROBES)
    # Without the bypass a container cannot reach the tailnet and exit-node clients go into the tunnel.
    if before["D1_container_tailnet"] != "fail" or before["L1_lan_to_tailnet"] != "fail":
        problems.append(f"no bypass: {before}")
    helper.enable("direct")
    _check(lab, "direct", c.with_bypass("direct", "connected") | c.router_with_bypass(False), problems)
    helper.enable("direct", "containers", "exit-via-mullvad")
    expected = c.with_bypass("direct", "connected") | c.router_with_bypass(True)
    _check(lab, "direct + both options", expected, problems)
    lab.mullvad_reconnect()
    _check(lab, "direct + both options, after a reconnect", expected, problems)
    # Documented limit: with strict rp_filter, replies to exit-node clients fail the reverse-path check.
    lab.set_rp_filter(1)
    strict = lab.probe(c.by_name("X1_exit_node_client", "S1_subnet_router_client"))
    lab.set_rp_filter(2)
    if strict != {"X1_exit_node_client": "fail", "S1_subnet_router_client": t.HOST_LAN4}:
        problems.append(f"rp_filter 1 with exit-via-mullvad: {strict}")
    helper.enable("private", "containers")
    expected = c.with_bypass("private", "connected") | c.router_with_bypass(True)
    _check(lab, "private + containers", expected, problems)
    helper.disable()
    after = lab.probe(c.ROUTER_PROBES)
    if after != before:
        problems.append(f"disable: forwarded flows {after}, before enable {before}")
    assert not problems, "\n" + "\n".join(problems)
