"""Every way running the helper can fail becomes one line that says what happened and what to do.

The stderr texts are the real ones: pkexec 122's (reference test-infra.md section 4, re-checked by the
pkexec tests in this directory) and the helper's `bypass-helper: error: ...` lines.
"""

from __future__ import annotations

import pytest

from tray_app.core.helper_errors import Problem, explain, helper_detail, launch_failure
from tray_app.core.protocol import Exit

NOT_AUTHORIZED = (
    "Error executing command as another user: Not authorized\n\nThis incident has been reported.\n"
)
NO_TTY_AGENT = (
    "Error creating textual authentication agent: Error opening current controlling terminal for the process "
    "(`/dev/tty'): No such device or address\n"
)
NO_AGENT = "No authentication agent found.\n"
NO_HELPER = "Error accessing /usr/libexec/mullvad-tailscale-tray/bypass-helper: No such file or directory\n"
NO_POLKIT = "Error getting authority: Error initializing authority: Could not connect: Connection refused\n"
DISMISSED = "Error executing command as another user: Request dismissed\n"


def test_success_is_no_problem() -> None:
    assert explain(0, "mullvad-tailscale-tray-helper: enable: bypass table applied") is None


def test_dismissed_dialog() -> None:
    p = explain(126, DISMISSED, verb="enable")
    assert p is not None and p.kind is Problem.CANCELLED and p.code == 126
    assert p.message == "cancelled: the authentication dialog was dismissed"


@pytest.mark.parametrize(
    ("stderr", "kind", "words"),
    [
        (NOT_AUTHORIZED, Problem.NOT_AUTHORIZED, "sudo mullvad-tailscale-tray bypass on"),
        (NO_TTY_AGENT, Problem.NO_AGENT, "start your desktop's agent"),
        (NO_AGENT, Problem.NO_AGENT, "polkit-gnome-authentication-agent-1"),
        (NO_HELPER, Problem.HELPER_MISSING, "reinstall mullvad-tailscale-tray"),
        (NO_POLKIT, Problem.POLKIT_UNAVAILABLE, "sudo systemctl start polkit"),
        ("", Problem.NOT_AUTHORIZED, "no polkit authentication agent is running"),
    ],
)
def test_pkexec_127_is_told_apart_by_its_stderr(stderr: str, kind: Problem, words: str) -> None:
    p = explain(127, stderr, verb="enable")
    assert p is not None and p.kind is kind and p.code == 127
    assert words in p.message
    assert "\n" not in p.message


def test_127_names_the_cli_action_of_the_verb() -> None:
    p = explain(127, NOT_AUTHORIZED, verb="disable")
    assert p is not None and "bypass off" in p.message


def test_126_and_127_mean_nothing_special_without_pkexec() -> None:
    p = explain(127, "", verb="status", via_pkexec=False)
    assert p is not None and p.kind is Problem.FAILED and p.code == 1


@pytest.mark.parametrize(
    ("code", "stderr", "kind", "words"),
    [
        (
            Exit.USAGE,
            "bypass-helper: error: unknown option '--bogus'\nusage: bypass-helper status|refresh|...\n",
            Problem.USAGE,
            "(unknown option '--bogus')",
        ),
        (
            Exit.NOT_ROOT,
            "bypass-helper: error: `enable` must run as root.\n",
            Problem.NOT_ROOT,
            "with sudo",
        ),
        (
            Exit.NFT_MISSING,
            "bypass-helper: error: nft not found in /usr/sbin, /sbin\n",
            Problem.NFT_MISSING,
            "sudo apt install nftables",
        ),
        (
            Exit.NFT_REJECTED,
            "bypass-helper: error: nft rejected the bypass rules; nothing was changed:\n"
            "/dev/stdin:3:1-5: Error: syntax error\n",
            Problem.NFT_REJECTED,
            "nothing was changed: /dev/stdin:3:1-5: Error: syntax error",
        ),
        (
            Exit.PRECONDITION,
            "bypass-helper: error: the bypass is on, but Mullvad's firewall has no split-tunnel accept rule\n",
            Problem.PRECONDITION,
            "the bypass is on, but Mullvad's firewall has no split-tunnel accept rule",
        ),
        (
            1,
            "bypass-helper: error: ip -j route show table 52 failed\n",
            Problem.FAILED,
            "nothing was left half done",
        ),
        (9, "", Problem.FAILED, "exit code 9"),
        (-9, "", Problem.FAILED, "signal 9"),
    ],
)
def test_helper_codes(code: int, stderr: str, kind: Problem, words: str) -> None:
    p = explain(int(code), stderr, verb="enable")
    assert p is not None and p.kind is kind
    assert words in p.message
    assert "\n" not in p.message
    assert p.code == (int(code) if kind is not Problem.FAILED else 1)


def test_detail_skips_log_lines_and_pkexec_boilerplate() -> None:
    stderr = (
        "mullvad-tailscale-tray-helper: enable: bypass table applied\n"
        "bypass-helper: error: the saved state is corrupt; nothing was changed\n"
    )
    assert helper_detail(stderr) == "the saved state is corrupt; nothing was changed"
    assert helper_detail(NOT_AUTHORIZED) == "Error executing command as another user: Not authorized"
    assert helper_detail("mullvad-tailscale-tray-helper: disable: bypass removed\n") is None
    assert helper_detail("") is None


def test_detail_is_bounded() -> None:
    detail = helper_detail("bypass-helper: error: " + "x" * 5000)
    assert detail is not None and len(detail) <= 300


def test_launch_failures() -> None:
    p = launch_failure("/usr/bin/pkexec", "No such file or directory")
    assert p.kind is Problem.PKEXEC_MISSING and "sudo apt install pkexec" in p.message
    p = launch_failure("/usr/libexec/mullvad-tailscale-tray/bypass-helper", "Permission denied")
    assert p.kind is Problem.HELPER_MISSING and "reinstall" in p.message
