"""The helper's `status` JSON -> BypassStatus: what the tray and `bypass status` show.

VALID is the helper's real output (captured from `python3 -m tray_app.helper status` in a namespace);
the property test feeds it damaged and arbitrary text: the answer is a BypassStatus, never an exception.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tray_app.cli import build_parser
from tray_app.core.bypass_reply import make_result, parse_status
from tray_app.core.helper_errors import Problem
from tray_app.core.model import BypassState
from tray_app.core.protocol import cli_enable_command

VALID: dict[str, Any] = {
    "enabled": True,
    "state": "on",
    "mode": "direct",
    "options": ["containers"],
    "tailnet4": ["100.64.0.0/10"],
    "tailnet6": ["fd7a:115c:a1e0::/48"],
    "matches_expected": True,
    "mullvad": {"table": True, "split_tunnel_accept": True},
    "warnings": [],
    "protocol": 1,
    "tailscale_connmark": "none",
    "private_rules": False,
    "table52_default_route": False,
    "saved": {"mode": "direct", "options": ["containers"]},
}


def _with(**changes: Any) -> str:
    return json.dumps({**VALID, **changes})


def test_on() -> None:
    status, raw = parse_status(json.dumps(VALID))
    assert status.state is BypassState.ON
    assert (status.mode, status.options, status.detail) == ("direct", ("containers",), None)
    assert status.split_tunnel_accept is True
    assert raw is not None and raw["protocol"] == 1


def test_off_forgets_mode_and_options() -> None:
    status, _ = parse_status(_with(enabled=False, state="off", mode=None, options=[]))
    assert status.state is BypassState.OFF and status.mode is None and status.options == ()


def test_drifted_carries_the_helpers_warnings() -> None:
    warning = "the output chain differs from what mullvad-tailscale-tray renders"
    status, _ = parse_status(_with(state="drifted", matches_expected=False, warnings=[warning]))
    assert status.state is BypassState.DRIFTED and status.detail == warning and status.mode == "direct"


def test_drifted_without_a_warning_gives_one_fix_that_exists() -> None:
    """Issue 14 item 8: one command, the CLI's own, with the mode and options it was on with."""
    status, _ = parse_status(_with(state="drifted", matches_expected=False))
    assert status.detail is not None
    assert status.detail.endswith("run `mullvad-tailscale-tray bypass on --mode direct --containers`")
    assert "refresh" not in status.detail and "off" not in status.detail
    status, _ = parse_status(
        _with(enabled=False, state="drifted", matches_expected=False, mode=None, options=[])
    )
    assert status.detail is not None and status.detail.endswith("run `mullvad-tailscale-tray bypass off`")


def test_saved_but_not_loaded_is_drifted_even_from_an_older_helper_without_state() -> None:
    data = {k: v for k, v in VALID.items() if k != "state"}
    status, _ = parse_status(json.dumps({**data, "enabled": False, "matches_expected": False, "mode": None}))
    assert status.state is BypassState.DRIFTED and status.mode is None


def test_no_split_tunnel_accept_rule_is_reported() -> None:
    status, _ = parse_status(_with(mullvad={"table": True, "split_tunnel_accept": False}))
    assert status.split_tunnel_accept is False


def test_unknown_keys_are_ignored() -> None:
    status, _ = parse_status(_with(future_field={"x": [1, 2]}, another=None))
    assert status.state is BypassState.ON


def test_minimal_contract_object() -> None:
    text = '{"enabled": false, "mode": null, "matches_expected": true}'
    status, _ = parse_status(text)
    assert status.state is BypassState.OFF and status.split_tunnel_accept is None


def _unknown(text: str) -> str:
    status, raw = parse_status(text)
    assert status.state is BypassState.UNKNOWN and raw is None
    assert status.detail is not None and "could not be understood" in status.detail
    return status.detail


def test_malformed() -> None:
    assert "not JSON" in _unknown("")
    assert "not JSON" in _unknown("bypass is on")
    assert "expected a JSON object, got list" in _unknown("[1, 2]")
    assert "`enabled`" in _unknown(_with(enabled="yes"))
    assert "unknown mode 'stealth'" in _unknown(_with(mode="stealth"))
    assert "unknown state 'maybe'" in _unknown(_with(state="maybe"))
    assert "`options`" in _unknown(_with(options="containers"))
    assert "`matches_expected`" in _unknown(json.dumps({"enabled": True}))
    assert "`mullvad`" in _unknown(_with(mullvad=["table"]))
    assert "nested too deep" in _unknown("[" * 100000 + "]" * 100000)


def test_truncated_at_every_length_is_unknown_not_a_crash() -> None:
    text = json.dumps(VALID)
    for cut in range(len(text)):
        assert parse_status(text[:cut])[0].state is BypassState.UNKNOWN


@given(st.text(max_size=300))
def test_arbitrary_text_never_raises(text: str) -> None:
    status, _ = parse_status(text)
    assert isinstance(status.state, BypassState)


@given(st.dictionaries(st.sampled_from(sorted(VALID)), st.none() | st.booleans() | st.integers() | st.text()))
def test_arbitrary_values_never_raise(changes: dict[str, Any]) -> None:
    status, _ = parse_status(_with(**changes))
    assert isinstance(status.state, BypassState)


def test_status_failure_makes_an_unknown_status_with_the_same_message() -> None:
    result = make_result("status", 127, "", "No authentication agent found.\n", via_pkexec=True)
    assert result.problem is not None and result.problem.kind is Problem.NO_AGENT
    assert result.status is not None and result.status.state is BypassState.UNKNOWN
    assert result.status.detail == result.problem.message == result.message


def test_status_with_garbage_output_is_a_bad_reply() -> None:
    result = make_result("status", 0, "Traceback (most recent call last):", "", via_pkexec=True)
    assert not result.ok and result.problem is not None and result.problem.kind is Problem.BAD_REPLY
    assert result.status is not None and result.status.state is BypassState.UNKNOWN


def test_changing_verbs_carry_the_state_they_left() -> None:
    result = make_result("enable", 0, json.dumps(VALID) + "\n", "", via_pkexec=True)
    assert result.ok and result.status is not None and result.status.state is BypassState.ON
    # exit 6 after enabling: a problem, and still the state it left
    stderr = (
        "bypass-helper: error: the bypass is on, but Mullvad's firewall has no split-tunnel accept rule\n"
    )
    result = make_result("enable", 6, json.dumps(VALID), stderr, via_pkexec=True)
    assert result.problem is not None and result.problem.kind is Problem.PRECONDITION
    assert result.status is not None and result.status.state is BypassState.ON


def test_changing_verb_without_json_is_still_ok() -> None:
    result = make_result("disable", 0, "", "", via_pkexec=False)
    assert result.ok and result.status is None


@pytest.mark.parametrize(
    ("mode", "options"),
    [("direct", []), ("private", ["containers"]), ("private", ["exit-via-mullvad", "containers"])],
)
def test_the_fix_we_advise_is_a_command_the_cli_accepts(mode: str, options: list[str]) -> None:
    """The advised command parses with the real CLI (issue 14 item 8): the saved mode, the saved options on, and
    the others not given, which keeps the last choice (the saved one: `enable` writes both together)."""
    words = cli_enable_command(mode, options).split()
    assert words[0] == "mullvad-tailscale-tray"
    args = build_parser().parse_args(words[1:])
    assert (args.command, args.action, args.mode) == ("bypass", "on", mode)
    assert args.containers is (True if "containers" in options else None)
    assert args.exit_via_mullvad is (True if "exit-via-mullvad" in options else None)
