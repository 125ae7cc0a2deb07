"""Issue 12's tailnet features against the real tailscaled 1.102.5 (docs/tray.md, "Issue 12's tests"): the
same requests as the fake-daemon tests in tests/tray, answered by the real LocalAPI of the lab's host node.

* `route` as a normal user (the operator) reads the real exit-node options and suggestion, sets the exit
  node and local network access in the real prefs, and internet traffic then really leaves through the exit
  node; `route direct` clears it;
* the device list built from the real `/status` is what `tailscale status --json` of the same daemon says;
* the tray itself (its real Monitor and sources, in this process, as root, whom tailscaled allows what it
  allows its operator) picks the exit node from its menu, re-authenticates like `tailscale up
  --force-reauth`, saves a file a peer sent with `tailscale file cp`, and switches accounts like `tailscale
  switch`;
* a non-operator (the product's code run as `nobody`) gets tailscaled's 403s with the fix.

Mullvad is the fake `mullvad` CLI where the tray needs one; the lab's Mullvad is disconnected.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.fake_mullvad import FakeMullvad
from tests.infra.desktop import stop as stop_process
from tests.realts.lab import NODE_NET, RealLab
from tests.replica import topology as t
from tests.tray import conftest as tray_fixtures
from tests.tray.conftest import TrayRig
from tests.tray.daemons import Daemons
from tray_app.core.tailnet import device_label, now_utc, parse_time
from tray_app.core.tailnet_notify import ACTION_SAVE_FILES, TailnetKind
from tray_app.core.tailscale_parse import OPERATOR_HINT
from tray_app.daemons.localapi import choose_socket, request

pytestmark = pytest.mark.real_tailscale
LAB_MULLVAD = "disconnected"  # Tailscale alone: the exit node carries the internet, nothing else

REPO = Path(__file__).resolve().parents[2]
USER = "nobody"  # the desktop user of these tests: made tailscaled's operator where the product writes
EXIT_LAN4 = f"198.18.{NODE_NET['exit']}.2"  # the exit node's own address: what the lab's internet sees

# The tray tests' rig (tests/tray/conftest.py): its real Monitor and sources, the real helper in a private
# namespace, isolated settings; `daemons` below points it at the real tailscaled.
isolated_config = tray_fixtures.isolated_config
lab = tray_fixtures.lab
rig = tray_fixtures.rig
dunst = tray_fixtures.dunst
xembed_host = tray_fixtures.xembed_host


def localapi(lab: RealLab, method: str, path: str, role: str = "host") -> tuple[int, Any]:
    r = request(choose_socket(lab.nodes[role].socket), method, path, None)
    try:
        return r.status, json.loads(r.body) if r.body.strip() else None
    except ValueError:
        return r.status, r.body.decode()


def prefs(lab: RealLab) -> dict[str, Any]:
    """The daemon's own view of its prefs (`tailscale debug prefs`)."""
    return dict(json.loads(lab.ts("host", "debug", "prefs").stdout))


def as_user(
    lab: RealLab, *argv: str, role: str = "host", user: str = USER
) -> subprocess.CompletedProcess[str]:
    """`mullvad-tailscale-tray ARGV` run as `user` against the node's real socket (no Mullvad CLI: the lab's
    Mullvad has none, so the CLI sees Mullvad as not available and plans without it)."""
    return subprocess.run(
        [
            *("setpriv", "--reuid", user, "--regid", "nogroup", "--clear-groups", "--"),
            *(sys.executable, "-m", "tray_app", "--mullvad-cli", "/nonexistent/mullvad"),
            *("--tailscale-socket", lab.nodes[role].socket, *argv),
        ],
        capture_output=True, text=True, timeout=60, cwd=REPO, check=False,
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO), "HOME": "/tmp", "QT_QPA_PLATFORM": "offscreen"},
    )  # fmt: skip


def internet_from(lab: RealLab) -> str:
    """The source address the lab's internet sees for this host's traffic (T5: TCP to a web server)."""
    return lab.probe(lab.probes(("T5_internet4",)))["T5_internet4"]


@pytest.fixture
def operator(real_lab: RealLab) -> Iterator[str]:
    real_lab.ts("host", "set", f"--operator={USER}")
    try:
        yield USER
    finally:
        real_lab.ts("host", "set", "--operator=", "--exit-node=", "--exit-node-allow-lan-access=false")


