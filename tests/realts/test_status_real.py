"""`status`, `watch` and the Tailscale source against the real tailscaled's LocalAPI and IPN bus: the JSON the
project reads is the daemon's, not a fixture. Each change is made the way a user or the tailnet makes it
(`tailscale down`, a daemon restart, a peer leaving, `tailscale set --exit-node=`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.realts.lab import HOSTNAMES, RealLab
from tests.status.lines import LineReader
from tray_app.core.tailscale_parse import OPERATOR_HINT

pytestmark = pytest.mark.real_tailscale
LAB_MULLVAD = "disconnected"  # Tailscale alone: Mullvad's state is not what these tests read

REPO = Path(__file__).resolve().parents[2]
NOBODY = "nobody"
Event = dict[str, Any]


def env_for(lab: RealLab, role: str = "host") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL")}
    env.update(
        PYTHONPATH=str(REPO),
        MTT_TAILSCALE_SOCKET=lab.nodes[role].socket,
        MTT_TAILSCALE_CLI="/nonexistent/tailscale",
        MTT_MULLVAD_CLI="/nonexistent/mullvad",
    )
    return env


def status_json(lab: RealLab, role: str = "host") -> Event:
    r = lab.namespaces[role].run(sys.executable, "-m", "tray_app", "status", "--json", env=env_for(lab, role))
    return dict(json.loads(r.stdout)["tailscale"])


@pytest.fixture
def watch(real_lab: RealLab) -> Iterator[LineReader]:
    proc = real_lab.namespaces["host"].popen(
        [sys.executable, "-m", "tray_app", "watch", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env_for(real_lab),
    )
    assert proc.stdout is not None
    try:
        yield LineReader(proc.stdout)
    finally:
        proc.terminate()
        proc.wait(10)


def ts_until(reader: LineReader, pred: Callable[[Event], bool], timeout: float = 30) -> Event:
    """The Tailscale part of the first `watch --json` line that matches."""
    return dict(reader.until(lambda ev: pred(ev["tailscale"]), timeout)[-1]["tailscale"])


def test_status_running_is_the_daemons(real_lab: RealLab) -> None:
    ts = status_json(real_lab)
    assert ts["state"] == "running"
    assert ts["self"]["host"] == HOSTNAMES["host"]
    assert set(ts["self"]["ips"]) == set(real_lab.own_ips())
    assert (ts["peers_online"], ts["peers_total"]) == (3, 3)
    assert ts["exit_node"] is None
    assert str(ts["version"]).startswith(real_lab.build_.short)


def test_watch_follows_down_up_peers_exit_node_and_restart(real_lab: RealLab, watch: LineReader) -> None:
    assert ts_until(watch, lambda ts: ts["state"] == "running")["peers_online"] == 3
    real_lab.ts("host", "down")
    assert ts_until(watch, lambda ts: ts["state"] != "running")["state"] == "stopped"
    real_lab.ts("host", "up", *real_lab.nodes["host"].up_args, timeout=60)
    ts_until(watch, lambda ts: ts["state"] == "running" and ts["peers_online"] == 3)
    # A peer goes offline: control tells the tailnet, the daemon's /status says so.
    real_lab.set_online("peer", False)
    try:
        assert ts_until(watch, lambda ts: ts["peers_online"] != 3)["peers_online"] == 2
    finally:
        real_lab.set_online("peer", True)
    ts_until(watch, lambda ts: ts["peers_online"] == 3)
    # An exit node chosen, then cleared.
    real_lab.ts("host", "set", f"--exit-node={real_lab.ip('exit')}")
    try:
        chosen = ts_until(watch, lambda ts: ts["exit_node"] is not None)
        assert chosen["exit_node"]["name"] == HOSTNAMES["exit"]
        assert chosen["exit_node"]["online"] is True
    finally:
        real_lab.ts("host", "set", "--exit-node=")
    ts_until(watch, lambda ts: ts["exit_node"] is None)
    # The daemon restarts: unavailable with the fix while it is gone, running again without the user.
    real_lab.stop_tailscaled("host")
    gone = ts_until(watch, lambda ts: ts["state"] != "running")
    assert gone["state"] == "unavailable"
    assert "tailscaled is not running" in str(gone["detail"])
    real_lab.start_tailscaled("host")
    ts_until(watch, lambda ts: ts["state"] == "running" and ts["peers_online"] == 3, timeout=60)


def test_needs_login_on_a_fresh_daemon(real_lab: RealLab) -> None:
    spare = real_lab.spare_node()
    ts = status_json(real_lab, spare)
    assert ts["state"] == "needs_login"
    assert ts["self"] is None or not ts["self"].get("ips")


def _source_as_nobody(lab: RealLab) -> Event:
    """The product's TailscaleSource run as `nobody`, asked to go down (tests/realts/source_child.py)."""
    r = subprocess.run(
        [
            *("setpriv", "--reuid", NOBODY, "--regid", "nogroup", "--clear-groups", "--"),
            *(sys.executable, "-m", "tests.realts.source_child", lab.nodes["host"].socket),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={
            "PATH": os.environ["PATH"],
            "PYTHONPATH": str(REPO),
            "QT_QPA_PLATFORM": "offscreen",
            "HOME": "/tmp",
        },
        check=False,
    )
    assert r.returncode == 0, r.stderr
    return dict(json.loads(r.stdout.strip().splitlines()[-1]))


def test_operator_403_for_a_non_operator_then_allowed(real_lab: RealLab) -> None:
    got = _source_as_nobody(real_lab)
    assert got["states"][0] == "running"
    assert got["failures"] and OPERATOR_HINT.split("$USER")[0] in got["failures"][0]
    assert got["can_write"] is False
    assert real_lab.status()["BackendState"] == "Running"  # the daemon refused: nothing changed
    # The fix the message gives, then the same request works.
    real_lab.ts("host", "set", f"--operator={NOBODY}")
    try:
        got = _source_as_nobody(real_lab)
        assert got["failures"] == []
        assert got["states"][-1] == "stopped"
    finally:
        real_lab.ts("host", "set", "--operator=")
        real_lab.ts("host", "up", *real_lab.nodes["host"].up_args, timeout=60)
