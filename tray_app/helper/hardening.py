"""What a caller hands a root process besides argv and the environment: signal dispositions, the terminal and
resource limits. pkexec passes all of them through, so the helper resets them before it changes anything."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import sys

# Signals a terminal sends to its foreground process group without any permission check (Ctrl-C, Ctrl-\,
# Ctrl-Z, hang-up, background I/O). Ignored for the helper's short run, and (being inherited across exec) by
# the nft and ip it starts: an interrupt cannot stop it between adding private mode's ip rules and the nft
# batch, between the batch and saving the state, or while it holds the state lock.
TERMINAL_SIGNALS = (
    signal.SIGINT,
    signal.SIGQUIT,
    signal.SIGTSTP,
    signal.SIGTTIN,
    signal.SIGTTOU,
    signal.SIGHUP,
)

# Limits a caller could lower to make a step fail halfway (a file-size limit of 0 fails the state write, a
# process limit fails starting nft); raised back. Root may raise the hard limit too; where it may not (the
# boot unit keeps only CAP_NET_ADMIN) the soft limit is raised to the hard one.
_UNLIMITED = (
    resource.RLIMIT_CPU,
    resource.RLIMIT_FSIZE,
    resource.RLIMIT_DATA,
    resource.RLIMIT_AS,
    resource.RLIMIT_NPROC,
)
MIN_NOFILE = 1024


def ignore_terminal_signals() -> None:
    for sig in TERMINAL_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


def _raise_to(which: int, want: int) -> None:
    soft, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY and (want == resource.RLIM_INFINITY or hard < want):
        with contextlib.suppress(OSError, ValueError):
            resource.setrlimit(which, (want, want))
            return
    soft, hard = resource.getrlimit(which)
    if want == resource.RLIM_INFINITY:
        target = hard
    else:
        target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft != resource.RLIM_INFINITY and (target == resource.RLIM_INFINITY or soft < target):
        with contextlib.suppress(OSError, ValueError):
            resource.setrlimit(which, (target, hard))


def reset_limits() -> None:
    for which in _UNLIMITED:
        _raise_to(which, resource.RLIM_INFINITY)
    _raise_to(resource.RLIMIT_NOFILE, MIN_NOFILE)


def standard_streams() -> None:
    """A caller may start us with stdin, stdout or stderr closed. Open /dev/null in their place, so that no file
    the helper opens later can become fd 0-2, and give Python stream objects for them (it sets sys.stdout to
    None for a closed fd, and the helper's answer then simply goes nowhere)."""
    for fd, name, mode in ((0, "stdin", "r"), (1, "stdout", "w"), (2, "stderr", "w")):
        try:
            os.fstat(fd)
        except OSError:
            new = os.open(os.devnull, os.O_RDWR)  # the lowest free descriptor: this one
            if new != fd:  # pragma: no cover - lower ones are open by the time we get here
                os.dup2(new, fd)
                os.close(new)
        if getattr(sys, name) is None:
            setattr(sys, name, open(fd, mode, encoding="ascii", errors="backslashreplace", closefd=False))  # noqa: SIM115


def _cgroup2_mount() -> str | None:
    """Where the cgroup v2 hierarchy is mounted with its root visible, None if nowhere."""
    with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-") if "-" in fields else -1
            if sep > 0 and fields[sep + 1 : sep + 2] == ["cgroup2"] and fields[3] == "/":
                return fields[4]
    return None


def leave_callers_cgroup() -> None:
    """pkexec leaves us in the caller's cgroup. Under a systemd user session that cgroup belongs to the user,
    who may freeze it (`systemctl --user freeze`, cgroup.freeze), throttle it or cap its pids: a helper
    frozen while it holds the state lock stalls every later change and the reconciler. Where any cgroup
    from ours up is not root's, move to the hierarchy's root cgroup (exempt from cgroup v2's no-internal-
    processes rule; nft and ip are started afterwards, so they follow). Best effort: a read-only cgroupfs (the
    unit's sandbox, a container) means no caller's cgroup to leave, or none we could leave."""
    with contextlib.suppress(OSError, ValueError, StopIteration):
        with open("/proc/self/cgroup", encoding="utf-8", errors="replace") as f:
            ours = next(ln for ln in f if ln.startswith("0::"))[3:].strip()
        mount = _cgroup2_mount()
        if mount is None or ours in ("", "/") or not ours.startswith("/"):
            return
        path = os.path.normpath(mount + ours)
        while path.startswith(mount + "/"):
            if os.stat(path).st_uid != 0:
                with open(os.path.join(mount, "cgroup.procs"), "w", encoding="ascii") as f:
                    f.write(str(os.getpid()))
                return
            path = os.path.dirname(path)


def harden() -> None:
    ignore_terminal_signals()
    reset_limits()
    leave_callers_cgroup()
