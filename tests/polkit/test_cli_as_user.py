"""`mullvad-tailscale-tray bypass ...` end to end as an unprivileged user: CLI -> pkexec -> polkitd -> helper.

The test user runs Debian's /usr/bin/python3 on a user-readable copy of `tray_app` (see conftest), in a
private network namespace. What is asserted is what the user sees: the line and the exit code.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.polkit.install import ROOT, PolkitEnv, Sandbox
from tray_app.core.protocol import Exit

pytestmark = pytest.mark.root


def test_on_status_off_as_an_authorized_user(polkit_env: PolkitEnv, sandbox: Sandbox) -> None:
    out = sandbox.run(polkit_env.cli("mtt-allow", "bypass", "on", "--mode", "private", "--containers"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("bypass: on (private mode, containers)")
    assert sandbox.nft_table() is not None

    out = sandbox.run(polkit_env.cli("mtt-allow", "bypass", "status"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("bypass: on (private mode, containers)")

    out = sandbox.run(polkit_env.cli("mtt-allow", "bypass", "status", "--json"))
    data = json.loads(out.stdout)
    assert data["state"] == "on" and data["mode"] == "private" and data["options"] == ["containers"]

    out = sandbox.run(polkit_env.cli("mtt-allow", "bypass", "off"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("bypass: off")
    assert sandbox.nft_table() is None


def test_denied_user_sees_not_authorized(polkit_env: PolkitEnv, sandbox: Sandbox) -> None:
    out = sandbox.run(polkit_env.cli("mtt-deny", "bypass", "on"))
    assert out.returncode == Exit.PKEXEC_NOT_AUTHORIZED
    assert out.stdout == ""
    (line,) = out.stderr.splitlines()
    assert line.startswith("mullvad-tailscale-tray: not authorized: polkit refused to run the bypass helper")
    assert "sudo mullvad-tailscale-tray bypass on" in line
    assert sandbox.nft_table() is None


def test_dismissed_dialog_says_cancelled(polkit_env: PolkitEnv, sandbox: Sandbox) -> None:
    out = sandbox.run(polkit_env.agent("mtt-ask", "cancel", *polkit_env.cli_cmd("bypass", "on")))
    assert out.returncode == Exit.PKEXEC_DISMISSED
    assert out.stderr.splitlines() == [
        "mullvad-tailscale-tray: cancelled: the authentication dialog was dismissed"
    ]
    assert sandbox.nft_table() is None


def test_no_agent_and_no_terminal_says_start_an_agent(polkit_env: PolkitEnv, sandbox: Sandbox) -> None:
    # mtt-ask needs the admin password; nothing can ask for it (no agent, no controlling terminal).
    out = sandbox.run(polkit_env.cli("mtt-ask", "bypass", "off"))
    assert out.returncode == Exit.PKEXEC_NOT_AUTHORIZED
    (line,) = out.stderr.splitlines()
    assert "no polkit authentication agent is running" in line
    assert "polkit-gnome-authentication-agent-1" in line


def test_status_only_user_can_read_but_not_change(polkit_env: PolkitEnv, sandbox: Sandbox) -> None:
    out = sandbox.run(polkit_env.cli("mtt-status-only", "bypass", "status"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("bypass: off")
    out = sandbox.run(polkit_env.cli("mtt-status-only", "bypass", "off"))
    assert out.returncode == Exit.PKEXEC_NOT_AUTHORIZED
    assert "not authorized" in out.stderr


def test_helper_refusal_is_one_line_with_the_fix(polkit_env: PolkitEnv, sandbox: Sandbox) -> None:
    out = sandbox.run(polkit_env.cli("mtt-allow", "bypass", "off", "--mode", "private"))
    assert out.returncode == Exit.USAGE
    assert out.stderr.splitlines() == [
        "mullvad-tailscale-tray: --mode, --[no-]containers and --[no-]exit-via-mullvad go with `bypass on` only"
    ]


def test_as_root_the_cli_runs_the_helper_directly(polkit_env: PolkitEnv, sandbox: Sandbox) -> None:
    """sudo mullvad-tailscale-tray bypass on: no pkexec involved (the test rules know no root rule)."""
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    out = sandbox.run(["env", "-i", *(f"{k}={v}" for k, v in env.items()), sys.executable, "-m", "tray_app",
                       "bypass", "on"])  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("bypass: on (direct mode)")
    assert sandbox.nft_table() is not None
    out = sandbox.run(["env", "-i", *(f"{k}={v}" for k, v in env.items()), sys.executable, "-m", "tray_app",
                       "bypass", "off"])  # fmt: skip
    assert out.returncode == 0 and sandbox.nft_table() is None


def test_precondition_from_the_helper_is_one_line_and_exit_6(polkit_env: PolkitEnv, sandbox: Sandbox) -> None:
    """Mullvad's table without its split-tunnel accept rule: the helper enables but exits 6 with the reason."""
    mullvad = (
        "table inet mullvad {\n chain output {\n  type filter hook output priority 0; policy accept;\n }\n}\n"
    )
    sandbox.ns.run("nft", "-f", "-", input=mullvad)
    out = sandbox.run(polkit_env.cli("mtt-allow", "bypass", "on"))
    assert out.returncode == Exit.PRECONDITION
    assert out.stdout.startswith("bypass: on (direct mode)")  # the state it left, from the helper's JSON
    (line,) = out.stderr.splitlines()
    assert line.startswith(
        "mullvad-tailscale-tray: the bypass is on, but Mullvad's firewall has no split-tunnel"
    )
    assert line.endswith("(`mullvad-tailscale-tray doctor` explains more)")


