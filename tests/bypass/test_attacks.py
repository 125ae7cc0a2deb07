"""The security review's findings (docs/security-review.md), each as the attack that used to work.

Everything runs against the real helper inside a private network namespace: a caller's hostile argv, signals
from the caller's terminal, resource limits pkexec passes through, a full disk under the state directory, a
saved state file that is a JSON bomb, and a caller that closes its end of the pipe.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.bypass.conftest import ROOT, Lab
from tests.bypass.test_bad_input import Snapshot, last_line, unchanged
from tests.infra.require import require, require_root, require_tools
from tray_app.core.protocol import MODES, OPTIONS, VERBS, Exit
from tray_app.core.routes import RouteError, parse_table52
from tray_app.core.rules import Config
from tray_app.helper import main as helper_main
from tray_app.helper import state

PROTOCOL_CODES = {int(c) for c in Exit if c < 100}


def test_nested_json_state_is_reported_as_corrupt_not_a_crash(lab: Lab) -> None:
    lab.ok("enable")
    lab.state_file.write_text("[" * 4000)  # under the size cap, deeper than Python's recursion limit
    before = Snapshot(lab)
    for verb in ("refresh", "restore"):
        r = lab.helper(verb)
        assert r.returncode == 6, (verb, r.stderr)
        assert "Traceback" not in r.stderr
        assert "is corrupt (not JSON)" in last_line(r.stderr) and "nothing was changed" in last_line(r.stderr)
        unchanged(lab, before)
    s = lab.status()
    assert s["saved"] is None and any("is corrupt" in w for w in s["warnings"])


def test_full_disk_fails_enable_before_anything_changes(lab: Lab) -> None:
    """The new state is written before the kernel changes: no bypass that is on but not saved for boot."""
    require_tools("unshare", "mount", "dd")
    lab.ok("enable")
    before = Snapshot(lab)
    d = lab.state_dir
    full = f"mount -t tmpfs -o size=4k,mode=0755 tmpfs {d}; dd if=/dev/zero of={d}/fill bs=1k count=64 2>/dev/null || true"
    script = f'set -e; {full}; exec {sys.executable} -m tray_app.helper "$@"'
    r = lab.ns.run(
        "unshare",
        "-m",
        "sh",
        "-c",
        script,
        "sh",
        "enable",
        "--mode",
        "private",
        "--containers",
        check=False,
        env=lab.env,
    )
    assert r.returncode == 6, r.stderr
    assert "cannot save the bypass state" in last_line(r.stderr)
    assert "nothing was changed" in last_line(r.stderr)
    unchanged(lab, before)  # still direct without containers, and no private-mode ip rule


def _waiting_nft(tmp_path: Path) -> tuple[Path, Path, Path]:
    """An nft that, for a batch, records its parent (the helper) and waits for the test's go-ahead."""
    real = tmp_path / "nft-real"
    shutil.copy2("/usr/sbin/nft", real)
    ready, go = tmp_path / "ready", tmp_path / "go"
    wrapper = tmp_path / "nft-wrapper"
    wrapper.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = "-f" ] && [ ! -e ' + str(go) + " ]; then\n"
        f"  echo $PPID > {ready}\n"
        f"  i=0; while [ ! -e {go} ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done\n"
        "fi\n"
        f'exec {real} "$@"\n'
    )
    wrapper.chmod(0o755)
    return wrapper, ready, go


def stuck_in_its_batch(
    lab: Lab, tmp_path: Path, prelude: str = ""
) -> tuple[subprocess.Popen[str], Path, Path]:
    """A real `enable --mode private` stopped at its nft batch (private-mode ip rules added, the state lock
    held) until the test creates the returned go-ahead file; also returns the file holding the waiting pid.
    `prelude`: shell commands run first, in the helper's process (e.g. joining a cgroup)."""
    require_tools("unshare", "mount")
    wrapper, ready, go = _waiting_nft(tmp_path)
    script = (
        f"set -e; {prelude}mount --bind {wrapper} /usr/sbin/nft; "
        f'exec {sys.executable} -m tray_app.helper "$@"'
    )
    p = subprocess.Popen(
        lab.ns.argv("unshare", "-m", "sh", "-c", script, "sh", "enable", "--mode", "private"),
        env=lab.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: the "foreground group" a terminal signals
    )
    for _ in range(400):
        if ready.exists() and ready.read_text().strip():
            return p, ready, go
        time.sleep(0.05)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    raise AssertionError("the helper never reached its nft batch")


