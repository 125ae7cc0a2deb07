"""Fixtures for the Tailscale source tests: a fake LocalAPI on a short socket path and a source factory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fakes.fake_localapi import FakeLocalApi
from tray_app.core.backoff import Backoff
from tray_app.core.model import TailscaleStatus
from tray_app.daemons.tailscale import TailscaleSource


@pytest.fixture
def sock_dir(short_tmp: Path) -> Path:
    return short_tmp


@pytest.fixture
def sock_path(sock_dir: Path) -> str:
    return str(sock_dir / "tailscaled.sock")


@pytest.fixture
def fake(sock_path: str) -> Iterator[FakeLocalApi]:
    with FakeLocalApi(sock_path, "running") as f:
        yield f


class Recorder:
    """Collects what a source emits, as a user-facing sequence."""

    def __init__(self, source: TailscaleSource) -> None:
        self.source = source
        self.statuses: list[TailscaleStatus] = []
        self.failures: list[str] = []
        source.changed.connect(self.statuses.append)
        source.action_failed.connect(self.failures.append)

    @property
    def states(self) -> list[str]:
        return [s.state.value for s in self.statuses]

    @property
    def last(self) -> TailscaleStatus:
        return self.statuses[-1]


MakeSource = Callable[..., Recorder]


@pytest.fixture
def make_source(sock_path: str) -> Iterator[MakeSource]:
    made: list[TailscaleSource] = []

    def make(
        socket_path: str | None = None,
        cli_path: str | None = None,
        backoff: Backoff | None = None,
        **kw: object,
    ) -> Recorder:
        src = TailscaleSource(
            socket_path or sock_path,
            cli_path,
            backoff=backoff or Backoff(initial=0.05, maximum=0.2),
            **kw,  # type: ignore[arg-type]
        )
        made.append(src)
        rec = Recorder(src)
        src.start()
        return rec

    yield make
    for src in made:
        src.stop()