# -- the route command as the user ---------------------------------------------------------------------------


def test_route_sets_the_real_exit_node_and_traffic_follows(real_lab: RealLab, operator: str) -> None:
    lab = real_lab
    exit_id = lab.status("exit")["Self"]["ID"]  # type: ignore[index]
    shown = as_user(lab, "route", "--json")
    assert shown.returncode == 0, shown.stderr
    js = json.loads(shown.stdout)
    assert (js["route"], js["exit_node"], js["allow_lan"]) == ("direct", None, False)
    assert [(n["name"], n["id"], n["online"], n["mullvad"], n["selected"]) for n in js["exit_nodes"]] == [
        ("exit", exit_id, True, False, False)
    ]
    # "Recommended" is the daemon's own suggestion, the one `tailscale exit-node suggest` prints
    assert js["suggested"] == exit_id
    assert "exit.lab.ts.net" in lab.ts("host", "exit-node", "suggest").stdout
    assert internet_from(lab) == t.HOST_LAN4

    done = as_user(lab, "route", "exit-node", "exit", "--json")
    assert done.returncode == 0, done.stderr
    js = json.loads(done.stdout)
    assert (js["route"], js["exit_node"], js["did"]) == ("exit-node", exit_id, ["set-exit-node"])
    assert prefs(lab)["ExitNodeID"] == exit_id
    assert lab.status()["ExitNodeStatus"]["ID"] == exit_id  # type: ignore[index]
    lab.wait(lambda: "default" in lab.table52(), 30, "the exit node's default route in table 52")
    lab.wait(lambda: internet_from(lab) == EXIT_LAN4, 30, "internet traffic through the exit node")
    text = as_user(lab, "route")
    assert "Internet traffic: Tailscale exit node exit" in text.stdout
    assert " * exit" in text.stdout and "(recommended)" in text.stdout

    lan = as_user(lab, "route", "--allow-lan")
    assert lan.returncode == 0, lan.stderr
    p = prefs(lab)
    assert (p["ExitNodeAllowLANAccess"], p["ExitNodeID"]) == (True, exit_id)  # the exit node stays

    refused = as_user(lab, "route", "exit-node", "peer")
    assert refused.returncode == 3 and "peer does not offer itself as an exit node" in refused.stderr
    assert prefs(lab)["ExitNodeID"] == exit_id  # nothing changed

    back = as_user(lab, "route", "direct")
    assert back.returncode == 0, back.stderr
    assert back.stdout.rstrip().endswith("Internet traffic: directly (no VPN)")
    assert prefs(lab)["ExitNodeID"] == ""
    lab.wait(lambda: "default" not in lab.table52(), 30, "the default route to leave table 52")
    lab.wait(lambda: internet_from(lab) == t.HOST_LAN4, 30, "internet traffic leaving directly again")


def test_route_as_a_non_operator_is_refused_with_the_fix(real_lab: RealLab) -> None:
    failed = as_user(real_lab, "route", "exit-node", "exit")
    assert failed.returncode == 1
    assert failed.stderr.strip() == (
        "failed: Tailscale refused to change the exit node (prefs write access denied): "
        "run `sudo tailscale set --operator=$USER` once, then try again"
    )
    assert prefs(real_lab)["ExitNodeID"] == ""  # the daemon changed nothing


def test_no_suggestion_as_the_real_daemon_answers_it(real_lab: RealLab) -> None:
    """No candidate (the only exit node offline): tailscaled answers 200 with an empty ID, not an error; not
    logged in yet (no home DERP): 500 "no preferred DERP". `route` shows no recommendation either way."""
    lab = real_lab
    lab.set_online("exit", False)
    try:
        lab.wait(lambda: localapi(lab, "GET", "/localapi/v0/suggest-exit-node")[1].get("ID") == "", 30,
                 "no suggestion with the exit node offline")  # fmt: skip
        code, body = localapi(lab, "GET", "/localapi/v0/suggest-exit-node")
        assert (code, body["ID"], body["Name"]) == (200, "", "")  # 1.96 adds "Location": null
        shown = as_user(lab, "route", "--json")
        assert shown.returncode == 0, shown.stderr
        js = json.loads(shown.stdout)
        assert js["suggested"] is None
        assert [(n["name"], n["online"]) for n in js["exit_nodes"]] == [("exit", False)]
        assert "exit · offline" in as_user(lab, "route").stdout
    finally:
        lab.set_online("exit", True)
    spare = lab.spare_node()
    code, body = localapi(lab, "GET", "/localapi/v0/suggest-exit-node", spare)
    assert (code, body) == (500, {"error": "no preferred DERP, try again later"})
    shown = as_user(lab, "route", "--json", role=spare, user="root")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["suggested"] is None