def test_terminal_signals_cannot_interrupt_a_change(lab: Lab, tmp_path: Path) -> None:
    """Ctrl-C, Ctrl-\\, Ctrl-Z and a hang-up reach the helper from the caller's terminal without any permission
    check. Mid-enable (private-mode ip rules added, nft batch pending) they must not stop it halfway."""
    p, ready, go = stuck_in_its_batch(lab, tmp_path)
    try:
        assert int(ready.read_text()) == p.pid  # the helper itself, waiting for the batch
        for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGTSTP, signal.SIGHUP):
            os.killpg(p.pid, sig)
        time.sleep(0.2)  # let any default action (terminate, stop) happen before the go-ahead
        go.touch()
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    assert p.returncode == 0, err
    assert "Traceback" not in err
    assert json.loads(out)["mode"] == "private"
    s = lab.status()
    assert (
        s["state"] == "on" and s["private_rules"] is True and s["saved"] == {"mode": "private", "options": []}
    )


def test_resource_limits_from_the_caller_are_reset(lab: Lab) -> None:
    """pkexec passes the caller's rlimits on: a file-size limit of 0 used to fail the state write after the
    bypass was applied. A soft limit is raised back; a hard limit too where root holds CAP_SYS_RESOURCE, and
    otherwise the write fails before anything changes."""
    require_tools("prlimit")
    helper = (sys.executable, "-m", "tray_app.helper")
    r = lab.ns.run(
        "prlimit", "--fsize=0:unlimited", "--cpu=1:unlimited", *helper, "enable", check=False, env=lab.env
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(lab.state_file.read_text()) == {"version": 1, "mode": "direct", "options": []}
    assert lab.status()["state"] == "on"
    before = Snapshot(lab)
    r = lab.ns.run("prlimit", "--fsize=0", *helper, "enable", "--mode", "private", check=False, env=lab.env)
    if r.returncode == 0:  # root could raise the hard limit
        assert lab.status()["saved"] == {"mode": "private", "options": []}
    else:
        assert r.returncode == 6 and "nothing was changed" in last_line(r.stderr), r.stderr
        unchanged(lab, before)


def test_a_closed_stdout_gives_one_error_line_not_a_traceback(lab: Lab) -> None:
    lab.ok("enable")
    p = subprocess.Popen(
        lab.ns.argv(sys.executable, "-m", "tray_app.helper", "status"),
        env=lab.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert p.stdout is not None and p.stderr is not None
    p.stdout.close()  # the caller went away before the answer
    err = p.stderr.read()
    p.wait(timeout=30)
    assert p.returncode == 1, err
    assert "Traceback" not in err and "Exception ignored" not in err
    assert last_line(err).startswith("bypass-helper: error: the helper failed unexpectedly (BrokenPipeError")


def test_a_stale_temporary_state_file_does_not_block_saving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash between writing and renaming leaves `.bypass.json.PID.tmp`; a later run with the same pid must
    still save (root-only directory: such a file can only be an old run's)."""
    require_root()
    d = tmp_path / "state"
    d.mkdir(mode=0o755)
    os.chmod(tmp_path, 0o755)  # noqa: S103
    (d / f".bypass.json.{os.getpid()}.tmp").write_text("half written")
    monkeypatch.setenv("MTT_STATE_DIR", str(d))
    monkeypatch.delenv("PKEXEC_UID", raising=False)
    state.save(Config("private", frozenset({"containers"})))
    assert state.load() == Config("private", frozenset({"containers"}))
    assert sorted(p.name for p in d.iterdir()) == ["bypass.json"]


# ---------------------------------------------------------------------------------------------------------
# argv: the fixed vocabulary, fuzzed

# `watch` runs until stopped (the reconciler daemon): its own tests start and stop it.
SHORT_VERBS = [v for v in VERBS if v != "watch"]
VOCAB = [
    *VERBS,
    "--mode",
    *MODES,
    *(f"--mode={m}" for m in MODES),
    *(f"--{o}" for o in OPTIONS),
    *(f"--no-{o}" for o in OPTIONS),
]
NOISE = [
    "--",
    "-",
    "",
    "-h",
    "--help",
    "--mode=",
    "--mod",
    "--cont",
    "--exit",
    "-m",
    "--mode=direct=private",
    "--containers=1",
    "--no-containers=1",
    "--no-mode",
    "--no-",
    "1.2.3.4",
    "100.64.0.0/10",
    "::1",
    "$(id)",
    "`id`",
    "a;b",
    "%s%n%x",
    "{}",
    "\x1b]0;pwned\x07",
    "\x00",
    "é",
    "\u202e",
    "A" * 100_000,
    "9" * 5000,
    "1" * 5000 + "/" + "9" * 5000,
]


def _token() -> st.SearchStrategy[str]:
    word = st.sampled_from(VOCAB)
    return st.one_of(
        word,
        word,
        st.sampled_from(NOISE),
        word.flatmap(lambda w: st.integers(1, max(1, len(w) - 1)).map(lambda n: w[:n])),  # abbreviations
        st.tuples(word, st.sampled_from(["=", " ", "\t", "\n", "\x00"]), word).map("".join),
        st.text(max_size=20),
        st.binary(max_size=12).map(lambda b: b.decode("utf-8", "surrogateescape")),  # non-UTF-8 argv
    )


OPTS = [t for t in VOCAB if t not in VERBS]
# A verb and its options (often valid, so the changing verbs really run), the same with one hostile word
# inserted anywhere, and free-form lists.
SHAPED = st.builds(
    lambda v, rest: [v, *rest], st.sampled_from(SHORT_VERBS), st.lists(st.sampled_from(OPTS), max_size=5)
)
MUTATED = st.builds(
    lambda a, i, t: [*a[: i % (len(a) + 1)], t, *a[i % (len(a) + 1) :]], SHAPED, st.integers(0, 9), _token()
)
VALID = st.one_of(
    st.sampled_from([[v] for v in SHORT_VERBS]),
    st.builds(
        lambda mode, opts: ["enable", *mode, *opts],
        st.sampled_from([[], ["--mode", "private"], ["--mode=direct"]]),
        st.lists(
            st.sampled_from([f"--{p}{o}" for o in OPTIONS for p in ("", "no-")]), max_size=2, unique=True
        ),
    ),
)
ARGV = st.one_of(VALID, SHAPED, MUTATED, st.lists(_token(), max_size=8))


@settings(max_examples=1000, deadline=None)
@given(ARGV)
def test_parse_accepts_only_the_vocabulary_and_runs_the_verb_polkit_checked(argv: list[str]) -> None:
    """pkexec chooses the polkit action by argv[1] (`exec.argv1`): whatever the helper accepts must run exactly
    that verb, with only that verb's own options."""
    try:
        args = helper_main.parse(argv)
    except helper_main.UsageError:
        return
    assert args.verb == argv[0]
    assert all(tok in VOCAB for tok in argv) and len(argv) <= helper_main.MAX_ARGS
    if args.verb != "enable":
        assert argv == [args.verb]


def _fuzz_in_netns(state_dir: Path) -> str:
    """Runs in a forked child that has its own network namespace: the helper's real run() on random argv."""
    from tray_app.helper import nft

    nft._unshare_net()
    os.environ["MTT_STATE_DIR"] = str(state_dir)
    os.environ.pop("PKEXEC_UID", None)

    @settings(max_examples=400, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(ARGV)
    def prop(argv: list[str]) -> None:
        if argv == ["watch"]:
            return  # the daemon: runs until stopped (tests/bypass/test_watch.py)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = helper_main.main(argv)  # an exception escaping here is a traceback for the caller
        o, e = out.getvalue(), err.getvalue()
        assert code in PROTOCOL_CODES, (argv, code, e)
        assert "Traceback" not in e
        assert all(c.isprintable() or c == "\n" for c in e) and e.isascii(), (argv, e)
        if not argv:  # no verb at all: the usage, on stderr
            assert code == Exit.USAGE and o == "" and e.startswith("usage: bypass-helper VERB")
            return
        if code == Exit.USAGE:
            assert o == "", (argv, o)
        elif o and not o.startswith("usage:") and o != "1\n":
            assert o.count("\n") == 1 and isinstance(json.loads(o), dict), (argv, o)
        if code != Exit.OK:
            assert last_line(e).startswith("bypass-helper: error: "), (argv, e)

    try:
        prop()
    except BaseException:  # report the falsifying example to the parent
        return traceback.format_exc()
    return ""


def test_random_argv_never_leaks_a_traceback(tmp_path: Path) -> None:
    """For random argv (vocabulary, abbreviations, `--` and `=` tricks, repeats, control characters, non-UTF-8,
    huge words) the helper exits with a protocol code, one clean error line and no traceback, and its stdout is
    empty, the usage, the version or one JSON object. Run as root in a throwaway network namespace."""
    require_root()
    require_tools("nft", "ip")
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o755)
    os.chmod(tmp_path, 0o755)  # noqa: S103
    report = tmp_path / "report"
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # never returns into pytest
        code = 1
        try:
            report.write_text(_fuzz_in_netns(state_dir))
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert report.read_text() == "", report.read_text()


LAUNCH = (
    "import sys; sys.path.insert(0, sys.argv.pop(1)); from tray_app.helper.main import main; sys.exit(main())"
)


def test_raw_non_utf8_argv_through_the_interpreter(lab: Lab) -> None:
    """Bytes that are not UTF-8 are decoded by the interpreter (isolated mode, C locale, as under pkexec)
    before the helper sees them: still exit 2 and nothing but ASCII echoed."""
    base = [os.fsencode(a) for a in lab.ns.argv(sys.executable, "-I", "-c", LAUNCH, str(ROOT))]
    for raw in (b"\xff\xfe", b"enable\xff", b"--mode=\xc3"):
        for argv in ([raw], [b"enable", raw], [b"enable", b"--mode", raw]):
            r = subprocess.run(
                [*base, *argv],
                capture_output=True,
                env={"PATH": lab.env["PATH"], "LANG": "C", "MTT_STATE_DIR": str(lab.state_dir)},
                check=False,
            )
            err = r.stderr.decode("ascii")  # raises if anything but ASCII was echoed
            assert r.returncode == 2, (argv, err)
            assert "Traceback" not in err and r.stdout == b""


def test_an_nft_that_others_could_replace_is_never_run(lab: Lab, tmp_path: Path) -> None:
    """Only a root-owned nft that nobody else can write is run as root: a copy owned by a user, or writable by
    everyone, at the fixed path is treated as missing (exit 4) and nothing changes."""
    require_tools("unshare", "mount")
    lab.ok("enable")
    before = Snapshot(lab)
    marker = tmp_path / "ran"
    for name, owner, mode in (("user-owned", 65534, 0o755), ("world-writable", 0, 0o777)):
        fake = tmp_path / f"nft-{name}"
        fake.write_text(f'#!/bin/sh\ntouch {marker}\nexec /usr/sbin/nft.real "$@"\n')
        os.chown(fake, owner, owner)
        fake.chmod(mode)
        script = f'set -e; mount --bind {fake} /usr/sbin/nft; exec {sys.executable} -m tray_app.helper "$@"'
        r = lab.ns.run(
            "unshare", "-m", "sh", "-c", script, "sh", "enable", "--mode", "private", check=False, env=lab.env
        )
        assert r.returncode == 4, (name, r.stderr)
        assert "must be owned by root and writable only by root" in last_line(r.stderr)
        assert not marker.exists()
        unchanged(lab, before)


def test_closed_standard_streams(lab: Lab) -> None:
    """A caller may start the helper with stdin, stdout and stderr closed: the change is still made, reported
    by the exit code alone, and nothing the helper opens (the state directory, the new state file) takes the
    place of fd 0-2 and receives its output."""
    closed = ("sh", "-c", 'exec "$@" <&- >&- 2>&-', "sh", sys.executable, "-m", "tray_app.helper")
    r = lab.ns.run(*closed, "enable", "--mode", "private", check=False, env=lab.env)
    assert r.returncode == 0
    assert json.loads(lab.state_file.read_text()) == {"version": 1, "mode": "private", "options": []}
    assert sorted(p.name for p in lab.state_dir.iterdir()) == ["bypass.json", "choice.json", "lock"]
    assert (lab.state_dir / "lock").read_bytes() == b""  # opened read-only: no output can land in it
    assert lab.status()["state"] == "on"
    r = lab.ns.run(*closed, "enable", "--mode", "evil", check=False, env=lab.env)
    assert r.returncode == 2
    r = lab.ns.run(*closed, "disable", check=False, env=lab.env)
    assert r.returncode == 0 and lab.ours() is None and not lab.state_file.exists()


def test_a_disable_that_fails_halfway_never_comes_back_on(lab: Lab, tmp_path: Path) -> None:
    """`disable` whose `ip rule del` fails (exit 1) must already have forgotten the saved choice: the applet's
    automatic `refresh` (no password) and the boot unit must not turn the bypass back on."""
    require_tools("unshare", "mount")
    lab.ok("enable", "--mode", "private")
    real = tmp_path / "ip-real"
    shutil.copy2("/usr/sbin/ip", real)
    wrapper = tmp_path / "ip-wrapper"
    wrapper.write_text(
        '#!/bin/sh\ncase "$*" in *"rule del"*) echo "RTNETLINK answers: Operation not permitted" >&2; exit 2;; esac\n'
        f'exec {real} "$@"\n'
    )
    wrapper.chmod(0o755)
    script = f'set -e; mount --bind {wrapper} /usr/sbin/ip; exec {sys.executable} -m tray_app.helper "$@"'
    r = lab.ns.run("unshare", "-m", "sh", "-c", script, "sh", "disable", check=False, env=lab.env)
    assert r.returncode == 1, r.stderr
    assert "ip -4 rule del" in last_line(r.stderr) or "ip -6 rule del" in last_line(r.stderr)
    assert not lab.state_file.exists()
    for verb in ("refresh", "restore"):
        assert lab.helper(verb).returncode == 0
    assert lab.ours() is None  # stays off
    lab.ok("disable")  # and a second disable finishes the job
    assert lab.status()["state"] == "off"


# ---------------------------------------------------------------------------------------------------------
# Inputs the helper reads from disk and from `ip`: only their own, clear errors

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
STATE_KEYS = st.fixed_dictionaries(
    {},
    optional={
        "version": st.sampled_from([1, 2, "1", None, True, 1.0]),
        "mode": st.sampled_from([*MODES, "evil", None, 1, ["direct"]]),
        "options": st.one_of(st.lists(st.sampled_from([*OPTIONS, "rm -rf", 1, None]), max_size=3), JSON),
    },
)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=state.MAX_SIZE),
        JSON.map(lambda o: json.dumps(o).encode()),
        STATE_KEYS.map(lambda o: json.dumps(o).encode()),
    )
)
def test_any_saved_state_is_a_config_or_a_clear_error(data: bytes) -> None:
    try:
        cfg = state._parse(data, "/var/lib/mullvad-tailscale-tray/bypass.json")
    except state.StateError as e:
        assert "bypass.json" in str(e)
        return
    assert cfg.mode in MODES and set(cfg.options) <= set(OPTIONS)


