"""The saved bypass choice (`/var/lib/mullvad-tailscale-tray/bypass.json`) that `restore` re-applies at boot.

Written by root into a root-owned directory: the directory is opened without following symlinks and checked,
the file is written to a fresh temporary name and renamed over the old one (atomic), and read without
following symlinks, so nobody else can point root's writes or reads elsewhere.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import stat
import time
from collections.abc import Iterator

from tray_app.core.protocol import MODES, OPTIONS
from tray_app.core.rules import Config
from tray_app.paths import STATE_DIR

FILE_NAME = "bypass.json"
# The last choice of mode and options, kept after `disable` (which deletes bypass.json): a later `enable`
# without options takes it up again instead of falling back to direct mode.
CHOICE_NAME = "choice.json"
LOCK_NAME = "lock"
LOCK_WAIT = 60.0  # two of the helper's 30 s tool timeouts: longer than any run that is not stuck
LOCK_POLL = 0.05
FORMAT_VERSION = 1
MAX_SIZE = 4096


class StateError(RuntimeError):
    """The state directory or file cannot be used safely (message carries the fix)."""


def state_dir() -> str:
    # Tests point the helper at a temporary directory with MTT_STATE_DIR. It is honoured only when the helper
    # was not started by pkexec: pkexec clears the environment anyway and sets PKEXEC_UID, so an unprivileged
    # caller can never choose where root writes. (Never an argv option, for the same reason.)
    override = os.environ.get("MTT_STATE_DIR")
    if override and "PKEXEC_UID" not in os.environ and os.path.isabs(override):
        return override
    return STATE_DIR


def _path(name: str = FILE_NAME) -> str:
    return os.path.join(state_dir(), name)


def _check_dir(fd: int, path: str) -> None:
    st = os.fstat(fd)
    if st.st_uid != 0 or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise StateError(
            f"{path} must be owned by root and writable only by root; fix it with "
            f"`sudo chown root:root {path} && sudo chmod 0755 {path}`"
        )


def _open_dir_created() -> int:
    fd = _open_dir(create=True)
    if fd is None:  # pragma: no cover - _open_dir raises instead when create=True
        raise StateError(f"cannot create {state_dir()}")
    return fd


def _open_dir(create: bool) -> int | None:
    path = state_dir()
    if create:
        try:
            os.mkdir(path, 0o755)
        except FileExistsError:
            pass
        except OSError as e:
            raise StateError(f"cannot create {path} ({e.strerror})") from None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        if create:
            raise StateError(f"cannot create {path}") from None
        return None
    except OSError as e:
        raise StateError(f"cannot open {path} ({e.strerror}); it must be a directory owned by root") from None
    try:
        _check_dir(fd, path)
    except BaseException:
        os.close(fd)
        raise
    return fd


class LockBusyError(RuntimeError):
    """Another helper run kept the lock for longer than the bounded wait (message carries the fix)."""


def lock_wait() -> float:
    """Seconds to wait for the lock. Tests may shorten it with MTT_LOCK_WAIT, under the same rule as
    MTT_STATE_DIR (never under pkexec); it can only shorten the wait, which hurts nobody but the caller."""
    override = os.environ.get("MTT_LOCK_WAIT")
    if override and "PKEXEC_UID" not in os.environ:
        with contextlib.suppress(ValueError):
            return max(0.0, min(LOCK_WAIT, float(override)))
    return LOCK_WAIT


def _open_lock(dfd: int) -> int:
    path = os.path.join(state_dir(), LOCK_NAME)
    fix = f"remove it with `sudo rm -rf {path}` (the helper creates it again)"
    try:
        # Read-only is enough for flock and leaves no IN_CLOSE_WRITE for watchers of the directory;
        # O_NONBLOCK: a FIFO in its place must not block the open.
        fd = os.open(
            LOCK_NAME,
            os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC,
            0o600,
            dir_fd=dfd,
        )
    except OSError as e:
        raise StateError(f"cannot open the lock file {path} ({e.strerror}): {fix}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_uid != 0 or st.st_mode & 0o077 or st.st_nlink != 1:
        os.close(fd)
        raise StateError(
            f"the lock file {path} is not a regular file that only root can open, so another user could "
            f"hold it: {fix}"
        )
    return fd


@contextlib.contextmanager
def locked() -> Iterator[None]:
    """Serialise changing verbs (an app refresh racing a CLI enable, the removal scripts' `disable`).

    The lock is a root-only file (0600) in the root-only state directory, never the directory itself: any
    user can open a 0755 directory and flock it, and would then hang every refresh, disable and restore.
    The wait is bounded; only another run of this helper can hold the lock, and its steps have timeouts.
    """
    dfd = _open_dir_created()
    try:
        fd = _open_lock(dfd)
    finally:
        os.close(dfd)
    try:
        wait = lock_wait()
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockBusyError(
                        f"another change of the bypass has been running for {wait:.0f} s and still holds "
                        f"{os.path.join(state_dir(), LOCK_NAME)}; nothing was changed: try again in a minute "
                        "(`mullvad-tailscale-tray doctor` shows what is in place)"
                    ) from None
                time.sleep(LOCK_POLL)
        yield
    finally:
        os.close(fd)


def _parse(data: bytes, path: str) -> Config:
    fix = f"disable and enable the bypass again to rewrite it, or delete {path}"
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: deeply nested `[[[[...`
        raise StateError(f"saved bypass state {path} is corrupt (not JSON): {fix}") from None
    if not isinstance(obj, dict) or obj.get("version") != FORMAT_VERSION:
        raise StateError(f"saved bypass state {path} has an unknown format: {fix}")
    mode, options = obj.get("mode"), obj.get("options")
    if (
        mode not in MODES
        or not isinstance(options, list)
        or not all(isinstance(o, str) and o in OPTIONS for o in options)
        or len(set(options)) != len(options)
    ):
        raise StateError(f"saved bypass state {path} holds an unknown mode or option: {fix}")
    return Config(str(mode), frozenset(str(o) for o in options))


def load(name: str = FILE_NAME) -> Config | None:
    """The saved choice (`name`: CHOICE_NAME for the remembered one), None when nothing is saved. Raises
    StateError when it cannot be read safely."""
    path = _path(name)
    dfd = _open_dir(create=False)
    if dfd is None:
        return None
    try:
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=dfd)
        except FileNotFoundError:
            return None
        except OSError as e:
            raise StateError(
                f"saved bypass state {path} cannot be read ({e.strerror}); it must be a regular file: "
                f"remove it with `sudo rm -rf {path}` and enable the bypass again"
            ) from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_SIZE:
                raise StateError(
                    f"saved bypass state {path} is not a small regular file: remove it with "
                    f"`sudo rm -rf {path}` and enable the bypass again"
                )
            try:
                data = os.read(fd, MAX_SIZE + 1)
            except OSError as e:
                raise StateError(f"saved bypass state {path} cannot be read ({e.strerror})") from None
        finally:
            os.close(fd)
    finally:
        os.close(dfd)
    return _parse(data, path)


def check_writable() -> None:
    """Fail before any change if a later save or clear could not succeed."""
    dfd = _open_dir_created()
    try:
        for name in (FILE_NAME, CHOICE_NAME):
            try:
                st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            if stat.S_ISDIR(st.st_mode):
                raise StateError(
                    f"{_path(name)} is a directory, so the bypass state cannot be saved: remove it with "
                    f"`sudo rm -rf {_path(name)}`"
                )
    finally:
        os.close(dfd)


class Pending:
    """The new state written and fsynced under a temporary name; `commit()` renames it into place.

    `enable` prepares before it changes the kernel, so a full disk, a file-size limit or any other write error
    fails while nothing has changed yet; the rename that remains cannot run out of space.
    """

    def __init__(self, dfd: int, tmp: str, name: str) -> None:
        self._dfd = dfd
        self._tmp = tmp
        self._name = name

    def commit(self) -> None:
        try:
            # rename() replaces a symlink at the target itself, never what it points to.
            os.replace(self._tmp, self._name, src_dir_fd=self._dfd, dst_dir_fd=self._dfd)
            os.fsync(self._dfd)
        except OSError as e:
            self.discard()
            raise StateError(f"cannot save the bypass state in {state_dir()}: {e.strerror}") from None
        self._close()

    def discard(self) -> None:
        if self._dfd >= 0:
            with contextlib.suppress(OSError):
                os.unlink(self._tmp, dir_fd=self._dfd)
        self._close()

    def _close(self) -> None:
        if self._dfd >= 0:
            os.close(self._dfd)
            self._dfd = -1


def prepare(config: Config, name: str = FILE_NAME) -> Pending:
    """Write the state for `config` to a temporary file in the state directory (see Pending), to be renamed
    to `name` (bypass.json, or CHOICE_NAME)."""
    body = json.dumps({"version": FORMAT_VERSION, "mode": config.mode, "options": config.option_list}) + "\n"
    dfd = _open_dir_created()
    tmp = f".{name}.{os.getpid()}.tmp"
    try:
        # Only root writes here, so a file of this name is a leftover of an earlier run with our pid.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp, dir_fd=dfd)
        fd = os.open(
            tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=dfd
        )
        try:
            os.fchmod(fd, 0o644)
            data = body.encode()
            if os.write(fd, data) != len(data):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dfd)
        os.close(dfd)
        raise StateError(
            f"cannot save the bypass state in {state_dir()} ({e.strerror}), so nothing was changed: "
            "free space on that file system and try again"
        ) from None
    return Pending(dfd, tmp, name)


def save(config: Config) -> None:
    prepare(config).commit()


def clear() -> bool:
    """Delete the saved state; True if there was one."""
    dfd = _open_dir(create=False)
    if dfd is None:
        return False
    try:
        os.unlink(FILE_NAME, dir_fd=dfd)  # unlink never follows a symlink
        os.fsync(dfd)
        return True
    except FileNotFoundError:
        return False
    except OSError as e:
        raise StateError(
            f"cannot delete {_path()} ({e.strerror}): remove it with `sudo rm -rf {_path()}`"
        ) from None
    finally:
        os.close(dfd)
