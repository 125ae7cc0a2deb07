"""Netlink drives the Monitor: a link change makes a source re-read, a table-52 change makes the bypass
re-read. The Monitor runs in a child process inside the test's network namespace
(tests/status/monitor_child.py); the test changes links and routes there with `ip`."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.fake_localapi import FakeLocalApi
from tests.fakes.fake_mullvad import FakeMullvad
from tests.infra.netns import NetNS
from tests.status.conftest import ROOT, Helper
from tests.status.lines import Event, LineReader


class MonitorChild:
    def __init__(self, ns: NetNS, mullvad: FakeMullvad, tailscaled: FakeLocalApi, state_dir: Path) -> None:
        self.proc = ns.popen(
            [
                sys.executable, "-m", "tests.status.monitor_child",
                str(mullvad.cli), tailscaled.path, str(state_dir),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=str(ROOT),
        )  # fmt: skip
        assert self.proc.stdout is not None
        self.out = LineReader(self.proc.stdout)
        self.ready = self.out.until(lambda ev: ev["event"] == "ready", timeout=20)[-1]["snapshot"]

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def snapshot_where(self, pred: object) -> list[Event]:
        return self.out.until(lambda ev: ev["event"] == "snapshot" and pred(ev["snapshot"]))  # type: ignore[operator]

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        assert self.proc.wait(10) == 0


@pytest.fixture
def child(
    netns: NetNS, mullvad: FakeMullvad, tailscaled: FakeLocalApi, helper: Helper, work_dir: Path
) -> Iterator[MonitorChild]:
    c = MonitorChild(netns, mullvad, tailscaled, work_dir / "state")
    yield c
    c.close()


def test_link_change_makes_the_tailscale_source_reread(
    netns: NetNS, tailscaled: FakeLocalApi, child: MonitorChild
) -> None:
    assert child.ready["tailscale"]["state"] == "running"
    # tailscaled changed without a bus message reaching us; its interface going away is the hint
    tailscaled.set_status("stopped")
    netns.run("ip", "link", "add", "tailscale0", "type", "veth", "peer", "name", "tailscale0-p")
    events = child.snapshot_where(lambda s: s["tailscale"]["state"] == "stopped")
    assert [e["snapshot"]["tailscale"]["state"] for e in events if e["event"] == "snapshot"] == ["stopped"]


def test_table52_change_makes_the_bypass_reread(netns: NetNS, helper: Helper, child: MonitorChild) -> None:
    assert child.ready["bypass"]["state"] == "off"
    netns.run("ip", "link", "add", "tailscale0", "type", "veth", "peer", "name", "tailscale0-p")
    netns.run("ip", "link", "set", "tailscale0", "up")
    netns.run("ip", "route", "add", "100.64.0.0/10", "dev", "tailscale0", "table", "52")
    helper.run("enable")  # elsewhere: the state directory shows it
    child.snapshot_where(lambda s: s["bypass"]["state"] == "on")
    # a subnet router appears: tailscaled adds its route to table 52. No reconciler runs here to put it in
    # the bypass, so the re-read (no grace: it tells the truth) shows the bypass out of date
    netns.run("ip", "route", "add", "192.168.50.0/24", "dev", "tailscale0", "table", "52")
    child.out.until(lambda ev: ev["event"] == "table52_changed")
    child.snapshot_where(lambda s: s["bypass"]["state"] == "drifted")
    # what the reconciler does (then publishes its status, which the tray reads at once)
    helper.run("refresh")
    child.send("read")
    events = child.snapshot_where(lambda s: s["bypass"]["state"] != "drifted")
    assert events[-1]["snapshot"]["bypass"]["state"] == "on"
    assert events[-1]["snapshot"]["bypass"]["mode"] == "direct"
    child.send("timers")
    timers = child.out.until(lambda ev: ev["event"] == "timers")
    assert all(e["event"] != "snapshot" or e["snapshot"]["bypass"]["state"] == "on" for e in timers)
    assert timers[-1]["timers"] == []  # nothing ticks once it settled
