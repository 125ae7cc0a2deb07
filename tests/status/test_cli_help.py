"""Issue 14.14: the command line explains itself. Every command and option says what it does, none starts
the tray, `bypass` alone lists its actions, and the daemon options work after the command too."""

from __future__ import annotations

import argparse
import subprocess
import sys

from tests.fakes.fake_localapi import FakeLocalApi
from tests.fakes.fake_mullvad import FakeMullvad
from tests.infra.netns import NetNS
from tests.status.conftest import ROOT
from tests.status.test_cli import headless
from tray_app.cli import build_parser


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tray_app", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
    )


def _parsers() -> dict[str, argparse.ArgumentParser]:
    top = build_parser()
    out = {"": top}
    for action in top._actions:
        if isinstance(action, argparse._SubParsersAction):
            out.update(action.choices)
    return out


def test_every_command_and_option_has_a_description() -> None:
    top = build_parser()
    sub = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    assert all(c.help for c in sub._choices_actions), [c.dest for c in sub._choices_actions if not c.help]
    missing = [
        f"{name or 'mullvad-tailscale-tray'} {'/'.join(a.option_strings) or a.dest}"
        for name, parser in _parsers().items()
        for a in parser._actions
        if not isinstance(a, argparse._SubParsersAction) and not a.help
    ]
    assert missing == []


def test_help_says_no_command_starts_the_tray() -> None:
    out = run("--help")
    assert out.returncode == 0
    text = " ".join(out.stdout.split())
    assert "Run it without a COMMAND to start the tray" in text
    assert "none of them starts it" in text
    doctor = " ".join(run("doctor", "--help").stdout.split())
    assert '--json machine-readable output: {"checks"' in doctor


def test_bypass_without_an_action_lists_them() -> None:
    for command in ("bypass", "autostart"):
        out = run(command)
        assert out.returncode == 2
        assert out.stderr.splitlines()[-1].endswith("the following arguments are required: on|off|status")


def test_daemon_options_work_after_the_command(
    netns: NetNS, mullvad: FakeMullvad, tailscaled: FakeLocalApi
) -> None:
    env = headless(dict(__import__("os").environ, PYTHONPATH=str(ROOT)))
    for key in ("MTT_MULLVAD_CLI", "MTT_TAILSCALE_SOCKET", "MTT_TAILSCALE_CLI"):
        env.pop(key, None)
    after = ["status", "--tailscale-socket", tailscaled.path, "--mullvad-cli", str(mullvad.cli)]
    before = ["--tailscale-socket", tailscaled.path, "--mullvad-cli", str(mullvad.cli), "status"]
    for argv in (after, before, ["--tailscale-socket", "/nonexistent.sock", *after]):
        out = netns.run(sys.executable, "-m", "tray_app", *argv, env=env, check=False)
        assert out.returncode == 0, out.stderr
        lines = out.stdout.splitlines()
        assert lines[0].startswith("Mullvad: connected to se-got-wg-001"), (argv, lines)
        assert lines[1].startswith("Tailscale: running as"), (argv, lines)
    # where they do not apply, the error says where they go
    out = run("bypass", "status", "--tailscale-socket", tailscaled.path)
    assert out.returncode == 2
    assert out.stderr.splitlines()[-1] == (
        "mullvad-tailscale-tray: error: --tailscale-socket is a global option: put it before the command "
        "(`mullvad-tailscale-tray --tailscale-socket PATH bypass ...`)"
    )
