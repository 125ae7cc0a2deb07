"""TailscaleSource against the fake LocalAPI: what a user would see, event by event."""

from __future__ import annotations

import json
from pathlib import Path

from pytestqt.qtbot import QtBot

from tests.fakes.fake_localapi import STOPPED_WARNING, FakeLocalApi
from tests.tailscale.conftest import MakeSource
from tests.tailscale.test_parse import EXPECTED
from tray_app.core.backoff import Backoff
from tray_app.core.model import TailscaleState
from tray_app.core.tailscale_parse import OPERATOR_HINT
from tray_app.daemons.tailscale import DEBOUNCE_MS

WAIT = 5000


def test_initial_status_then_down_sequence(qtbot: QtBot, fake: FakeLocalApi, make_source: MakeSource) -> None:
    rec = make_source()
    qtbot.waitUntil(lambda: rec.statuses == [EXPECTED["running"]], timeout=WAIT)
    # What `tailscale down` puts on the bus (ipnlocal: State, then Health, then Prefs).
    fake.set_status("stopped")
    fake.push_state(4)
    fake.push({"Health": {"Warnings": STOPPED_WARNING}})
    fake.push({"Prefs": {"WantRunning": False}})
    qtbot.waitUntil(lambda: rec.statuses == [EXPECTED["running"], EXPECTED["stopped"]], timeout=WAIT)
    qtbot.wait(DEBOUNCE_MS + 100)
    assert rec.statuses == [EXPECTED["running"], EXPECTED["stopped"]]  # no flicker, no duplicates


def test_requests_look_like_the_go_client(qtbot: QtBot, fake: FakeLocalApi, make_source: MakeSource) -> None:
    rec = make_source()
    qtbot.waitUntil(lambda: len(rec.statuses) == 1, timeout=WAIT)
    targets = [target for _m, target, _h in fake.requests]
    assert targets == ["/localapi/v0/watch-ipn-bus?mask=134", "/localapi/v0/status"]  # subscribe, then read
    for _m, _t, headers in fake.requests:
        assert headers["host"] == "local-tailscaled.sock"
        assert "origin" not in headers and "referer" not in headers


def test_burst_is_debounced_and_idle_source_runs_no_timer(
    qtbot: QtBot, fake: FakeLocalApi, make_source: MakeSource
) -> None:
    rec = make_source()
    qtbot.waitUntil(lambda: len(rec.statuses) == 1, timeout=WAIT)
    qtbot.waitUntil(lambda: rec.source.timers_active() == [], timeout=WAIT)
    before = fake.status_requests
    fake.set_status("stopped")
    fake.push_many([{"State": 4}, {"Health": {"Warnings": STOPPED_WARNING}}] * 15)  # 30 messages at once
    qtbot.waitUntil(lambda: rec.states == ["running", "stopped"], timeout=WAIT)
    qtbot.waitUntil(lambda: rec.source.timers_active() == [], timeout=WAIT)
    # One read at once for the first message, one trailing read for the other 29.
    assert 1 <= fake.status_requests - before <= 2
    assert rec.source.connected


def test_messages_split_across_chunks(qtbot: QtBot, fake: FakeLocalApi, make_source: MakeSource) -> None:
    fake.split_chunks = True
    rec = make_source()
    qtbot.waitUntil(lambda: rec.states == ["running"], timeout=WAIT)
    fake.set_status("starting")
    fake.push_state(5)
    qtbot.waitUntil(lambda: rec.states == ["running", "starting"], timeout=WAIT)


def test_daemon_restart_enoent_recovers(qtbot: QtBot, fake: FakeLocalApi, make_source: MakeSource) -> None:
    rec = make_source()
    qtbot.waitUntil(lambda: rec.states == ["running"], timeout=WAIT)
    fake.restart(0.4, mode="enoent")
    qtbot.waitUntil(lambda: rec.states == ["running", "unavailable", "running"], timeout=WAIT)
    detail = rec.statuses[1].detail or ""
    assert "no socket at" in detail and "sudo systemctl start tailscaled" in detail
    assert rec.last == EXPECTED["running"]


def test_daemon_crash_refused_recovers(qtbot: QtBot, fake: FakeLocalApi, make_source: MakeSource) -> None:
    rec = make_source()
    qtbot.waitUntil(lambda: rec.states == ["running"], timeout=WAIT)
    fake.restart(0.4, mode="refused")
    qtbot.waitUntil(lambda: rec.states == ["running", "unavailable", "running"], timeout=WAIT)
    assert "connection refused" in (rec.statuses[1].detail or "")


