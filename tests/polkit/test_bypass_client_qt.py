"""The tray's BypassClient: QProcess -> pkexec -> polkitd -> helper, without blocking the event loop."""

from __future__ import annotations

import dataclasses

import pytest
from PyQt6.QtCore import QCoreApplication, QTimer

from tests.polkit.install import PolkitEnv, Sandbox
from tray_app.core.bypass_reply import HelperResult
from tray_app.core.helper_errors import Problem
from tray_app.core.model import BypassState
from tray_app.core.protocol import Exit
from tray_app.paths import HELPER_PATH
from tray_app.rootside.bypass_client import BypassClient
from tray_app.rootside.bypass_run import EnableOptions, HelperCommand

pytestmark = pytest.mark.root


def _client(sandbox: Sandbox, user: str | None) -> BypassClient:
    # prefix: run inside the sandbox, as the test user; the client adds pkexec + helper itself.
    wrap = sandbox.argv(["runuser", "-u", user, "--"] if user else [])
    return BypassClient(HelperCommand(prefix=tuple(wrap), use_pkexec=user is not None, text_agent=False))


def _ask(
    qtbot: object, client: BypassClient, verb: str, options: EnableOptions | None = None
) -> HelperResult:
    with qtbot.waitSignal(client.finished, timeout=30000) as blocker:  # type: ignore[attr-defined]
        client.request(verb, options)
    result = blocker.args[0]
    assert isinstance(result, HelperResult) and result.verb == verb
    return result


def test_enable_status_disable_through_pkexec(qtbot: object, polkit_env: PolkitEnv, sandbox: Sandbox) -> None:
    client = _client(sandbox, "mtt-allow")
    result = _ask(qtbot, client, "enable", EnableOptions(mode="private"))
    assert result.ok and result.via_pkexec, result.stderr
    assert result.status is not None and result.status.state is BypassState.ON  # from enable's own answer
    assert result.status.mode == "private"

    result = _ask(qtbot, client, "status")
    assert result.ok and result.status is not None
    assert result.status.state is BypassState.ON and result.status.mode == "private"

    result = _ask(qtbot, client, "disable")
    assert result.ok and result.status is not None and result.status.state is BypassState.OFF
    assert sandbox.nft_table() is None


def test_the_event_loop_keeps_running_while_the_helper_works(
    qtbot: object, polkit_env: PolkitEnv, sandbox: Sandbox
) -> None:
    client = _client(sandbox, "mtt-allow")
    ticks: list[int] = []
    timer = QTimer()
    timer.setInterval(1)
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start()
    client.request("status")
    assert client.busy("status")  # request() returned before the helper finished
    with qtbot.waitSignal(client.finished, timeout=30000):  # type: ignore[attr-defined]
        pass
    timer.stop()
    assert ticks, "no timer tick while the helper ran: the client blocked the event loop"
    assert not client.busy()


def test_denied_user_gets_the_not_authorized_problem(
    qtbot: object, polkit_env: PolkitEnv, sandbox: Sandbox
) -> None:
    result = _ask(qtbot, _client(sandbox, "mtt-deny"), "status")
    assert result.code == Exit.PKEXEC_NOT_AUTHORIZED
    assert result.problem is not None and result.problem.kind is Problem.NOT_AUTHORIZED
    assert result.status is not None and result.status.state is BypassState.UNKNOWN
    assert result.status.detail == result.problem.message


def test_no_agent_is_reported_without_falling_back_to_a_terminal_prompt(
    qtbot: object, polkit_env: PolkitEnv, sandbox: Sandbox
) -> None:
    # mtt-ask needs the admin password and no agent runs: the tray must say so, never prompt on a tty.
    result = _ask(qtbot, _client(sandbox, "mtt-ask"), "enable")
    assert "No authentication agent found" in result.stderr  # pkexec --disable-internal-agent
    assert result.problem is not None and result.problem.kind is Problem.NO_AGENT
    assert "bypass on` in a terminal" in result.problem.message


def test_default_command_of_the_tray_disables_pkexecs_text_agent() -> None:
    tray = dataclasses.replace(BypassClient()._command, use_pkexec=True)  # as a user would run it
    assert tray.argv("enable") == ["/usr/bin/pkexec", "--disable-internal-agent", HELPER_PATH, "enable"]
    cli = HelperCommand(use_pkexec=True)  # the CLI keeps pkexec's terminal prompt
    assert cli.argv("enable") == ["/usr/bin/pkexec", HELPER_PATH, "enable"]


def test_as_root_it_runs_the_helper_directly(qtbot: object, polkit_env: PolkitEnv, sandbox: Sandbox) -> None:
    client = _client(sandbox, None)
    result = _ask(qtbot, client, "status")
    assert result.ok and not result.via_pkexec
    assert result.status is not None and result.status.state is BypassState.OFF


def test_missing_program_is_a_clear_problem(qtbot: object) -> None:
    client = BypassClient(HelperCommand(pkexec="/nonexistent/pkexec", use_pkexec=True))
    result = _ask(qtbot, client, "status")
    assert result.problem is not None and result.problem.kind is Problem.PKEXEC_MISSING
    assert "sudo apt install pkexec" in result.problem.message
    # Same words as the blocking path (no Qt "Child process set up failed: execve:" prefix).
    assert "(/nonexistent/pkexec: No such file or directory)" in result.problem.message


def test_stop_forgets_running_requests(qtbot: object, polkit_env: PolkitEnv, sandbox: Sandbox) -> None:
    client = _client(sandbox, None)
    seen: list[object] = []
    client.finished.connect(seen.append)
    client.request("status")
    client.stop()  # kills and reaps the direct helper before it returns
    QCoreApplication.processEvents()
    assert seen == [] and not client.busy()
