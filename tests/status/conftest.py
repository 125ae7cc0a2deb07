"""Fixtures for the status tests: the fakes of both daemons, the real bypass helper inside a private network
namespace (with a private state directory), and a Monitor built from the real sources."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fakes.fake_localapi import FakeLocalApi
from tests.fakes.fake_mullvad import FakeMullvad
from tests.infra.netns import NetNS
from tray_app.core.model import Snapshot
from tray_app.core.snapshot_fold import Transition
from tray_app.daemons.mullvad import MullvadSource
from tray_app.daemons.netlink import NetlinkWatcher
from tray_app.daemons.tailscale import TailscaleSource
from tray_app.monitor import Monitor
from tray_app.rootside.bypass_run import HelperCommand
from tray_app.rootside.service import BypassService

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def work_dir(short_tmp: Path) -> Path:
    return short_tmp


@pytest.fixture
def tailscaled(work_dir: Path) -> Iterator[FakeLocalApi]:
    with FakeLocalApi(str(work_dir / "ts.sock"), "running") as fake:
        yield fake


@pytest.fixture
def mullvad(work_dir: Path) -> FakeMullvad:
    return FakeMullvad(work_dir / "mullvad", state="connected")


class Helper:
    """The real root helper from this checkout, run inside the test's namespace with its own state dir."""

    def __init__(self, ns: NetNS, state_dir: Path) -> None:
        self.ns = ns
        self.state_dir = state_dir
        self.env = ("env", f"PYTHONPATH={ROOT}", f"MTT_STATE_DIR={state_dir}")
        self.command = HelperCommand(
            helper="tray_app.helper",
            use_pkexec=False,
            prefix=tuple(ns.argv(*self.env, sys.executable, "-m")),
        )

    def run(self, *args: str) -> str:
        return self.ns.run(*self.env, sys.executable, "-m", "tray_app.helper", *args).stdout


@pytest.fixture
def helper(netns: NetNS, work_dir: Path) -> Helper:
    return Helper(netns, work_dir / "state")


class Recorder:
    """Everything the monitor emitted, in order."""

    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor
        self.snapshots: list[Snapshot] = []
        self.transitions: list[Transition] = []
        self.ready: list[Snapshot] = []
        monitor.snapshot_changed.connect(self.snapshots.append)
        monitor.transitions.connect(self.transitions.extend)
        monitor.ready.connect(self.ready.append)

    @property
    def last(self) -> Snapshot:
        return self.monitor.snapshot

    def states(self) -> list[tuple[str, str]]:
        """(part, new state) of every transition that changed a state."""
        return [(t.part.value, t.after.state.value) for t in self.transitions if t.state_changed]


MakeMonitor = Callable[..., Recorder]


@pytest.fixture
def make_monitor(tailscaled: FakeLocalApi, mullvad: FakeMullvad, helper: Helper) -> Iterator[MakeMonitor]:
    made: list[Monitor] = []

    def make(netlink: NetlinkWatcher | None = None, **kw: object) -> Recorder:
        """`kw`: the bypass service's (`debounce_ms`, `state_dir`)."""
        kw.setdefault("state_dir", str(helper.state_dir))
        monitor = Monitor(
            MullvadSource(str(mullvad.cli)),
            TailscaleSource(tailscaled.path, None),
            BypassService(helper.command, **kw),  # type: ignore[arg-type]
            netlink,
        )
        made.append(monitor)
        rec = Recorder(monitor)
        monitor.start()
        return rec

    yield make
    for m in made:
        m.stop()


def fake_env(mullvad: FakeMullvad, tailscaled: FakeLocalApi) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        MTT_MULLVAD_CLI=str(mullvad.cli),
        MTT_TAILSCALE_SOCKET=tailscaled.path,
        MTT_TAILSCALE_CLI="/nonexistent/tailscale",
        PYTHONPATH=str(ROOT),
    )
    return env
