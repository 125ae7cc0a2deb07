"""Fixtures for the real polkitd + pkexec tests; the machinery is in tests/polkit/install.py."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.infra.netns import NetNS
from tests.infra.require import require, require_root, require_tools
from tests.polkit.install import ROOT, SYSTEM_PYTHON, PolkitEnv, Sandbox, installed


@pytest.fixture(scope="session")
def polkit_env() -> Iterator[PolkitEnv]:
    """Test users, policy, rules and the checkout's helper installed for the session (root only)."""
    require_root()
    require_tools(
        "pkexec", "pkaction", "pkcheck", "runuser", "useradd", "unshare", "ip", "nft", "dbus-daemon"
    )
    require(os.path.exists(SYSTEM_PYTHON), f"{SYSTEM_PYTHON} is missing: install python3 (scripts/test does)")
    require(
        (ROOT / "tray_app" / "helper" / "main.py").exists(),
        "the root helper tray_app/helper/main.py is not in this checkout yet",
    )
    with installed() as env:
        yield env


@pytest.fixture
def sandbox(netns: NetNS, tmp_path: Path) -> Sandbox:
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    state.chmod(0o755)
    tmp_path.chmod(0o755)
    return Sandbox(netns, state)