def test_corrupt_saved_state_is_named_and_bypass_on_replaces_it(
    polkit_env: PolkitEnv, sandbox: Sandbox
) -> None:
    (sandbox.state / "bypass.json").write_text("{not json")
    out = sandbox.run(polkit_env.cli("mtt-allow", "bypass", "status"))
    assert out.returncode == 0, out.stderr
    first, note = out.stdout.splitlines()[:2]
    assert first == "bypass: off"
    assert note.startswith("  note: ") and "bypass.json" in note  # says which file is wrong
    # The last choice is unknown: a bare `on` must not guess direct mode (it may have been private).
    out = sandbox.run(polkit_env.cli("mtt-allow", "bypass", "on"))
    assert out.returncode == Exit.PRECONDITION
    (line,) = out.stderr.splitlines()
    assert "bypass.json" in line and "choose every part once" in line
    assert sandbox.nft_table() is None
    whole = ("--mode", "direct", "--no-containers", "--no-exit-via-mullvad")
    out = sandbox.run(polkit_env.cli("mtt-allow", "bypass", "on", *whole))
    assert out.returncode == 0, out.stderr
    assert json.loads((sandbox.state / "bypass.json").read_text())["mode"] == "direct"


def test_on_without_options_keeps_the_last_choice_and_any_change_is_said(
    polkit_env: PolkitEnv, sandbox: Sandbox
) -> None:
    """`bypass on` used to mean `--mode direct` with no options: it silently switched private mode (Tailscale
    sees only Mullvad's IP) to direct (the real IP). Now what is not given stays as last chosen, also across
    `off`, and a change is said on the line after the state."""

    def on(*args: str) -> list[str]:
        out = sandbox.run(polkit_env.cli("mtt-allow", "bypass", "on", *args))
        assert out.returncode == 0, out.stderr
        return out.stdout.splitlines()

    def private_rule() -> bool:
        return "5200:" in sandbox.ns.run("ip", "rule", "show").stdout

    # A tailnet route in table 52, so the helper has no note of its own to add.
    sandbox.ns.run("ip", "tuntap", "add", "tailscale0", "mode", "tun")
    sandbox.ns.run("ip", "link", "set", "tailscale0", "up")
    sandbox.ns.run("ip", "route", "add", "100.101.102.103", "dev", "tailscale0", "table", "52")

    assert on("--mode", "private", "--containers") == ["bypass: on (private mode, containers)"]
    assert on() == ["bypass: on (private mode, containers)"]  # unchanged, so nothing more to say
    assert private_rule()
    out = sandbox.run(polkit_env.cli("mtt-allow", "bypass", "off"))
    assert out.stdout.splitlines() == ["bypass: off"] and not private_rule()
    assert on() == ["bypass: on (private mode, containers)"]  # the choice outlives `off`
    assert private_rule()
    assert on("--mode", "direct") == [
        "bypass: on (direct mode, containers)",
        "  note: changed from private mode, containers to direct mode, containers: Tailscale, its relays and "
        "your peers now see this device's real IP",
    ]
    assert not private_rule()
    assert on("--no-containers", "--exit-via-mullvad") == [
        "bypass: on (direct mode, exit via mullvad)",
        "  note: changed from direct mode, containers to direct mode, exit via mullvad",
    ]
    assert on("--mode", "private") == [
        "bypass: on (private mode, exit via mullvad)",
        "  note: changed from direct mode, exit via mullvad to private mode, exit via mullvad: Tailscale and "
        "your peers now see only Mullvad's IP; peer connections may be relayed (slower)",
    ]


def test_ctrl_c_at_the_password_prompt_ends_the_line(polkit_env: PolkitEnv, sandbox: Sandbox) -> None:
    """Issue 14.14: with no polkit agent, pkexec asks for the password in the terminal; Ctrl-C there must
    leave the cursor on a new line (the shell's prompt used to follow "Password: " on the same line)."""
    import os
    import pty
    import select
    import time

    master, slave = pty.openpty()
    # setsid --ctty: a new session whose controlling terminal is the pty (pkexec's text agent opens /dev/tty)
    argv = ["setsid", "--ctty", "--wait", *sandbox.argv(polkit_env.cli("mtt-ask", "bypass", "on"))]
    p = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    seen = b""

    def read_until(marker: bytes, timeout: float) -> None:
        nonlocal seen
        end = time.monotonic() + timeout
        while marker not in seen:
            left = end - time.monotonic()
            assert left > 0, f"no {marker!r} in {seen!r}"
            if select.select([master], [], [], left)[0]:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # the terminal closed: everyone exited
                    break
                if not chunk:
                    break
                seen += chunk
        assert marker in seen, seen

    try:
        read_until(b"Password: ", 60)
        os.write(master, b"\x03")  # the terminal's Ctrl-C: SIGINT to the foreground process group
        assert p.wait(30) == 130
        read_until(b"interrupted", 5)
    finally:
        if p.poll() is None:
            p.kill()
        os.close(master)
    after = seen.split(b"Password: ", 1)[1]
    assert after.replace(b"^C", b"").startswith((b"\r\n", b"\n")), seen  # the next output starts a new line
    assert after.rstrip().endswith(b"mullvad-tailscale-tray: interrupted (Ctrl-C)"), seen
    assert sandbox.nft_table() is None