# -- devices --------------------------------------------------------------------------------------------------


def test_device_list_is_what_tailscale_status_says(real_lab: RealLab, qtbot: Any) -> None:
    from tray_app.daemons.tailscale import TailscaleSource
    from tray_app.ui.menu_sections.devices import DevicesSection

    lab = real_lab
    lab.set_online("peer", False)  # control says so; a real control server then sends LastSeen
    src = TailscaleSource(lab.nodes["host"].socket, None)
    seen: list[Any] = []
    src.tailnet_changed.connect(seen.append)
    src.start()
    try:
        qtbot.waitUntil(lambda: bool(seen) and not seen[-1].peer("peer").online, timeout=30000)
        ours = seen[-1]
        theirs = lab.status()
        users = theirs["User"]
        assert isinstance(users, dict)
        expected = {
            p["ID"]: (p["DNSName"].split(".")[0], p["DNSName"].rstrip("."), tuple(p["TailscaleIPs"]), p["OS"],
                      p["Online"], users[str(p["UserID"])]["LoginName"], parse_time(p["LastSeen"]))
            for p in theirs["Peer"].values()  # type: ignore[union-attr]
        }  # fmt: skip
        read = {p.id: (p.name, p.dns_name, p.ips, p.os, p.online, p.owner, p.last_seen) for p in ours.peers}
        assert read == expected
        peer = ours.peer("peer")
        assert peer.last_seen is not None and not peer.mine  # testcontrol gives every node its own user
        # the submenu: online first, each with its OS and owner; the offline one with when it was last seen
        copied: list[str] = []
        section = DevicesSection(copied.append, lambda _id, _on: None)
        section.render(ours, frozenset(), now_utc())
        titles = [a.text() for a in section.menu.actions() if a.isVisible()]
        assert section.menu.title() == "Tailnet devices (2/3 online)"
        assert titles == [
            "exit (linux) · user-2@fake-control.example.net",
            "router (linux) · user-1@fake-control.example.net",
            "peer (linux) · user-3@fake-control.example.net · last seen just now",
        ]
        assert device_label(peer, now_utc()).endswith("last seen just now")
        dev = section.devices[peer.id]
        for item in (dev.copy_name, dev.copy_ipv4, dev.copy_ipv6):
            item.trigger()
        v4, v6 = lab.nodes["peer"].seen4, lab.ip("peer", v6=True)
        assert copied == ["peer.lab.ts.net", v4, v6]  # the addresses this host reaches it at
        assert lab.ts("host", "ip", "-4", "peer").stdout.strip() == v4  # what `tailscale ip PEER` says
    finally:
        src.stop()
        lab.set_online("peer", True)


# -- the tray, against the real daemon ------------------------------------------------------------------------


class RealTailscale:
    """What the tray rig needs of a Tailscale daemon: its socket path."""

    def __init__(self, path: str) -> None:
        self.path = path


@pytest.fixture
def daemons(real_lab: RealLab) -> Iterator[Daemons]:
    """The tray rig's daemons: the fake `mullvad` CLI (connected) and the lab's real tailscaled."""
    d = Path(tempfile.mkdtemp(prefix="mtt-realtray-", dir="/tmp"))
    try:
        yield Daemons(
            FakeMullvad(d / "mullvad", state="connected"), RealTailscale(real_lab.nodes["host"].socket), d
        )  # type: ignore[arg-type]
    finally:
        shutil.rmtree(d, ignore_errors=True)


def start_tray(rig: TrayRig, qtbot: Any, peers: int = 3) -> Any:
    rig.app.start(show_status=False)  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: rig.monitor.is_ready, timeout=15000)  # type: ignore[attr-defined]
    f = rig.app.features  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: len(f.tailnet.peers) == peers, timeout=15000)
    return f


