"""`status` and `watch` end to end: the real command as a subprocess against the daemons' fakes, inside a
private network namespace (the bypass helper, when installed, only ever sees that namespace's firewall).
No display: DISPLAY, WAYLAND_DISPLAY and QT_QPA_PLATFORM are removed from the environment."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.fake_localapi import FakeLocalApi
from tests.fakes.fake_mullvad import FakeMullvad
from tests.infra.netns import NetNS
from tests.infra.require import require_tools
from tests.status.conftest import ROOT, Helper, fake_env
from tests.status.lines import LineReader
from tray_app.paths import HELPER_PATH

SCHEMA = {
    "mullvad": ["state", "relay", "location", "lockdown", "blocked", "detail", "version"],
    "tailscale": [
        "state", "self", "tailnet", "exit_node", "peers_online", "peers_total", "health", "version", "detail",
    ],
    "bypass": ["state", "mode", "detail"],
}  # fmt: skip


def headless(env: dict[str, str]) -> dict[str, str]:
    for key in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM", "DBUS_SESSION_BUS_ADDRESS"):
        env.pop(key, None)
    return env


@pytest.fixture
def env(mullvad: FakeMullvad, tailscaled: FakeLocalApi) -> dict[str, str]:
    return headless(fake_env(mullvad, tailscaled))


def cli(ns: NetNS, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return ns.run(sys.executable, "-m", "tray_app", *args, env=env, check=False)


def expected_bypass_unreadable(bypass: dict[str, object]) -> None:
    """Not installed (a checkout): unknown, with the fix. Installed: the namespace has no bypass."""
    if Path(HELPER_PATH).exists():
        assert bypass["state"] == "off"
    else:
        assert bypass["state"] == "unknown"
        assert "reinstall mullvad-tailscale-tray" in str(bypass["detail"])


def test_status_json_schema_and_values(netns: NetNS, env: dict[str, str]) -> None:
    r = cli(netns, env, "status", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert {k: list(v) for k, v in doc.items()} == SCHEMA
    assert doc["mullvad"] == {
        "state": "connected",
        "relay": "se-got-wg-001",
        "location": "Gothenburg, Sweden",
        "lockdown": False,
        "blocked": False,
        "detail": None,
        "version": doc["mullvad"]["version"],
    }
    assert doc["tailscale"]["state"] == "running"
    assert doc["tailscale"]["self"] == {
        "host": "thinkpad",
        "dns_name": "thinkpad.tail4a2b9c.ts.net",
        "ips": ["100.101.102.103", "fd7a:115c:a1e0::6f01:6667"],
    }
    assert (doc["tailscale"]["peers_online"], doc["tailscale"]["peers_total"]) == (2, 3)
    expected_bypass_unreadable(doc["bypass"])


def test_status_text(netns: NetNS, env: dict[str, str]) -> None:
    r = cli(netns, env, "status")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "Mullvad: connected to se-got-wg-001 (Gothenburg, Sweden), lockdown off"
    assert (
        lines[1]
        == "Tailscale: running as thinkpad (100.101.102.103) on alice@example.com, 2/3 devices online"
    )
    assert lines[2].startswith("Bypass: ")


def test_daemons_absent_is_a_state_not_an_error(netns: NetNS, env: dict[str, str], work_dir: Path) -> None:
    env.update(MTT_MULLVAD_CLI=str(work_dir / "no-mullvad"), MTT_TAILSCALE_SOCKET=str(work_dir / "no.sock"))
    r = cli(netns, env, "status", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["mullvad"]["state"] == "unavailable"
    assert "MTT_MULLVAD_CLI" in doc["mullvad"]["detail"]  # says how to point at the CLI
    assert doc["tailscale"]["state"] == "unavailable"
    assert "tailscaled" in doc["tailscale"]["detail"]
    r = cli(netns, env, "status")
    assert r.returncode == 0
    assert r.stdout.splitlines()[0].startswith("Mullvad: unavailable (")
    assert r.stdout.splitlines()[1].startswith("Tailscale: unavailable (")


def test_mullvad_daemon_stopped(netns: NetNS, env: dict[str, str], mullvad: FakeMullvad) -> None:
    mullvad.stop_daemon()
    r = cli(netns, env, "status", "--json")
    assert r.returncode == 0
    m = json.loads(r.stdout)["mullvad"]
    assert m["state"] == "unavailable" and m["detail"]


def test_options_override_the_environment(
    netns: NetNS, env: dict[str, str], mullvad: FakeMullvad, tailscaled: FakeLocalApi, work_dir: Path
) -> None:
    env.update(MTT_MULLVAD_CLI=str(work_dir / "no-mullvad"), MTT_TAILSCALE_SOCKET=str(work_dir / "no.sock"))
    r = cli(
        netns,
        env,
        "--mullvad-cli",
        str(mullvad.cli),
        "--tailscale-socket",
        tailscaled.path,
        "--tailscale-cli",
        "/nonexistent/tailscale",
        "status",
        "--json",
    )
    assert r.returncode == 0
    doc = json.loads(r.stdout)
    assert (doc["mullvad"]["state"], doc["tailscale"]["state"]) == ("connected", "running")


def test_status_loads_no_qt(netns: NetNS, env: dict[str, str]) -> None:
    """`status` reads with the one-shot readers (daemons/*_read.py): no Qt at all, so it works where PyQt6 is
    missing or broken (over SSH, a minimal server)."""
    code = (
        "import sys; from tray_app.cli import main; rc = main(['status']); "
        "print(sorted(m for m in sys.modules if m.startswith('PyQt6')), file=sys.stderr); sys.exit(rc)"
    )
    r = netns.run(sys.executable, "-c", code, env=env, check=False)
    assert r.returncode == 0
    assert r.stderr.strip().splitlines()[-1] == "[]"


class Watch:
    def __init__(self, ns: NetNS, env: dict[str, str], *args: str, reader: bool = True) -> None:
        self.proc = ns.popen(
            [sys.executable, "-m", "tray_app", "watch", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=str(ROOT),
        )
        assert self.proc.stdout is not None
        if reader:
            self.out = LineReader(self.proc.stdout)

    def stop(self, sig: int) -> int:
        # `ip netns exec` runs the command in place (exec), so the pid is the watch process itself
        os.kill(self.proc.pid, sig)
        return self.proc.wait(10)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_watch_json_one_line_per_change_and_clean_exit(
    netns: NetNS, env: dict[str, str], mullvad: FakeMullvad, tailscaled: FakeLocalApi, sig: int
) -> None:
    w = Watch(netns, env, "--json")
    first = json.loads(w.out.next_line(timeout=20))
    assert list(first) == list(SCHEMA)
    assert first["mullvad"]["state"] == "connected"
    assert first["tailscale"]["state"] == "running"
    expected_bypass_unreadable(first["bypass"])
    mullvad.set_state("disconnected")
    seen = [json.loads(w.out.next_line())]
    while seen[-1]["mullvad"]["state"] != "disconnected":
        seen.append(json.loads(w.out.next_line()))
    tailscaled.set_status("stopped")
    tailscaled.push_state(4)
    seen.append(json.loads(w.out.next_line()))
    while seen[-1]["tailscale"]["state"] != "stopped":
        seen.append(json.loads(w.out.next_line()))
    # one line per change: never the same object twice in a row
    all_lines = [first, *seen]
    assert all(a != b for a, b in itertools.pairwise(all_lines))
    assert w.stop(sig) == 0
    assert "Traceback" not in w.proc.stderr.read()  # type: ignore[union-attr]


def test_watch_text(netns: NetNS, env: dict[str, str], mullvad: FakeMullvad) -> None:
    w = Watch(netns, env)
    start = [w.out.next_line(timeout=20) for _ in range(3)]
    assert start[0].endswith(" Mullvad: connected to se-got-wg-001 (Gothenburg, Sweden), lockdown off")
    assert " Tailscale: running as thinkpad " in start[1]
    assert " Bypass: " in start[2]
    mullvad.set_state("error", cause="auth_failed", cause_details="[EXPIRED_ACCOUNT]")
    line = w.out.next_line()
    assert " Mullvad: error" in line
    assert w.stop(signal.SIGINT) == 0


def test_watch_ends_quietly_when_the_reader_goes_away(
    netns: NetNS, env: dict[str, str], mullvad: FakeMullvad
) -> None:
    # no reader thread here: closing a pipe another thread is blocked on would deadlock the test
    w = Watch(netns, env, "--json", reader=False)
    assert w.proc.stdout is not None
    assert json.loads(w.proc.stdout.readline())["mullvad"]["state"] == "connected"
    w.proc.stdout.close()  # like `watch --json | head -1`
    mullvad.set_state("disconnected")
    assert w.proc.wait(10) == 0
    assert "Traceback" not in w.proc.stderr.read()  # type: ignore[union-attr]


def with_installed_helper(ns: NetNS, state_dir: Path, *cmd: str) -> list[str]:
    """`cmd` inside the namespace and a private mount namespace in which the helper is "installed" at its
    real path (a tmpfs over /usr/libexec that only this process sees), so the CLI runs its real code path."""
    launcher = (
        f"#!/bin/sh\nexec env PYTHONPATH={ROOT} MTT_STATE_DIR={state_dir} {sys.executable} -m tray_app.helper"
        ' "$@"\n'
    )
    script = (
        "set -e; mount -t tmpfs tmpfs /usr/libexec; "
        f"mkdir -p {Path(HELPER_PATH).parent}; "
        f"printf '%s' \"$LAUNCHER\" > {HELPER_PATH}; chmod 755 {HELPER_PATH}; "
        'exec "$@"'
    )
    return ns.argv("env", f"LAUNCHER={launcher}", "unshare", "-m", "sh", "-c", script, "sh", *cmd)


def test_status_reads_the_bypass_through_the_helper(
    netns: NetNS, env: dict[str, str], helper: Helper, work_dir: Path
) -> None:
    require_tools("unshare")
    installed_on_host = Path(HELPER_PATH).exists()
    helper.run("enable", "--mode", "private", "--containers")
    argv = with_installed_helper(
        netns, helper.state_dir, sys.executable, "-m", "tray_app", "status", "--json"
    )
    r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["bypass"]["state"] == "on"
    assert json.loads(r.stdout)["bypass"]["mode"] == "private"
    argv = with_installed_helper(netns, helper.state_dir, sys.executable, "-m", "tray_app", "status")
    r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert r.stdout.splitlines()[2].startswith("Bypass: on (private, containers)")
    helper.run("disable")
    r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert r.stdout.splitlines()[2].startswith("Bypass: off")
    assert Path(HELPER_PATH).exists() == installed_on_host  # the tmpfs stayed in its mount namespace
