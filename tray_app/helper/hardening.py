"""What a caller hands a root process besides argv and the environment: signal dispositions, the terminal and
resource limits. pkexec passes all of them through, so the helper resets them before it changes anything."""

from __future__ import annotations

import contextlib
import resource
import signal

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


def harden() -> None:
    ignore_terminal_signals()
    reset_limits()