def test_tray_route_menu_sets_the_real_exit_node(real_lab: RealLab, rig: TrayRig, qtbot: Any) -> None:
    lab = real_lab
    exit_id = lab.status("exit")["Self"]["ID"]  # type: ignore[index]
    f = start_tray(rig, qtbot)
    r = f.route
    assert r.menu.title().startswith("Internet: Mullvad")  # the fake Mullvad is connected
    node = next(a for a in r.menu.actions() if a.text() == "exit")
    r.menu.aboutToShow.emit()  # opening it asks tailscaled for its suggestion
    qtbot.waitUntil(r.recommended.isVisible, timeout=10000)
    assert r.recommended.text() == "Recommended: exit"
    assert f.devices.menu.title() == "Tailnet devices (3/3 online)"
    try:
        with qtbot.waitSignal(rig.app.controller.message, timeout=30000) as said:  # type: ignore[attr-defined]
            node.trigger()
        assert "Mullvad is disconnected first" in said.args[1]
        assert rig.daemons.mullvad_state() == "disconnected"
        assert prefs(lab)["ExitNodeID"] == exit_id
        qtbot.waitUntil(lambda: r.menu.title() == "Internet: Tailscale exit node exit", timeout=10000)
        assert node.isChecked() and not r.mullvad.isChecked()
        r.allow_lan.trigger()
        lab.wait(
            lambda: prefs(lab)["ExitNodeAllowLANAccess"] is True, 10, "local network access in the prefs"
        )
        qtbot.waitUntil(r.allow_lan.isChecked, timeout=10000)  # the tray follows the bus's Prefs
        with qtbot.waitSignal(rig.app.controller.message, timeout=30000) as said:  # type: ignore[attr-defined]
            r.mullvad.trigger()
        assert "exit node is cleared" in said.args[1]
        assert prefs(lab)["ExitNodeID"] == ""
        qtbot.waitUntil(lambda: rig.daemons.mullvad_state() == "connected", timeout=10000)
        qtbot.waitUntil(lambda: r.mullvad.isChecked() and not node.isChecked(), timeout=10000)
        # the exit node goes offline: the daemon suggests none (200, empty ID), and "Recommended" goes
        lab.set_online("exit", False)
        qtbot.waitUntil(lambda: node.text() == "exit · offline", timeout=20000)
        r.menu.aboutToShow.emit()
        qtbot.waitUntil(lambda: not r.recommended.isVisible(), timeout=10000)
    finally:
        lab.set_online("exit", True)
        lab.ts("host", "set", "--exit-node=", "--exit-node-allow-lan-access=false")


