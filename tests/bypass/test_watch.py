"""The reconciler (`bypass-helper watch`) in a private namespace, with the unit's privileges (CAP_NET_ADMIN
only, no new privileges): it restores, follows table 52, repairs our table, notices `enable`/`disable` run
elsewhere, publishes the status for unprivileged readers, ignores forged netlink messages and stops cleanly.
Traffic proofs and timings under a 10 ms ping are in tests/replica/test_reconciler_traffic.py."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.bypass.conftest import ROOT, Lab
from tests.bypass.watcher import Watcher, wait_for
from tests.infra.require import require_tools


@pytest.fixture
def run_dir(short_tmp: Path) -> Path:
    d = short_tmp / "run"
    d.mkdir(mode=0o755)
    return d


@pytest.fixture
def watcher(lab: Lab, run_dir: Path) -> Iterator[Watcher]:
    require_tools("setpriv")
    lab.route("100.64.0.0/10", "dev", "tailscale0")
    lab.ok("enable")
    w = Watcher(lab.ns, lab.env, run_dir)
    try:
        w.ready()
        yield w
    finally:
        w.kill()


def _set4(lab: Lab) -> str:
    r = lab.nft("list", "set", "inet", "mullvad-tailscale", "tailnet4", check=False)
    return r.stdout if r.returncode == 0 else ""


def _state(w: Watcher) -> Any:
    p = w.published()
    return p and p.get("state")


def test_restores_at_start_and_publishes_a_world_readable_status(lab: Lab, run_dir: Path) -> None:
    require_tools("setpriv")
    lab.route("192.168.50.0/24", "dev", "tailscale0")
    lab.ok("enable", "--mode", "private")
    lab.nft("flush", "ruleset")  # what a boot (or an nftables.service start) leaves
    lab.ns.run("ip", "rule", "del", "pref", "5200")
    w = Watcher(lab.ns, lab.env, run_dir)
    try:
        w.ready()
        assert "192.168.50.0/24" in _set4(lab)
        assert "pref 5200" in lab.ip_rules() or "5200:" in lab.ip_rules()
        pub = w.published()
        assert pub is not None and pub["state"] == "on" and pub["mode"] == "private", pub
        assert pub["private_rules"] is True and pub["reconciler"]["pid"] == w.proc.pid
        st = w.status_path.stat()
        assert st.st_uid == 0 and stat.S_IMODE(st.st_mode) == 0o644
        assert stat.S_IMODE(run_dir.stat().st_mode) == 0o755
        # the same facts as the `status` verb (which compares through the scratch namespace)
        verb = lab.status()
        for key in ("state", "mode", "options", "tailnet4", "tailnet6", "matches_expected", "private_rules"):
            assert pub[key] == verb[key], key
    finally:
        assert w.stop() == 0, w.stderr
    assert lab.ours() is not None  # stopping never removes the table
    assert not w.status_path.exists()  # readers fall back to asking the helper


def test_sets_follow_table_52(lab: Lab, watcher: Watcher) -> None:
    lab.route("192.168.60.0/24", "dev", "tailscale0")
    wait_for("the new subnet route in tailnet4", lambda: "192.168.60.0/24" in _set4(lab))
    lab.ns.run("ip", "route", "del", "192.168.60.0/24", "table", "52")
    wait_for("the withdrawn route gone from tailnet4", lambda: "192.168.60.0/24" not in _set4(lab))
    # tailscale0 going away drops its IPv4 routes without any RTM_DELROUTE: the link event must do it
    lab.route("10.9.0.0/16", "dev", "tailscale0")
    wait_for("10.9.0.0/16 in tailnet4", lambda: "10.9.0.0/16" in _set4(lab))
    lab.ns.run("ip", "link", "del", "tailscale0")
    wait_for("the dead link's route gone", lambda: "10.9.0.0/16" not in _set4(lab))
    wait_for(
        "published sets follow", lambda: (watcher.published() or {}).get("tailnet4") == ["100.64.0.0/10"]
    )
    assert _state(watcher) == "on"


def test_lan_sets_follow_the_main_table(lab: Lab, watcher: Watcher) -> None:
    """Every mode names the LAN in its tailnet ingress (lan4/lan6): a LAN route added, a LAN's link going
    away (IPv4 drops its routes without RTM_DELROUTE) and a public route pushed onto it (TunnelVision) are
    followed; only private ranges ever enter."""

    def lan4() -> str:
        return lab.nft("list", "set", "inet", "mullvad-tailscale", "lan4").stdout

    lab.ns.run("ip", "tuntap", "add", "lan1", "mode", "tun")
    lab.ns.run("ip", "link", "set", "lan1", "up")
    lab.ns.run("ip", "addr", "add", "10.77.0.1/24", "dev", "lan1")
    wait_for("the new LAN in lan4", lambda: "10.77.0.0/24" in lan4())
    lab.ns.run("ip", "route", "add", "9.9.9.0/24", "via", "10.77.0.254", "dev", "lan1")
    lab.ns.run("ip", "route", "add", "10.88.0.0/16", "via", "10.77.0.254", "dev", "lan1")
    wait_for("a routed private LAN in lan4", lambda: "10.88.0.0/16" in lan4())
    assert "9.9.9" not in lan4()
    lab.ns.run("ip", "link", "del", "lan1")
    wait_for("the dead link's LAN gone", lambda: "10." not in lan4())
    wait_for("the published status on", lambda: _state(watcher) == "on")


@pytest.mark.parametrize(
    "damage",
    [
        ("flush", "ruleset"),
        ("delete", "table", "inet", "mullvad-tailscale"),
        ("add", "rule", "inet", "mullvad-tailscale", "output", "accept"),
        ("flush", "set", "inet", "mullvad-tailscale", "tailnet4"),
    ],
    ids=["flush-ruleset", "delete-table", "hand-edited-rule", "flushed-set"],
)
def test_damage_behind_its_back_is_repaired_and_reported(
    lab: Lab, watcher: Watcher, damage: tuple[str, ...]
) -> None:
    good = lab.ours()
    lab.nft(*damage)
    wait_for("our table back as it was", lambda: lab.ours() == good)
    wait_for("the repair published", lambda: (watcher.published() or {})["reconciler"]["repairs"] >= 1)
    pub = watcher.published()
    assert pub is not None and pub["state"] == "on"
    if damage[0] != "flush" or damage[1] == "ruleset":
        assert pub["reconciler"]["last_repair"]["reason"]


def test_enable_and_disable_elsewhere_are_followed_not_undone(lab: Lab, watcher: Watcher) -> None:
    lab.ok("disable")
    wait_for("published off", lambda: _state(watcher) == "off")
    lab.route("172.20.0.0/16", "dev", "tailscale0")  # idle while off: nothing re-applies
    lab.nft("list", "tables")
    assert lab.ours() is None
    lab.ok("enable", "--mode", "private", "--containers")
    wait_for(
        "published private",
        lambda: (watcher.published() or {}).get("mode") == "private" and _state(watcher) == "on",
    )
    assert "172.20.0.0/16" in _set4(lab)
    lab.ns.run("ip", "rule", "del", "pref", "5200")  # e.g. systemd-networkd cleaning foreign rules
    wait_for("private mode's ip rule back", lambda: "5200:" in lab.ns.run("ip", "rule").stdout)
    assert watcher.stop() == 0
    assert watcher.summary is not None


def _forge(lab: Lab, ports: dict[int, int], count: int, *, user: bool) -> dict[int, int]:
    """Send rtnetlink and nf_tables lookalikes straight to the reconciler's sockets, as nobody or as a root
    process; returns how many the kernel let through per protocol."""
    code = (
        "import socket, struct, sys\n"
        "ports = {0: int(sys.argv[2]), 12: int(sys.argv[3])}\n"
        "route = struct.pack('=IHHII', 28, 24, 0, 1, 0) + bytes([2, 24, 0, 0, 52, 4, 0, 1]) + bytes(4)\n"
        "name = b'mullvad-tailscale\\0'\n"
        "attr = struct.pack('=HH', 4 + len(name), 1) + name + bytes(-len(name) % 4)\n"
        "nft = struct.pack('=IHHII', 20 + len(attr), (10 << 8) | 2, 0, 1, 0) + bytes([1, 0, 0, 0]) + attr\n"
        "for proto, msg in ((0, route), (12, nft)):\n"
        "    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, proto)\n"
        "    sent = 0\n"
        "    for _ in range(int(sys.argv[1])):\n"
        "        try:\n"
        "            s.sendto(msg, (ports[proto], 0))\n"
        "            sent += 1\n"
        "        except PermissionError:\n"
        "            pass\n"
        "    print(proto, sent)\n"
    )
    nobody = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups") if user else ()
    r = lab.ns.run(
        *nobody, "/usr/bin/python3", "-c", code, str(count), str(ports[0]), str(ports[12]), check=False
    )
    assert r.returncode == 0, r.stderr
    return {int(a): int(b) for a, b in (ln.split() for ln in r.stdout.splitlines())}


def test_forged_netlink_messages_are_ignored(lab: Lab, watcher: Watcher) -> None:
    """A user cannot even send to the reconciler's netlink sockets (the kernel wants CAP_NET_ADMIN for a
    unicast); a process that can (another root daemon) is still never listened to: only the kernel (port 0)."""
    ports = watcher.socket_ports()
    assert set(ports) == {0, 12}, ports  # NETLINK_ROUTE and NETLINK_NETFILTER
    assert _forge(lab, ports, 300, user=True) == {0: 0, 12: 0}
    sent = _forge(lab, ports, 300, user=False)
    assert sent == {0: 300, 12: 300}
    # A real change after them: once it is published, everything queued before it has been read.
    lab.route("10.77.0.0/16", "dev", "tailscale0")
    wait_for("the real route published", lambda: "10.77.0.0/16" in (watcher.published() or {})["tailnet4"])
    assert watcher.stop() == 0
    assert watcher.summary is not None, watcher.stderr
    _events, checks, applies, _repairs, forged = watcher.summary
    assert forged == 600, watcher.summary  # each one arrived, and was dropped unread
    assert applies == 2 and checks <= 5, watcher.summary  # the start-up restore and the real route only


def test_idle_while_off(lab: Lab, run_dir: Path) -> None:
    require_tools("setpriv")
    w = Watcher(lab.ns, lab.env, run_dir)
    try:
        w.ready()
        assert (w.published() or {}).get("state") == "off"
        for i in range(50):
            lab.route(f"10.{i}.0.0/16", "dev", "tailscale0")
        lab.ns.run("ip", "rule", "add", "pref", "7777", "lookup", "main")
        lab.nft("add", "table", "inet", "unrelated")
    finally:
        assert w.stop() == 0, w.stderr
    assert w.summary is not None and w.summary[1] == 1 and w.summary[2] == 0, w.summary  # the start only


def test_the_run_directory_must_be_roots_alone(lab: Lab, run_dir: Path) -> None:
    require_tools("setpriv")
    os.chmod(run_dir, 0o777)  # noqa: S103 - the attack: a directory others could write into
    w = Watcher(lab.ns, lab.env, run_dir)
    assert w.proc.wait(30) == 6
    w.kill()
    err = w.stderr
    assert "must be owned by root and writable only by root" in err
    assert json.dumps(err).count("\\n") == 1  # one line, with the fix


def test_users_read_the_published_status_without_pkexec(lab: Lab, watcher: Watcher, short_tmp: Path) -> None:
    """`bypass status` as nobody, with no pkexec reachable at all: the answer is the reconciler's file; once
    the reconciler is gone the same command falls back to the helper (and here fails: no pkexec)."""
    code = short_tmp / "code"  # a copy nobody can read (the checkout may sit in root's home)
    shutil.copytree(ROOT / "tray_app", code / "tray_app", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(["chmod", "-R", "a+rX", str(code)], check=True)
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(code),
        "HOME": str(short_tmp),
        "MTT_STATUS_FILE": str(watcher.status_path),
    }
    nobody = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/env", "-i")
    argv = [*nobody, *(f"{k}={v}" for k, v in env.items()), "/usr/bin/python3", "-m", "tray_app", "bypass"]
    r = lab.ns.run(*argv, "status", "--json", check=False)
    assert r.returncode == 0, r.stderr
    pub = json.loads(r.stdout)
    assert pub["state"] == "on" and pub["reconciler"]["pid"] == watcher.proc.pid
    r = lab.ns.run(*argv, "status", check=False)
    assert r.stdout.splitlines()[0] == "bypass: on (direct mode)", r.stdout + r.stderr
    assert watcher.stop() == 0
    r = lab.ns.run(*argv, "status", check=False)
    # no file: it asks the helper through pkexec, which (installed or not) cannot answer nobody here
    assert r.returncode == 127 and r.stdout == "", r.stdout + r.stderr


def test_a_stale_status_file_is_not_revived_by_a_reused_pid(lab: Lab, watcher: Watcher) -> None:
    """A reconciler killed outside systemd leaves its file behind (root's, saying "on"). Any user can start
    processes until one gets the dead reconciler's pid: the readers must not then believe the file. They
    trust it only while its pid is a root process with the start time the reconciler wrote."""
    from tray_app.rootside import published

    path = str(watcher.status_path)
    wait_for("published", lambda: _state(watcher) == "on")
    assert published.read_text(path) is not None  # the live reconciler's file
    real = json.loads(Path(path).read_text())
    assert isinstance(real["reconciler"]["start_ticks"], int)
    assert watcher.stop() == 0
    stale = watcher.status_path.with_name("stale.json")

    def plant(pid: int, ticks: object) -> str:
        stale.write_text(
            json.dumps({**real, "reconciler": {**real["reconciler"], "pid": pid, "start_ticks": ticks}})
        )
        return str(stale)

    def ticks(pid: int) -> int:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])

    user = subprocess.Popen(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "sleep", "30"])
    late = subprocess.Popen(["sleep", "30"])
    try:
        time.sleep(0.2)  # both have exec'd
        assert published.read_text(plant(user.pid, ticks(user.pid))) is None  # a user's process
        assert published.read_text(plant(late.pid, real["reconciler"]["start_ticks"])) is None  # a reused pid
        assert published.read_text(plant(late.pid, None)) is None  # a file that names no start time
        assert published.read_text(plant(late.pid, ticks(late.pid))) is not None  # the control: it can pass
    finally:
        for p in (user, late):
            p.kill()
            p.wait()


def test_a_full_run_directory_neither_stops_the_reconciler_nor_leaves_a_stale_status(
    lab: Lab, run_dir: Path
) -> None:
    """/run is one tmpfs, and where /run/lock (1777) is part of it any user may write there: a user who fills it makes the
    status file unwritable. The reconciler used to die on the ENOSPC (under systemd: a restart loop, then the
    start limit, and nobody follows table 52 any more). Now it keeps reconciling, withdraws the file it can no
    longer renew (never a stale "on" after a `disable`: readers ask the helper), and publishes again once
    there is room."""
    require_tools("setpriv")
    lab.route("100.64.0.0/10", "dev", "tailscale0")
    lab.ok("enable")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k,mode=0755", "tmpfs", str(run_dir)], check=True)
    w: Watcher | None = None
    try:
        w = Watcher(lab.ns, lab.env, run_dir)
        w.ready()
        wait_for("published on", lambda: _state(w) == "on")
        subprocess.run(["dd", "if=/dev/zero", f"of={run_dir}/fill", "bs=1k", "count=64"], capture_output=True)
        lab.ok("disable")
        wait_for("the stale 'on' withdrawn", lambda: not w.status_path.exists())
        assert w.proc.poll() is None, w.stderr
        (run_dir / "fill").unlink()
        lab.ok("enable")
        wait_for("published on again", lambda: _state(w) == "on")
        lab.route("10.77.0.0/16", "dev", "tailscale0")  # and it still follows table 52
        wait_for("route followed", lambda: "10.77.0.0/16" in _set4(lab))
        assert w.stop() == 0, w.stderr
    finally:
        if w is not None:
            w.kill()
        subprocess.run(["umount", str(run_dir)], check=False)


def test_a_batch_it_could_not_lock_is_retried_not_dropped(lab: Lab, run_dir: Path) -> None:
    """Another run holding the state lock past the wait (stuck, or frozen through its cgroup by the user who
    started it) used to cost the reconciler that batch of events for good: a route tailscaled added meanwhile
    stayed out of the sets until some later event. Now the batch waits and is retried."""

    require_tools("setpriv")
    lab.route("100.64.0.0/10", "dev", "tailscale0")
    lab.ok("enable")
    w = Watcher(lab.ns, {**lab.env, "MTT_LOCK_WAIT": "0.5"}, run_dir)
    try:
        w.ready()
        fd = os.open(lab.state_dir / "lock", os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # the stuck run
            lab.route("10.77.0.0/16", "dev", "tailscale0")
            time.sleep(1.5)  # the reconciler has given up waiting at least once
            assert "10.77.0.0/16" not in _set4(lab)
        finally:
            os.close(fd)
        wait_for("the route followed once the lock is free", lambda: "10.77.0.0/16" in _set4(lab))
        assert w.stop() == 0, w.stderr
    finally:
        w.kill()
