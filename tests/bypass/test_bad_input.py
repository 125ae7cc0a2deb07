"""Everything a caller or a broken system can throw at the helper: one clear line, a distinct exit code, and
no change to the kernel or the saved state."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.bypass.conftest import Lab
from tests.infra.require import require_tools


class Snapshot:
    """Everything the helper could change."""

    def __init__(self, lab: Lab) -> None:
        self.table = lab.ours()
        self.rules = lab.ip_rules()
        self.state = lab.state_file.read_bytes() if lab.state_file.is_file() else None


def unchanged(lab: Lab, before: Snapshot) -> None:
    after = Snapshot(lab)
    assert after.table == before.table
    assert after.rules == before.rules
    assert after.state == before.state


def last_line(stderr: str) -> str:
    return stderr.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["frobnicate"], "unknown verb or argument 'frobnicate'"),
        (["enable", "1.2.3.4"], "refused argument '1.2.3.4': the helper takes no addresses"),
        (["enable", "100.64.0.0/10"], "takes no addresses"),
        (["enable", "fd7a:115c:a1e0::1"], "takes no addresses"),
        (["enable", ";rm -rf /"], "runs no shell"),
        (["enable", "$(reboot)"], "runs no shell"),
        (["enable", "--mode", "evil"], "unknown mode 'evil'"),
        (["enable", "--mode=evil"], "unknown mode in '--mode=evil'"),
        (["enable", "--mode"], "expected one argument"),
        (["enable", "--mod", "direct"], "unknown option '--mod'"),
        (["enable", "--state-dir=/tmp"], "unknown option"),
        (["status", "--containers"], "unrecognized arguments"),
        (["disable", "now"], "unknown verb or argument 'now'"),
        (["enable", "direct"], "unrecognized arguments: direct"),
        (["enable", "--containers"] * 4, "too many arguments"),
        (["enable", "\x1b[2J"], "'?[2J'"),  # control characters are never echoed
        ([], "usage: bypass-helper VERB"),
    ],
)
def test_bad_argv_is_refused_with_exit_2(lab: Lab, argv: list[str], says: str) -> None:
    lab.ok("enable", "--mode", "private")
    before = Snapshot(lab)
    r = lab.helper(*argv)
    assert r.returncode == 2, r.stderr
    assert says in r.stderr
    assert r.stdout == ""
    assert "Traceback" not in r.stderr and "\x1b" not in r.stderr
    unchanged(lab, before)


def test_help_and_version(lab: Lab) -> None:
    r = lab.helper("--help")
    assert r.returncode == 0 and "enable [--mode direct|private]" in r.stdout
    r = lab.helper("version")
    assert r.returncode == 0 and r.stdout == "1\n"


def test_not_root(lab: Lab) -> None:
    require_tools("setpriv")
    lab.ok("enable")
    before = Snapshot(lab)
    for verb in ("status", "enable", "disable", "refresh", "restore"):
        r = lab.ns.run(
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            sys.executable,
            "-m",
            "tray_app.helper",
            verb,
            check=False,
            env=lab.env,
        )
        assert r.returncode == 3, (verb, r.stderr)
        assert "must run as root" in r.stderr and "pkexec" in r.stderr
    # the protocol version needs no privileges
    r = lab.ns.run(
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        sys.executable,
        "-m",
        "tray_app.helper",
        "version",
        check=False,
        env=lab.env,
    )
    assert r.returncode == 0 and r.stdout == "1\n"
    unchanged(lab, before)


def _in_mount_ns(lab: Lab, setup: str, *argv: str) -> object:
    """Run the helper in a private mount namespace prepared by `setup` (shell, test-side only)."""
    script = f'set -e; {setup}; exec {sys.executable} -m tray_app.helper "$@"'
    return lab.ns.run("unshare", "-m", "sh", "-c", script, "sh", *argv, check=False, env=lab.env)


def test_nft_missing(lab: Lab, tmp_path: Path) -> None:
    require_tools("unshare")
    lab.ok("enable")
    before = Snapshot(lab)
    stub = tmp_path / "not-nft"
    stub.write_text("not a program\n")
    stub.chmod(0o644)  # present but not executable: as good as missing
    hide = f"mount --bind {stub} /usr/sbin/nft"
    for verb in (["enable", "--mode", "private"], ["disable"], ["refresh"], ["status"]):
        r = _in_mount_ns(lab, hide, *verb)
        assert r.returncode == 4, (verb, r.stderr)  # type: ignore[attr-defined]
        assert "`nft` was not found" in last_line(r.stderr) and "install nftables" in r.stderr  # type: ignore[attr-defined]
        unchanged(lab, before)


def _rejecting_nft(tmp_path: Path) -> tuple[Path, Path]:
    """A wrapper around the real nft that appends a rule the kernel refuses (jump to a missing chain) to every
    batch, and records the environment it was given."""
    real = tmp_path / "nft-real"
    shutil.copy2("/usr/sbin/nft", real)
    envlog = tmp_path / "nft-env"
    wrapper = tmp_path / "nft-wrapper"
    wrapper.write_text(
        "#!/bin/sh\n"
        f"env > {envlog}\n"
        'if [ "$1" = "-f" ]; then\n'
        f"  {{ cat; echo 'add rule inet mullvad-tailscale output jump nosuchchain'; }} | {real} \"$@\"\n"
        "  exit $?\n"
        "fi\n"
        f'exec {real} "$@"\n'
    )
    wrapper.chmod(0o755)
    return wrapper, envlog


def test_nft_rejecting_the_batch_changes_nothing(lab: Lab, tmp_path: Path) -> None:
    require_tools("unshare")
    lab.route("192.168.50.0/24", "dev", "tailscale0")
    lab.ok("enable", "--containers")
    before = Snapshot(lab)
    wrapper, envlog = _rejecting_nft(tmp_path)
    swap = f"mount --bind {wrapper} /usr/sbin/nft"
    for verb in (["enable", "--mode", "private"], ["enable", "--exit-via-mullvad"], ["refresh"]):
        r = _in_mount_ns(lab, swap, *verb)
        assert r.returncode == 5, (verb, r.stderr)  # type: ignore[attr-defined]
        err = r.stderr  # type: ignore[attr-defined]
        assert last_line(err).startswith(
            "bypass-helper: error: nft rejected the bypass rules, nothing was changed (Error:"
        )
        assert "nosuchchain" in err  # nft's own words are passed on
        unchanged(lab, before)  # old table intact, private rules rolled back, saved state kept
    assert lab.status()["state"] == "on"
    # status still answers when its scratch-namespace reference cannot be loaded: it recognises the mode from
    # the rule text, checks the sets, and says that the rules were not compared exactly
    r = _in_mount_ns(lab, swap, "status")
    assert r.returncode == 0, r.stderr  # type: ignore[attr-defined]
    s = json.loads(r.stdout)  # type: ignore[attr-defined]
    assert s["state"] == "on" and s["mode"] == "direct" and s["options"] == ["containers"]
    assert any("cannot compare the rules exactly" in w for w in s["warnings"])
    # children get a fixed environment: nothing of the caller's (PYTHONPATH, MTT_STATE_DIR, ...) leaks through
    env = dict(line.split("=", 1) for line in envlog.read_text().splitlines() if "=" in line)
    assert env["PATH"] == "/usr/sbin:/usr/bin:/sbin:/bin" and env["LC_ALL"] == "C"
    assert set(env) <= {"PATH", "LC_ALL", "PWD", "SHLVL", "_"}


def test_corrupt_state_file(lab: Lab) -> None:
    lab.ok("enable")
    for junk in (
        b"{not json",
        b'{"version": 2, "mode": "direct", "options": []}',
        b'{"version": 1, "mode": "evil", "options": []}',
        b'{"version": 1, "mode": "direct", "options": ["rm -rf"]}',
        b"\xff\xfe",
    ):
        lab.state_file.write_bytes(junk)
        before = Snapshot(lab)
        for verb in ("refresh", "restore"):
            r = lab.helper(verb)
            assert r.returncode == 6, (junk, verb, r.stderr)
            assert "saved bypass state" in r.stderr and "nothing was changed" in r.stderr
            unchanged(lab, before)
        s = lab.status()
        assert s["saved"] is None and any("saved bypass state" in w for w in s["warnings"])
    # enable and disable are the way out
    assert lab.ok("enable")["saved"] == {"mode": "direct", "options": []}
    lab.state_file.write_bytes(b"garbage")
    lab.ok("disable")
    assert not lab.state_file.exists()


def test_unreadable_state_file(lab: Lab) -> None:
    lab.ok("enable")
    lab.state_file.unlink()
    lab.state_file.mkdir()  # a directory where the file should be
    before = Snapshot(lab)
    for verb in ("refresh", "restore", "enable", "disable"):
        r = lab.helper(verb)
        assert r.returncode == 6, (verb, r.stderr)
        assert "bypass.json" in last_line(r.stderr) and "sudo rm -rf" in last_line(r.stderr)
        unchanged(lab, before)
        assert lab.state_file.is_dir()
    assert any("bypass.json" in w for w in lab.status()["warnings"])


def test_state_symlink_is_never_followed(lab: Lab, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    lab.state_file.symlink_to(victim)
    r = lab.helper("refresh")
    assert r.returncode == 6 and "cannot be read" in r.stderr
    # No last choice can be read either, so `enable` needs every part (tests/bypass/test_helper.py)
    lab.ok("enable", "--mode", "direct", "--no-containers", "--no-exit-via-mullvad")
    assert victim.read_text() == "precious\n"  # the link was replaced, not written through
    assert lab.state_file.is_file() and not lab.state_file.is_symlink()
    lab.state_file.unlink()
    lab.state_file.symlink_to(victim)
    lab.ok("disable")
    assert victim.read_text() == "precious\n" and not lab.state_file.is_symlink()


def test_state_dir_writable_by_others_is_refused(lab: Lab) -> None:
    os.chmod(lab.state_dir, 0o777)  # noqa: S103 - the attack under test
    r = lab.helper("enable")
    assert r.returncode == 6 and "must be owned by root and writable only by root" in r.stderr
    assert lab.ours() is None
    os.chmod(lab.state_dir, 0o755)  # noqa: S103
    lab.state_dir.rename(lab.state_dir.with_name("elsewhere"))
    lab.state_dir.symlink_to(lab.state_dir.with_name("elsewhere"))
    r = lab.helper("enable")
    assert r.returncode == 6 and lab.ours() is None  # a symlinked state dir is not followed either


def test_state_dir_override_is_ignored_under_pkexec(lab: Lab) -> None:
    lab.ok("enable", "--containers", "--exit-via-mullvad")
    s = json.loads(lab.helper("status", env={**lab.env, "PKEXEC_UID": "1000"}).stdout)
    # pkexec would have cleared MTT_STATE_DIR; if it is there anyway it is not honoured (status reads the real
    # /var/lib/mullvad-tailscale-tray, and never creates anything)
    assert s["saved"] != {"mode": "direct", "options": ["containers", "exit-via-mullvad"]}
    assert s["enabled"] is True


def test_no_table_52(lab: Lab) -> None:
    s = lab.ok("enable")
    assert s["tailnet4"] == ["100.64.0.0/10"] and s["tailnet6"] == ["fd7a:115c:a1e0::/48"]
    assert any("table 52 is missing or empty" in w for w in s["warnings"])
    assert s["state"] == "on"


def test_ip_missing(lab: Lab, tmp_path: Path) -> None:
    require_tools("unshare")
    lab.ok("enable", "--mode", "private")
    before = Snapshot(lab)
    stub = tmp_path / "not-ip"
    stub.write_text("not a program\n")
    stub.chmod(0o644)
    # the test itself needs `ip` to enter the namespace, so hide it only inside the helper's mount namespace
    for verb in (["enable"], ["disable"], ["refresh"]):
        r = _in_mount_ns(lab, f"mount --bind {stub} /usr/sbin/ip", *verb)
        assert r.returncode == 4, (verb, r.stderr)  # type: ignore[attr-defined]
        assert "`ip` was not found" in last_line(r.stderr) and "install iproute2" in r.stderr  # type: ignore[attr-defined]
        unchanged(lab, before)


# The helper reads table 52 over rtnetlink in-process (helper/rtnl.py), so no wrapper around `ip` can make
# the reading fail: this runs the real helper in the namespace with the dump failing as the kernel would fail
# it (an errno in place of the routes).
_FAILING_DUMP = """
import errno, sys
from tray_app.helper import main, rtnl

