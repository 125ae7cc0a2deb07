"""The tray's bypass toggle through real pkexec and polkitd, as an unprivileged user: what the user sees when
they dismiss the password dialog, when polkit refuses, when no polkit agent runs, and when polkit allows.

The tray runs in this (root) test process; its BypassClient runs `pkexec --disable-internal-agent HELPER VERB`
as a test user, inside a private network and mount namespace (tests/polkit/install.py `Sandbox`), against
tests/polkit's installed policy, rules and helper launcher. The only stand-in is tests/polkit's fake polkit
agent, a real peer of polkitd's agent protocol that answers "cancelled" or "failed" like a dialog would.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.infra.netns import NetNS
from tests.infra.require import require, require_root, require_tools
from tests.polkit.install import ROOT, SYSTEM_PYTHON, PolkitEnv, Sandbox
from tests.tray.bypass_lab import BypassLab, polkit_install
from tests.tray.conftest import dispose
from tests.tray.daemons import fake_daemons
from tray_app.core.protocol import ACTIONS
from tray_app.rootside.bypass_run import HelperCommand

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def polkit() -> Iterator[PolkitEnv]:
    """Users, policy, rules and the checkout's helper at its installed path (tests/polkit/install.py),
    plus `mtt-tray`, a user with what the policy gives the active local desktop session."""
    require_root()
    require_tools(
        "pkexec", "pkaction", "pkcheck", "runuser", "useradd", "unshare", "ip", "nft", "dbus-daemon"
    )
    require(os.path.exists(SYSTEM_PYTHON), f"{SYSTEM_PYTHON} is missing: install python3 (scripts/test does)")
    require((ROOT / "tray_app" / "helper" / "main.py").exists(), "the root helper is not in this checkout")
    with polkit_install() as env:
        yield env


@dataclass
class PkexecTray:
    app: object  # TrayApplication
    monitor: object
    lab: BypassLab  # the sandbox's namespace and state directory
    results: list[object]  # HelperResults
    messages: list[tuple[str, str]]  # controller.message: the errors the tray shows
    sent: list[tuple[str, str]]  # every notification (summary, body) the user saw
    agent_log: Path

    def enable_code(self) -> int:
        return next(r.code for r in reversed(self.results) if r.verb == "enable")  # type: ignore[attr-defined]

    def asked(self) -> list[str]:
        """The polkit actions polkitd asked the fake agent about (one JSON line per agent run)."""
        out = []
        for line in self.agent_log.read_text().splitlines():
            if line.startswith("fake-agent: "):
                out += [a["action"] for a in json.loads(line.removeprefix("fake-agent: "))["asked"]]
        return out


@pytest.fixture
def pkexec_tray(
    polkit: PolkitEnv, netns: NetNS, tmp_path: Path, qtbot: object, xembed_host: None
) -> Iterator[Callable[..., PkexecTray]]:
    from tray_app.app import TrayApplication
    from tray_app.core.notify_policy import PolicyConfig
    from tray_app.desktop.settings import Settings
    from tray_app.monitor import Monitor
    from tray_app.rootside.service import BypassService

    state = tmp_path / "state"
    tmp_path.chmod(0o755)
    lab = BypassLab(netns, state)  # tailscale0 and table 52 in the sandbox's namespace
    sandbox = Sandbox(netns, state)  # ... whose /var/lib/mullvad-tailscale-tray is `state`
    agent_dir = Path(tempfile.mkdtemp(prefix="mtt-tray-agent-"))
    agent_dir.chmod(0o755)  # the agent runs as the test user and appends to its log here
    made: list[object] = []
    # Mullvad disconnected: no "turn on the bypass?" suggestion, so every notification is an answer
    stack = ExitStack()
    daemons = stack.enter_context(fake_daemons(mullvad="disconnected", tailscale="running"))

    def make(user: str, agent: str | None = None) -> PkexecTray:
        log = agent_dir / f"{user}.log"
        log.touch()
        os.chown(log, pwd.getpwnam(user).pw_uid, -1)
        service = BypassService(
            _command(polkit, sandbox, user, agent, log), state_dir=str(state), debounce_ms=20
        )
        results: list[object] = []
        service.client.finished.connect(results.append)
        mullvad, tailscale = daemons.sources()
        monitor = Monitor(mullvad, tailscale, service, None, ready_timeout_ms=3000)
        app = TrayApplication(
            monitor, Settings(str(tmp_path / f"{user}.ini")), policy_config=PolicyConfig(settle=0.3)
        )
        made.append(app)
        rig = PkexecTray(app, monitor, lab, results, [], [], log)
        app.controller.message.connect(lambda a, b: rig.messages.append((a, b)))
        app.notifier.sent.connect(lambda n: rig.sent.append((n.summary, n.body)))
        app.start(show_status=False)
        qtbot.waitUntil(lambda: monitor.is_ready, timeout=30000)  # type: ignore[attr-defined]
        return rig

    yield make
    for app in made:
        dispose(app)
    stack.close()
    shutil.rmtree(agent_dir, ignore_errors=True)


# The fake agent prints what it was asked on its stdout, which is also pkexec's: the helper's JSON must be
# all a status reader gets. So the agent's stdout goes to a log, and pkexec gets the original stdout back
# (parked on fd 0: the agent starts pkexec with close_fds, so only 0-2 survive; pkexec's stdin is
# /dev/null as the tray gives it).
AGENT_QUIET = 'exec 0>&1 1>>"$0"; exec "$@"'
STDOUT_BACK = 'exec "$@" 1>&0 0</dev/null'


def _command(env: PolkitEnv, sandbox: Sandbox, user: str, agent: str | None, log: Path) -> HelperCommand:
    """What the tray runs: `pkexec --disable-internal-agent HELPER VERB` as `user`, in the sandbox;
    with `agent` ("cancel": the user dismisses the dialog; "fail": a wrong password) the fake agent
    answers polkitd's question."""
    if agent is None:
        wrap = ["runuser", "-u", user, "--"]
    else:
        agent_py = str(env.userdir / "fake_polkit_agent.py")
        wrap = env.as_user(user, "sh", "-c", AGENT_QUIET, str(log), SYSTEM_PYTHON, agent_py, agent, "--",
                           "sh", "-c", STDOUT_BACK, "sh")  # fmt: skip
    return HelperCommand(prefix=tuple(sandbox.argv(wrap)), use_pkexec=True)