ROUTE = st.fixed_dictionaries(
    {},
    optional={
        "dst": st.one_of(
            st.sampled_from(
                [
                    "default",
                    "100.100.100.100",
                    "10.0.0.0/8",
                    "fd7a:115c:a1e0::/48",
                    "0.0.0.0/0",
                    "::/0",
                    "192.168.1.0/24",
                ]
            ),
            JSON,
        ),
        "dev": st.one_of(st.sampled_from(["tailscale0", "eth0"]), JSON),
        "type": st.one_of(st.sampled_from(["unicast", "throw", "blackhole"]), JSON),
        "nexthops": st.one_of(
            st.lists(st.fixed_dictionaries({"dev": st.sampled_from(["tailscale0", "eth0"])})), JSON
        ),
    },
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.lists(ROUTE, max_size=4), JSON), st.one_of(st.lists(ROUTE, max_size=4), JSON))
def test_any_table52_listing_gives_sets_or_a_clear_error(v4: object, v6: object) -> None:
    try:
        fs = parse_table52(json.dumps(v4), json.dumps(v6))
    except RouteError as e:
        assert "table 52" in str(e)
        return
    assert all(n.version == 4 for n in fs.tailnet4) and all(n.version == 6 for n in fs.tailnet6)


def test_a_flood_of_wide_tailnet_routes_costs_root_no_quadratic_time(lab: Lab) -> None:
    """Table 52 is what the tailnet's control plane says. 16 384 IPv6 /16 routes in 8192 separate /15 pairs
    (every pair too wide together) took the root helper minutes of CPU per read (a pairwise subnet check),
    holding the state lock: `enable` ran past the 30 s bound here, the reconciler would lag as long. Now they
    are all kept out in about a second, and the warning names a few and counts the rest."""
    pairs = 8192
    batch = "".join(
        f"route add {0x2000 + 4 * i + j:x}::/16 dev tailscale0 table 52\n"
        for i in range(pairs)
        for j in (0, 1)
    )
    lab.ns.run("ip", "-6", "-batch", "-", input=batch)
    out = lab.ok("enable")  # lab.ns.run's 30 s bound: the pairwise check needed about 80 s
    assert out["state"] == "on" and out["tailnet6"] == ["fd7a:115c:a1e0::/48"], out["tailnet6"][:5]
    assert len(out["excluded_routes"]) == 2 * pairs
    (warning,) = [w for w in out["warnings"] if "are not bypassed" in w]
    assert f"and {2 * pairs - 32} more are not bypassed" in warning and len(warning) < 1500, warning[:300]


