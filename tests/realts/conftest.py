"""Fixtures for the real-Tailscale lab (docs/testing-replica.md, "Real Tailscale lab").

The tests need root, ip, nft, wireguard-go, wg and the binaries scripts/build-tailscale builds; without them
they skip with the fix, and fail in CI (tests/infra/require.py): they are never skipped there.
"""

from __future__ import annotations

import shutil
import tempfile
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
    """The main combination: tailscaled 1.102.5 in nftables mode, rp_filter 2, Mullvad connected. A module
    may set LAB_MULLVAD = "disconnected" (Tailscale alone) or LAB_BYPASS = "direct"|"private" (the bypass on
    before Mullvad connects, so tailscaled has no flow from before it; state in <workdir>/helper-state)."""
    build = require_real_lab()
    mullvad = getattr(request.module, "LAB_MULLVAD", "connected")
    mode = getattr(request.module, "LAB_BYPASS", None)
    state_dir = Path(tempfile.mkdtemp(prefix="mtt-real-state-"))
    state_dir.chmod(0o755)
    bypass = (state_dir, mode) if mode else None
    try:
        with RealLab.build(build=build, firewall="nftables", mullvad_state=mullvad, bypass=bypass) as lab:
            lab.bypass_mode = mode
            lab.helper_state = state_dir
            yield lab
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)


@pytest.fixture
def real_helper(real_lab: RealLab) -> Iterator[RealHelper]:
    """The product's root helper in the lab's host namespace. Afterwards the lab is back as the module built
    it: Mullvad connected, rp_filter 2, the bypass as LAB_BYPASS says (re-applied) or off."""
    drv = RealHelper(real_lab, real_lab.helper_state)
    try:
        yield drv
    finally:
        real_lab.set_rp_filter(2)
        if real_lab.mullvad_state != "connected":
            real_lab.mullvad_connect()
        if real_lab.bypass_mode:
            drv.enable(real_lab.bypass_mode)
        else:
            drv.call("disable", check=False)
        real_lab.reset_leaks()
