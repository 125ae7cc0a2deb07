"""The bypass status the root reconciler publishes (/run/mullvad-tailscale-tray/bypass-status.json).

When `bypass-helper watch` runs (mullvad-tailscale-bypass.service), every reader -- the tray, `status`,
`watch`, `bypass status`, `doctor` -- takes the bypass status from this world-readable file instead of
running `pkexec bypass-helper status`. It is trusted only if root owns it and the reconciler that wrote it
is still alive; otherwise callers fall back to asking the helper (a checkout, no systemd, a crashed unit).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import stat

from tray_app.core.bypass_reply import HelperResult, make_result
from tray_app.paths import STATUS_FILE

MAX_SIZE = 1 << 16


def status_path() -> str:
    # Tests point readers at their own reconciler's file; the file is only trusted if root owns it.
    return os.environ.get("MTT_STATUS_FILE") or STATUS_FILE


def run_dir() -> str:
    return os.path.dirname(status_path())


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 1:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # root's process, which we may not signal: it exists
    return True


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
    pid = None
    with contextlib.suppress(ValueError, RecursionError, AttributeError, TypeError):
        pid = json.loads(text).get("reconciler", {}).get("pid")
    return text if _alive(pid) else None


def read_status(path: str | None = None) -> HelperResult | None:
    """The published status as a `status` verb's answer, or None: ask the helper instead."""
    text = read_text(path)
    if text is None:
        return None
    return dataclasses.replace(make_result("status", 0, text, "", via_pkexec=False), published=True)
