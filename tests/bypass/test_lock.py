"""The state lock that serialises changing verbs: nobody but root can hold it, and nobody can make the helper
wait for ever. The helper runs as a real root process in a network namespace; the other user is `nobody`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.bypass.conftest import Lab
from tests.bypass.test_attacks import stuck_in_its_batch
from tests.bypass.test_bad_input import Snapshot, last_line, unchanged
from tests.infra.netns import NetNS
from tests.infra.require import require_root, require_tools
from tray_app.core.helper_errors import Problem, explain
from tray_app.core.protocol import Exit
from tray_app.helper import state

NOBODY = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")

# Run as `nobody`: flock the state directory (what used to hang every changing verb), then try the lock file.
HOLD = """
import errno, fcntl, os, sys, time
d = sys.argv[1]
fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
fcntl.flock(fd, fcntl.LOCK_EX)
try:
    os.open(os.path.join(d, "lock"), os.O_RDONLY)
    print("lock file opened", flush=True)
except OSError as e:
    print("lock file:", errno.errorcode[e.errno], flush=True)
time.sleep(600)
"""


@pytest.fixture
def open_lab(netns: NetNS, short_tmp: Path) -> Lab:
    """A lab whose state directory `nobody` can reach (pytest's tmp_path is under a 0700 directory)."""
    require_root()
    require_tools("nft", "ip", "setpriv")
    d = short_tmp / "state"
    d.mkdir(mode=0o755)
    return Lab(netns, d)


def test_another_user_cannot_stall_the_helper(open_lab: Lab) -> None:
    """`nobody` holding the state directory's flock used to hang refresh, enable, disable and restore (and so
    the packages' removal scripts) for as long as it liked. Now each finishes at once, and the real lock file
    cannot even be opened by that user."""
    lab = open_lab
    lab.route("192.168.50.0/24", "dev", "tailscale0")
    lab.ok("enable")
    lock = lab.state_dir / "lock"
    st = lock.lstat()
    assert st.st_uid == 0 and oct(st.st_mode & 0o777) == "0o600"
    holder = subprocess.Popen(
        [*NOBODY, sys.executable, "-c", HOLD, str(lab.state_dir)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "lock file: EACCES"  # holding the directory, not the lock
        for verb in (["refresh"], ["enable", "--mode", "private"], ["restore"], ["disable"]):
            t0 = time.monotonic()
            r = lab.ns.run(
                sys.executable, "-m", "tray_app.helper", *verb, check=False, env=lab.env, timeout=20
            )
            assert r.returncode == 0, (verb, r.stderr)
            assert time.monotonic() - t0 < 15, verb
        assert lab.ours() is None and not lab.state_file.exists()
    finally:
        holder.kill()
        holder.wait()


def test_a_lock_held_too_long_fails_with_exit_7_and_changes_nothing(lab: Lab, tmp_path: Path) -> None:
    lab.ok("enable")
    p, _, go = stuck_in_its_batch(lab, tmp_path)
    before = Snapshot(lab)  # (the stuck enable has added private mode's ip rules already)
    try:
        t0 = time.monotonic()
        r = lab.helper("disable", env={**lab.env, "MTT_LOCK_WAIT": "1"})
        waited = time.monotonic() - t0
        assert r.returncode == Exit.BUSY == 7, r.stderr
        assert "another change of the bypass has been running for 1 s" in last_line(r.stderr)
        assert "nothing was changed: try again" in last_line(r.stderr)
        assert 1 <= waited < 10
        unchanged(lab, before)
        # A caller that waits long enough gets its turn once the holder is done (the wait is bounded, not 0).
        waiter = lab.ns.popen(
            [sys.executable, "-m", "tray_app.helper", "disable"],
            env={**lab.env, "MTT_LOCK_WAIT": "30"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        time.sleep(0.5)
        assert waiter.poll() is None  # still waiting for the lock
        go.touch()
        _, err = waiter.communicate(timeout=30)
        assert waiter.returncode == 0, err
        p.communicate(timeout=30)
        assert p.returncode == 0
    finally:
        go.touch()
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    assert lab.ours() is None and not lab.state_file.exists()


def test_a_stale_lock_file_from_a_killed_helper_does_not_block(lab: Lab, tmp_path: Path) -> None:
    """A helper killed while it holds the lock leaves the file behind; the next run proceeds at once."""
    p, _, _ = stuck_in_its_batch(lab, tmp_path)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    assert (lab.state_dir / "lock").is_file()
    t0 = time.monotonic()
    s = lab.ok("enable", "--mode", "private")
    assert time.monotonic() - t0 < 15
    assert s["state"] == "on" and s["mode"] == "private"


@pytest.mark.parametrize("kind", ["symlink", "fifo", "loose"])
def test_a_planted_lock_file_is_never_followed_or_trusted(lab: Lab, tmp_path: Path, kind: str) -> None:
    """Only root can put anything into the state directory, but whatever is there is not followed, does not
    block the open, and a lock file others could open is not used: exit 6 with the fix, at once."""
    lab.ok("enable")
    before = Snapshot(lab)
    lock = lab.state_dir / "lock"
    lock.unlink()
    victim = tmp_path / "victim"
    if kind == "symlink":
        lock.symlink_to(victim)  # dangling: O_CREAT would create the target if the link were followed
    elif kind == "fifo":
        os.mkfifo(lock, 0o600)
    else:
        lock.touch(mode=0o644)
        lock.chmod(0o644)  # anyone could open it read-only and flock it
    for verb in ("disable", "refresh", "restore"):
        r = lab.helper(verb)
        assert r.returncode == 6, (kind, verb, r.stderr)
        assert f"remove it with `sudo rm -rf {lock}`" in last_line(r.stderr)
        unchanged(lab, before)
    assert not victim.exists()
    lock.unlink()
    assert lab.ok("disable")["state"] == "off"  # the fix it names works


def test_lock_wait_override_only_shortens_and_is_ignored_under_pkexec(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PKEXEC_UID", raising=False)
    monkeypatch.setenv("MTT_LOCK_WAIT", "2.5")
    assert state.lock_wait() == 2.5
    monkeypatch.setenv("MTT_LOCK_WAIT", "100000")
    assert state.lock_wait() == state.LOCK_WAIT
    monkeypatch.setenv("MTT_LOCK_WAIT", "nonsense")
    assert state.lock_wait() == state.LOCK_WAIT
    monkeypatch.setenv("MTT_LOCK_WAIT", "0")
    monkeypatch.setenv("PKEXEC_UID", "1000")
    assert state.lock_wait() == state.LOCK_WAIT


def test_busy_is_explained_to_the_user() -> None:
    said = "bypass-helper: error: another change of the bypass has been running for 60 s and still holds x"
    p = explain(7, said + "\n", verb="disable")
    assert p is not None and p.kind is Problem.BUSY and p.code == 7
    assert p.message.startswith("another change of the bypass has been running for 60 s")
    bare = explain(7, "", verb="refresh")
    assert bare is not None and "try again in a minute" in bare.message