def test_fell_behind_reconnects_without_a_gap(
    qtbot: QtBot, fake: FakeLocalApi, make_source: MakeSource
) -> None:
    rec = make_source()
    qtbot.waitUntil(lambda: rec.states == ["running"], timeout=WAIT)
    reads = fake.status_requests
    fake.fell_behind()
    qtbot.waitUntil(lambda: fake.watch_requests == 2 and fake.watchers == 1, timeout=WAIT)
    qtbot.waitUntil(lambda: fake.status_requests > reads, timeout=WAIT)  # re-read after reconnecting
    fake.set_status("stopped")
    fake.push_state(4)
    qtbot.waitUntil(lambda: rec.states == ["running", "stopped"], timeout=WAIT)  # never "unavailable"


def test_clean_eof_reconnects(qtbot: QtBot, fake: FakeLocalApi, make_source: MakeSource) -> None:
    rec = make_source()
    qtbot.waitUntil(lambda: rec.states == ["running"], timeout=WAIT)
    fake.end_watch()
    qtbot.waitUntil(lambda: fake.watch_requests == 2 and fake.watchers == 1, timeout=WAIT)
    assert rec.states == ["running"]


def test_absent_daemon_is_a_state_and_hint_wakes_the_retry(
    qtbot: QtBot, sock_path: str, make_source: MakeSource
) -> None:
    rec = make_source(backoff=Backoff(initial=60, maximum=60))
    qtbot.waitUntil(lambda: rec.states == ["unavailable"], timeout=WAIT)
    assert rec.last.detail == (
        f"tailscaled is not running (no socket at {sock_path}); start tailscaled: `sudo systemctl start tailscaled`"
    )
    assert rec.source.timers_active() == ["retry"]
    with FakeLocalApi(sock_path, "needs-login"):
        rec.source.hint()  # a netlink event: no need to wait 60 s
        qtbot.waitUntil(lambda: rec.states == ["unavailable", "needs_login"], timeout=WAIT)
        assert rec.last == EXPECTED["needs-login"]
        qtbot.waitUntil(lambda: rec.source.timers_active() == [], timeout=WAIT)


def test_malformed_and_truncated_status(qtbot: QtBot, fake: FakeLocalApi, make_source: MakeSource) -> None:
    rec = make_source()
    qtbot.waitUntil(lambda: rec.states == ["running"], timeout=WAIT)
    fake.status_raw = b'{"BackendState": "Runn'
    fake.push_state(6)
    qtbot.waitUntil(lambda: rec.states == ["running", "unavailable"], timeout=WAIT)
    assert "invalid JSON" in (rec.last.detail or "")
    qtbot.wait(DEBOUNCE_MS + 50)
    fake.status_raw = b'TRUNCATE:{"BackendState": "Running", "Self": {'
    fake.push_state(6)
    qtbot.waitUntil(lambda: "early" in (rec.last.detail or ""), timeout=WAIT)
    assert rec.last.state is TailscaleState.UNAVAILABLE
    qtbot.wait(DEBOUNCE_MS + 50)
    fake.push("this is not json")  # a garbage bus line: re-read, keep the stream
    fake.status_raw = None
    qtbot.waitUntil(lambda: rec.last == EXPECTED["running"], timeout=WAIT)
    assert fake.watch_requests == 1


def test_down_and_up(qtbot: QtBot, fake: FakeLocalApi, make_source: MakeSource) -> None:
    rec = make_source()
    qtbot.waitUntil(lambda: rec.states == ["running"], timeout=WAIT)
    rec.source.down()
    qtbot.waitUntil(lambda: rec.last.state is TailscaleState.STOPPED, timeout=WAIT)
    assert rec.last.can_write is True
    rec.source.up()
    qtbot.waitUntil(lambda: rec.last.state is TailscaleState.RUNNING, timeout=WAIT)
    assert fake.patches == [
        {"WantRunning": False, "WantRunningSet": True},
        {"WantRunning": True, "WantRunningSet": True},
    ]
    assert rec.failures == []


def test_write_denied_shows_the_operator_hint(
    qtbot: QtBot, fake: FakeLocalApi, make_source: MakeSource
) -> None:
    fake.deny_writes = True
    rec = make_source()
    qtbot.waitUntil(lambda: rec.states == ["running"], timeout=WAIT)
    rec.source.down()
    qtbot.waitUntil(lambda: rec.failures != [], timeout=WAIT)
    assert rec.failures == [f"Tailscale refused the change (prefs write access denied): {OPERATOR_HINT}"]
    assert "sudo tailscale set --operator=$USER" in rec.failures[0]
    qtbot.waitUntil(lambda: rec.last.can_write is False, timeout=WAIT)
    assert rec.last.state is TailscaleState.RUNNING  # nothing changed
    fake.set_status("stopped")
    fake.push_state(4)  # a later change keeps the flag
    qtbot.waitUntil(lambda: rec.last.state is TailscaleState.STOPPED, timeout=WAIT)
    assert rec.last.can_write is False


