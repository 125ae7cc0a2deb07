"""Real polkitd decides, through real pkexec, which user may run which helper verb (issue 2, item 4).

Every helper run is this checkout's helper, installed by `polkit_env` at the path the policy names, running
as root inside a private network namespace (`sandbox`).
"""

from __future__ import annotations

import json

import pytest

from tests.polkit.install import PolkitEnv, Sandbox
from tray_app.core.protocol import ACTIONS, Exit

pytestmark = pytest.mark.root


def _agent_report(stdout: str) -> list[dict[str, object]]:
    for line in reversed(stdout.splitlines()):
        if line.startswith("fake-agent: "):
            asked: list[dict[str, object]] = json.loads(line.removeprefix("fake-agent: "))["asked"]
            return asked
    raise AssertionError(f"the fake agent printed no report:\n{stdout}")


def test_authorized_user_enables_and_disables_in_the_namespace(
    polkit_env: PolkitEnv, sandbox: Sandbox
) -> None:
    assert sandbox.nft_table() is None
    out = sandbox.run(polkit_env.pkexec("mtt-allow", "enable", "--mode", "private"))
    assert out.returncode == 0, out.stderr
    table = sandbox.nft_table()
    assert table is not None and "100.64.0.0/10" in table  # the real table, in this namespace only
    assert json.loads(out.stdout)["state"] == "on"
    assert (sandbox.state / "bypass.json").exists()  # saved for boot, in the sandbox's state directory

    out = sandbox.run(polkit_env.pkexec("mtt-allow", "status"))
    status = json.loads(out.stdout)
    assert out.returncode == 0 and status["state"] == "on" and status["mode"] == "private"

    out = sandbox.run(polkit_env.pkexec("mtt-allow", "disable"))
    assert out.returncode == 0, out.stderr
    assert sandbox.nft_table() is None
    assert not (sandbox.state / "bypass.json").exists()
    assert "100.64.0.0/10" not in sandbox.ns.run("ip", "rule", "show").stdout


def test_denied_user_gets_127_and_nothing_changes(polkit_env: PolkitEnv, sandbox: Sandbox) -> None:
    out = sandbox.run(polkit_env.pkexec("mtt-deny", "enable"))
    assert out.returncode == Exit.PKEXEC_NOT_AUTHORIZED
    assert "Not authorized" in out.stderr
    assert sandbox.nft_table() is None


def test_status_only_rule_lets_status_through_and_refuses_enable(
    polkit_env: PolkitEnv, sandbox: Sandbox
) -> None:
    # The test rules grant mtt-status-only exactly ACTIONS["status"]: if pkexec mapped every verb of the
    # helper to one action (exec.path alone), both would pass or both fail.
    out = sandbox.run(polkit_env.pkexec("mtt-status-only", "status"))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["state"] == "off"
    out = sandbox.run(polkit_env.pkexec("mtt-status-only", "enable"))
    assert out.returncode == Exit.PKEXEC_NOT_AUTHORIZED and "Not authorized" in out.stderr
    assert sandbox.nft_table() is None


@pytest.mark.parametrize(
    ("verb", "action"),
    [
        *((verb, ACTIONS[verb]) for verb in ("status", "enable", "disable")),
        # No action of ours: pkexec falls back to its generic action (admin password every time).
        ("refresh", "org.freedesktop.policykit.exec"),
        ("restore", "org.freedesktop.policykit.exec"),
        ("version", "org.freedesktop.policykit.exec"),
    ],
)
def test_each_verb_asks_for_its_own_action(
    polkit_env: PolkitEnv, sandbox: Sandbox, verb: str, action: str
) -> None:
    """polkitd 122 honours exec.argv1: the agent is asked about exactly the verb's action; dismissed -> 126."""
    out = sandbox.run(polkit_env.agent("mtt-ask", "cancel", *polkit_env.pkexec_cmd(verb)))
    asked = _agent_report(out.stdout)
    assert [a["action"] for a in asked] == [action]
    assert out.returncode == Exit.PKEXEC_DISMISSED
    assert "Request dismissed" in out.stderr
    assert sandbox.nft_table() is None


def test_enable_prompt_says_what_it_changes(polkit_env: PolkitEnv, sandbox: Sandbox) -> None:
    out = sandbox.run(polkit_env.agent("mtt-ask", "fail", *polkit_env.pkexec_cmd("enable")))
    asked = _agent_report(out.stdout)
    assert asked[0]["message"] == (
        "Authentication is required to add firewall rules that let Tailscale traffic bypass the Mullvad VPN tunnel"
    )
    assert out.returncode == Exit.PKEXEC_NOT_AUTHORIZED  # an agent that fails is a refusal, not a dismissal


def test_helper_exit_codes_pass_through_pkexec(polkit_env: PolkitEnv, sandbox: Sandbox) -> None:
    out = sandbox.run(polkit_env.pkexec("mtt-allow", "status", "--bogus"))
    assert out.returncode == Exit.USAGE
    assert "unknown option" in out.stderr
