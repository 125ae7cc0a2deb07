"""`bypass-helper watch`: the root reconciler (the long-running mullvad-tailscale-bypass.service).

At start it re-applies the saved choice (what `restore` does), tells systemd it is ready, and then waits on
kernel events only (no timer, no polling):

* rtnetlink: routes of table 52 and of the main table (the LAN), ip rules, links coming and going -> the
  sets (and private mode's ip rules) are brought back in line with one nft transaction per burst;
* nf_tables notifications: anything touching `inet mullvad-tailscale` (a hand edit, `nft flush ruleset`, an
  nftables.service restart) -> the table is checked and re-applied when it is not what we applied; `enable`
  and `disable` run elsewhere show up the same way (their batch touches our table), so the saved choice is
  re-read on every such event, under the state lock;
* changes to Mullvad's and Tailscale's tables -> the published status is renewed.

While the bypass is off only our own table's events count. The status (the `status` verb's JSON plus a
`reconciler` object) is published atomically to /run/mullvad-tailscale-tray/bypass-status.json, root-owned
and world-readable, whenever it changes, so unprivileged readers need no pkexec. SIGTERM/SIGINT stop it
cleanly (the table stays until `disable`); SIGHUP re-checks everything.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import select
import signal
import socket
import stat
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from tray_app.core import procstat, rules, rules_readback
from tray_app.core import routes as routes_mod
from tray_app.core.protocol import Exit
from tray_app.core.rules import Config
from tray_app.helper import facts, iprules, log, main, netlink, nft, state, tools
from tray_app.paths import RUN_DIR, STATUS_FILE_NAME

QUIET_S = 0.003  # a burst of route events (tailscaled adds them one by one) becomes one transaction ...
MAX_DELAY_S = 0.100  # ... but a never-ending burst still gets one every 100 ms
RETRY_S = 1.0  # after the lock could not be had (each try already waited state.lock_wait())
STATUS_VERSION = 1
ROUTES_CHANGED = "the routes in table 52 or of this host's LAN changed"
TABLE_GONE = "its table was removed (nft flush ruleset, an nftables reload, or by hand)"


class RunDirError(RuntimeError):
    pass


def run_dir() -> str:
    # Tests and the replica use MTT_RUN_DIR, honoured like MTT_STATE_DIR (never under pkexec, absolute only).
    override = os.environ.get("MTT_RUN_DIR")
    if override and "PKEXEC_UID" not in os.environ and os.path.isabs(override):
        return override
    return RUN_DIR


def _open_run_dir() -> int:
    path = run_dir()
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o755)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    st = os.fstat(fd)
    if st.st_uid != os.geteuid() or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        os.close(fd)
        raise RunDirError(
            f"{path} must be owned by root and writable only by root; remove it (`sudo rm -rf {path}`) and "
            "restart mullvad-tailscale-bypass.service"
        )
    if st.st_mode & 0o777 != 0o755:
        os.fchmod(fd, 0o755)  # readers must be able to find the file; nothing else may write here
    return fd


class Publisher:
    """Writes the status file atomically (temporary name + rename in a root-only directory)."""

    def __init__(self) -> None:
        self._dfd = _open_run_dir()
        self._last: str | None = None
        self._tmp = f".{STATUS_FILE_NAME}.{os.getpid()}.tmp"

    def publish(self, obj: dict[str, Any]) -> bool:
        body = json.dumps(obj, sort_keys=True) + "\n"
        if body == self._last:
            return False
        try:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._tmp, dir_fd=self._dfd)
            fd = os.open(
                self._tmp,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o644,
                dir_fd=self._dfd,
            )
            try:
                os.fchmod(fd, 0o644)
                data = body.encode()
                if os.write(fd, data) != len(data):
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            finally:
                os.close(fd)
            os.replace(self._tmp, STATUS_FILE_NAME, src_dir_fd=self._dfd, dst_dir_fd=self._dfd)
        except OSError:
            # /run full (any user may fill it through /run/lock): the old file would now tell readers
            # something that is no longer true. Unlinking needs no space; readers ask the helper meanwhile.
            for name in (self._tmp, STATUS_FILE_NAME):
                with contextlib.suppress(OSError):
                    os.unlink(name, dir_fd=self._dfd)
            self._last = None
            raise
        self._last = body
        return True

    def withdraw(self) -> None:
        """On stop: readers fall back to asking the helper themselves."""
        with contextlib.suppress(OSError):
            os.unlink(STATUS_FILE_NAME, dir_fd=self._dfd)
        os.close(self._dfd)


def sd_notify(message: str) -> None:
    """systemd's readiness protocol (Type=notify), without libsystemd: one datagram to $NOTIFY_SOCKET."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr or not (addr.startswith("/") or addr.startswith("@")):
        return
    target = "\0" + addr[1:] if addr.startswith("@") else addr
    with (
        contextlib.suppress(OSError),
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s,
    ):
        s.sendto(message.encode(), target)


