"""One line per change to syslog (`/dev/log`), or to stderr where there is no syslog socket."""

from __future__ import annotations

import os
import sys
import syslog

IDENT = "mullvad-tailscale-tray-helper"


def _who() -> str:
    # PKEXEC_UID is set by pkexec itself (not forwardable by the caller): record who asked.
    uid = os.environ.get("PKEXEC_UID")
    return f" (requested by uid {uid})" if uid and uid.isdigit() else ""


def change(message: str) -> None:
    line = message + _who()
    if os.path.exists("/dev/log"):
        syslog.openlog(IDENT, syslog.LOG_PID, syslog.LOG_DAEMON)
        syslog.syslog(syslog.LOG_NOTICE, line)
    else:
        print(f"{IDENT}: {line}", file=sys.stderr)
