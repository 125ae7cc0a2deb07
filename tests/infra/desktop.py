"""Real desktop pieces for tests on the private session bus and Xvfb started by tests/conftest.py."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

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


def stop(p: subprocess.Popen[bytes]) -> None:
    p.terminate()
    try:
        p.wait(5)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


@contextmanager
def running(
    argv: list[str], ready: Callable[[], bool], gone: Callable[[], bool] | None = None
) -> Iterator[None]:
    require_tools(argv[0])
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(ready, 10, f"{argv[0]} ready")
        yield
    finally:
        stop(p)
        if gone is not None:
            wait_until(gone, 5, f"{argv[0]} gone")


def dunst() -> AbstractContextManager[None]:
    name = "org.freedesktop.Notifications"
    return running(["dunst"], lambda: bus_has_name(name), lambda: not bus_has_name(name))


def sni_host() -> AbstractContextManager[None]:
    name = "org.kde.StatusNotifierWatcher"
    return running(
        ["gtk-sni-tray-standalone", "--top", "--end", "--watcher", "--size", "32", "--color", "#333333"],
        lambda: bus_has_name(name),
        lambda: not bus_has_name(name),
    )
