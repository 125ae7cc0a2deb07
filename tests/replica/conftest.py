"""Fixtures for the namespace replica: one lab per test module, reset between tests.

Needs root, `ip`, `nft` and `sysctl`; without them the tests skip with the reason (and fail in CI).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.infra.require import require_root, require_tools
from tests.replica.bypass_drivers import HelperBypass, ReferenceBypass
from tests.replica.lab import Lab


def require_lab_tools() -> None:
    require_root()
    require_tools("ip", "nft", "sysctl")


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    """A replica with Tailscale up (no connmark rules, rp_filter 2) and Mullvad connected after it."""
    require_lab_tools()
    with Lab.build(rp_filter=2, connmark="none") as built:
        yield built


@pytest.fixture
def helper(lab: Lab, tmp_path: Path) -> Iterator[HelperBypass]:
    """The product's root helper aimed at the lab's host namespace. Afterwards: bypass disabled, the lab back
    to Tailscale without connmark rules, CGNAT drop on, rp_filter 2, Mullvad connected."""
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o755)
    drv = HelperBypass(lab, state_dir)
    try:
        yield drv
    finally:
        drv.call("disable", check=False)
        _reset(lab)


@pytest.fixture
def reference(lab: Lab) -> Iterator[ReferenceBypass]:
    drv = ReferenceBypass(lab)
    try:
        yield drv
    finally:
        drv.disable()
        _reset(lab)


@pytest.fixture
def blog(lab: Lab) -> Iterator[ReferenceBypass]:
    drv = ReferenceBypass(lab, ruleset="blog")
    try:
        yield drv
    finally:
        drv.disable()
        _reset(lab)


def _reset(lab: Lab) -> None:
    lab.set_rp_filter(2)
    lab.set_tailscale(connmark="none", cgnat_drop=True)  # also reconnects Mullvad (registered last again)
    if lab.mullvad_state != "connected":
        lab.mullvad_connect()
    lab.reset_leaks()
