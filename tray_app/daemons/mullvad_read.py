"""The Mullvad status read once, synchronously, for `mullvad-tailscale-tray status` and `doctor` (no Qt, no
event loop); the watching source is `mullvad.py`."""

from __future__ import annotations

import subprocess
import time

from tray_app.core.model import MullvadState, MullvadStatus
from tray_app.core.mullvad_parse import (
    cli_error_detail,
    is_json_unsupported,
    is_unknown_subcommand,
    merge_status,
    missing_cli_detail,
    parse_json_output,
    parse_lockdown,
    parse_text_status,
    parse_version,
    unavailable,
)


def _spawn(cli: str, args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [cli, *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
    )


def _finish(proc: subprocess.Popen[str], deadline: float) -> tuple[int, str, str] | None:
    try:
        out, err = proc.communicate(timeout=max(0.01, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return None
    return proc.returncode, out, err


def read_status(cli: str = "mullvad", timeout: float = 5.0) -> MullvadStatus:
    """The current Mullvad status from the CLI, synchronously (for `status`); never raises."""
    deadline = time.monotonic() + timeout
    try:
        status_proc = _spawn(cli, ["status", "--json"])
        version_proc = _spawn(cli, ["version"])
        lockdown_proc = _spawn(cli, ["lockdown-mode", "get"])
    except FileNotFoundError:
        return unavailable(missing_cli_detail(cli))
    except OSError as exc:
        return unavailable(f"cannot run the Mullvad command `{cli}`: {exc.strerror or exc}")
    hung = unavailable(
        f"`{cli} status` did not answer within {timeout:g} s: the daemon may be hung; "
        "restart it with `sudo systemctl restart mullvad-daemon`"
    )
    answer = _finish(status_proc, deadline)
    version_answer = _finish(version_proc, deadline)
    lockdown_answer = _finish(lockdown_proc, deadline)
    if answer is None:
        return hung
    code, out, err = answer
    if code != 0 and is_json_unsupported(err, code):
        try:
            answer = _finish(_spawn(cli, ["status"]), deadline)
        except OSError as exc:
            return unavailable(f"cannot run the Mullvad command `{cli}`: {exc.strerror or exc}")
        if answer is None:
            return hung
        code, out, err = answer
        state = parse_text_status(out, err) if code == 0 else unavailable(cli_error_detail(err, code))
    else:
        state = parse_json_output(out) if code == 0 else unavailable(cli_error_detail(err, code))
    if state.state is MullvadState.UNAVAILABLE:
        return state
    version = parse_version(version_answer[1]) if version_answer and version_answer[0] == 0 else None
    lockdown = None
    if lockdown_answer and lockdown_answer[0] == 0:
        lockdown = parse_lockdown(lockdown_answer[1])
    elif lockdown_answer and is_unknown_subcommand(lockdown_answer[2], lockdown_answer[0]):
        try:
            old = _finish(_spawn(cli, ["block-when-disconnected", "get"]), deadline)
        except OSError:
            old = None
        lockdown = parse_lockdown(old[1]) if old and old[0] == 0 else None
    return merge_status(state, version, lockdown)