@dataclass(slots=True)
class Stats:
    events: int = 0
    forged: int = 0
    checks: int = 0
    applies: int = 0
    repairs: int = 0
    last_repair: dict[str, Any] | None = None
    started: float = field(default_factory=time.time)


class Reconciler:
    def __init__(self) -> None:
        self.route = netlink.open_route()
        self.nft = netlink.open_nftables()
        self.publisher = Publisher()
        self.stats = Stats()
        # How this nft lists our rules for each config we applied (set contents aside): learnt from our own
        # batches, so drift is found without the scratch namespace the unit's sandbox forbids.
        self.shapes: dict[Config, tuple[object, ...]] = {}
        self.applied: tuple[rules_readback.TableView, Config] | None = None
        self.on = False
        self.stop = False
        self.resync = False
        self.publish_failed = False
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        with open("/proc/self/stat", encoding="ascii", errors="replace") as f:
            self.start_ticks = procstat.start_ticks(f.read())

    # -- signals ------------------------------------------------------------------------------------------

    def install_signals(self) -> None:
        signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_hup)

    def _on_stop(self, _sig: int, _frame: object) -> None:
        self.stop = True

    def _stopping(self) -> bool:
        return self.stop

    def _on_hup(self, _sig: int, _frame: object) -> None:
        self.resync = True

    # -- the loop -----------------------------------------------------------------------------------------

    def run(self) -> int:
        self.install_signals()
        started = self.reconcile(netlink.Events(overrun=True), start=True)
        sd_notify("READY=1\nSTATUS=watching table 52 and nftables")
        pending = netlink.Events(overrun=not started)  # a start that could not lock: retried like any batch
        first = time.monotonic()
        deadline = first + RETRY_S
        poller = select.poll()
        for fd in (self.route.fileno(), self.nft.fileno(), self._wake_r):
            poller.register(fd, select.POLLIN)
        while not self.stop:
            timeout = None if not pending else max(0, int((deadline - time.monotonic()) * 1000) + 1)
            ready = {fd for fd, _ in poller.poll(timeout)}
            if self._wake_r in ready:
                with contextlib.suppress(BlockingIOError):
                    os.read(self._wake_r, 512)
            if self._stopping():  # a signal arrived during poll()
                break
            got = netlink.Events()
            if self.route.fileno() in ready:
                self.route.read(got)
            if self.nft.fileno() in ready:
                self.nft.read(got)
            self.stats.forged += got.forged
            if self.resync:
                self.resync, got.overrun = False, True
            if not self.on:  # idle while off: only our table (an `enable` elsewhere) matters
                got.table52 = got.lan = got.rules = False
            if got:
                self.stats.events += 1
                now = time.monotonic()
                if not pending:
                    first = now
                _merge(pending, got)
                deadline = min(now + QUIET_S, first + MAX_DELAY_S)
            if pending and time.monotonic() >= deadline:
                todo, pending = pending, netlink.Events()
                if not self.reconcile(todo):
                    # Kept, not dropped: nothing else may come to wake us for what it says.
                    _merge(pending, todo)
                    first = time.monotonic()
                    deadline = first + RETRY_S
        sd_notify("STOPPING=1")
        self.publisher.withdraw()
        # stderr (the journal under systemd): the counts the soak and attack tests read.
        sys.stderr.write(
            f"{main.PROG}: watch stopped, the table left as it is; {self.stats.events} event batches, "
            f"{self.stats.checks} checks, {self.stats.applies} applies, {self.stats.repairs} repairs, "
            f"{self.stats.forged} forged messages ignored\n"
        )
        sys.stderr.flush()
        return Exit.OK

    # -- one reconciliation -------------------------------------------------------------------------------

    def reconcile(self, ev: netlink.Events, start: bool = False) -> bool:
        """One check; False when another run held the lock past the wait (the caller retries the batch)."""
        self.stats.checks += 1
        done = True
        try:
            self._reconcile_locked(ev, start)
        except state.LockBusyError as e:  # another helper run is stuck (or frozen by its caller)
            log.change(f"watch: {e}")
            done = False
        self._publish()
        return done

    def _reconcile_locked(self, ev: netlink.Events, start: bool) -> None:
        with state.locked():
            try:
                cfg = state.load()
            except state.StateError:
                cfg = None  # status() carries the error and its fix; nothing saved we can trust
            self.on = cfg is not None
            if cfg is not None:
                try:
                    self._enforce(cfg, ev, start)
                except (tools.ToolFailedError, tools.ToolMissingError, nft.NftRejectedError) as e:
                    log.change(f"watch: could not re-apply the bypass: {e}")
                except routes_mod.RouteError as e:
                    log.change(f"watch: routing table 52 cannot be read ({e}); the bypass was left as it is")
            else:
                self.applied = None

    def _enforce(self, cfg: Config, ev: netlink.Events, start: bool) -> None:
        if not (start or ev.ours or ev.overrun) and self.applied is not None and self.applied[1] == cfg:
            # No nf_tables event touched our table since we last saw it (and none was lost): it is as we
            # left it, no need to list it (a route event's hot path).
            view: rules_readback.TableView | None = self.applied[0]
        else:
            text = nft.list_ours()
            view = None
            if text is not None:
                with contextlib.suppress(rules_readback.NftJsonError):
                    view = rules_readback.parse_table(text)
        fs = facts.routes()
        why, repair = self._why(cfg, view, fs, start)
        if why is None:
            self.applied = (view, cfg) if view is not None else None
            return
        base = view if view is not None else self.applied[0] if self.applied is not None else None
        if why in (ROUTES_CHANGED, TABLE_GONE) and base is not None and base.shape() == self.shapes.get(cfg):
            # Only our table is behind (its sets, or all of it), and it was ours as we loaded it or is gone;
            # the ip rules are untouched by either (their own events check them): one batch, nothing else
            # read. The hot path of a route event and of a flushed ruleset.
            nft.apply(rules.render_apply(cfg, fs))
            want = rules_readback.expected_sets(fs)
            sets = {n: v._replace(intervals=want.get(n, v.intervals)) for n, v in base.sets.items()}
            self.applied = (rules_readback.TableView(sets, base.chains), cfg)
            log.change(
                f"watch ({why}): bypass table applied ({len(fs.tailnet4)} IPv4 and {len(fs.tailnet6)} IPv6 "
                "prefixes)"
            )
        else:
            main._apply(cfg, f"watch ({why})", fs=fs)  # the routes just read: no second dump
            after = nft.list_ours()
            new = rules_readback.parse_table(after) if after is not None else None
            if new is not None:
                self.shapes[cfg] = new.shape()
                self.applied = (new, cfg)
        self.stats.applies += 1
        if repair:
            self.stats.repairs += 1
            self.stats.last_repair = {"reason": why, "at": round(time.time(), 3)}

    def _why(
        self, cfg: Config, view: rules_readback.TableView | None, fs: routes_mod.RouteFacts, start: bool
    ) -> tuple[str | None, bool]:
        """Why the kernel must be changed (None: it is right), and whether that is a repair of damage done
        behind our back (the tray says so) rather than routine (start, routes, a new saved choice)."""
        if start:
            return "start: restore the saved choice", False
        if view is None:
            return TABLE_GONE, True
        known = self.shapes.get(cfg)
        if known is None:
            return "the saved choice changed", False
        if view.shape() != known:
            return "its rules were changed by something else", True
        want = rules_readback.expected_sets(fs)
        if any(view.sets.get(n) is None or view.sets[n].intervals != w for n, w in want.items()):
            ours = self.applied[0].sets if self.applied is not None else {}
            if ours != view.sets:  # not what we loaded: someone else changed the elements
                return "its sets were changed by something else", True
            return ROUTES_CHANGED, False
        present = iprules.present()
        if cfg.mode == "private" and not all(n == 1 for n in present.values()):
            return "private mode's ip rule (pref 5200) was missing or doubled", True
        if cfg.mode == "direct" and any(present.values()):
            return "a private-mode ip rule (pref 5200) was left in direct mode", True
        return None, False

    def _publish(self) -> None:
        applied: tuple[rules_readback.TableView | None, Config] | None = None
        if self.applied is not None:
            applied = self.applied
        try:
            obj = main.status(applied)
        except (
            tools.ToolFailedError,
            tools.ToolMissingError,
            rules_readback.NftJsonError,
            state.StateError,
        ) as e:
            obj = {"enabled": False, "state": "unknown", "detail": str(e)}
        obj["reconciler"] = {
            "pid": os.getpid(),
            "start_ticks": self.start_ticks,  # readers check it: a pid alone is reused after we die
            "version": STATUS_VERSION,
            "repairs": self.stats.repairs,
            "last_repair": self.stats.last_repair,
        }
        try:
            self.publisher.publish(obj)
        except OSError as e:  # keep reconciling: the kernel side matters more than the file
            if not self.publish_failed:
                log.change(
                    f"watch: cannot publish the status in {run_dir()} ({e.strerror}); readers ask the helper"
                )
            self.publish_failed = True
        else:
            self.publish_failed = False


def _merge(into: netlink.Events, new: netlink.Events) -> None:
    into.table52 |= new.table52
    into.lan |= new.lan
    into.rules |= new.rules
    into.ours |= new.ours
    into.facts |= new.facts
    into.overrun |= new.overrun


def run() -> int:
    try:
        rec = Reconciler()
    except RunDirError as e:
        sys.stderr.write(f"{main.PROG}: error: {e}\n")
        return Exit.PRECONDITION
    except OSError as e:
        sys.stderr.write(f"{main.PROG}: error: cannot open the kernel's event sockets or {run_dir()}: {e}\n")
        return Exit.FAILED
    return rec.run()
