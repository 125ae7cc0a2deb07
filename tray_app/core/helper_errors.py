"""What went wrong when the bypass helper ran, in one line with the fix (pure: no Qt, no I/O).

The helper runs through pkexec (or directly as root), so a non-zero exit code means one of three things:
pkexec's own verdict (126 dismissed, 127 refused / no agent / helper missing, told apart by pkexec's
stderr), the helper's contract codes (`core.protocol.Exit`), or something the contract does not know.
Every caller -- CLI, tray, doctor -- shows the same sentence, so it is written once, here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from tray_app.core.protocol import Exit, Verb
from tray_app.core.world import HELPER_PATH as _HELPER

# The text users see names the commands they can type; keep these in step with the CLI.
_AGENTS = (
    "e.g. /usr/lib/policykit-1-gnome/polkit-gnome-authentication-agent-1, lxpolkit, "
    "or KDE's polkit-kde-authentication-agent-1"
)
_DETAIL_MAX = 300


class Problem(StrEnum):
    CANCELLED = "cancelled"  # pkexec 126: the user dismissed the password dialog
    NOT_AUTHORIZED = "not_authorized"  # pkexec 127 "Not authorized": refused, wrong password, remote session
    NO_AGENT = "no_agent"  # pkexec 127: nobody could ask for the password
    POLKIT_UNAVAILABLE = "polkit_unavailable"  # pkexec 127: no system bus or no polkitd
    HELPER_MISSING = "helper_missing"
    PKEXEC_MISSING = "pkexec_missing"
    USAGE = "usage"
    NOT_ROOT = "not_root"
    NFT_MISSING = "nft_missing"
    NFT_REJECTED = "nft_rejected"
    PRECONDITION = "precondition"
    BUSY = "busy"  # another run of the helper held the state lock too long
    BAD_REPLY = "bad_reply"  # exit 0 but the output could not be understood
    FAILED = "failed"  # a code outside the contract (crash, signal)


@dataclass(frozen=True, slots=True)
class HelperProblem:
    kind: Problem
    code: int  # the exit code the CLI returns for it
    message: str  # one line: what happened and the fix
    detail: str | None = None  # the helper's or pkexec's own last words, for logs and doctor


def helper_detail(stderr: str) -> str | None:
    """The reason in the helper's or pkexec's own words, on one line.

    The helper ends with `bypass-helper: error: REASON` (nft's own complaint may follow on the next
    lines when REASON ends with a colon); its log lines (`mullvad-tailscale-tray-helper: ...`) are
    not reasons. pkexec says its verdict last.
    """
    lines = [raw.strip() for raw in stderr.splitlines() if raw.strip()]
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].startswith("bypass-helper:"):
            line = lines[i].removeprefix("bypass-helper:").strip().removeprefix("error:").strip()
            if line.endswith(":") and i + 1 < len(lines):
                line = f"{line} {lines[i + 1]}"
            return _short(line)
    for line in reversed(lines):
        if line.startswith(("This incident has been reported", "mullvad-tailscale-tray-helper:")):
            continue
        return _short(line)
    return None


def _short(line: str) -> str | None:
    if len(line) > _DETAIL_MAX:
        line = line[: _DETAIL_MAX - 1] + "…"
    return line or None


def _with_detail(text: str, detail: str | None) -> str:
    return f"{text} ({detail})" if detail else text


def _pkexec_127(stderr: str, verb: str) -> HelperProblem:
    code = int(Exit.PKEXEC_NOT_AUTHORIZED)
    detail = helper_detail(stderr)
    if "Error accessing" in stderr or "No such file" in stderr:
        return HelperProblem(
            Problem.HELPER_MISSING,
            code,
            f"the bypass helper is not installed at {_HELPER}: reinstall mullvad-tailscale-tray "
            "(from a checkout, see docs/polkit.md)",
            detail,
        )
    if "Error getting authority" in stderr or "Cannot create authority" in stderr:
        return HelperProblem(
            Problem.POLKIT_UNAVAILABLE,
            code,
            "polkit is not running, so pkexec cannot ask for permission: start it with "
            "`sudo systemctl start polkit` (it needs the system D-Bus), or run `sudo mullvad-tailscale-tray "
            f"bypass {_cli_action(verb)}`",
            detail,
        )
    if "authentication agent" in stderr or "/dev/tty" in stderr:
        return HelperProblem(
            Problem.NO_AGENT,
            code,
            f"no polkit authentication agent is running, so nobody could ask for your password: start your "
            f"desktop's agent ({_AGENTS}), or run `mullvad-tailscale-tray bypass {_cli_action(verb)}` in a "
            "terminal so pkexec can ask there",
            detail,
        )
    if "Not authorized" in stderr:
        return HelperProblem(
            Problem.NOT_AUTHORIZED,
            code,
            "not authorized: polkit refused to run the bypass helper (wrong password, an account that is "
            "not an administrator, or a session that is not the active local one, e.g. SSH: there use "
            f"`sudo mullvad-tailscale-tray bypass {_cli_action(verb)}`)",
            detail,
        )
    return HelperProblem(
        Problem.NOT_AUTHORIZED,
        code,
        f"not authorized, or no polkit authentication agent is running (start your desktop's agent, {_AGENTS}; "
        f"or use `sudo mullvad-tailscale-tray bypass {_cli_action(verb)}`)",
        detail,
    )


def _cli_action(verb: str) -> str:
    # the `bypass` command's words for the verb
    return "on" if verb == Verb.ENABLE else "off" if verb == Verb.DISABLE else "status"


def explain(code: int, stderr: str = "", *, verb: str = "", via_pkexec: bool = True) -> HelperProblem | None:
    """None for success; otherwise the one line a user sees. `verb` is the helper verb that ran."""
    if code == Exit.OK:
        return None
    detail = helper_detail(stderr)
    if via_pkexec and code == Exit.PKEXEC_DISMISSED:
        return HelperProblem(
            Problem.CANCELLED, code, "cancelled: the authentication dialog was dismissed", detail
        )
    if via_pkexec and code == Exit.PKEXEC_NOT_AUTHORIZED:
        return _pkexec_127(stderr, verb)
    if code == Exit.USAGE:
        return HelperProblem(
            Problem.USAGE,
            code,
            _with_detail("the bypass helper refused the request", detail)
            + ": the helper and the app are from different versions; reinstall mullvad-tailscale-tray "
            "(`mullvad-tailscale-tray doctor` checks this)",
            detail,
        )
    if code == Exit.NOT_ROOT:
        return HelperProblem(
            Problem.NOT_ROOT,
            code,
            "the bypass helper did not run as root: run `mullvad-tailscale-tray bypass ...` as your user "
            "(it goes through pkexec) or with sudo, and check that pkexec is installed setuid root",
            detail,
        )
    if code == Exit.NFT_MISSING:
        return HelperProblem(
            Problem.NFT_MISSING,
            code,
            _with_detail("a tool the bypass needs is missing", detail)
            + ": install it with `sudo apt install nftables iproute2`",
            detail,
        )
    if code == Exit.NFT_REJECTED:
        return HelperProblem(
            Problem.NFT_REJECTED,
            code,
            (detail or "nftables rejected the bypass rules; nothing was changed")
            + "; the kernel may lack nf_tables support for `inet` tables or `fib`: run "
            "`mullvad-tailscale-tray doctor` and include its output in a bug report",
            detail,
        )
    if code == Exit.PRECONDITION:
        # The helper's reason names its own fix (e.g. "the bypass is on, but Mullvad's firewall has no
        # split-tunnel accept rule ...: check `mullvad split-tunnel list` ...").
        text = detail or "a precondition of the bypass is not met; nothing was changed"
        return HelperProblem(
            Problem.PRECONDITION, code, f"{text} (`mullvad-tailscale-tray doctor` explains more)", detail
        )
    if code == Exit.BUSY:
        return HelperProblem(
            Problem.BUSY,
            code,
            detail
            or "another change of the bypass is still running; nothing was changed: try again in a minute",
            detail,
        )
    if code == Exit.FAILED:
        return HelperProblem(
            Problem.FAILED,
            code,
            _with_detail("the bypass helper could not finish; nothing was left half done", detail)
            + ": run `mullvad-tailscale-tray doctor`, and report a bug with its output if it finds nothing",
            detail,
        )
    if code < 0:
        return HelperProblem(
            Problem.FAILED,
            1,
            f"the bypass helper was killed by signal {-code}; nothing is known to have changed: run "
            "`mullvad-tailscale-tray bypass status`",
            detail,
        )
    return HelperProblem(
        Problem.FAILED,
        1,
        _with_detail(f"the bypass helper failed with exit code {code}", detail)
        + ": run `mullvad-tailscale-tray bypass status` and `mullvad-tailscale-tray doctor`, and report a bug "
        "with their output",
        detail,
    )


def launch_failure(program: str, reason: str) -> HelperProblem:
    """The helper or pkexec could not even be started (not installed, not executable)."""
    if program.endswith("pkexec"):
        return HelperProblem(
            Problem.PKEXEC_MISSING,
            int(Exit.PKEXEC_NOT_AUTHORIZED),
            f"pkexec is not installed ({program}: {reason}): install it with `sudo apt install pkexec`, "
            "or run the command with sudo",
            reason,
        )
    return HelperProblem(
        Problem.HELPER_MISSING,
        int(Exit.PKEXEC_NOT_AUTHORIZED),
        f"the bypass helper cannot be run ({program}: {reason}): reinstall mullvad-tailscale-tray",
        reason,
    )


def bad_reply(reason: str) -> HelperProblem:
    """The helper said it succeeded but its answer makes no sense: a version mismatch or a bug."""
    return HelperProblem(
        Problem.BAD_REPLY,
        1,
        f"the bypass helper's answer could not be understood ({reason}): reinstall mullvad-tailscale-tray "
        "so the helper and the app match (`mullvad-tailscale-tray doctor` checks this)",
        reason,
    )


def no_answer(seconds: float) -> HelperProblem:
    """The helper did not finish in time (only reads have a time limit; dialogs may stay open)."""
    return HelperProblem(
        Problem.FAILED,
        1,
        f"the bypass helper did not answer within {seconds:g} s: run `mullvad-tailscale-tray doctor`",
        None,
    )
