"""Devices ▸ "Send a file…" (Taildrop) and Accounts ▸ "Add another account…" / "Log out…" through the real
tray against the fake LocalAPI (tests/fakes/fake_localapi.py, modelled on tailscaled 1.102.5's answers in
tests/realts/test_send_accounts_real.py): the menu items, the requests that reach the daemon, and what the
user is told, on the real notification daemon (dunst).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PyQt6.QtGui import QGuiApplication
from PyQt6.QtWidgets import QFileDialog, QMessageBox

from tests.tray.conftest import TrayRig
from tests.tray.test_feature_menus import start

NAS = "nQ3pX8kT2b11CNTRL"  # yours, online, TaildropTarget 1
BUILD = "nT5hJ1sL9d11CNTRL"  # offline, TaildropTarget 5
PHONE = "nB9mW4rZ7c11CNTRL"  # "localhost", online; made another user's below (TaildropTarget 9)


def pick(f: Any, qtbot: Any, node: str, *paths: Path) -> QFileDialog:
    """Devices ▸ node ▸ Send a file…, then the files chosen in the dialog it opens."""
    f.devices.devices[node].send_file.trigger()
    dialog = f.file_dialog
    assert isinstance(dialog, QFileDialog) and dialog.isVisible()
    assert dialog.fileMode() is QFileDialog.FileMode.ExistingFiles
    dialog.selectFile(" ".join(f'"{p}"' for p in paths) if len(paths) > 1 else str(paths[0]))
    dialog.accept()
    return dialog


class Said:
    """What the tray told the user, in order (its Notifier's notices), and what dunst showed."""

    def __init__(self, rig: TrayRig, dunst: Any, qtbot: Any) -> None:
        self.notices: list[tuple[str, str]] = []
        self.read: dict[str, int] = {}
        self.dunst, self.qtbot = dunst, qtbot
        rig.app.notifier.sent.connect(lambda n: self.notices.append((n.summary, n.body)))  # type: ignore[attr-defined]

    def next(self, summary: str) -> str:
        """The next notice under `summary` not read yet; it must reach dunst too."""
        n = self.read.get(summary, 0)
        self.qtbot.waitUntil(lambda: len([1 for s, _b in self.notices if s == summary]) > n, timeout=15000)
        self.read[summary] = n + 1
        body = [b for s, b in self.notices if s == summary][n]
        self.qtbot.waitUntil(lambda: any(r["body"] == body for r in self.dunst()), timeout=5000)
        return body


def test_send_a_file_streams_it_to_the_device_and_says_so(
    rig: TrayRig, dunst: Any, tmp_path: Path, qtbot: Any
) -> None:
    fake = rig.daemons.tailscale
    doc = fake.status_doc()
    phone = next(p for p in doc["Peer"].values() if p["ID"] == PHONE)
    phone["TaildropTarget"] = 9
    fake.set_status_doc(doc)
    f = start(rig, qtbot, tailscale="running")
    told = Said(rig, dunst, qtbot)
    fake.set_status_doc(doc)
    fake.push_state(6)
    d = f.devices
    phone_item = d.devices[PHONE].send_file
    qtbot.waitUntil(lambda: phone_item.isVisible() and not phone_item.isEnabled(), timeout=5000)
    # offered only where tailscaled says the device can receive; otherwise greyed with the reason
    items = {
        node: (d.devices[node].send_file.text(), d.devices[node].send_file.isEnabled())
        for node in (NAS, BUILD, PHONE)
    }
    assert items == {
        NAS: ("Send a file…", True),
        BUILD: ("Send a file… (offline)", False),
        PHONE: ("Send a file… (Taildrop sends only to your own devices)", False),
    }

    # 3 MB: far more than a socket buffer holds, so it goes out piece by piece as tailscaled reads it
    data = os.urandom(3 * 1024 * 1024)
    src = tmp_path / "holiday photos.bin"
    src.write_bytes(data)
    pick(f, qtbot, NAS, src)
    assert told.next("Taildrop") == "Sent holiday photos.bin to nas."
    assert fake.sent_files == [(NAS, "holiday photos.bin", data)]
    put = [(t, h) for m, t, h in fake.requests if m == "PUT"]
    assert put == [(f"/localapi/v0/file-put/{NAS}/holiday%20photos.bin", put[0][1])]
    assert put[0][1]["content-length"] == str(len(data))
    assert put[0][1]["content-type"] == "application/octet-stream"

    # two files, one after the other
    other = tmp_path / "notes.txt"
    other.write_text("and these\n")
    pick(f, qtbot, NAS, other, src)
    assert told.next("Taildrop") == "Sent 2 files to nas: notes.txt, holiday photos.bin."

    # never silent: not the operator, the device not answering, a file that cannot be read
    fake.deny_writes = True
    pick(f, qtbot, NAS, other)
    assert told.next("Taildrop") == (
        "notes.txt was not sent to nas: Tailscale refused to send a file (file access denied): "
        "run `sudo tailscale set --operator=$USER` once, then try again"
    )
    fake.deny_writes = False
    fake.file_put_status = 502
    pick(f, qtbot, NAS, other)
    assert told.next("Taildrop") == (
        "notes.txt was not sent: nas did not answer. It is probably offline or asleep; try again when it is online."
    )
    fake.file_put_status = None
    src.unlink()  # gone between picking and sending
    f.send_files(NAS, [src])
    assert told.next("Taildrop") == "Could not read holiday photos.bin: No such file or directory."
    assert len(fake.sent_files) == 3  # nothing more reached a device

    # a device that went offline while the dialog was open
    doc = fake.status_doc()
    nas = next(p for p in doc["Peer"].values() if p["ID"] == NAS)
    nas.update(Online=False, TaildropTarget=5)
    fake.set_status_doc(doc)
    fake.push_state(6)
    qtbot.waitUntil(lambda: not d.devices[NAS].send_file.isEnabled(), timeout=5000)
    f.send_files(NAS, [other])
    assert told.next("Taildrop") == "nas cannot receive files now (offline)."
    assert len(fake.sent_files) == 3


def test_add_another_account_is_tailscale_login_and_its_page_opens(
    rig: TrayRig, dunst: Any, qtbot: Any
) -> None:
    fake = rig.daemons.tailscale
    f = start(rig, qtbot)
    told = Said(rig, dunst, qtbot)
    opened: list[str] = []
    f.open_url = opened.append
    a = f.accounts
    qtbot.waitUntil(lambda: a.menu.title() == "Tailscale account: alice@example.com", timeout=5000)
    assert [x.text() for x in a.menu.actions() if x.isVisible() and not x.isSeparator()][-2:] == [
        "Add another account…",
        "Log out…",
    ]  # after the accounts
    n = len(fake.requests)
    a.add.trigger()
    assert told.next("Add a Tailscale account").startswith("Switched to a new, empty account: log in to it")
    qtbot.waitUntil(lambda: bool(opened), timeout=5000)
    assert opened == ["https://login.tailscale.com/a/f4k3r3auth"]  # BrowseToURL from the bus
    calls = [(m, t) for m, t, _h in fake.requests[n:] if t != "/localapi/v0/status" and "watch" not in t]
    assert calls[:5] == [
        ("GET", "/localapi/v0/prefs"),  # the current account's control server and operator
        ("PUT", "/localapi/v0/profiles/"),  # a new, empty profile (current at once)
        ("GET", "/localapi/v0/prefs"),  # its defaults, sent back whole: Start replaces every pref
        ("POST", "/localapi/v0/start"),
        ("POST", "/localapi/v0/login-interactive"),
    ]
    prefs = fake.started[-1]["UpdatePrefs"]
    assert (prefs["ControlURL"], prefs["OperatorUser"], prefs["WantRunning"], prefs["LoggedOut"]) == (
        "https://controlplane.tailscale.com", "alice", True, False,
    )  # fmt: skip
    assert prefs["NetfilterMode"] == 2 and "Config" not in prefs  # the defaults, never the node's keys
    qtbot.waitUntil(
        lambda: a.menu.title() == "Tailscale account", timeout=5000
    )  # the new one has no name yet
    assert not a.logout.isVisible()  # nothing to log out of

    # a refusal halfway says where the user is and how to go back
    fake.current_profile = "a1b2"
    fake.prefs_over = {}
    fake.deny_writes = True
    a.add.trigger()
    text = told.next("Add a Tailscale account")
    assert text.startswith(
        "Tailscale refused to add an account (profiles access denied): run `sudo tailscale set"
    )
    assert "new, empty account" not in text  # nothing changed: the PUT was refused


def test_an_operator_gets_the_command_instead_of_a_locked_out_account(
    rig: TrayRig, dunst: Any, qtbot: Any
) -> None:
    """tailscaled gives a new profile no operator: an operator who is not root would be refused everything on
    it (tests/realts/test_send_accounts_real.py shows the real 403s). So the tray makes none for them."""
    fake = rig.daemons.tailscale
    f = start(rig, qtbot)
    told = Said(rig, dunst, qtbot)
    qtbot.waitUntil(lambda: f.accounts.menu.title() == "Tailscale account: alice@example.com", timeout=5000)
    n = len(fake.requests)
    fake.prefs_over = {"ControlURL": "https://headscale.example.net"}
    os.seteuid(65534)  # the tray as its desktop user (tailscaled's socket is root's, as in a real install)
    try:
        f.add_account()
    finally:
        os.seteuid(0)
    assert told.next("Add a Tailscale account") == (
        "Tailscale gives a new account no operator, so once it is current Tailscale would refuse you everything, "
        "even switching back. Add it in a terminal instead (copied to the clipboard): "
        "`sudo tailscale login --operator=$USER --login-server=https://headscale.example.net`"
    )
    clip = QGuiApplication.clipboard()
    assert clip is not None and clip.text().startswith(
        "sudo tailscale login --operator=$USER --login-server="
    )
    assert [(m, t) for m, t, _h in fake.requests[n:] if m != "GET"] == []  # tailscaled was not touched


def test_log_out_asks_first_then_leaves_the_tailnet(rig: TrayRig, dunst: Any, qtbot: Any) -> None:
    fake = rig.daemons.tailscale
    f = start(rig, qtbot)
    told = Said(rig, dunst, qtbot)
    a = f.accounts
    qtbot.waitUntil(lambda: a.menu.title() == "Tailscale account: alice@example.com", timeout=5000)
    a.logout.trigger()
    box = f.confirm
    assert isinstance(box, QMessageBox) and box.isVisible()
    assert box.text() == (
        "Log out of alice@example.com?\n\nThis device leaves the tailnet example.com until you log in again, "
        "and Tailscale forgets the account on this device (logging in again adds it back)."
    )
    box.reject()  # Cancel changes nothing
    qtbot.wait(300)
    assert not [t for m, t, _h in fake.requests if t == "/localapi/v0/logout"]
    a.logout.trigger()
    next(b for b in f.confirm.buttons() if b.text() == "Log out").click()
    assert told.next("Log out of Tailscale") == (
        "Logged out of alice@example.com: this device is off the tailnet until you log in again."
    )
    assert ("POST", "/localapi/v0/logout") in [(m, t) for m, t, _h in fake.requests]
    ui = rig.app.ui  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: "Tailscale: needs login" in ui.tray.toolTip(), timeout=10000)
    qtbot.waitUntil(
        lambda: set(a.list.actions) == {"c3d4"} and a.menu.title() == "Tailscale account", timeout=5000
    )
    assert not a.logout.isVisible()

    # "Tailscale: log in…" with no login URL yet asks tailscaled for one (like `tailscale login`) and opens it
    opened: list[str] = []
    f.open_url = opened.append
    menus = ui.menus
    qtbot.waitUntil(menus.tailscale_login.isVisible, timeout=5000)
    menus.tailscale_login.trigger()
    qtbot.waitUntil(lambda: bool(opened), timeout=5000)
    assert opened == ["https://login.tailscale.com/a/f4k3r3auth"]
    assert ("POST", "/localapi/v0/login-interactive") in [(m, t) for m, t, _h in fake.requests]
