"""Send a file… and Accounts ▸ Add another account… / Log out… against the real tailscaled 1.102.5 (the lab of
tests/realts/test_features_real.py, its tray rig; docs/tray.md, "Issue 12's tests"):

* the tray sends a file to the peer with `file-put`, and the peer's `tailscale file get` receives the same
  bytes; a device control reports offline is greyed; a non-operator (the product's code run as `nobody`)
  gets tailscaled's 403 with the fix;
* "Add another account…" reaches the login state with the lab control server's URL opened, the new profile
  on the same control server; after the login, "Log out…" leaves the daemon NeedsLogin and the tray shows it;
* why an operator gets a command instead: `tailscale login` as the operator is locked out of the new profile.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from tests.realts import test_features_real as features_real
from tests.realts.lab import RealLab
from tests.realts.test_features_real import REPO, USER, localapi, prefs, start_tray
from tests.tray.conftest import TrayRig
from tray_app.core.tailscale_parse import OPERATOR_HINT
from tray_app.daemons.localapi import choose_socket, request

pytestmark = pytest.mark.real_tailscale
LAB_MULLVAD = "disconnected"

# the tray rig against the lab's real tailscaled, as tests/realts/test_features_real.py sets it up
daemons = features_real.daemons
isolated_config = features_real.isolated_config
lab = features_real.lab
rig = features_real.rig


def told(rig: TrayRig, qtbot: Any) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    rig.app.controller.message.connect(lambda title, text: out.append((title, text)))  # type: ignore[attr-defined]
    return out


def test_a_file_sent_from_the_menu_is_what_the_peer_receives(
    real_lab: RealLab, rig: TrayRig, qtbot: Any
) -> None:
    lab = real_lab
    peer_id = lab.status("peer")["Self"]["ID"]  # type: ignore[index]
    f = start_tray(rig, qtbot)
    said = told(rig, qtbot)
    item = f.devices.devices[peer_id].send_file
    assert (item.text(), item.isEnabled(), item.isVisible()) == (
        "Send a file…",
        True,
        True,
    )  # TaildropTarget 1
    data = os.urandom(2 * 1024 * 1024) + b"the end\n"
    src = lab.workdir / "lab report.bin"
    src.write_bytes(data)
    f.send_files(peer_id, [src])
    qtbot.waitUntil(lambda: bool(said), timeout=30000)
    assert said == [("Taildrop", "Sent lab report.bin to peer.")]
    inbox = lab.workdir / "peer-inbox"
    inbox.mkdir()
    got = lab.ts("peer", "file", "get", str(inbox))
    assert got.returncode == 0, got.stderr
    assert (inbox / "lab report.bin").read_bytes() == data

    # control says the peer is offline: tailscaled's TaildropTarget 5, the item greyed with why
    lab.set_online("peer", False)
    try:
        qtbot.waitUntil(
            lambda: item.text() == "Send a file… (offline)" and not item.isEnabled(), timeout=20000
        )
    finally:
        lab.set_online("peer", True)
    qtbot.waitUntil(item.isEnabled, timeout=20000)

    # not the operator: tailscaled's 403, said with the fix; and the tray would add no account for them
    r = subprocess.run(
        [
            *("setpriv", "--reuid", USER, "--regid", "nogroup", "--clear-groups", "--"),
            *(sys.executable, "-m", "tests.realts.send_child", lab.nodes["host"].socket, peer_id, str(src)),
        ],
        capture_output=True, text=True, timeout=60, cwd=REPO, check=False,
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO), "HOME": "/tmp", "QT_QPA_PLATFORM": "offscreen"},
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out == {
        "told": f"lab report.bin was not sent to peer: Tailscale refused to send a file (file access denied): {OPERATOR_HINT}",
        "may_add_account": False,
    }


def test_an_operator_running_tailscale_login_is_locked_out_of_the_new_account(real_lab: RealLab) -> None:
    """Why the tray gives an operator the command instead of adding an account (core/account_actions.py)."""
    lab = real_lab
    node = lab.nodes["host"]
    first = localapi(lab, "GET", "/localapi/v0/profiles/current")[1]
    lab.ts("host", "set", f"--operator={USER}")
    try:
        r = subprocess.run(
            [
                *("setpriv", "--reuid", USER, "--regid", "nogroup", "--clear-groups", "--"),
                node.build.tailscale, f"--socket={node.socket}", "login",
                f"--login-server={lab.control_url}", "--timeout=10s",
            ],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert r.returncode != 0 and "access denied" in r.stderr, r.stderr
        # the new, empty profile is current: it has no operator, so even switching back is refused
        assert localapi(lab, "GET", "/localapi/v0/profiles/current")[1]["ID"] == ""
        assert "OperatorUser" not in prefs(lab)
    finally:
        lab.ts("host", "switch", first["ID"])
        lab.ts("host", "set", "--operator=")
    lab.wait(lambda: lab.status()["BackendState"] == "Running", 30, "back on the first account")


def test_add_another_account_then_log_out_of_it(real_lab: RealLab, rig: TrayRig, qtbot: Any) -> None:
    lab = real_lab
    first = localapi(lab, "GET", "/localapi/v0/profiles/current")[1]
    f = start_tray(rig, qtbot)
    said = told(rig, qtbot)
    opened: list[str] = []
    f.open_url = opened.append
    a = f.accounts
    a.menu.aboutToShow.emit()
    qtbot.waitUntil(
        lambda: a.menu.title() == f"Tailscale account: {first['UserProfile']['LoginName']}", timeout=10000
    )
    lab._control_api("POST", "/lab/require-auth?on=1")  # control hands out a login URL, as Tailscale's does
    try:
        a.add.trigger()
        qtbot.waitUntil(lambda: bool(opened), timeout=30000)
    finally:
        lab._control_api("POST", "/lab/require-auth?on=0")
    st = lab.status()
    assert opened[0].startswith(lab.control_url + "/auth/")
    assert (st["BackendState"], st["AuthURL"]) == ("NeedsLogin", opened[0])
    assert said[-1][0] == "Add a Tailscale account" and "log in to it" in said[-1][1]
    assert localapi(lab, "GET", "/localapi/v0/profiles/current")[1]["ID"] == ""  # the new one, not saved yet
    p = prefs(lab)
    assert (p["ControlURL"], p["WantRunning"], p["NetfilterMode"]) == (lab.control_url, True, 2)
    lab._control_api("POST", f"/lab/complete-auth?url={opened[0]}")  # the user logged in in the browser
    lab.wait(lambda: lab.status()["BackendState"] == "Running", 30, "the new account running")
    second = localapi(lab, "GET", "/localapi/v0/profiles/current")[1]
    assert second["ID"] not in ("", first["ID"])
    a.menu.aboutToShow.emit()
    want = f"Tailscale account: {second['UserProfile']['LoginName']}"
    qtbot.waitUntil(lambda: a.menu.title() == want and a.logout.isVisible(), timeout=10000)
    assert len(localapi(lab, "GET", "/localapi/v0/profiles/")[1]) == 2

    try:
        a.logout.trigger()
        box = f.confirm
        assert box.text().startswith(f"Log out of {second['UserProfile']['LoginName']}?")
        next(b for b in box.buttons() if b.text() == "Log out").click()
        lab.wait(lambda: lab.status()["BackendState"] == "NeedsLogin", 30, "tailscaled logged out")
        ui = rig.app.ui  # type: ignore[attr-defined]
        qtbot.waitUntil(lambda: "Tailscale: needs login" in ui.tray.toolTip(), timeout=20000)
        qtbot.waitUntil(lambda: any(t == "Log out of Tailscale" for t, _x in said), timeout=10000)
        # the account is gone from this device; the first one stays
        assert [x["ID"] for x in localapi(lab, "GET", "/localapi/v0/profiles/")[1]] == [first["ID"]]
        qtbot.waitUntil(lambda: not a.logout.isVisible(), timeout=10000)
        # "Tailscale: log in…" after the log out: no URL yet and WantRunning off, so the tray starts tailscaled
        # with this (now empty) account's prefs and asks for the interactive login, as `tailscale up` does.
        # The empty account points at Tailscale's own control server, as after any log out; a self-hosted
        # user names theirs first, which the lab does here (there is no Internet in the lab).
        body = json.dumps({"ControlURL": lab.control_url, "ControlURLSet": True}).encode()
        assert (
            request(choose_socket(lab.nodes["host"].socket), "PATCH", "/localapi/v0/prefs", body).status
            == 200
        )
        opened.clear()
        lab._control_api("POST", "/lab/require-auth?on=1")
        try:
            qtbot.waitUntil(ui.menus.tailscale_login.isVisible, timeout=10000)
            ui.menus.tailscale_login.trigger()
            qtbot.waitUntil(lambda: bool(opened), timeout=30000)
        finally:
            lab._control_api("POST", "/lab/require-auth?on=0")
        assert opened[0].startswith(lab.control_url + "/auth/")
        assert lab.status()["AuthURL"] == opened[0]
    finally:
        lab.ts("host", "switch", first["ID"])
    lab.wait(lambda: lab.status()["BackendState"] == "Running", 30, "back on the first account")
