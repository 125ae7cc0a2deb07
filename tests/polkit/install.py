"""Install real polkit test fixtures around this checkout's root helper, and remove them again.

Used by tests/polkit/conftest.py (session fixture) and bench/bench_bypass.py. Root only. `installed()`
starts the system bus (polkitd is D-Bus-activated from it), creates test users, installs the real policy,
a test rules file and a launcher at the helper's installed path that runs THIS checkout's helper with
`/usr/bin/python3 -I`, and a user-readable directory with a copy of `tray_app`, jeepney and the fake agent
(the test users cannot read /root, where the venv's Python may live: they run Debian's /usr/bin/python3
with that directory on PYTHONPATH). Everything it replaced is put back afterwards.

Every command runs in a `Sandbox`: a private network namespace (the host's ruleset is never touched; pkexec
still works there because the system bus is a path socket) plus a private mount namespace in which a
per-test directory is bind-mounted over /var/lib/mullvad-tailscale-tray (pkexec clears the environment,
so the helper always writes its real state path: it must land somewhere harmless). Commands start in a
new session without a controlling terminal, so pkexec can never fall back to prompting on a developer's tty.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.infra.netns import NetNS
from tray_app.core.protocol import ACTIONS
from tray_app.paths import HELPER_PATH, POLKIT_POLICY, STATE_DIR

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
PKEXEC = "/usr/bin/pkexec"
SYSTEM_PYTHON = "/usr/bin/python3"
RULES_FILE = "/etc/polkit-1/rules.d/10-mullvad-tailscale-tray-test.rules"
EXAMPLE_RULES_INSTALLED = "/etc/polkit-1/rules.d/50-mullvad-tailscale-tray.rules"
USER_MARK = "mullvad-tailscale-tray test user"
GROUP = "mullvad-tailscale"

# allow: every bypass action; status-only: only ...bypass.status; deny: refused outright;
# ask: every action needs the admin password (so the fake agent is asked, and tells us which action);
# member: no rule here, only the group of polkit/50-mullvad-tailscale-tray.rules.example.
USERS = ("mtt-allow", "mtt-status-only", "mtt-deny", "mtt-ask", "mtt-member")

TEST_RULES = """\
// TEST ONLY (tests/polkit/install.py): removed when the test session ends.
polkit.addRule(function(action, subject) {
    var ours = action.id.indexOf("io.github.mullvad-tailscale-tray.bypass.") === 0;
    if (subject.user === "mtt-ask" && (ours || action.id === "org.freedesktop.policykit.exec")) {
        return polkit.Result.AUTH_ADMIN;
    }
    if (!ours) return polkit.Result.NOT_HANDLED;
    if (subject.user === "mtt-allow") return polkit.Result.YES;
    if (subject.user === "mtt-status-only" && action.id === "%(status)s") return polkit.Result.YES;
    if (subject.user === "mtt-deny") return polkit.Result.NO;
    return polkit.Result.NOT_HANDLED;
});
"""

LAUNCHER = """\
#!/usr/bin/python3 -IS
# TEST launcher written by tests/polkit/install.py; the original is restored when the session ends.
# Runs the helper of the checkout at {root} as root. -IS keeps PYTHONPATH, the user's site, site directories
# and .pth files out; the checkout path is fixed here, like the installed launcher's PACKAGE_DIR.
import sys

sys.path.insert(0, {root!r})
from tray_app.helper.main import main

