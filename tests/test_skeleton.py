"""The model's JSON matches the schema; the CLI knows its version. (Which layer may import what is checked by
import-linter's contracts in pyproject.toml; the helper without Qt by tests/bypass/test_helper_isolated.py.)"""

from __future__ import annotations

import json
import subprocess
import sys

from tray_app.core.model import Snapshot


def test_default_snapshot_json_schema() -> None:
    data = Snapshot().to_json()
    assert set(data) == {"mullvad", "tailscale", "bypass"}
    assert data["mullvad"]["state"] == "unavailable"
    assert data["tailscale"]["state"] == "unavailable"
    assert data["bypass"]["state"] == "unknown"
    json.dumps(data)


def test_cli_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "tray_app", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "mullvad-tailscale-tray 0.1.0"
