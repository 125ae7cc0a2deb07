"""Fixtures for the real-Tailscale lab (docs/testing-replica.md, "Real Tailscale lab").

The tests need root, ip, nft, wireguard-go, wg and the binaries scripts/build-tailscale builds; without them
they skip with the fix, and fail in CI (tests/infra/require.py): they are never skipped there.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.infra.require import require, require_root, require_tools
from tests.realts import binaries
from tests.realts.binaries import Build
from tests.realts.lab import RealHelper, RealLab

pytestmark = pytest.mark.real_tailscale


def require_real_lab() -> Build:
    require_root()
    require_tools("ip", "nft", "sysctl", "wireguard-go", "wg", "iptables", "nsenter", "unshare")
    build = binaries.main_build()
    require(build is not None, f"no tailscaled {binaries.MAIN} in {binaries.CACHE}: {binaries.FIX}")
    require(binaries.control_binary().exists(), f"no lab control server in {binaries.CACHE}: {binaries.FIX}")
    assert build is not None
    return build


@pytest.fixture(scope="module")
def real_lab(request: pytest.FixtureRequest) -> Iterator[RealLab]:
    """The main combination: tailscaled 1.102.5 in nftables mode, rp_filter 2, Mullvad connected (a module
    sets LAB_MULLVAD = "disconnected" to test Tailscale alone)."""
    build = require_real_lab()
    mullvad = getattr(request.module, "LAB_MULLVAD", "connected")
    with RealLab.build(build=build, firewall="nftables", mullvad_state=mullvad) as lab:
        yield lab


@pytest.fixture
def real_helper(real_lab: RealLab, tmp_path: Path) -> Iterator[RealHelper]:
    """The product's root helper in the lab's host namespace; afterwards disabled, Mullvad connected."""
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o755)
    drv = RealHelper(real_lab, state_dir)
    try:
        yield drv
    finally:
        drv.call("disable", check=False)
        real_lab.set_rp_filter(2)
        if real_lab.mullvad_state != "connected":
            real_lab.mullvad_connect()
        real_lab.reset_leaks()
