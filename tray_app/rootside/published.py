"""The bypass status the root reconciler publishes (/run/mullvad-tailscale-tray/bypass-status.json).

When `bypass-helper watch` runs (mullvad-tailscale-bypass.service), every reader -- the tray, `status`,
`watch`, `bypass status`, `doctor` -- takes the bypass status from this world-readable file instead of
running `pkexec bypass-helper status`. It is trusted only if root owns it and the reconciler that wrote it
is still alive (its pid a root process with the start time the file names); otherwise callers fall back to asking the helper (a checkout, no systemd, a crashed unit).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import stat

from tray_app.core.bypass_reply import HelperResult, make_result
from tray_app.core.procstat import start_ticks
from tray_app.core.protocol import Verb
from tray_app.paths import STATUS_FILE

MAX_SIZE = 1 << 16


def status_path() -> str:
    # Tests point readers at their own reconciler's file; the file is only trusted if root owns it.
    return os.environ.get("MTT_STATUS_FILE") or STATUS_FILE


def run_dir() -> str:
    return os.path.dirname(status_path())


def _start_ticks(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return start_ticks(f.read())
    except OSError:
        return None


def _alive(reconciler: object) -> bool:
    """Is the reconciler that wrote the file still running? A file outlives a reconciler killed outside
    systemd, and any user can start processes until one gets its pid: so the pid must be a root process with
    the start time (ticks since boot, immune to clock steps) the reconciler wrote. Unverifiable (/proc
    mounted hidepid) = no: the caller asks the helper instead."""
    if not isinstance(reconciler, dict):
        return False
    pid, ticks = reconciler.get("pid"), reconciler.get("start_ticks")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 1 or not isinstance(ticks, int):
        return False
    try:
        owner = os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return False
    return owner == 0 and _start_ticks(pid) == ticks


def read_text(path: str | None = None) -> str | None:
    """The published JSON text, or None when there is no live reconciler behind it."""
    path = path or status_path()
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != 0 or st.st_size > MAX_SIZE:
            return None
        data = os.read(fd, MAX_SIZE + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    text = data.decode("utf-8", "replace")
    reconciler = None
    with contextlib.suppress(ValueError, RecursionError, AttributeError, TypeError):
        reconciler = json.loads(text).get("reconciler")
    return text if _alive(reconciler) else None


def read_status(path: str | None = None) -> HelperResult | None:
    """The published status as a `status` verb's answer, or None: ask the helper instead."""
    text = read_text(path)
    if text is None:
        return None
    return dataclasses.replace(make_result(Verb.STATUS, 0, text, "", via_pkexec=False), published=True)