def test_write_without_daemon_says_so(qtbot: QtBot, sock_path: str, make_source: MakeSource) -> None:
    rec = make_source(backoff=Backoff(initial=60, maximum=60))
    qtbot.waitUntil(lambda: rec.states == ["unavailable"], timeout=WAIT)
    rec.source.up()
    assert len(rec.failures) == 1 and "sudo systemctl start tailscaled" in rec.failures[0]


def test_cli_fallback_when_socket_unusable(qtbot: QtBot, sock_dir: Path, make_source: MakeSource) -> None:
    fixture = Path(__file__).resolve().parent.parent / "fixtures" / "tailscale" / "status-json.running.json"
    cli = sock_dir / "tailscale"
    cli.write_text(f'#!/bin/sh\n[ "$1 $2" = "status --json" ] || exit 2\nexec cat {fixture}\n')
    cli.chmod(0o755)
    rec = make_source(socket_path=str(sock_dir / "elsewhere.sock"), cli_path=str(cli), cli_poll_ms=60_000)
    qtbot.waitUntil(lambda: rec.states == ["running"], timeout=WAIT)
    assert rec.last == EXPECTED["running"]
    assert rec.source.timers_active() == ["retry"]  # polls only while the socket is unusable


def test_cli_fallback_daemon_down_keeps_the_socket_reason(
    qtbot: QtBot, sock_dir: Path, make_source: MakeSource
) -> None:
    stderr = (
        Path(__file__).resolve().parent.parent
        / "fixtures"
        / "tailscale"
        / "status.daemon-not-running.stderr.txt"
    )
    cli = sock_dir / "tailscale"
    cli.write_text(f"#!/bin/sh\ncat {stderr} >&2\nexit 1\n")
    cli.chmod(0o755)
    rec = make_source(socket_path=str(sock_dir / "x.sock"), cli_path=str(cli))
    qtbot.waitUntil(lambda: rec.states == ["unavailable"], timeout=WAIT)
    assert "no socket at" in (rec.last.detail or "")
    rec2 = make_source(socket_path=str(sock_dir / "y.sock"), cli_path=str(sock_dir / "missing-cli"))
    qtbot.waitUntil(lambda: rec2.states == ["unavailable"], timeout=WAIT)


def test_status_json_of_the_source_matches_the_schema(
    qtbot: QtBot, fake: FakeLocalApi, make_source: MakeSource
) -> None:
    fake.set_status("running-mullvad-exit-node")
    rec = make_source()
    qtbot.waitUntil(lambda: len(rec.statuses) == 1, timeout=WAIT)
    out = json.loads(json.dumps(rec.last.to_json()))
    assert out["exit_node"] == {"name": "se-got-wg-001 (Gothenburg, Sweden)", "online": True}
    assert (out["peers_online"], out["peers_total"]) == (2, 3)


def test_hint_while_connected_rereads(qtbot: QtBot, fake: FakeLocalApi, make_source: MakeSource) -> None:
    """A netlink hint (e.g. tailscale0 went down) re-reads even when the bus said nothing."""
    rec = make_source()
    qtbot.waitUntil(lambda: rec.states == ["running"], timeout=WAIT)
    qtbot.waitUntil(lambda: rec.source.timers_active() == [], timeout=WAIT)
    fake.set_status("stopped")  # silently: no bus message
    qtbot.wait(50)
    assert rec.states == ["running"]
    rec.source.hint()
    qtbot.waitUntil(lambda: rec.states == ["running", "stopped"], timeout=WAIT)
    assert fake.watch_requests == 1  # the stream was kept


def test_stop_closes_everything(qtbot: QtBot, fake: FakeLocalApi, make_source: MakeSource) -> None:
    rec = make_source()
    qtbot.waitUntil(lambda: rec.states == ["running"], timeout=WAIT)
    fake.wait_watchers(1)
    rec.source.stop()
    qtbot.waitUntil(lambda: fake.watchers == 0, timeout=WAIT)
    assert rec.source.timers_active() == []
    fake.set_status("stopped")
    fake.push_state(4)
    qtbot.wait(100)
    assert rec.states == ["running"]
