"""MullvadSource through the fake `mullvad` CLI: exactly the statuses a user would see, restarts, back-off."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PyQt6.QtCore import QTimer
from pytestqt.qtbot import QtBot

from tests.fakes.fake_mullvad import FakeMullvad, make_state
from tray_app.core import mullvad_parse as mp
from tray_app.core.lines import LineSplitter
from tray_app.core.model import MullvadState, MullvadStatus
from tray_app.daemons.mullvad import MullvadSource
from tray_app.daemons.mullvad_read import read_status

S = MullvadState
GOT = "Gothenburg, Sweden"
QR = ("QuantumResistance",)
WAIT = 10_000  # ms; generous for a loaded CI machine, never a speed assertion


def full(state: MullvadState, **kw: object) -> MullvadStatus:
    """A status as the source emits it from the fake with default settings (2026.4, lockdown off)."""
    args: dict[str, object] = {"version": "2026.4", "lockdown": False}
    if state in (S.CONNECTED, S.CONNECTING):
        args.update(relay="se-got-wg-001", location=GOT, features=QR)
    args.update(kw)
    return MullvadStatus(state, **args)  # type: ignore[arg-type]


class Recorder:
    def __init__(self, source: MullvadSource) -> None:
        self.seen: list[MullvadStatus] = []
        self.failures: list[str] = []
        source.changed.connect(self.seen.append)
        source.action_failed.connect(self.failures.append)


@pytest.fixture
def make_source(qtbot: QtBot) -> Iterator[Callable[..., tuple[MullvadSource, Recorder]]]:
    made: list[MullvadSource] = []

    def make(cli: str | Path, **kw: object) -> tuple[MullvadSource, Recorder]:
        source = MullvadSource(str(cli), **kw)  # type: ignore[arg-type]
        made.append(source)
        return source, Recorder(source)

    yield make
    for source in made:
        source.stop()


def settle(qtbot: QtBot, source: MullvadSource, rec: Recorder, expected: MullvadStatus) -> None:
    """Wait until the source shows `expected` (version and lockdown arrive from their own commands)."""
    qtbot.waitUntil(lambda: source.status == expected, timeout=WAIT)
    rec.seen.clear()


def active_timers(source: MullvadSource) -> list[QTimer]:
    return [t for t in source.findChildren(QTimer) if t.isActive()]


def test_state_sequence_gives_exactly_the_expected_statuses(
    qtbot: QtBot, tmp_path: Path, make_source: Callable[..., tuple[MullvadSource, Recorder]]
) -> None:
    fake = FakeMullvad(tmp_path, state="disconnected")
    source, rec = make_source(fake.cli)
    source.start()
    settle(qtbot, source, rec, full(S.DISCONNECTED))
    assert source.uses_json and source.is_streaming()
    assert active_timers(source) == []  # nothing ticks while the daemon is up and streaming

    fake.set_state("connecting")
    fake.set_state("connected")
    fake.set_state("connected", ipv4="198.51.100.24")  # the re-broadcast with the exit IP: no change
    fake.send_line("Warning: You are not logged in to an account.")
    fake.send_line("garbage {not json")
    fake.send_line('{"interface":"wlan0","reachable":["198.51.100.99"]}')
    fake.send_huge_line(6 * 1024 * 1024)  # a relay list bigger than the line cap
    fake.send_huge_line(5 * 1024 * 1024, state_prefix=True)  # a bogus huge "state" is dropped too
    fake.set_state("error", cause="auth_failed", cause_details="[EXPIRED_ACCOUNT]")
    fake.set_state("disconnecting")
    fake.set_state("disconnected", locked_down=True)
    expected = [
        full(S.CONNECTING),
        full(S.CONNECTED),
        MullvadStatus(
            S.ERROR, lockdown=False, blocked=True, version="2026.4", detail=mp._auth_failed_detail("EXPIRED")
        ),
        full(S.DISCONNECTING),
        full(S.DISCONNECTED, lockdown=True, blocked=True),
    ]
    qtbot.waitUntil(lambda: len(rec.seen) >= len(expected), timeout=WAIT)
    assert rec.seen == expected
    assert active_timers(source) == []
    assert source.next_retry_ms() is None


def test_daemon_restart_recovers_without_user_action(
    qtbot: QtBot, tmp_path: Path, make_source: Callable[..., tuple[MullvadSource, Recorder]]
) -> None:
    fake = FakeMullvad(tmp_path, state="connected")
    source, rec = make_source(fake.cli)
    source.start()
    settle(qtbot, source, rec, full(S.CONNECTED))

    fake.stop_daemon()
    stopped = mp.unavailable(
        "the Mullvad daemon stopped answering: restart it with `sudo systemctl restart mullvad-daemon`"
    )
    qtbot.waitUntil(lambda: rec.seen == [stopped], timeout=WAIT)
    assert source.next_retry_ms() is not None  # backing off, not spinning
    qtbot.waitUntil(lambda: source.status == mp.unavailable(mp.NOT_RUNNING), timeout=WAIT)

    fake.start_daemon("connected")
    qtbot.waitUntil(lambda: source.status == full(S.CONNECTED), timeout=WAIT)
    assert rec.seen == [stopped, mp.unavailable(mp.NOT_RUNNING), full(S.CONNECTED)]
    assert source.is_streaming()
    assert active_timers(source) == []


def test_backoff_doubles_and_a_hint_wakes_it_early(
    qtbot: QtBot, tmp_path: Path, make_source: Callable[..., tuple[MullvadSource, Recorder]]
) -> None:
    fake = FakeMullvad(tmp_path, state="disconnected", running=False, failure="refused")
    source, rec = make_source(fake.cli)
    source.start()
    qtbot.waitUntil(lambda: rec.seen == [mp.unavailable(mp.NOT_RUNNING)], timeout=WAIT)
    assert source.retry_delay_ms() == 1000
    qtbot.waitUntil(lambda: source.retry_delay_ms() == 2000, timeout=WAIT)  # the second failure doubles it
    assert rec.seen == [mp.unavailable(mp.NOT_RUNNING)]  # the same reason is not repeated

    fake.start_daemon()
    source.hint()  # a netlink hint: try now instead of waiting out the back-off
    assert source.next_retry_ms() is None
    assert source.is_streaming()
    qtbot.waitUntil(lambda: source.status == full(S.DISCONNECTED), timeout=WAIT)
    assert active_timers(source) == []


def test_permission_denied_is_reported_with_the_fix(
    qtbot: QtBot, tmp_path: Path, make_source: Callable[..., tuple[MullvadSource, Recorder]]
) -> None:
    fake = FakeMullvad(tmp_path, running=False, failure="permission-denied")
    source, rec = make_source(fake.cli)
    source.start()
    qtbot.waitUntil(lambda: rec.seen == [mp.unavailable(mp.PERMISSION_DENIED)], timeout=WAIT)


def test_missing_binary(
    qtbot: QtBot, tmp_path: Path, make_source: Callable[..., tuple[MullvadSource, Recorder]]
) -> None:
    cli = tmp_path / "no-such-mullvad"
    source, rec = make_source(cli)
    source.start()
    qtbot.waitUntil(lambda: len(rec.seen) == 1, timeout=WAIT)
    assert rec.seen[0].state is S.UNAVAILABLE
    assert f"`{cli}` was not found" in (rec.seen[0].detail or "")
    assert "--mullvad-cli" in (rec.seen[0].detail or "")
    assert source.next_retry_ms() is not None
    source.connect_tunnel()
    qtbot.waitUntil(lambda: len(rec.failures) == 1, timeout=WAIT)
    assert rec.failures[0].startswith("Could not connect Mullvad: the Mullvad command")


@pytest.mark.parametrize("layout", ["2022", "2026"])
def test_json_unsupported_falls_back_to_text(
    qtbot: QtBot, tmp_path: Path, make_source: Callable[..., tuple[MullvadSource, Recorder]], layout: str
) -> None:
    fake = FakeMullvad(
        tmp_path, state="connected", json_supported=False, layout=layout, daemon_version="2024.4"
    )
    source, rec = make_source(fake.cli)
    source.start()
    features = QR if layout == "2026" else ()
    connected = full(S.CONNECTED, version="2024.4", features=features)
    settle(qtbot, source, rec, connected)
    assert not source.uses_json
    assert source.is_streaming()  # `mullvad status listen` as the trigger
    assert active_timers(source) == []

    fake.set_state("disconnected")  # the text listen prints it: re-read
    qtbot.waitUntil(lambda: source.status == full(S.DISCONNECTED, version="2024.4"), timeout=WAIT)

    fake.configure(state=make_state("connecting"))  # changed without any listen output
    source.hint()  # a netlink hint re-reads the text status
    connecting = full(S.CONNECTING, version="2024.4", features=features)
    qtbot.waitUntil(lambda: source.status == connecting, timeout=WAIT)
    expected = [full(S.DISCONNECTED, version="2024.4"), connecting]
    assert rec.seen == expected


def test_2021_cli(
    qtbot: QtBot, tmp_path: Path, make_source: Callable[..., tuple[MullvadSource, Recorder]]
) -> None:
    fake = FakeMullvad(tmp_path, state="disconnected", json_supported=False, layout="2021", lockdown=True)
    source, _rec = make_source(fake.cli)
    source.start()
    # no lockdown in the 2021 text; `block-when-disconnected get` tells it, so disconnected means blocked
    locked = MullvadStatus(S.DISCONNECTED, version="2026.4", lockdown=True, blocked=True)
    qtbot.waitUntil(lambda: source.status == locked, timeout=WAIT)


def test_lockdown_from_settings_events(
    qtbot: QtBot, tmp_path: Path, make_source: Callable[..., tuple[MullvadSource, Recorder]]
) -> None:
    state_2024_5 = {
        "state": "connected",
        "details": {"location": {"hostname": "se-got-wg-001", "city": "Gothenburg", "country": "Sweden"}},
    }
    fake = FakeMullvad(tmp_path, state=state_2024_5)
    source, rec = make_source(fake.cli)
    source.start()
    settle(qtbot, source, rec, full(S.CONNECTED, features=()))
    fake.send_line(json.dumps({"allow_lan": False, "block_when_disconnected": True, "auto_connect": False}))
    qtbot.waitUntil(lambda: rec.seen == [full(S.CONNECTED, features=(), lockdown=True)], timeout=WAIT)


def test_actions_through_the_fake(
    qtbot: QtBot, tmp_path: Path, make_source: Callable[..., tuple[MullvadSource, Recorder]]
) -> None:
    fake = FakeMullvad(tmp_path, state="disconnected", connect_delay=0.02)
    source, rec = make_source(fake.cli)
    source.start()
    settle(qtbot, source, rec, full(S.DISCONNECTED))

    source.reconnect_tunnel()
    qtbot.waitUntil(lambda: len(rec.failures) == 1, timeout=WAIT)
    assert rec.failures == [
        "Could not reconnect Mullvad: `mullvad reconnect` failed (exit code 1): "
        "Not reconnecting due to being in disconnected state"
    ]
    source.connect_tunnel()
    qtbot.waitUntil(lambda: source.status == full(S.CONNECTED), timeout=WAIT)
    source.reconnect_tunnel()  # through disconnecting(reconnect), which the user sees as connecting
    qtbot.waitUntil(lambda: len(rec.seen) == 5, timeout=WAIT)
    source.disconnect_tunnel()
    qtbot.waitUntil(lambda: source.status == full(S.DISCONNECTED), timeout=WAIT)
    assert rec.seen == [
        full(S.CONNECTING),
        full(S.CONNECTED),
        MullvadStatus(S.CONNECTING, version="2026.4", lockdown=False),  # disconnecting(reconnect)
        full(S.CONNECTING),
        full(S.CONNECTED),
        full(S.DISCONNECTING),
        full(S.DISCONNECTED),
    ]
    assert len(rec.failures) == 1

    fake.configure(fail={"connect": "Error: Failed to connect\n\nCaused by:\n    0: the relay exploded"})
    source.connect_tunnel()
    qtbot.waitUntil(lambda: len(rec.failures) == 2, timeout=WAIT)
    assert (
        rec.failures[1]
        == "Could not connect Mullvad: `mullvad connect` failed (exit code 1): Failed to connect"
    )

    fake.stop_daemon()
    qtbot.waitUntil(lambda: source.status is not None and source.status.state is S.UNAVAILABLE, timeout=WAIT)
    source.connect_tunnel()
    qtbot.waitUntil(lambda: len(rec.failures) == 3, timeout=WAIT)
    assert rec.failures[2] == f"Could not connect Mullvad: {mp.NOT_RUNNING}"


def test_stop_ends_the_listen_process(
    qtbot: QtBot, tmp_path: Path, make_source: Callable[..., tuple[MullvadSource, Recorder]]
) -> None:
    fake = FakeMullvad(tmp_path, state="disconnected")
    source, rec = make_source(fake.cli)
    source.start()
    settle(qtbot, source, rec, full(S.DISCONNECTED))
    assert fake.listener_count() == 1
    source.stop()
    assert not source.is_streaming()
    fake.set_state("connected")  # pokes listeners; a dead one's FIFO is cleaned up
    assert fake.listener_count() == 0
    qtbot.wait(100)
    assert rec.seen == []


def test_line_reader_caps_memory() -> None:
    reader = LineSplitter(max_line=10)
    assert reader.feed(b"abc\nde") == [b"abc"]
    assert reader.feed(b"f\n") == [b"def"]
    assert reader.feed(b"x" * 8) == []
    assert reader.feed(b"y" * 8) == []  # past the cap: dropped, nothing kept
    assert len(reader._buf) == 0
    assert reader.feed(b"zzz\nok\n") == [b"ok"]  # the rest of the long line is skipped
    assert reader.feed(b"0123456789A\nB\n") == [b"B"]
    assert reader.feed(b"0123456789\n") == [b"0123456789"]


def test_read_status_one_shot(tmp_path: Path) -> None:
    fake = FakeMullvad(tmp_path, state="connected", lockdown=True)
    assert read_status(str(fake.cli)) == full(
        S.CONNECTED, lockdown=True, features=("LockdownMode", "QuantumResistance")
    )
    fake.configure(json=False, layout="2022")
    assert read_status(str(fake.cli)) == full(S.CONNECTED, lockdown=True, features=())
    fake.stop_daemon()
    assert read_status(str(fake.cli)) == mp.unavailable(mp.NOT_RUNNING)
    missing = read_status(str(tmp_path / "nope"))
    assert missing.state is S.UNAVAILABLE and "was not found" in (missing.detail or "")
    slow = tmp_path / "slow-mullvad"
    slow.write_text("#!/bin/sh\nexec sleep 30\n")
    slow.chmod(0o755)
    hung = read_status(str(slow), timeout=0.5)
    assert hung.state is S.UNAVAILABLE and "did not answer" in (hung.detail or "")


def test_a_killed_listen_process_is_replaced(
    qtbot: QtBot, tmp_path: Path, make_source: Callable[..., tuple[MullvadSource, Recorder]]
) -> None:
    fake = FakeMullvad(tmp_path, state="connected")
    source, rec = make_source(fake.cli)
    source.start()
    settle(qtbot, source, rec, full(S.CONNECTED))
    pid = source.listen_pid()
    assert pid
    os.kill(pid, signal.SIGKILL)
    killed = mp.unavailable(f"`{fake.cli} status listen` was killed: reconnecting to the Mullvad daemon")
    qtbot.waitUntil(lambda: rec.seen == [killed], timeout=WAIT)
    assert source.retry_delay_ms() == 1000
    qtbot.waitUntil(lambda: source.status == full(S.CONNECTED), timeout=WAIT)
    assert source.listen_pid() not in (None, pid)


def test_scripted_listen_sequence(
    qtbot: QtBot, tmp_path: Path, make_source: Callable[..., tuple[MullvadSource, Recorder]]
) -> None:
    not_running = (
        Path(__file__).resolve().parent.parent / "fixtures/mullvad/status.daemon-not-running.stderr.txt"
    ).read_text()
    script = [
        {"line": "Warning: You are not logged in to an account."},
        {"line": '{"state":"connecting","details":{"endpoint":'},  # cut off mid-line
        {"sleep": 0.05},
        {"state": make_state("connecting")},
        {"huge": 5_000_000},
        {"state": make_state("connected")},
        {"state": make_state("error", cause="is_offline")},
        {"exit": 1, "stderr": not_running},
    ]
    fake = FakeMullvad(tmp_path, state="disconnected", script=script)
    source, rec = make_source(fake.cli)
    source.start()
    expected = [
        full(S.DISCONNECTED),
        full(S.CONNECTING),
        full(S.CONNECTED),
        MullvadStatus(
            S.ERROR,
            version="2026.4",
            lockdown=False,
            blocked=True,
            detail=mp.error_cause_detail("is_offline"),
        ),
        mp.unavailable(mp.NOT_RUNNING),
    ]
    qtbot.waitUntil(lambda: mp.unavailable(mp.NOT_RUNNING) in rec.seen, timeout=WAIT)
    seen = rec.seen[: rec.seen.index(mp.unavailable(mp.NOT_RUNNING)) + 1]
    # The first state of a connection waits for `version`; on a slow machine the script may already be
    # further on by then, so leading states may be skipped -- never reordered, never garbage.
    assert len(seen) >= 3
    assert seen == expected[len(expected) - len(seen) :]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=12), st.data())
def test_line_reader_any_chunking(lines: list[bytes], data: st.DataObject) -> None:
    stream = b"".join(line + b"\n" for line in lines)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    reader = LineSplitter(max_line=16)
    out: list[bytes] = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        out += reader.feed(stream[start:end])
        assert len(reader._buf) <= 16
    assert out == [line for line in lines if len(line) <= 16]
