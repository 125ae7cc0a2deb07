"""Run the root bypass helper: how to call it, and a blocking run for the CLI and doctor (no Qt).

As root the installed helper runs directly; otherwise through `pkexec`, which asks polkit for the action
of the verb (polkit/io.github.mullvad-tailscale-tray.policy). `version` needs no privilege and never goes
through pkexec. The tray uses the same argv through QProcess (`bypass_client.BypassClient`).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from dataclasses import dataclass

from tray_app.core.bypass_reply import HelperResult, make_result
from tray_app.core.helper_errors import launch_failure, no_answer
from tray_app.core.protocol import MODES, VERBS, Verb
from tray_app.paths import HELPER_PATH
from tray_app.rootside.published import read_status

PKEXEC = "/usr/bin/pkexec"  # absolute: pkexec's policy lookup is by the helper's path, ours by pkexec's
# pkexec clears the environment anyway; the direct (root) run gets the same clean one.
CLEAN_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}


@dataclass(frozen=True, slots=True)
class EnableOptions:
    """What `enable` changes. None leaves that part as the helper last applied it (the saved choice; direct
    mode and no options the first time): the tray sends only the mode, so it never drops an option."""

    mode: str | None = None
    containers: bool | None = None
    exit_via_mullvad: bool | None = None

    def argv(self) -> list[str]:
        out: list[str] = []
        if self.mode is not None:
            if self.mode not in MODES:
                raise ValueError(f"unknown bypass mode {self.mode!r}")
            out += ["--mode", self.mode]
        for flag, on in (("containers", self.containers), ("exit-via-mullvad", self.exit_via_mullvad)):
            if on is not None:
                out.append(f"--{flag}" if on else f"--no-{flag}")
        return out


@dataclass(frozen=True, slots=True)
class HelperCommand:
    """How to reach the helper. `prefix` wraps the whole command (tests: `ip netns exec NS runuser ...`)."""

    helper: str = HELPER_PATH
    pkexec: str = PKEXEC
    use_pkexec: bool | None = None  # None: only when not root
    prefix: tuple[str, ...] = ()
    # pkexec's own text agent prompts on the controlling terminal when no desktop agent runs: right for
    # the CLI, wrong for the tray (started from a terminal, it would wait on a prompt nobody sees).
    text_agent: bool = True

    def via_pkexec(self, verb: str) -> bool:
        if verb == Verb.VERSION:
            return False
        return self.use_pkexec if self.use_pkexec is not None else os.geteuid() != 0

    def argv(self, verb: str, options: EnableOptions | None = None) -> list[str]:
        if verb not in VERBS:
            raise ValueError(f"unknown helper verb {verb!r}")
        if options is not None and verb != Verb.ENABLE:
            raise ValueError("options only go with `enable`")
        args = [self.helper, verb, *(options.argv() if options else [])]
        if self.via_pkexec(verb):
            args = [self.pkexec, *([] if self.text_agent else ["--disable-internal-agent"]), *args]
        return [*self.prefix, *args]

    def program(self, verb: str) -> str:
        """The program whose absence would make the run fail before anything happened."""
        if self.prefix:
            return self.prefix[0]
        return self.pkexec if self.via_pkexec(verb) else self.helper


def run_helper(
    verb: str,
    options: EnableOptions | None = None,
    *,
    command: HelperCommand | None = None,
    timeout: float | None = None,
) -> HelperResult:
    """Run one verb and wait. stdin stays the caller's so pkexec's text agent can ask in a terminal.

    `status` is read from the reconciler's published file when one runs: no pkexec, no root."""
    if verb == Verb.STATUS:
        published = read_status()
        if published is not None:
            return published
    command = command or HelperCommand()
    argv = command.argv(verb, options)
    via = command.via_pkexec(verb)
    try:
        proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            env=CLEAN_ENV if not via and not command.prefix else None,
        )
    except (FileNotFoundError, PermissionError) as exc:
        problem = launch_failure(command.program(verb), exc.strerror or str(exc))
        return HelperResult(verb, problem.code, via_pkexec=via, problem=problem)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(OSError):
            proc.kill()  # EPERM once pkexec has become root: then it finishes on its own
        problem = no_answer(timeout or 0)
        return HelperResult(verb, problem.code, via_pkexec=via, problem=problem)
    return make_result(verb, proc.returncode, out, err, via_pkexec=via)