def test_reauthenticate_does_what_tailscale_up_force_reauth_does(
    real_lab: RealLab, rig: TrayRig, dunst: Any, xembed_host: None, qtbot: Any
) -> None:
    """Both ask control for a new login: tailscaled stays Running, its status gets the AuthURL control
    handed out, and the user is sent there (the CLI prints it; the tray opens it from the key-expiry
    notification's action, clicked through dunst)."""
    lab = real_lab
    node = lab.nodes["host"]
    cli: subprocess.Popen[str] | None = None
    lab._control_api("POST", "/lab/require-auth?on=1")
    try:
        cli = lab.namespaces["host"].popen(
            [node.build.tailscale, f"--socket={node.socket}", "up", "--force-reauth", *node.up_args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        assert cli.stdout is not None
        out = cli.stdout
        lines: list[str] = []  # read by a thread: a CLI that prints nothing must not hang the suite

        def read() -> None:
            for line in out:
                lines.append(line.strip())

        threading.Thread(target=read, daemon=True).start()
        lab.wait(lambda: any("/auth/" in line for line in lines), 30, "`tailscale up --force-reauth`'s URL")
        cli_url = next(line for line in lines if "/auth/" in line)
        assert "To authenticate, visit:" in lines and "/auth/" in cli_url, lines
        st = lab.status()
        assert (st["BackendState"], st["AuthURL"]) == ("Running", cli_url)
        lab._control_api("POST", f"/lab/complete-auth?url={cli_url}")
        assert cli.wait(60) == 0
        lab.wait(lambda: "Success." in lines, 10, "`tailscale up --force-reauth` to say Success")
        assert lab.status()["AuthURL"] == ""

        # dunst's action 0 is the newest notification's: no other one (the tailnet-cut-off suggestion, the
        # no-tray notice) may come in between
        rig.daemons.mullvad.set_state("disconnected")
        f = start_tray(rig, qtbot)
        opened: list[str] = []
        f.open_url = opened.append
        sent: list[tuple[str, str]] = []
        rig.app.notifier.sent.connect(  # type: ignore[attr-defined]
            lambda n: sent.append((n.summary, n.body)) if "key" in n.summary else None
        )
        f.kind_actions[TailnetKind.KEY_EXPIRY].trigger()
        lab._control_api("POST", "/lab/key-expiry?host=thishost&in=73h")  # control: the key expires soon
        qtbot.waitUntil(lambda: bool(sent), timeout=20000)
        assert sent[0][0] == "Tailscale key expiring" and "expires in 3 days" in sent[0][1]
        qtbot.wait(300)
        subprocess.run(["dunstctl", "action", "0"], check=True)  # "Re-authenticate", through dunst
        qtbot.waitUntil(lambda: bool(opened), timeout=20000)
        st = lab.status()
        assert (st["BackendState"], st["AuthURL"]) == ("Running", opened[0])
        assert opened[0].startswith(lab.control_url + "/auth/") and opened[0] != cli_url
        lab._control_api("POST", f"/lab/complete-auth?url={opened[0]}")
        lab.wait(lambda: lab.status()["AuthURL"] == "", 30, "the re-authentication to complete")
        assert lab.status()["BackendState"] == "Running"
    finally:
        stop_process(cli)
        lab._control_api("POST", "/lab/require-auth?on=0")
        lab._control_api("POST", "/lab/key-expiry?host=thishost&in=4320h")  # renewed, as control does


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))  # QStandardPaths' Downloads: $HOME/Downloads
    return tmp_path


def test_taildrop_from_a_peer_is_announced_and_saved(
    real_lab: RealLab, rig: TrayRig, home: Path, qtbot: Any
) -> None:
    lab = real_lab
    f = start_tray(rig, qtbot)
    sent: list[tuple[str, str]] = []
    rig.app.notifier.sent.connect(  # type: ignore[attr-defined]
        lambda n: sent.append((n.summary, n.body)) if n.summary.startswith("Taildrop") else None
    )  # (not the "tailnet cut off" suggestion: the fake Mullvad is connected, the bypass off)
    opened: list[str] = []
    f.open_folder = opened.append
    f.kind_actions[TailnetKind.TAILDROP].trigger()
    src = lab.workdir / "report.txt"
    src.write_text("sent with tailscale file cp\n")
    lab.ts("peer", "file", "cp", str(src), f"{lab.ip('host')}:")
    qtbot.waitUntil(lambda: bool(sent), timeout=20000)  # the bus's FilesWaiting, then the listing
    assert sent[0] == ("Taildrop: file received", "report.txt is waiting. Save it to your Downloads folder?")
    f.on_action(ACTION_SAVE_FILES)
    qtbot.waitUntil(lambda: bool(opened), timeout=20000)
    assert (home / "Downloads" / "report.txt").read_text() == "sent with tailscale file cp\n"
    assert opened == [f"{home}/Downloads"]
    # taken out of tailscaled's waiting area (an empty list is `null` in its JSON)
    assert localapi(lab, "GET", "/localapi/v0/files/") == (200, None)


