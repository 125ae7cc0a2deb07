"""Real desktop pieces for tests on the private session bus and Xvfb started by tests/conftest.py."""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from tests.infra.require import require_tools


def bus_has_name(name: str) -> bool:
    r = subprocess.run(
        [
            "dbus-send",
            "--session",
            "--print-reply",
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.NameHasOwner",
            f"string:{name}",
        ],
        capture_output=True,
        text=True,
    )
    return "boolean true" in r.stdout


def wait_until(pred: Callable[[], bool], timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise TimeoutError(what)
        time.sleep(0.02)


def stop(p: subprocess.Popen[Any] | None, grace: float = 5) -> None:
    """Terminate `p` (if it still runs), and kill it when it has not ended after `grace` seconds."""
    if p is None or p.poll() is not None:
        return
    p.terminate()
    try:
        p.wait(grace)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(5)


def _start(argv: list[str], ready: Callable[[], bool], attempts: int) -> subprocess.Popen[bytes]:
    """Start `argv` and wait until `ready`; a process that exits before it is ready is started again
    (up to `attempts` times) and its stderr is in the error when it never comes up."""
    reason = ""
    for _ in range(attempts):
        with tempfile.TemporaryFile() as err:
            p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err)
            end = time.monotonic() + 10
            while not ready():
                if p.poll() is not None or time.monotonic() > end:
                    break
                time.sleep(0.02)
            else:
                return p
            stop(p)
            err.seek(0)
            reason = err.read().decode(errors="replace")[-500:]
    raise TimeoutError(f"{argv[0]} did not come up in {attempts} attempts; last stderr: {reason}")


@contextmanager
def running(
    argv: list[str], ready: Callable[[], bool], gone: Callable[[], bool] | None = None, attempts: int = 1
) -> Iterator[None]:
    require_tools(argv[0])
    p = _start(argv, ready, attempts)
    try:
        yield
    finally:
        stop(p)
        if gone is not None:
            wait_until(gone, 5, f"{argv[0]} gone")


def dunst() -> AbstractContextManager[None]:
    name = "org.freedesktop.Notifications"
    return running(["dunst"], lambda: bus_has_name(name), lambda: not bus_has_name(name))


def sni_host_registered() -> bool:
    """The watcher knows a host: what a tray item needs before it registers."""
    r = subprocess.run(
        ["dbus-send", "--session", "--print-reply", "--dest=org.kde.StatusNotifierWatcher",
         "/StatusNotifierWatcher", "org.freedesktop.DBus.Properties.Get",
         "string:org.kde.StatusNotifierWatcher", "string:IsStatusNotifierHostRegistered"],
        capture_output=True, text=True,
    )  # fmt: skip
    return "boolean true" in r.stdout


def sni_host() -> AbstractContextManager[None]:
    name = "org.kde.StatusNotifierWatcher"
    return running(
        ["gtk-sni-tray-standalone", "--top", "--end", "--watcher", "--size", "32", "--color", "#333333"],
        # ready = its host half registered too: that half is the one that dies at start (below), so a start
        # where only the watcher came up is retried here instead of failing the test that waits for a host
        lambda: bus_has_name(name) and sni_host_registered(),
        lambda: not bus_has_name(name),
        # Its host half sometimes registers before its own watcher half owns the name, gets ServiceUnknown
        # and exits ("Pattern match failure in do expression at app/Main.hs:177"): 2 starts in 30 here.
        attempts=3,
    )