def _cgroup2() -> tuple[Path, Path]:
    """(the cgroup v2 mount, our own cgroup's directory), or a failed prerequisite."""
    mount = None
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        f = line.split()
        if f[f.index("-") + 1] == "cgroup2" and f[3] == "/":
            mount = Path(f[4])
    ours = next(ln[3:] for ln in Path("/proc/self/cgroup").read_text().splitlines() if ln.startswith("0::"))
    writable = mount is not None and os.access(mount / ours.lstrip("/"), os.W_OK)
    require(writable, "needs a writable cgroup v2 hierarchy (mount -t cgroup2 none /sys/fs/cgroup)")
    assert mount is not None
    return mount, mount / ours.lstrip("/")


def test_the_caller_cannot_freeze_the_helper_while_it_holds_the_lock(lab: Lab, tmp_path: Path) -> None:
    """pkexec leaves the helper in the caller's cgroup, which under a systemd user session is the user's own
    (`systemctl --user freeze UNIT` writes its cgroup.freeze; no signal permission is checked). Frozen in its
    nft batch it held the state lock for as long as the user liked: every other change and the reconciler
    waited and gave up. It now leaves a cgroup that is not root's before it takes the lock."""
    require_tools("unshare", "mount", "setpriv")
    mount, ours = _cgroup2()
    scope = ours / f"mtt-caller-{os.getpid()}.scope"  # what the user's systemd creates for an app
    inside = Path("/sys/fs/cgroup") / scope.relative_to(mount)  # `ip netns exec` hides the host's /sys
    scope.mkdir()
    try:
        subprocess.run(["chown", "-R", "65534:65534", str(scope)], check=True)
        prelude = f"mount -t cgroup2 none /sys/fs/cgroup; echo $$ > {inside}/cgroup.procs; "
        p, _ready, go = stuck_in_its_batch(lab, tmp_path, prelude)
        try:
            nobody = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")
            subprocess.run([*nobody, "sh", "-c", f"echo 1 > {scope}/cgroup.freeze"], check=True)
            time.sleep(0.2)
            go.touch()
            out, err = p.communicate(timeout=10)  # frozen, it would never finish
        finally:
            (scope / "cgroup.freeze").write_text("0")
            if p.poll() is None:
                p.kill()
                p.wait()
        assert p.returncode == 0, err
        assert json.loads(out)["mode"] == "private"
        assert lab.helper("disable", env={**lab.env, "MTT_LOCK_WAIT": "2"}).returncode == 0
    finally:
        (scope / "cgroup.freeze").write_text("0")
        # the nft wrapper and its sleeps, if the helper never finished
        (scope / "cgroup.kill").write_text("1")
        for _ in range(100):
            if not (scope / "cgroup.procs").read_text().strip():
                break
            time.sleep(0.05)
        scope.rmdir()
