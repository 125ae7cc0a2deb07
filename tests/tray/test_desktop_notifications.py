"""A real notification daemon (dunst) on the private bus receives exactly the expected notifications for a
scripted run of the daemons (the fake `mullvad` CLI and the fake tailscaled LocalAPI, through the real
sources and Monitor; the real bypass helper in a private network namespace), and none while Mullvad flaps.
Actions are invoked through dunst itself."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fakes.fake_localapi import FakeLocalApi
from tests.fakes.fake_mullvad import FakeMullvad
from tests.tray.bypass_lab import BypassLab
from tests.tray.conftest import dispose


@dataclass
class LiveRig:
    app: object
    mullvad: FakeMullvad
    tailscale: FakeLocalApi
    lab: BypassLab
    results: list[object]  # every HelperResult of a helper process the tray ran


@pytest.fixture
def live(qtbot, tmp_path: Path, lab: BypassLab) -> Iterator[LiveRig]:  # type: ignore[no-untyped-def]
    from tray_app.app import TrayApplication
    from tray_app.core.notify_policy import PolicyConfig
    from tray_app.daemons.mullvad import MullvadSource
    from tray_app.daemons.tailscale import TailscaleSource
    from tray_app.desktop.settings import Settings
    from tray_app.monitor import Monitor
    from tray_app.rootside.service import BypassService

    mullvad = FakeMullvad(tmp_path / "mullvad", state="disconnected")
    ts = FakeLocalApi(tmp_path / "ts.sock", status="running").start()
    service = BypassService(lab.command, state_dir=str(lab.state_dir), debounce_ms=20)
    results: list[object] = []
    service.client.finished.connect(results.append)
    monitor = Monitor(
        MullvadSource(str(mullvad.cli)), TailscaleSource(str(tmp_path / "ts.sock"), None), service, None
    )
    app = TrayApplication(
        monitor,
        Settings(str(tmp_path / "settings.ini")),
        policy_config=PolicyConfig(
            settle=0.5, flap_window=10.0, flap_count=4, flap_settle=5.0, user_window=5.0
        ),
    )
    app.start(show_status=False)
    qtbot.waitUntil(lambda: monitor.is_ready, timeout=10000)
    try:
        yield LiveRig(app, mullvad, ts, lab, results)
    finally:
        dispose(app)
        ts.stop()


def displayed() -> int:
    out = subprocess.run(["dunstctl", "count", "displayed"], capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


def test_scripted_run_gives_exactly_the_expected_notifications(
    dunst, notify_calls, xembed_host, live: LiveRig, qtbot
) -> None:  # type: ignore[no-untyped-def]
    app = live.app
    sent: list[str] = []
    app.notifier.sent.connect(lambda n: sent.append(n.summary))  # type: ignore[attr-defined]
    qtbot.wait(1200)  # the start-up state is not news
    assert sent == [] and dunst() == []

    live.mullvad.set_state("connected")
    qtbot.waitUntil(lambda: len(sent) == 2, timeout=10000)
    assert sorted(sent) == ["Mullvad connected", "Tailnet cut off"]
    qtbot.waitUntil(lambda: displayed() == 2, timeout=3000)
    # the user dismisses "Mullvad connected" (dunst lists the oldest first), then clicks the suggestion:
    # dunst invokes its default action, which stands for "Turn on bypass"
    subprocess.run(["dunstctl", "close"], check=True)
    qtbot.waitUntil(lambda: displayed() == 1, timeout=3000)
    subprocess.run(["dunstctl", "action", "0"], check=True)
    qtbot.waitUntil(lambda: "Bypass on (direct)" in sent, timeout=10000)
    assert "enable" in [r.verb for r in live.results]  # type: ignore[attr-defined]
    assert live.lab.table() is not None
    assert app.settings.bypass_wanted  # type: ignore[attr-defined]

    # flapping: many quick disconnect/connect rounds say nothing
    before = len(sent)
    for _ in range(6):
        live.mullvad.set_state("disconnected")
        qtbot.wait(40)
        live.mullvad.set_state("connected")
        qtbot.wait(40)
    qtbot.wait(1500)
    assert sent[before:] == []

    # tailscale goes down (as `tailscale down` looks on the bus)
    live.tailscale.set_status("stopped")
    live.tailscale.push_state(4)
    qtbot.waitUntil(lambda: "Tailscale stopped" in sent, timeout=10000)
    qtbot.wait(300)

    history = dunst()
    assert [(h["appname"], h["summary"]) for h in history] == [
        ("Mullvad + Tailscale", "Mullvad connected"),
        ("Mullvad + Tailscale", "Tailnet cut off"),
        ("Mullvad + Tailscale", "Bypass on (direct)"),
        ("Mullvad + Tailscale", "Tailscale stopped"),
    ], history
    by = {h["summary"]: h for h in history}
    assert by["Mullvad connected"]["body"] == "se-got-wg-001, Gothenburg"
    assert (
        by["Tailnet cut off"]["body"] == "Mullvad connected and your tailnet is cut off: turn on the bypass?"
    )
    calls = {c["summary"]: c for c in notify_calls()}
    assert calls["Bypass on (direct)"]["urgency"] == 0  # the user asked for it: quieter
    assert calls["Tailscale stopped"]["urgency"] == 1
    assert calls["Tailnet cut off"]["actions"] == [
        "enable-bypass", "Turn on bypass", "never-suggest", "Don't ask again", "default", "Turn on bypass"
    ]  # fmt: skip


def test_replace_by_id_keeps_one_notification_per_slot(dunst, qtbot) -> None:  # type: ignore[no-untyped-def]
    from tray_app.core.notify_policy import Category, Notice
    from tray_app.desktop.notifications import Notifier

    n = Notifier()
    ids: list[int] = []
    n.sent.connect(lambda _notice: ids.append(n._ids["mullvad"]))
    n.send(Notice("mullvad", Category.MULLVAD, "Mullvad connected", "se-got-wg-001"))
    qtbot.waitUntil(lambda: len(ids) == 1, timeout=3000)
    n.send(Notice("mullvad", Category.MULLVAD, "Mullvad disconnected", "x"))
    qtbot.waitUntil(lambda: len(ids) == 2, timeout=3000)
    assert ids[0] == ids[1]
    assert displayed() == 1
    assert [h["summary"] for h in dunst()] == ["Mullvad disconnected"]


def test_a_body_from_others_shows_as_written_never_as_markup(dunst, qtbot) -> None:  # type: ignore[no-untyped-def]
    """A peer names its Taildrop file. dunst (default `markup = full`, advertising body-hyperlinks) parses bodies
    as Pango markup with links, so the body must arrive escaped: dunst then shows the name as the peer wrote it,
    tags and ampersands included, with no link or bold of theirs. Its history keeps the body as received."""
    from tray_app.core.notify_policy import Category, Notice
    from tray_app.desktop.notifications import Notifier

    n = Notifier()
    sent: list[str] = []
    n.sent.connect(lambda notice: sent.append(notice.summary))
    name = '<a href="https://evil.example">invoice</a> <b>&</b> more.pdf'
    n.send(Notice("files", Category.TAILSCALE, "File from a peer", name))
    qtbot.waitUntil(lambda: sent == ["File from a peer"], timeout=3000)
    (shown,) = dunst()
    assert shown["body"] == (
        '&lt;a href="https://evil.example"&gt;invoice&lt;/a&gt; &lt;b&gt;&amp;&lt;/b&gt; more.pdf'
    )


def test_without_a_server_the_tray_balloon_is_used(qtbot) -> None:  # type: ignore[no-untyped-def]
    from tray_app.core.notify_policy import Category, Notice, Urgency
    from tray_app.desktop.notifications import Notifier

    got: list[tuple[str, str, Urgency]] = []
    n = Notifier(fallback=lambda s, b, u: got.append((s, b, u)))
    assert not n.server_present()
    n.send(Notice("bypass", Category.BYPASS, "Bypass lost", "restore it"))
    assert got == [("Bypass lost", "restore it", Urgency.NORMAL)]


def test_blocking_and_a_failed_block_replace_each_other_and_the_leak_is_critical(  # type: ignore[no-untyped-def]
    dunst, notify_calls, xembed_host, live: LiveRig, qtbot
) -> None:
    app = live.app
    sent: list[str] = []
    app.notifier.sent.connect(lambda n: sent.append(n.summary))  # type: ignore[attr-defined]
    live.mullvad.set_state("error", cause="is_offline")
    qtbot.waitUntil(lambda: "Mullvad is blocking traffic" in sent, timeout=10000)
    live.mullvad.set_state("error", cause="is_offline", block_failure=True)
    qtbot.waitUntil(lambda: "Mullvad could not block traffic" in sent, timeout=10000)
    assert displayed() == 1  # same slot: the second replaced the first on screen
    calls = {c["summary"]: c for c in notify_calls()}
    assert calls["Mullvad is blocking traffic"]["urgency"] == 1
    assert calls["Mullvad could not block traffic"]["urgency"] == 2
    assert "may leave this device unprotected" in str(calls["Mullvad could not block traffic"]["body"])


def test_exit_node_change_is_announced(dunst, xembed_host, live: LiveRig, qtbot) -> None:  # type: ignore[no-untyped-def]
    app = live.app
    sent: list[str] = []
    app.notifier.sent.connect(lambda n: sent.append(n.summary))  # type: ignore[attr-defined]
    live.tailscale.set_status("running-exit-node")
    live.tailscale.push(
        {"Prefs": {"ExitNodeID": "nExit"}}
    )  # tailscaled announces the prefs change on the bus
    qtbot.waitUntil(lambda: any(s.startswith("Exit node: ") for s in sent), timeout=10000)
    assert [h["summary"] for h in dunst() if h["summary"].startswith("Exit node")] == [
        next(s for s in sent if s.startswith("Exit node: "))
    ]
