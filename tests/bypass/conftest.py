"""A network namespace that looks like this host to the helper: `tailscale0` with routing table 52 routes,
`wg0-mullvad`, optional Mullvad and Tailscale tables. The helper runs inside it as a real process."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.infra.netns import NetNS
from tests.infra.require import require_root, require_tools

ROOT = Path(__file__).resolve().parents[2]


class Lab:
    def __init__(self, ns: NetNS, state_dir: Path) -> None:
        self.ns = ns
        self.state_dir = state_dir
        for dev in ("tailscale0", "wg0-mullvad"):
            ns.run("ip", "tuntap", "add", dev, "mode", "tun")
            ns.run("ip", "link", "set", dev, "up")

    @property
    def env(self) -> dict[str, str]:
        return {
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            "PYTHONPATH": str(ROOT),
            "MTT_STATE_DIR": str(self.state_dir),
        }

    def helper(self, *args: str, env: dict[str, str] | None = None) -> Any:
        return self.ns.run(sys.executable, "-m", "tray_app.helper", *args, check=False, env=env or self.env)

    def ok(self, *args: str) -> dict[str, Any]:
        r = self.helper(*args)
        assert r.returncode == 0, (args, r.returncode, r.stderr)
        out: dict[str, Any] = json.loads(r.stdout) if r.stdout.strip() else {}
        return out

    def status(self) -> dict[str, Any]:
        return self.ok("status")

    def route(self, *spec: str, v6: bool = False) -> None:
        self.ns.run("ip", *(["-6"] if v6 else []), "route", "add", *spec, "table", "52")

    def nft(self, *args: str, input: str | None = None, check: bool = True) -> Any:
        return self.ns.run("nft", *args, input=input, check=check)

    def load(self, text: str) -> None:
        self.nft("-f", "-", input=text)

    def listing(self, family: str, name: str) -> str:
        """`nft -a list table` text (with handles): equal before and after means untouched."""
        r = self.nft("-a", "list", "table", family, name, check=False)
        return r.stdout if r.returncode == 0 else f"<absent: {r.stderr.strip()}>"

    def ip_rules(self) -> str:
        return self.ns.run("ip", "rule", "show").stdout + self.ns.run("ip", "-6", "rule", "show").stdout

    def ours(self) -> str | None:
        r = self.nft("list", "table", "inet", "mullvad-tailscale", check=False)
        return r.stdout if r.returncode == 0 else None

    @property
    def state_file(self) -> Path:
        return self.state_dir / "bypass.json"


@pytest.fixture
def lab(netns: NetNS, tmp_path: Path) -> Iterator[Lab]:
    require_root()
    require_tools("nft", "ip")
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    os.chmod(tmp_path, 0o755)  # noqa: S103 - root-owned test dir the helper checks
    yield Lab(netns, state)
