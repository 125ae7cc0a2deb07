"""Issue 12's opt-in notifications, sent to a real notification daemon (dunst on the private bus), from
what the real sources read from the fake tailscaled: a watched device comes online or goes offline, a
Taildrop file arrives (its action saves it and opens the folder), this device's key expires within 7 days
(its action starts a re-authentication and opens the login URL), a new health warning. Each is off until
the user turns it on, and a flapping device says nothing."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.tray.conftest import TrayRig
from tray_app.core.tailnet_notify import TailnetKind

NAS = "nodekey:047de0f543c7e3596bb6dbd0e65f2c30357720a63eca423f08c52fae314f6806"


def start(rig: TrayRig, qtbot: Any) -> tuple[Any, list[tuple[str, str]]]:
    rig.daemons.mullvad.set_state("disconnected")  # no "tailnet cut off" suggestion in these tests
    rig.app.start(show_status=False)  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: rig.monitor.is_ready, timeout=10000)  # type: ignore[attr-defined]
    f = rig.app.features  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: bool(f.tailnet.peers), timeout=5000)
    sent: list[tuple[str, str]] = []
    rig.app.notifier.sent.connect(lambda n: sent.append((n.summary, n.body)))  # type: ignore[attr-defined]
    return f, sent


def set_online(rig: TrayRig, online: bool) -> None:
    doc = rig.daemons.tailscale.status_doc()
    doc["Peer"][NAS]["Online"] = online
    doc["Peer"][NAS]["LastSeen"] = "0001-01-01T00:00:00Z" if online else "2026-11-25T14:00:00Z"
    rig.daemons.tailscale.set_status_doc(doc)
    rig.daemons.tailscale.push({"Engine": None, "Health": {"Warnings": None}})  # the bus nudges a re-read


def test_a_watched_device_is_announced_only_once_opted_in(dunst, xembed_host, rig: TrayRig, qtbot) -> None:  # type: ignore[no-untyped-def]
    f, sent = start(rig, qtbot)
    nas = f.devices.devices["nQ3pX8kT2b11CNTRL"]
    nas.watch.trigger()  # "Notify when it comes online or goes offline"
    assert rig.app.settings.watched_devices == {"nQ3pX8kT2b11CNTRL"}  # type: ignore[attr-defined]
    set_online(rig, False)
    qtbot.waitUntil(lambda: not f.tailnet.peer("nas").online, timeout=5000)
    qtbot.wait(800)
    assert sent == []  # the kind is off: opt-in
    f.kind_actions[TailnetKind.DEVICES].trigger()
    assert "devices" in rig.app.settings.tailnet_notify  # type: ignore[attr-defined]
    set_online(rig, True)
    qtbot.waitUntil(lambda: bool(sent), timeout=5000)
    assert sent == [("nas is online", "nas.tail4a2b9c.ts.net is back on the tailnet.")]
    qtbot.wait(500)
    shown = [h["summary"] for h in dunst() if h["summary"].startswith("nas")]
    assert shown == ["nas is online"]  # what dunst showed (flapping: test_tailnet_notify_policy.py)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))  # QStandardPaths' Downloads: $HOME/Downloads
    return tmp_path


def test_taildrop_file_notification_saves_it_and_opens_the_folder(
    dunst, xembed_host, rig: TrayRig, home: Path, qtbot
) -> None:  # type: ignore[no-untyped-def]
    f, sent = start(rig, qtbot)
    opened: list[str] = []
    f.open_folder = opened.append
    f.kind_actions[TailnetKind.TAILDROP].trigger()
    rig.daemons.tailscale.add_file("report.pdf", b"%PDF-1.7 fake")
    qtbot.waitUntil(lambda: bool(sent), timeout=5000)
    assert sent[0] == ("Taildrop: file received", "report.pdf is waiting. Save it to your Downloads folder?")
    qtbot.wait(300)
    subprocess.run(["dunstctl", "action", "0"], check=True)  # the notification's action, through dunst
    qtbot.waitUntil(lambda: (home / "Downloads" / "report.pdf").exists() and bool(opened), timeout=5000)
    assert (home / "Downloads" / "report.pdf").read_bytes() == b"%PDF-1.7 fake"
    assert opened == [f"{home}/Downloads"]
    assert rig.daemons.tailscale.waiting_files == {}  # taken out of tailscaled's waiting area
    qtbot.waitUntil(lambda: ("Taildrop", f"Saved report.pdf in {home}/Downloads.") in sent, timeout=5000)


def test_key_expiry_within_seven_days_offers_reauthentication(
    dunst, xembed_host, rig: TrayRig, qtbot
) -> None:  # type: ignore[no-untyped-def]
    f, sent = start(rig, qtbot)
    opened: list[str] = []
    f.open_url = opened.append
    f.kind_actions[TailnetKind.KEY_EXPIRY].trigger()
    doc = rig.daemons.tailscale.status_doc()
    soon = datetime.now(UTC) + timedelta(days=3, hours=1)
    doc["Self"]["KeyExpiry"] = soon.strftime("%Y-%m-%dT%H:%M:%SZ")
    rig.daemons.tailscale.set_status_doc(doc)
    rig.daemons.tailscale.push({"Health": {"Warnings": None}})
    qtbot.waitUntil(lambda: bool(sent), timeout=5000)
    assert sent[0][0] == "Tailscale key expiring" and "expires in 3 days" in sent[0][1]
    qtbot.wait(300)
    subprocess.run(["dunstctl", "action", "0"], check=True)
    qtbot.waitUntil(lambda: bool(opened), timeout=5000)
    assert opened == ["https://login.tailscale.com/a/f4k3r3auth"]
    assert ("POST", "/localapi/v0/login-interactive") in [
        (m, t) for m, t, _h in rig.daemons.tailscale.requests
    ]


def test_a_new_health_warning_is_said_once(dunst, xembed_host, rig: TrayRig, qtbot) -> None:  # type: ignore[no-untyped-def]
    f, sent = start(rig, qtbot)
    f.kind_actions[TailnetKind.HEALTH].trigger()
    doc = rig.daemons.tailscale.status_doc()
    doc["Health"] = ["Tailscale could not connect to the control server."]
    rig.daemons.tailscale.set_status_doc(doc)
    rig.daemons.tailscale.push({"Health": {"Warnings": None}})
    qtbot.waitUntil(lambda: bool(sent), timeout=5000)
    assert sent == [("Tailscale warning", "Tailscale could not connect to the control server.")]
    rig.daemons.tailscale.push({"Health": {"Warnings": None}})  # the same warning again: nothing new
    qtbot.wait(800)
    assert len(sent) == 1
    assert [h["summary"] for h in dunst() if h["summary"].startswith("Tailscale")] == ["Tailscale warning"]


def test_taildrop_save_streams_big_files_and_never_overwrites(rig: TrayRig, home: Path, qtbot) -> None:  # type: ignore[no-untyped-def]
    """A file bigger than any LocalAPI answer kept in memory (64 MiB) is streamed to disk; a name that is
    taken gets ` (1)`; a name with a path in it is never written."""
    from tray_app.core.http1 import MAX_BODY
    from tray_app.core.tailnet import safe_name

    f, _sent = start(rig, qtbot)
    (home / "Downloads").mkdir()
    (home / "Downloads" / "report.pdf").write_bytes(b"mine")
    big = bytes(range(256)) * ((MAX_BODY + 4096) // 256)
    rig.daemons.tailscale.waiting_files.update({"report.pdf": b"theirs", "big.bin": big, "../evil": b"x"})
    f.client.list_files()
    qtbot.waitUntil(lambda: len(f.files) == 3, timeout=5000)
    opened: list[str] = []
    f.open_folder = opened.append
    f.on_action("taildrop-save")
    qtbot.waitUntil(lambda: bool(opened), timeout=60000)
    assert (home / "Downloads" / "report.pdf").read_bytes() == b"mine"
    assert (home / "Downloads" / "report (1).pdf").read_bytes() == b"theirs"
    assert (home / "Downloads" / "big.bin").stat().st_size == len(big)
    assert (home / "Downloads" / "big.bin").read_bytes() == big
    names = sorted(p.name for p in (home / "Downloads").iterdir())
    assert names == ["big.bin", "report (1).pdf", "report.pdf"]  # no .part left, nothing outside
    assert set(rig.daemons.tailscale.waiting_files) == {"../evil"}  # left where it was
    assert not safe_name("../evil") and not safe_name("a/b") and safe_name("notes.txt")


def test_taildrop_refused_to_a_non_operator_is_said_once_with_the_fix(rig: TrayRig, qtbot) -> None:  # type: ignore[no-untyped-def]
    """tailscaled lists Taildrop files only to root and its operator (403 `file access denied`, as the real
    daemon answers in tests/realts): a user who turns Taildrop notifications on hears why none will come,
    once, instead of nothing."""
    f, _sent = start(rig, qtbot)
    rig.daemons.tailscale.deny_writes = True
    said: list[tuple[str, str]] = []
    rig.app.controller.message.connect(lambda title, text: said.append((title, text)))  # type: ignore[attr-defined]
    f.kind_actions[TailnetKind.TAILDROP].trigger()
    qtbot.waitUntil(lambda: bool(said), timeout=5000)
    assert said == [
        (
            "Taildrop",
            "Tailscale refused to list the Taildrop files (file access denied): "
            "run `sudo tailscale set --operator=$USER` once, then try again",
        )
    ]
    rig.daemons.tailscale.add_file("report.pdf", b"x")  # a file arrives: the listing is refused again
    qtbot.wait(800)
    assert len(said) == 1  # said once
    rig.daemons.tailscale.deny_writes = False  # the fix applied: the file is announced
    rig.daemons.tailscale.add_file("notes.txt", b"y")
    qtbot.waitUntil(lambda: f.files == ("notes.txt", "report.pdf"), timeout=5000)
