"""A private X display and session bus, shared by the test-suite, the screenshot script and the benchmarks."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

SESSION_BUS_CONF = Path(__file__).resolve().parent / "test-session-bus.conf"


def start_xvfb() -> tuple[subprocess.Popen[bytes], str]:
    """Xvfb on a free display; returns the process and ":N"."""
    r, w = os.pipe()
    p = subprocess.Popen(
        # -noreset: Xvfb otherwise resets when its last client leaves, and a client connecting during the
        # reset gets "cannot open display" (seen with trayer between tests).
        ["Xvfb", "-displayfd", str(w), "-screen", "0", "1024x768x24", "-nolisten", "tcp", "-noreset"],
        pass_fds=(w,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(w)
    num = b""
    while not num.endswith(b"\n"):
        chunk = os.read(r, 16)
        if not chunk:
            raise RuntimeError("Xvfb died")
        num += chunk
    os.close(r)
    return p, ":" + num.decode().strip()


def start_session_bus() -> tuple[subprocess.Popen[str], str]:
    """A hermetic session bus (no service activation); returns the process and its address."""
    p = subprocess.Popen(
        ["dbus-daemon", f"--config-file={SESSION_BUS_CONF}", "--nofork", "--nopidfile", "--print-address=1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # as root it warns "Failed to set fd limit": harmless
        text=True,
    )
    assert p.stdout is not None
    return p, p.stdout.readline().strip()