def test_a_non_operator_is_refused_taildrop_and_accounts_with_the_fix(real_lab: RealLab) -> None:
    lab = real_lab
    src = lab.workdir / "notes.txt"
    src.write_text("for the operator only\n")
    lab.ts("peer", "file", "cp", str(src), f"{lab.ip('host')}:")
    lab.wait(lambda: localapi(lab, "GET", "/localapi/v0/files/")[1] is not None, 20, "the file waiting")
    downloads = lab.workdir / "Downloads-of-nobody"  # the lab's directory: traversable by the user
    downloads.mkdir()
    shutil.chown(downloads, USER)
    try:
        r = subprocess.run(
            [
                *("setpriv", "--reuid", USER, "--regid", "nogroup", "--clear-groups", "--"),
                *(sys.executable, "-m", "tests.realts.tailnet_child", lab.nodes["host"].socket),
                *(str(downloads), "notes.txt"),
            ],
            capture_output=True, text=True, timeout=60, cwd=REPO, check=False,
            env={"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO), "HOME": "/tmp", "QT_QPA_PLATFORM": "offscreen"},
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        failures = dict(json.loads(r.stdout.strip().splitlines()[-1])["failures"])
        assert failures == {
            "list the Taildrop files": "Tailscale refused to list the Taildrop files (file access denied): "
            + OPERATOR_HINT,
            "list your accounts": f"Tailscale refused to list your accounts (profiles access denied): {OPERATOR_HINT}",
            "save": f"Tailscale refused to fetch a Taildrop file (file access denied): {OPERATOR_HINT}",
        }
        assert list(downloads.iterdir()) == []  # nothing half-written left behind
        _code, waiting = localapi(lab, "GET", "/localapi/v0/files/")
        assert [f["Name"] for f in waiting] == ["notes.txt"]  # still there for the operator
    finally:
        request(choose_socket(lab.nodes["host"].socket), "DELETE", "/localapi/v0/files/notes.txt", None)


# -- accounts (last: it adds a second profile to this host) ---------------------------------------------------


def test_accounts_switch_like_tailscale_switch(real_lab: RealLab, rig: TrayRig, qtbot: Any) -> None:
    lab = real_lab
    node = lab.nodes["host"]
    first = localapi(lab, "GET", "/localapi/v0/profiles/current")[1]
    # A second account: `tailscale login` makes a new profile (testcontrol: a new user) and switches to it.
    lab.ts("host", "login", f"--login-server={lab.control_url}", "--hostname=thishost-work",
           "--accept-dns=false", "--timeout=45s", timeout=60)  # fmt: skip
    second = localapi(lab, "GET", "/localapi/v0/profiles/current")[1]
    try:
        assert second["ID"] != first["ID"]
        f = start_tray(rig, qtbot, peers=4)  # the first account's node is a peer of the second
        a = f.accounts
        a.menu.aboutToShow.emit()
        want = f"Tailscale account: {second['UserProfile']['LoginName']}"
        qtbot.waitUntil(lambda: a.menu.title() == want, timeout=10000)
        items = {x.text(): x for x in a.list.actions.values()}  # the accounts (then Add…, Log out…)
        listed = lab.ts("host", "switch", "--list").stdout.splitlines()[
            1:
        ]  # ID, tailnet, account (* current)
        assert sorted(items) == sorted(
            f"{acct.rstrip('*')} ({net})" for _id, net, acct in (line.split() for line in listed)
        )
        label = f"{first['UserProfile']['LoginName']} ({first['NetworkProfile']['DomainName']})"
        assert not items[label].isChecked()
        items[label].trigger()  # POST /localapi/v0/profiles/<ID>, as `tailscale switch` does
        qtbot.waitUntil(lambda: a.menu.title() == f"Tailscale account: {first['UserProfile']['LoginName']}",
                        timeout=20000)  # fmt: skip
        assert localapi(lab, "GET", "/localapi/v0/profiles/current")[1]["ID"] == first["ID"]
        assert any(line.startswith(first["ID"]) and line.endswith("*") for line in
                   lab.ts("host", "switch", "--list").stdout.splitlines())  # fmt: skip
        lab.wait(
            lambda: lab.status()["BackendState"] == "Running", 30, "tailscaled running on the first account"
        )
        assert lab.status()["Self"]["HostName"] == "thishost"  # type: ignore[index]
        # and the other way round: `tailscale switch` in a terminal, the menu shows it when next opened
        lab.ts("host", "switch", second["ID"])
        a.menu.aboutToShow.emit()
        qtbot.waitUntil(lambda: a.menu.title() == want, timeout=20000)
    finally:
        current = localapi(lab, "GET", "/localapi/v0/profiles/current")[1]
        if current["ID"] != first["ID"]:
            lab.ts("host", "switch", first["ID"])
        request(choose_socket(node.socket), "DELETE", f"/localapi/v0/profiles/{second['ID']}", None)
