"""The bypass helper's answer, understood (pure: no Qt, no I/O).

`HelperResult` is what every caller of the helper gets back (CLI, tray, doctor). `parse_status` turns the
`status` JSON of the helper contract (DESIGN.md) into a `BypassStatus`; anything it cannot trust becomes
`BypassState.UNKNOWN` with a detail that says what was wrong, never an exception.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tray_app.core.helper_errors import HelperProblem, bad_reply, explain
from tray_app.core.model import BypassState, BypassStatus
from tray_app.core.protocol import MODES, Verb, cli_enable_command


@dataclass(frozen=True, slots=True)
class HelperResult:
    verb: str
    code: int  # exit code of pkexec or the helper (negative: killed by that signal)
    stdout: str = ""
    stderr: str = ""
    via_pkexec: bool = False
    problem: HelperProblem | None = None  # None: the verb did what was asked
    status: BypassStatus | None = None  # `status` only: parsed answer (UNKNOWN when it could not be read)
    raw: Mapping[str, Any] | None = None  # `status` only: the JSON object as the helper sent it
    published: bool = False  # read from the reconciler's published file: no helper process, no pkexec

    @property
    def ok(self) -> bool:
        return self.problem is None

    @property
    def message(self) -> str:
        """The one line to show when it failed ("" on success)."""
        return self.problem.message if self.problem else ""

    @property
    def data(self) -> Mapping[str, Any] | None:
        return self.raw


class _MalformedError(ValueError):
    """The helper's `status` output breaks the contract; the message says how."""


def _str_list(value: object) -> tuple[str, ...] | None:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


def parse_status(text: str) -> tuple[BypassStatus, Mapping[str, Any] | None]:
    """Parse `bypass-helper status` output. Unknown keys are ignored (a newer helper may add some)."""
    try:
        return _parse(text)
    except _MalformedError as exc:
        return BypassStatus(BypassState.UNKNOWN, detail=bad_reply(str(exc)).message), None


def _parse(text: str) -> tuple[BypassStatus, Mapping[str, Any]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _MalformedError(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise _MalformedError("not JSON: nested too deep") from None
    if not isinstance(data, dict):
        raise _MalformedError(f"expected a JSON object, got {type(data).__name__}")
    enabled = data.get("enabled")
    if not isinstance(enabled, bool):
        raise _MalformedError("`enabled` missing or not true/false")
    mode = data.get("mode")
    if mode is not None and mode not in MODES:
        raise _MalformedError(f"unknown mode {mode!r}")
    options = _str_list(data.get("options", []))
    warnings = _str_list(data.get("warnings", []))
    if options is None or warnings is None:
        raise _MalformedError("`options` or `warnings` is not a list of strings")
    matches = data.get("matches_expected")
    if not isinstance(matches, bool):
        raise _MalformedError("`matches_expected` missing or not true/false")
    mullvad = data.get("mullvad", {})
    split_accept: bool | None = None
    if isinstance(mullvad, dict):
        value = mullvad.get("split_tunnel_accept")
        split_accept = value if isinstance(value, bool) else None
    elif mullvad is not None:
        raise _MalformedError("`mullvad` is not an object")

    told = data.get("state")  # newer helpers say it outright; older ones leave it to enabled + matches
    if told in ("on", "off", "drifted"):
        state = BypassState(told)
    elif told is not None:
        raise _MalformedError(f"unknown state {told!r}")
    elif matches:
        state = BypassState.ON if enabled else BypassState.OFF
    else:
        state = BypassState.DRIFTED
    detail = None
    if state is BypassState.DRIFTED and not warnings:
        fix = cli_enable_command(mode, options) if enabled else "mullvad-tailscale-tray bypass off"
        detail = (
            f"the bypass is not what this app would set now (changed by hand or by an upgrade): run `{fix}`"
        )
    if warnings:
        detail = "; ".join((*warnings, detail) if detail else warnings)
    rec = data.get("reconciler")
    repairs, last_repair = 0, None
    if isinstance(rec, dict):
        count = rec.get("repairs")
        repairs = count if isinstance(count, int) and not isinstance(count, bool) and count >= 0 else 0
        last = rec.get("last_repair")
        if isinstance(last, dict) and isinstance(last.get("reason"), str):
            last_repair = str(last["reason"])[:200]
    return (
        BypassStatus(
            state,
            mode=mode if enabled else None,
            detail=detail,
            options=options if enabled else (),
            split_tunnel_accept=split_accept,
            reconciled=isinstance(rec, dict),
            repairs=repairs,
            last_repair=last_repair,
        ),
        data,
    )


def make_result(verb: str, code: int, stdout: str, stderr: str, *, via_pkexec: bool) -> HelperResult:
    """Fold an exit code and the helper's output into a `HelperResult` (shared by CLI and tray).

    `status` must answer with its JSON. The changing verbs print the same JSON after they acted (also
    on `enable`'s precondition exit 6), so the caller learns the new state without asking again; for
    them an unreadable answer is no failure, just no `status`.
    """
    problem = explain(code, stderr, verb=verb, via_pkexec=via_pkexec)
    if verb == Verb.VERSION:
        return HelperResult(verb, code, stdout, stderr, via_pkexec, problem)
    if verb == Verb.STATUS and problem is not None:
        unknown = BypassStatus(BypassState.UNKNOWN, detail=problem.message)
        return HelperResult(verb, code, stdout, stderr, via_pkexec, problem, unknown)
    try:
        status, raw = _parse(stdout)
    except _MalformedError as exc:
        if verb != Verb.STATUS:
            return HelperResult(verb, code, stdout, stderr, via_pkexec, problem)
        problem = bad_reply(str(exc))
        unknown = BypassStatus(BypassState.UNKNOWN, detail=problem.message)
        return HelperResult(verb, code, stdout, stderr, via_pkexec, problem, unknown)
    return HelperResult(verb, code, stdout, stderr, via_pkexec, problem, status, raw)
