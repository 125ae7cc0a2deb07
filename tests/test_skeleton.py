"""The package imports without Qt where the design says it must, and the model's JSON matches the schema."""

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


def test_core_and_helper_never_import_qt() -> None:
    code = (
        "import sys, tray_app, tray_app.core.model, tray_app.core.protocol, tray_app.helper;"
        "assert not [m for m in sys.modules if m.startswith('PyQt6')], 'Qt imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_cli_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "tray_app", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "mullvad-tailscale-tray 0.1.0"