real = rtnl._dump

def failing(kind, family):
    if kind == rtnl.RTM_GETROUTE:
        raise rtnl.NetlinkError(errno.EIO, "Input/output error")
    yield from real(kind, family)

rtnl._dump = failing
sys.exit(main.main(sys.argv[1:]))
"""


def test_unreadable_table52_changes_nothing(lab: Lab, tmp_path: Path) -> None:
    """Table 52 that cannot be read: a clear failure, never a guessed set."""
    lab.route("192.168.50.0/24", "dev", "tailscale0")
    lab.ok("enable")
    before = Snapshot(lab)
    script = tmp_path / "failing_dump.py"
    script.write_text(_FAILING_DUMP)
    for verb in (["enable", "--mode", "private"], ["refresh"]):
        r = lab.ns.run(sys.executable, str(script), *verb, check=False, env=lab.env)
        assert r.returncode == 1, (verb, r.stderr)
        assert "routing table 52 cannot be read over netlink" in last_line(r.stderr)
        assert "nothing was changed" in last_line(r.stderr)
        unchanged(lab, before)
    s = json.loads(lab.ns.run(sys.executable, str(script), "status", check=False, env=lab.env).stdout)
    assert any("routing table 52 cannot be read over netlink" in w for w in s["warnings"]), s