sys.exit(main())
"""


def _run(argv: Sequence[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, check=False, **kw)  # type: ignore[call-overload,no-any-return]


class _Undo:
    """Replace files for the session and put back exactly what was there before."""

    def __init__(self) -> None:
        self._steps: list[tuple[str, object]] = []

    def install(self, path: str, content: str, mode: int) -> None:
        target = Path(path)
        if not target.parent.is_dir():
            self.mkdir(str(target.parent))
        backup: bytes | None = target.read_bytes() if target.exists() else None
        old_mode = target.stat().st_mode & 0o7777 if target.exists() else None
        self._steps.append(("file", (target, backup, old_mode)))
        tmp = target.with_name(f".{target.name}.mtt-test")
        tmp.write_text(content)
        tmp.chmod(mode)
        tmp.replace(target)

    def mkdir(self, path: str) -> None:
        p = Path(path)
        missing = []
        while not p.exists():
            missing.append(p)
            p = p.parent
        for d in reversed(missing):
            d.mkdir(mode=0o755)
            d.chmod(0o755)
            self._steps.append(("dir", d))

    def call(self, fn: object) -> None:
        self._steps.append(("call", fn))

    def undo(self) -> None:
        for kind, what in reversed(self._steps):
            with contextlib.suppress(OSError):
                if kind == "file":
                    target, backup, old_mode = what  # type: ignore[misc]
                    if backup is None:
                        target.unlink(missing_ok=True)
                    else:
                        target.write_bytes(backup)
                        target.chmod(old_mode)
                elif kind == "dir":
                    what.rmdir()  # type: ignore[attr-defined]  # only if still empty
                else:
                    what()  # type: ignore[operator]


@dataclass
class PolkitEnv:
    userdir: Path  # readable by the test users: tray_app copy, jeepney, fake agent

    def as_user(self, user: str, *cmd: str) -> list[str]:
        env = ["env", "-i", "PATH=/usr/bin:/bin", "LANG=C.UTF-8", f"PYTHONPATH={self.userdir}"]
        return ["runuser", "-u", user, "--", *env, *cmd]

    @staticmethod
    def pkexec_cmd(*helper_args: str) -> list[str]:
        return [PKEXEC, HELPER_PATH, *helper_args]

    def pkexec(self, user: str, *helper_args: str) -> list[str]:
        return self.as_user(user, *self.pkexec_cmd(*helper_args))

    @staticmethod
    def cli_cmd(*args: str) -> list[str]:
        return [SYSTEM_PYTHON, "-m", "tray_app", *args]

    def cli(self, user: str, *args: str) -> list[str]:
        return self.as_user(user, *self.cli_cmd(*args))

    def agent(self, user: str, verdict: str, *cmd: str) -> list[str]:
        agent = str(self.userdir / "fake_polkit_agent.py")
        return self.as_user(user, SYSTEM_PYTHON, agent, verdict, "--", *cmd)

    def authorized(self, user: str, action: str) -> bool:
        """pkcheck for a process of `user` (no agent, no interaction): what polkitd decides right now."""
        argv = ["runuser", "-u", user, "--", "sh", "-c", f'exec pkcheck --action-id "{action}" --process $$']
        return _run(argv, stdin=subprocess.DEVNULL, start_new_session=True).returncode == 0

    def wait_rules(self, user: str, action: str, expect: bool) -> None:
        """polkitd reloads rules.d through inotify, asynchronously: wait until it applies the change."""
        end = time.monotonic() + 10
        while self.authorized(user, action) != expect:
            if time.monotonic() > end:
                raise TimeoutError(f"polkitd never {'granted' if expect else 'refused'} {action} to {user}")
            time.sleep(0.05)


def _user_exists(name: str) -> bool:
    return _run(["id", "-u", name]).returncode == 0


def _make_users(undo: _Undo) -> None:
    if _run(["getent", "group", GROUP]).returncode != 0:
        subprocess.run(["groupadd", "--system", GROUP], check=True)
        undo.call(lambda: _run(["groupdel", GROUP]))
    for user in USERS:
        if _user_exists(user):
            comment = _run(["getent", "passwd", user]).stdout.split(":")
            if len(comment) < 5 or comment[4] != USER_MARK:
                raise RuntimeError(f"user {user} exists and is not a test user of this suite: remove it")
            _run(["userdel", user])
        groups = ["-G", GROUP] if user == "mtt-member" else []
        subprocess.run(
            [
                "useradd",
                "--system",
                "-M",
                "-d",
                "/nonexistent",
                "-s",
                "/usr/sbin/nologin",
                "-c",
                USER_MARK,
                *groups,
                user,
            ],
            check=True,
        )
        undo.call(lambda u=user: _run(["userdel", u]))


def _user_tree(undo: _Undo) -> Path:
    import jeepney

    d = Path(tempfile.mkdtemp(prefix="mtt-polkit-"))
    undo.call(lambda: shutil.rmtree(d, ignore_errors=True))
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "tray_app", d / "tray_app", ignore=ignore)
    shutil.copytree(Path(jeepney.__file__).parent, d / "jeepney", ignore=ignore)
    shutil.copy(HERE / "fake_polkit_agent.py", d / "fake_polkit_agent.py")
    for p in [d, *d.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    return d


def _wait_action_known(action: str) -> None:
    end = time.monotonic() + 10
    while _run(["pkaction", "--action-id", action]).returncode != 0:
        if time.monotonic() > end:
            raise TimeoutError(f"polkitd never loaded {action} from {POLKIT_POLICY}")
        time.sleep(0.05)


@dataclass
class Sandbox:
    """A private network namespace + a private state directory for the helper (see module doc)."""

    ns: NetNS
    state: Path

    def argv(self, cmd: Sequence[str]) -> list[str]:
        mount = 'mount --bind "$0" "$1" && shift && exec "$@"'
        return ["unshare", "-m", "--propagation", "private", "sh", "-c", mount, str(self.state), STATE_DIR,
                *self.ns.argv(*cmd)]  # fmt: skip

    def run(self, cmd: Sequence[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return _run(self.argv(cmd), stdin=subprocess.DEVNULL, start_new_session=True, timeout=timeout)

    def nft_table(self) -> str | None:
        """Our table as `nft list` prints it inside the namespace, or None when it is absent."""
        out = self.ns.run("nft", "list", "table", "inet", "mullvad-tailscale", check=False)
        return out.stdout if out.returncode == 0 else None


LOCK_FILE = "/run/lock/mullvad-tailscale-tray-polkit-tests.lock"


_ACTIVE: PolkitEnv | None = None  # the install this process holds (one pytest session, several test dirs)


@contextlib.contextmanager
def installed() -> Iterator[PolkitEnv]:
    """Install for the duration of the `with`. Users and paths are machine-wide, so two runs at once (two
    checkouts, a test run and the benchmark) take turns on a lock instead of deleting each other's users.
    Within one process a nested `installed()` reuses the install (taking the lock again would wait forever)."""
    global _ACTIVE  # noqa: PLW0603 - one install per process, shared by every test directory
    if _ACTIVE is not None:
        yield _ACTIVE
        return
    os.makedirs(os.path.dirname(LOCK_FILE), exist_ok=True)
    with open(LOCK_FILE, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with _installed() as env:
            _ACTIVE = env
            try:
                yield env
            finally:
                _ACTIVE = None


@contextlib.contextmanager
def _installed() -> Iterator[PolkitEnv]:
    subprocess.run([str(ROOT / "scripts" / "start-system-bus")], check=True)
    undo = _Undo()
    try:
        _make_users(undo)
        undo.mkdir(STATE_DIR)  # the mount point the sandboxes cover; removed again if we made it
        undo.install(
            POLKIT_POLICY, (ROOT / "polkit" / "io.github.mullvad-tailscale-tray.policy").read_text(), 0o644
        )
        undo.install(HELPER_PATH, LAUNCHER.format(root=str(ROOT)), 0o755)
        undo.install(RULES_FILE, TEST_RULES % {"status": ACTIONS["status"]}, 0o644)
        env = PolkitEnv(_user_tree(undo))
        _wait_action_known(ACTIONS["disable"])
        env.wait_rules("mtt-allow", ACTIONS["enable"], True)
        yield env
    finally:
        undo.undo()
