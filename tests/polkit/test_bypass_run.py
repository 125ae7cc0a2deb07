"""The blocking runner used by the CLI and doctor, against real programs standing in for a broken install."""

from __future__ import annotations

from pathlib import Path

from tray_app.core.helper_errors import Problem
from tray_app.rootside.bypass_run import EnableOptions, HelperCommand, run_helper


def _script(tmp_path: Path, body: str) -> str:
    path = tmp_path / "bypass-helper"
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return str(path)


def test_helper_that_never_answers_is_reported_not_waited_for(tmp_path: Path) -> None:
    cmd = HelperCommand(helper=_script(tmp_path, "exec sleep 30"), use_pkexec=False)
    result = run_helper("status", command=cmd, timeout=0.5)
    assert result.problem is not None and result.problem.kind is Problem.FAILED
    assert result.problem.message.startswith("the bypass helper did not answer within 0.5 s")


def test_missing_helper_when_run_directly(tmp_path: Path) -> None:
    cmd = HelperCommand(helper=str(tmp_path / "absent"), use_pkexec=False)
    result = run_helper("status", command=cmd)
    assert result.problem is not None and result.problem.kind is Problem.HELPER_MISSING
    assert result.code == 127 and "reinstall mullvad-tailscale-tray" in result.problem.message


def test_direct_run_gets_a_clean_environment_and_the_exact_argv(tmp_path: Path, monkeypatch: object) -> None:
    helper = _script(tmp_path, 'printf "%s|" "$@"; env | sort | tr "\\n" " " >&2; exit 6')
    monkeypatch.setenv("PYTHONPATH", "/attacker")  # type: ignore[attr-defined]
    cmd = HelperCommand(helper=helper, use_pkexec=False)
    result = run_helper("enable", EnableOptions(mode="private", containers=True), command=cmd)
    assert result.stdout == "enable|--mode|private|--containers|"
    assert "PYTHONPATH" not in result.stderr and "PATH=/usr/sbin:/usr/bin:/sbin:/bin" in result.stderr
    assert result.code == 6 and result.problem is not None and result.problem.kind is Problem.PRECONDITION


def test_version_never_goes_through_pkexec() -> None:
    assert HelperCommand(use_pkexec=True).argv("version") == [
        "/usr/libexec/mullvad-tailscale-tray/bypass-helper",
        "version",
    ]
