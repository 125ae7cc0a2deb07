"""Finding and running nft and ip: fixed absolute paths, no shell, a cleared environment.

The helper runs as root on behalf of an unprivileged caller, so nothing here comes from the caller: not PATH,
not locale, not the binary to run.
"""

from __future__ import annotations

import os
import stat
import subprocess
from typing import NamedTuple

# Searched in this order; PATH is never consulted.
CANDIDATES = {
    # NixOS keeps system tools under /run/current-system (root-owned links into the read-only store).
    "nft": ("/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft", "/bin/nft", "/run/current-system/sw/bin/nft"),
    "ip": ("/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip", "/run/current-system/sw/bin/ip"),
}
CHILD_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"}
TIMEOUT = 30.0

INSTALL_HINT = {
    "nft": "install nftables (`sudo apt install nftables`, `sudo dnf install nftables`, `sudo pacman -S nftables`)",
    "ip": "install iproute2 (`sudo apt install iproute2`)",
}


class ToolMissingError(RuntimeError):
    def __init__(self, name: str) -> None:
        self.name = name
        paths = ", ".join(CANDIDATES[name])
        super().__init__(
            f"`{name}` was not found as an executable file at {paths} (it must be owned by root and writable "
            f"only by root): {INSTALL_HINT[name]}"
        )


class ToolFailedError(RuntimeError):
    """A tool ran but did not do what was asked (message includes its stderr)."""


def find(name: str) -> str:
    for path in CANDIDATES[name]:
        try:
            st = os.stat(path)
        except OSError:
            continue
        # A regular, root-owned file that root can execute and nobody else can replace.
        if (
            stat.S_ISREG(st.st_mode)
            and st.st_uid == 0
            and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
            and st.st_mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        ):
            return path
    raise ToolMissingError(name)


class Result(NamedTuple):
    rc: int
    out: str
    err: str


def run(name: str, *args: str, stdin: str | None = None) -> Result:
    path = find(name)
    try:
        p = subprocess.run(
            [path, *args],
            check=False,
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            env=CHILD_ENV,
            timeout=TIMEOUT,
            close_fds=True,
            cwd="/",
        )
    except subprocess.TimeoutExpired:
        raise ToolFailedError(f"`{name} {' '.join(args)}` did not finish within {TIMEOUT:.0f} s") from None
    except OSError as e:
        # Found but not runnable (e.g. a broken binary or a noexec mount): same as missing for the user.
        raise ToolMissingError(name) from e
    return Result(p.returncode, p.stdout, p.stderr)


class Job:
    """A child started now and collected later (`result()`), so that read-only listings overlap with other
    work: same fixed path, environment and timeout as run(). `close()` ends it if nobody collected it."""

    def __init__(self, name: str, *args: str) -> None:
        self._what = f"`{name} {' '.join(args)}`"
        self._result: Result | None = None
        try:
            self._proc = subprocess.Popen(
                [find(name), *args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=CHILD_ENV,
                close_fds=True,
                cwd="/",
            )
        except OSError as e:
            raise ToolMissingError(name) from e

    def result(self) -> Result:
        if self._result is None:
            try:
                out, err = self._proc.communicate(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                self.close()
                raise ToolFailedError(f"{self._what} did not finish within {TIMEOUT:.0f} s") from None
            self._result = Result(self._proc.returncode, out, err)
        return self._result

    def close(self) -> None:
        if self._result is not None:  # collected: already reaped
            return
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.communicate()


def short(text: str, lines: int = 12) -> str:
    """nft's error output trimmed to something a notification or terminal line can carry."""
    kept = [ln.rstrip() for ln in text.strip().splitlines() if ln.strip()][:lines]
    return "\n".join(kept)