def _toggle_and_wait(rig: PkexecTray, qtbot) -> None:  # type: ignore[no-untyped-def]
    u = rig.app.ui  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: "Bypass: off" in u.tray.toolTip(), timeout=30000)  # status: no password
    client = rig.monitor.bypass.client  # type: ignore[attr-defined]
    with qtbot.waitSignal(client.finished, timeout=30000, check_params_cb=lambda r: r.verb == "enable"):
        u.menus.bypass.trigger()
    qtbot.waitUntil(u.menus.bypass.isEnabled, timeout=5000)  # no longer greyed: the dialog is gone
    qtbot.wait(300)  # a notification would be sent right away; give a read-back time to land


def test_dismissed_password_dialog_is_silent_and_leaves_the_toggle_off(pkexec_tray, qtbot) -> None:  # type: ignore[no-untyped-def]
    rig = pkexec_tray("mtt-tray", agent="cancel")
    _toggle_and_wait(rig, qtbot)
    u = rig.app.ui  # type: ignore[attr-defined]
    assert rig.asked() == [ACTIONS["enable"]]  # polkitd asked for the password, for exactly this action
    assert rig.enable_code() == 126  # pkexec: dismissed
    assert rig.messages == [] and rig.sent == []  # a dismissal is an answer, not an error
    assert not u.menus.bypass.isChecked() and "Bypass: off" in u.tray.toolTip()
    assert not rig.app.settings.bypass_wanted  # type: ignore[attr-defined]
    assert rig.lab.table() is None and rig.lab.saved() is None


@pytest.mark.parametrize(
    ("user", "agent"),
    [("mtt-status-only", None), ("mtt-tray", "fail")],
    ids=["polkit-refuses", "wrong-password"],
)
def test_refused_authorization_says_why_with_the_fix_and_leaves_the_toggle_off(  # type: ignore[no-untyped-def]
    pkexec_tray, qtbot, user: str, agent: str | None
) -> None:
    rig = pkexec_tray(user, agent=agent)
    _toggle_and_wait(rig, qtbot)
    u = rig.app.ui  # type: ignore[attr-defined]
    assert rig.enable_code() == 127
    assert rig.asked() == ([ACTIONS["enable"]] if agent else [])  # the password was asked for and failed
    title, text = "Could not turn on the bypass", rig.messages[-1][1]
    assert rig.messages == [(title, text)]
    assert text.startswith("not authorized: polkit refused to run the bypass helper")
    assert "sudo mullvad-tailscale-tray bypass on" in text  # the fix where polkit will not let you
    assert (title, text) in rig.sent  # shown as a notification
    assert not u.menus.bypass.isChecked() and "Bypass: off" in u.tray.toolTip()
    assert not rig.app.settings.bypass_wanted  # type: ignore[attr-defined]
    assert rig.lab.table() is None


def test_without_a_polkit_agent_the_tray_says_how_to_get_one(pkexec_tray, qtbot) -> None:  # type: ignore[no-untyped-def]
    rig = pkexec_tray("mtt-tray")  # enable needs the password and no agent runs to ask for it
    _toggle_and_wait(rig, qtbot)
    u = rig.app.ui  # type: ignore[attr-defined]
    [(title, text)] = rig.messages
    assert title == "Could not turn on the bypass"
    assert text.startswith("no polkit authentication agent is running, so nobody could ask for your password")
    assert "mullvad-tailscale-tray bypass on` in a terminal" in text
    assert (title, text) in rig.sent
    assert not u.menus.bypass.isChecked() and not rig.app.settings.bypass_wanted  # type: ignore[attr-defined]
    assert rig.lab.table() is None


def test_a_user_polkit_allows_turns_it_on_and_off_from_the_menu(pkexec_tray, qtbot) -> None:  # type: ignore[no-untyped-def]
    rig = pkexec_tray("mtt-allow")  # the rules file grants every bypass action: no dialog
    u = rig.app.ui  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: "Bypass: off" in u.tray.toolTip(), timeout=30000)
    u.menus.bypass.trigger()
    qtbot.waitUntil(lambda: "Bypass: on (direct)" in u.tray.toolTip(), timeout=30000)
    assert u.menus.bypass.isChecked() and rig.app.settings.bypass_wanted  # type: ignore[attr-defined]
    assert rig.lab.table() is not None and rig.lab.saved() == {"version": 1, "mode": "direct", "options": []}
    assert all(r.via_pkexec for r in rig.results)  # type: ignore[attr-defined]
    u.menus.bypass.trigger()
    qtbot.waitUntil(lambda: "Bypass: off" in u.tray.toolTip(), timeout=30000)
    assert not u.menus.bypass.isChecked() and rig.lab.table() is None and rig.lab.saved() is None
    assert rig.messages == []
    qtbot.wait(500)  # past the read debounce: a read-back would have run by now
    # every pkexec the tray ran: the start-up read, then one per toggle (the state came from their replies)
    assert [r.verb for r in rig.results] == ["status", "enable", "disable"]  # type: ignore[attr-defined]
