"""A fake tailscaled LocalAPI on a Unix socket, speaking the real protocol (stdlib only).

It serves HTTP/1.1 like tailscaled does (ipn/localapi): requests with a `Host` other than
`local-tailscaled.sock` or with `Origin`/`Referer` get `403 invalid localapi request`.

Endpoints
* `GET /localapi/v0/status`: the current status document (a fixture from tests/fixtures/tailscale,
  switchable at runtime; or raw bytes, e.g. malformed or truncated JSON), tab-indented like tailscaled.
* `GET /localapi/v0/watch-ipn-bus?mask=N`: a chunked stream, one `ipn.Notify` JSON object per line. The
  first message carries State (integer), Prefs and Health like mask 134 does; later messages are pushed.
* `PATCH /localapi/v0/prefs`: `{"WantRunning": bool, "WantRunningSet": true}`. With `deny_writes` it answers
  `403 prefs write access denied` (a non-operator user); otherwise it switches the status to running or
  stopped and pushes the bus messages tailscaled sends for `up` / `down`.
* `GET /localapi/v0/prefs`: the prefs fixture with the current WantRunning, ExitNodeID and
  ExitNodeAllowLANAccess.
* `PATCH /localapi/v0/prefs` with `ExitNodeIDSet` / `ExitNodeAllowLANAccessSet` (ipn.MaskedPrefs, what
  `tailscale set --exit-node` sends): sets the peer's `ExitNode` flag and `ExitNodeStatus` in the status
  document and pushes the new Prefs on the bus; an ID that is no exit-node option gets tailscaled's 500.
* `PATCH /localapi/v0/prefs` with `AdvertiseRoutesSet` (`tailscale set --advertise-exit-node`): sets the
  prefs' AdvertiseRoutes; like tailscaled (ipnlocal.checkExitNodePrefsLocked) a 500 "Cannot advertise an
  exit node and use an exit node at the same time." when both would be set. Clearing ExitNodeID through
  the prefs zeroes InternalExitNodePrior too (tailscaled's TestZeroExitNodeViaLocalAPI).
* `POST /localapi/v0/set-use-exit-node-enabled?enabled=BOOL` (LocalBackend.SetUseExitNodeEnabled): off
  keeps the exit node as InternalExitNodePrior, on turns the prior back on (500 without one, with the real
  daemon's text); 403 with `deny_writes`; 404 with `old_daemon` (no such call).
* `GET /localapi/v0/check-ip-forwarding`: `{"Warning": forwarding_warning}` ("" by default), as tailscaled
  answers after its own check (ipn/localapi serveCheckIPForwarding).
* `GET /localapi/v0/suggest-exit-node`: `{"ID", "Name", "Location"}` of the first online exit-node option
  (or `suggestion` when set); like the real tailscaled (tests/realts), `200 {"ID":"","Name":""}` when there
  is none, and `500 {"error":"no preferred DERP, try again later"}` (`WriteErrorJSON`) with `suggest_error`
  set (the real one says so before its first netcheck, e.g. not logged in).
* `GET /localapi/v0/profiles/`, `GET /localapi/v0/profiles/current`, `POST /localapi/v0/profiles/<ID>`
  (ipn.LoginProfile; switching pushes the Stopped/Starting/Running states and a new status). Like tailscaled
  these need write access: with `deny_writes` they answer `403 profiles access denied`.
* `PUT /localapi/v0/profiles/` (`tailscale login`'s first call): 201, a new empty profile is current (the
  status NeedsLogin, `GET /localapi/v0/profiles/current` an all-empty profile as tailscaled answers, the prefs
  the new profile's defaults: no ControlURL, no operator, LoggedOut); `POST /localapi/v0/start` keeps its
  `UpdatePrefs` (in `started`) as the prefs; `POST /localapi/v0/logout` deletes the current profile and
  leaves an empty one (NeedsLogin). All three 403 with `deny_writes`.
* Taildrop: `add_file(name, data)` keeps a waiting file and pushes `{"FilesWaiting": {}}` like tailscaled;
  `GET /localapi/v0/files/` lists `[{"Name", "Size"}]` (`null` when none, as tailscaled does), `GET`/`DELETE /localapi/v0/files/<name>` fetch and
  remove one (`403 file access denied` with `deny_writes`).
* `POST /localapi/v0/login-interactive` (a re-authentication): 204, then `BrowseToURL` on the bus.
* `PUT /localapi/v0/file-put/<StableNodeID>/<escaped name>` (`tailscale file cp`): the body of its
  Content-Length lands in `sent_files` as (node, name, bytes) and tailscaled's `200 {}` comes back; like
  tailscaled: `403 file access denied` with `deny_writes`, `404 node not found` for a peer that is no file
  target (its status `TaildropTarget` neither 1 nor 5), and `file_put_status` (e.g. 502, an offline peer)
  answers instead when set.
* `big_tailnet(n, mullvad=m)` replaces the status with `n` devices (a third offline, half shared) and `m`
  of Tailscale's Mullvad exit nodes (with `Location`), for the menu and benchmark tests.

In-process use (pytest):

    with FakeLocalApi(tmp_path / "ts.sock", status="running") as fake:
        fake.set_status("stopped"); fake.push_state(4)         # what `tailscale down` looks like
        fake.push({"Health": {"Warnings": None}})               # any Notify fields (others null)
        fake.fell_behind()                                      # "consumer fell behind", then close
        fake.go_away("refused"); fake.come_back()               # stale socket, then back
        fake.restart(0.3, mode="enoent")                        # away for 0.3 s, then back
        fake.status_raw = b'{"BackendState": "Runn'             # truncated status body
        fake.deny_writes = True                                 # 403 on PATCH prefs
        fake.status_requests, fake.watch_requests, fake.patches, fake.requests  # what clients did

Subprocess use (CLI tests, benchmarks, tray tests):

    python3 tests/fakes/fake_localapi.py SOCKET [--status NAME] [--deny-writes] [--quiet]

It prints `ready` once listening, then reads one command per line on stdin and answers `ok` (or `error ...`):
`status NAME` | `status-raw TEXT` | `push JSON` | `state N` | `fell-behind` | `end-watch` |
`down enoent|refused` | `up` | `restart SECONDS [enoent|refused]` | `deny-writes on|off` | `stats` (prints one
JSON line of counters before `ok`) | `quit`. EOF on stdin also quits. SIGTERM stops it cleanly.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import select
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "tailscale"
VERSION = "1.102.3-t5c2a8e41f-g9d07b3c6e"
STATE_CODES = {
    "NoState": 0,
    "InUseOtherUser": 1,
    "NeedsLogin": 2,
    "NeedsMachineAuth": 3,
    "Stopped": 4,
    "Starting": 5,
    "Running": 6,
}
STOPPED_WARNING = {
    "wantrunning-false": {
        "WarnableCode": "wantrunning-false",
        "Severity": "low",
        "Title": "Tailscale off",
        "Text": "Tailscale is stopped.",
        "BrokenSince": "2026-11-25T15:34:07.551203844+01:00",
        "DependsOn": ["warming-up"],
        "ETag": "1d4646b9fdd0056d3ee26acc47475ca2e4ac759cf9ba23259a0bc257cef2d74a",
    }
}
_END = object()  # finish the chunked stream cleanly
_ABORT = object()  # drop the connection mid-stream


def notify(**fields: Any) -> dict[str, Any]:
    """An ipn.Notify line in tailscaled's field order: the classic fields are always present (null)."""
    msg: dict[str, Any] = {"Version": VERSION}
    if "SessionID" in fields:
        msg["SessionID"] = fields.pop("SessionID")
    for key in (
        "ErrMessage",
        "LoginFinished",
        "State",
        "Prefs",
        "NetMap",
        "Engine",
        "BrowseToURL",
        "DriveShares",
    ):
        msg[key] = fields.pop(key, None)
    msg.update(fields)
    return msg


def _profile(pid: str, login: str, domain: str, node: str) -> dict[str, Any]:
    """An ipn.LoginProfile as `/localapi/v0/profiles/` encodes it."""
    return {
        "ID": pid,
        "Name": login,
        "NetworkProfile": {"MagicDNSName": "tail4a2b9c.ts.net", "DomainName": domain, "DisplayName": domain},
        "Key": f"profile-{pid}",
        "UserProfile": {
            "ID": 5163284012734519,
            "LoginName": login,
            "DisplayName": login.split("@", maxsplit=1)[0].title(),
        },
        "NodeID": node,
        "LocalUserID": "1000",
        "ControlURL": "https://controlplane.tailscale.com",
    }


EMPTY_PROFILE = {  # `GET /localapi/v0/profiles/current` on a new, empty profile (tailscaled 1.102.5)
    "ID": "", "Name": "", "NetworkProfile": {"MagicDNSName": "", "DomainName": "", "DisplayName": ""}, "Key": "",
    "UserProfile": {"ID": 0, "LoginName": "", "DisplayName": ""}, "NodeID": "", "LocalUserID": "", "ControlURL": "",
}  # fmt: skip

_OSES = ("linux", "windows", "macOS", "iOS", "android")
_CITIES = (
    ("Sweden", "SE", "Gothenburg", "GOT"), ("Sweden", "SE", "Stockholm", "STO"), ("Germany", "DE", "Frankfurt", "FRA"),
    ("Germany", "DE", "Berlin", "BER"), ("USA", "US", "New York", "NYC"), ("Japan", "JP", "Tokyo", "TYO"),
)  # fmt: skip


def big_status(base: bytes, devices: int, mullvad: int = 0) -> bytes:
    """The running status with `devices` peers (every third offline, every second shared by bob) and
    `mullvad` of Tailscale's Mullvad exit nodes; every tenth device offers itself as an exit node."""
    doc = json.loads(base)
    template = next(iter(doc["Peer"].values()))
    self_uid = doc["Self"]["UserID"]
    doc["User"][str(self_uid + 1)] = {
        "ID": self_uid + 1,
        "LoginName": "bob@example.org",
        "DisplayName": "Bob",
    }
    peers: dict[str, Any] = {}
    for i in range(devices):
        p = dict(
            template,
            ID=f"nDev{i:04d}CNTRL",
            HostName=f"dev-{i:04d}",
            DNSName=f"dev-{i:04d}.tail4a2b9c.ts.net.",
        )
        p.update(
            OS=_OSES[i % len(_OSES)], UserID=self_uid if i % 2 == 0 else self_uid + 1,
            TailscaleIPs=[f"100.{64 + i // 65536}.{i // 256 % 256}.{i % 256 + 1}", f"fd7a:115c:a1e0::{i + 1:x}"],
            Online=i % 3 != 2, ExitNode=False, ExitNodeOption=i % 10 == 0,
            LastSeen="0001-01-01T00:00:00Z" if i % 3 != 2 else f"2026-11-{1 + i % 24:02d}T10:00:00Z",
            PublicKey=f"nodekey:{i:064x}",
        )  # fmt: skip
        p.pop("Location", None)
        p.pop("Tags", None)
        peers[f"nodekey:{i:064x}"] = p
    for i in range(mullvad):
        country, cc, city, code = _CITIES[i % len(_CITIES)]
        host = f"{cc.lower()}-{code.lower()}-wg-{i:03d}"
        peers[f"nodekey:m{i:063x}"] = dict(
            template, ID=f"nMv{i:04d}CNTRL", HostName=host, DNSName=f"{host}.mullvad.ts.net.", OS="",
            UserID=6021947735018842, Tags=["tag:mullvad-exit-node"], TailscaleIPs=[f"100.96.{i // 256}.{i % 256}"],
            Online=True, ExitNode=False, ExitNodeOption=True, PublicKey=f"nodekey:m{i:063x}",
            Location={"Country": country, "CountryCode": cc, "City": city, "CityCode": code, "Priority": 100},
        )  # fmt: skip
    doc["User"]["6021947735018842"] = {"ID": 6021947735018842, "LoginName": "tagged-devices"}
    doc["Peer"] = peers
    doc.pop("ExitNodeStatus", None)
    return json.dumps(doc, indent="\t").encode() + b"\n"


def load_fixture(name: str) -> bytes:
    """`running` -> localapi-status.running.json; any other name is a file in the fixtures dir."""
    path = FIXTURES / f"localapi-status.{name}.json"
    if not path.exists():
        path = FIXTURES / name
    return path.read_bytes()


class _Watcher:
    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.queue: queue.Queue[object] = queue.Queue()


class FakeLocalApi:
    def __init__(
        self,
        path: str | os.PathLike[str],
        status: str = "running",
        *,
        deny_writes: bool = False,
        split_chunks: bool = False,
    ) -> None:
        self.path = str(path)
        self.deny_writes = deny_writes
        self.split_chunks = split_chunks  # send each message in two chunks (clients must reassemble)
        self.status_raw: bytes | None = None  # served instead of the fixture when set
        self.status_requests = 0
        self.watch_requests = 0
        self.patches: list[dict[str, Any]] = []
        self.exit_prefs: dict[str, Any] = {
            "ExitNodeID": "",
            "ExitNodeIP": "",
            "ExitNodeAllowLANAccess": False,
            "InternalExitNodePrior": "",
            "AdvertiseRoutes": None,
        }
        self.forwarding_warning = ""  # check-ip-forwarding's Warning
        self.old_daemon = False  # no set-use-exit-node-enabled (404), as before tailscaled had it
        self.suggestion: str | None = None  # a stable ID to suggest instead of the first online option
        self.suggest_error = False  # 500 "no preferred DERP" instead of a suggestion
        self.profiles = [
            _profile("a1b2", "alice@example.com", "example.com", "nK7dQ2vF3a11CNTRL"),
            _profile("c3d4", "alice@work.example", "work.example", "nW0rkN0de11CNTRL"),
        ]
        self.current_profile = "a1b2"
        self.prefs_over: dict[str, Any] = {}  # the current profile's prefs where they differ from the fixture
        self.started: list[dict[str, Any]] = []
        self.waiting_files: dict[str, bytes] = {}
        self.sent_files: list[tuple[str, str, bytes]] = []
        self.file_put_status: int | None = None
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self._status = load_fixture(status)
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._watchers: list[_Watcher] = []
        self._conns: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._restart_timer: threading.Timer | None = None
        self.watch_changed = threading.Condition(self._lock)

    # -- life cycle ---------------------------------------------------------------------------------

    def start(self) -> FakeLocalApi:
        self.come_back()
        return self

    def stop(self) -> None:
        if self._restart_timer is not None:
            self._restart_timer.cancel()
        self._close_all()
        with contextlib.suppress(OSError):
            os.unlink(self.path)

    def __enter__(self) -> FakeLocalApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def come_back(self) -> None:
        """Listen again (after go_away), like a restarted tailscaled."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(self.path)
        os.chmod(self.path, 0o666)  # noqa: S103 -- tailscaled's mode on Linux: it authenticates by peer credentials
        sock.listen(16)
        self._listener = sock
        t = threading.Thread(target=self._accept_loop, args=(sock,), daemon=True, name="fake-localapi-accept")
        t.start()
        self._threads.append(t)

    def go_away(self, mode: str = "enoent") -> None:
        """Close everything. `enoent`: the socket file is gone first (systemd stop removes the runtime
        directory); `refused`: the file stays behind with nobody listening (a crashed daemon)."""
        if mode == "enoent":
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
        self._close_all()

    def restart(self, down_for: float = 0.3, mode: str = "enoent") -> None:
        """Go away now and come back after `down_for` seconds (without blocking the caller)."""
        self.go_away(mode)
        self._restart_timer = threading.Timer(down_for, self.come_back)
        self._restart_timer.daemon = True
        self._restart_timer.start()

    def _close_all(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            watchers = list(self._watchers)
            conns = list(self._conns)
        for w in watchers:
            w.queue.put(_ABORT)
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)

    # -- control ------------------------------------------------------------------------------------

    def set_status(self, name: str) -> None:
        self.status_raw = None
        self._status = load_fixture(name)

    def add_file(self, name: str, data: bytes) -> None:
        self.waiting_files[name] = data
        self.push({"FilesWaiting": {}})

    def big_tailnet(self, devices: int, mullvad: int = 0) -> None:
        self.status_raw = None
        self._status = big_status(load_fixture("running"), devices, mullvad)

    def status_doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self._status)
        return doc

    def set_status_doc(self, doc: dict[str, Any]) -> None:
        self.status_raw = None
        self._status = json.dumps(doc, indent="\t").encode() + b"\n"

    @property
    def backend_state(self) -> str:
        try:
            return str(json.loads(self._status)["BackendState"])
        except (ValueError, KeyError, TypeError):
            return "NoState"

    @property
    def watchers(self) -> int:
        with self._lock:
            return len(self._watchers)

    def wait_watchers(self, n: int = 1, timeout: float = 5.0) -> None:
        end = time.monotonic() + timeout
        with self._lock:
            while len(self._watchers) < n:
                left = end - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self._watchers)} watchers, wanted {n}")
                self.watch_changed.wait(left)

    def push(self, message: dict[str, Any] | str | bytes) -> None:
        """Send one line to every watcher. A dict is completed into a Notify; str/bytes go out as they are."""
        if isinstance(message, dict):
            data = json.dumps(notify(**message), separators=(",", ":")).encode() + b"\n"
        else:
            data = message.encode() if isinstance(message, str) else message
            if not data.endswith(b"\n"):
                data += b"\n"
        with self._lock:
            for w in self._watchers:
                w.queue.put(data)

    def push_state(self, code: int) -> None:
        self.push({"State": code})

    def push_many(self, messages: list[dict[str, Any]]) -> None:
        """Several messages in one write (a burst)."""
        data = b"".join(json.dumps(notify(**m), separators=(",", ":")).encode() + b"\n" for m in messages)
        self.push(data[:-1])

    def fell_behind(self) -> None:
        """tailscaled >= 1.102 closes a lagging watcher after this message."""
        self.push({"ErrMessage": "IPN bus consumer fell behind; closing watch"})
        self.end_watch()

    def end_watch(self) -> None:
        with self._lock:
            for w in self._watchers:
                w.queue.put(_END)

    def stats(self) -> dict[str, Any]:
        return {
            "status_requests": self.status_requests,
            "watch_requests": self.watch_requests,
            "watchers": self.watchers,
            "patches": self.patches,
        }

    # -- serving ------------------------------------------------------------------------------------

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with self._lock:
                self._conns.add(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True, name="fake-localapi-conn").start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            self._handle(conn)
        except OSError:
            pass
        finally:
            with self._lock:
                self._conns.discard(conn)
            conn.close()

    def _read_request(self, conn: socket.socket) -> tuple[str, str, dict[str, str], bytes] | None:
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            buf += chunk
        head, _, body = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, _version = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        want = int(headers.get("content-length", "0"))
        while len(body) < want:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            body += chunk
        return method, target, headers, body

    @staticmethod
    def _reply(conn: socket.socket, code: int, body: bytes, ctype: str = "application/json") -> None:
        reason = {
            200: "OK",
            204: "No Content",
            403: "Forbidden",
            404: "Not Found",
            405: "Method Not Allowed",
        }.get(code, "Error")
        head = (
            f"HTTP/1.1 {code} {reason}\r\nContent-Type: {ctype}\r\nTailscale-Cap: 142\r\n"
            f"Tailscale-Version: {VERSION}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        conn.sendall(head.encode() + body)

    def _handle(self, conn: socket.socket) -> None:
        req = self._read_request(conn)
        if req is None:
            return
        method, target, headers, body = req
        self.requests.append((method, target, headers))
        # tailscaled's validHost and Origin/Referer checks (ipn/localapi/localapi.go)
        if (
            headers.get("host", "") not in ("", "local-tailscaled.sock")
            or "origin" in headers
            or "referer" in headers
        ):
            self._reply(conn, 403, b"invalid localapi request\n", "text/plain; charset=utf-8")
            return
        path = target.split("?", 1)[0]
        if path == "/localapi/v0/status" and method == "GET":
            self.status_requests += 1
            raw = self.status_raw if self.status_raw is not None else self._status
            if raw.startswith(b"TRUNCATE:"):
                # Promise more than we send, then close: a daemon that died mid-answer.
                data = raw[len(b"TRUNCATE:") :]
                conn.sendall(
                    f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(data) + 100}"
                    "\r\n\r\n".encode()
                    + data
                )
                return
            self._reply(conn, 200, raw)
        elif path == "/localapi/v0/watch-ipn-bus" and method == "GET":
            self.watch_requests += 1
            self._watch(conn)
        elif path == "/localapi/v0/prefs" and method == "PATCH":
            self._patch_prefs(conn, body)
        elif path == "/localapi/v0/prefs" and method == "GET":
            self._reply(conn, 200, self._prefs_doc(self.backend_state == "Running"))
        elif path == "/localapi/v0/suggest-exit-node" and method == "GET":
            self._suggest(conn)
        elif path.startswith("/localapi/v0/file-put/") and method == "PUT":
            self._file_put(conn, path.removeprefix("/localapi/v0/file-put/"), body)
        elif path.startswith("/localapi/v0/files/"):
            self._files(conn, method, unquote(path.removeprefix("/localapi/v0/files/")))
        elif path == "/localapi/v0/login-interactive" and method == "POST":
            self._reply(conn, 204, b"")
            self.push({"BrowseToURL": "https://login.tailscale.com/a/f4k3r3auth"})
        elif path in ("/localapi/v0/start", "/localapi/v0/logout") and method == "POST":
            self._start_or_logout(conn, path.rsplit("/", 1)[1], body)
        elif path.startswith("/localapi/v0/profiles/"):
            self._profiles(conn, method, path.removeprefix("/localapi/v0/profiles/"))
        elif path == "/localapi/v0/check-ip-forwarding" and method == "GET":
            self._reply(conn, 200, json.dumps({"Warning": self.forwarding_warning}).encode() + b"\n")
        elif path == "/localapi/v0/set-use-exit-node-enabled" and not self.old_daemon:
            self._use_exit_node(conn, method, target.partition("?")[2])
        else:
            self._reply(conn, 404, b"404 page not found\n", "text/plain; charset=utf-8")

    def _prefs(self, want_running: bool) -> dict[str, Any]:
        prefs: dict[str, Any] = json.loads((FIXTURES / "localapi-prefs.running.json").read_text())
        prefs["WantRunning"] = want_running
        prefs.update(self.exit_prefs)
        prefs.update(self.prefs_over)
        return prefs

    def _exit_options(self) -> list[dict[str, Any]]:
        peers = self.status_doc().get("Peer") or {}
        return [p for p in peers.values() if p.get("ExitNodeOption")]

    def _suggest(self, conn: socket.socket) -> None:
        options = [p for p in self._exit_options() if p.get("Online")]
        if self.suggestion is not None:
            options = [p for p in self._exit_options() if p["ID"] == self.suggestion]
        if self.suggest_error:
            self._reply(conn, 500, b'{"error":"no preferred DERP, try again later"}\n')
            return
        if not options:  # no candidate: an empty suggestion, not an error
            self._reply(conn, 200, b'{"ID":"","Name":""}\n')
            return
        best = options[0]
        body = {"ID": best["ID"], "Name": best["DNSName"]}
        if best.get("Location"):
            body["Location"] = best["Location"]
        self._reply(conn, 200, json.dumps(body).encode() + b"\n")

    def _files(self, conn: socket.socket, method: str, name: str) -> None:
        if self.deny_writes:
            self._reply(conn, 403, b"file access denied\n", "text/plain; charset=utf-8")
            return
        if name == "" and method == "GET":
            listed = [{"Name": n, "Size": len(d)} for n, d in sorted(self.waiting_files.items())]
            # none waiting: `null`, as the real tailscaled encodes its nil slice (tests/realts)
            self._reply(conn, 200, json.dumps(listed or None).encode() + b"\n")
        elif name in self.waiting_files and method == "GET":
            self._reply(conn, 200, self.waiting_files[name], "application/octet-stream")
        elif name in self.waiting_files and method == "DELETE":
            del self.waiting_files[name]
            self._reply(conn, 204, b"")
        else:
            self._reply(conn, 404, b"file not found\n", "text/plain; charset=utf-8")

    def _file_put(self, conn: socket.socket, target: str, body: bytes) -> None:
        if self.deny_writes:
            self._reply(conn, 403, b"file access denied\n", "text/plain; charset=utf-8")
            return
        node, _, name = target.partition("/")
        peers = (self.status_doc().get("Peer") or {}).values()
        if not any(p.get("ID") == node and p.get("TaildropTarget") in (1, 5) for p in peers):
            self._reply(conn, 404, b"node not found\n", "text/plain; charset=utf-8")
        elif self.file_put_status is not None:
            self._reply(conn, self.file_put_status, b"", "text/plain; charset=utf-8")
        else:
            self.sent_files.append((node, unquote(name), body))
            self._reply(conn, 200, b"{}\n", "text/plain; charset=utf-8")

    def _profiles(self, conn: socket.socket, method: str, suffix: str) -> None:
        if self.deny_writes:
            self._reply(conn, 403, b"profiles access denied\n", "text/plain; charset=utf-8")
            return
        by_id = {p["ID"]: p for p in self.profiles}
        if suffix == "" and method == "GET":
            self._reply(conn, 200, json.dumps(self.profiles).encode() + b"\n")
        elif suffix == "current" and method == "GET":
            self._reply(
                conn, 200, json.dumps(by_id.get(self.current_profile, EMPTY_PROFILE)).encode() + b"\n"
            )
        elif suffix == "" and method == "PUT":
            self._reply(conn, 201, b"")
            self._empty_profile()
        elif suffix in by_id and method == "POST":
            self.current_profile = suffix
            self._reply(conn, 200, b"")
            doc = self.status_doc()
            doc["CurrentTailnet"]["Name"] = by_id[suffix]["NetworkProfile"]["DomainName"]
            self.set_status_doc(doc)
            self.push_many([{"State": 4}, {"State": 5}, {"State": 6}])
        elif suffix in by_id or suffix == "current":
            self._reply(conn, 405, b"use GET or POST\n", "text/plain; charset=utf-8")
        else:
            self._reply(conn, 404, b"profile not found\n", "text/plain; charset=utf-8")

    def _apply_exit_node(self, node: str) -> None:
        self.exit_prefs["ExitNodeID"] = node
        self.exit_prefs["ExitNodeIP"] = ""
        doc = self.status_doc()
        for p in (doc.get("Peer") or {}).values():
            p["ExitNode"] = p["ID"] == node
        if node:
            doc["ExitNodeStatus"] = {"ID": node, "Online": True, "TailscaleIPs": []}
        else:
            doc.pop("ExitNodeStatus", None)
        self.set_status_doc(doc)

    def _use_exit_node(self, conn: socket.socket, method: str, query: str) -> None:
        if method != "POST":
            self._reply(conn, 405, b"use POST\n", "text/plain; charset=utf-8")
            return
        if self.deny_writes:
            self._reply(conn, 403, b"access denied\n", "text/plain; charset=utf-8")
            return
        self.patches.append({"set-use-exit-node-enabled": query})
        on = "enabled=true" in query
        current, prior = self.exit_prefs["ExitNodeID"], self.exit_prefs["InternalExitNodePrior"]
        if on and not current:
            if not prior:
                # sic: the real daemon's text when it has neither a prior nor an ExitNodeIP (tests/realts)
                msg = b"no exit node IP to enable & prior exit node IP was never resolved an a node\n"
                self._reply(conn, 500, msg, "text/plain; charset=utf-8")
                return
            self._apply_exit_node(prior)
        elif not on and current:
            self.exit_prefs["InternalExitNodePrior"] = current
            self._apply_exit_node("")
        running = self.backend_state == "Running"
        self._reply(conn, 200, self._prefs_doc(running))
        self.push({"Prefs": self._prefs(running)})

    def _empty_profile(self) -> None:
        """A new, empty profile is current, as after `PUT /localapi/v0/profiles/` or a logout."""
        self.current_profile = ""
        self.prefs_over = {"ControlURL": "", "OperatorUser": "", "LoggedOut": True, "WantRunning": False}
        self.set_status("needs-login")
        self.push_many([{"State": 2}, {"Prefs": self._prefs(False)}])

    def _start_or_logout(self, conn: socket.socket, verb: str, body: bytes) -> None:
        if self.deny_writes:
            self._reply(
                conn, 403, b"access denied\n" if verb == "start" else b"logout access denied\n", "text/plain"
            )
            return
        if verb == "logout":
            self.profiles = [p for p in self.profiles if p["ID"] != self.current_profile]
            self._reply(conn, 204, b"")
            self._empty_profile()
            return
        opts = json.loads(body)
        self.started.append(opts)
        self.prefs_over = dict(opts.get("UpdatePrefs") or {})
        self._reply(conn, 204, b"")

    def _set_exit_node(self, conn: socket.socket, patch: dict[str, Any]) -> None:
        """What `tailscale set --exit-node=ID` does to the prefs and, once the netmap follows, to /status."""
        routes = (
            patch.get("AdvertiseRoutes")
            if patch.get("AdvertiseRoutesSet")
            else self.exit_prefs["AdvertiseRoutes"]
        )
        node = (
            str(patch.get("ExitNodeID") or "")
            if patch.get("ExitNodeIDSet")
            else self.exit_prefs["ExitNodeID"]
        )
        if node and {"0.0.0.0/0", "::/0"} <= set(routes or ()):
            msg = b"Cannot advertise an exit node and use an exit node at the same time.\n"
            self._reply(conn, 500, msg, "text/plain; charset=utf-8")
            return
        if patch.get("AdvertiseRoutesSet"):
            self.exit_prefs["AdvertiseRoutes"] = list(routes or ()) or None
        if patch.get("ExitNodeIDSet"):
            if node and node not in {p["ID"] for p in self._exit_options()}:
                self._reply(conn, 500, f"node {node} is not an exit node option\n".encode(), "text/plain")
                return
            if not node:
                self.exit_prefs["InternalExitNodePrior"] = ""
            self._apply_exit_node(node)
        if patch.get("ExitNodeAllowLANAccessSet"):
            self.exit_prefs["ExitNodeAllowLANAccess"] = bool(patch.get("ExitNodeAllowLANAccess"))
        running = self.backend_state == "Running"
        self._reply(conn, 200, self._prefs_doc(running))
        self.push({"Prefs": self._prefs(running)})

    def _prefs_doc(self, want_running: bool) -> bytes:
        return json.dumps(self._prefs(want_running), indent="\t").encode() + b"\n"

    def _patch_prefs(self, conn: socket.socket, body: bytes) -> None:
        try:
            patch = json.loads(body)
        except ValueError:
            self._reply(conn, 400, b"invalid JSON\n", "text/plain; charset=utf-8")
            return
        self.patches.append(patch)
        if self.deny_writes:
            self._reply(conn, 403, b"prefs write access denied\n", "text/plain; charset=utf-8")
            return
        if not patch.get("WantRunningSet"):
            self._set_exit_node(conn, patch)
            return
        want = bool(patch.get("WantRunning"))
        self._reply(conn, 200, self._prefs_doc(want))
        if want:
            self.set_status("running")
            self.push_many(
                [
                    {"Prefs": self._prefs(True)},
                    {"State": 5},
                    {"Health": {"Warnings": None}},
                    {"State": 6},
                ]
            )
        else:
            self.set_status("stopped")
            self.push_many(
                [{"State": 4}, {"Health": {"Warnings": STOPPED_WARNING}}, {"Prefs": self._prefs(False)}]
            )

    def _chunk(self, conn: socket.socket, data: bytes) -> None:
        if self.split_chunks and len(data) > 1:
            half = len(data) // 2
            conn.sendall(b"%x\r\n%s\r\n" % (half, data[:half]))
            time.sleep(0.001)
            data = data[half:]
        conn.sendall(b"%x\r\n%s\r\n" % (len(data), data))

    @staticmethod
    def _client_gone(conn: socket.socket) -> bool:
        readable, _, _ = select.select([conn], [], [], 0)
        if not readable:
            return False
        try:
            return conn.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _watch(self, conn: socket.socket) -> None:
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTailscale-Cap: 142\r\n"
            + f"Tailscale-Version: {VERSION}\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        )
        state = self.backend_state
        running = state in ("Running", "Starting")
        first = notify(
            SessionID="9f3c1a7e5b2d4c60",
            State=STATE_CODES.get(state, 0),
            Prefs=self._prefs(running),
            Health={"Warnings": None if running else STOPPED_WARNING},
        )
        watcher = _Watcher(conn)
        # Register before the first line so that nothing pushed after it is lost.
        with self._lock:
            self._watchers.append(watcher)
            self.watch_changed.notify_all()
        try:
            self._chunk(conn, json.dumps(first, separators=(",", ":")).encode() + b"\n")
            while True:
                try:
                    item = watcher.queue.get(timeout=0.05)
                except queue.Empty:
                    if self._client_gone(conn):
                        return  # like tailscaled noticing the request context is done
                    continue
                if item is _ABORT:
                    return
                if item is _END:
                    conn.sendall(b"0\r\n\r\n")
                    return
                assert isinstance(item, bytes)
                self._chunk(conn, item)
        finally:
            with self._lock:
                self._watchers.remove(watcher)
                self.watch_changed.notify_all()


def _command(fake: FakeLocalApi, line: str) -> str:
    cmd, _, arg = line.strip().partition(" ")
    if cmd == "status":
        fake.set_status(arg)
    elif cmd == "status-raw":
        fake.status_raw = arg.encode()
    elif cmd == "push":
        fake.push(json.loads(arg))
    elif cmd == "state":
        fake.push_state(int(arg))
    elif cmd == "fell-behind":
        fake.fell_behind()
    elif cmd == "end-watch":
        fake.end_watch()
    elif cmd == "down":
        fake.go_away(arg or "enoent")
    elif cmd == "up":
        fake.come_back()
    elif cmd == "restart":
        secs, _, mode = arg.partition(" ")
        fake.restart(float(secs or 0.3), mode or "enoent")
    elif cmd == "big-tailnet":
        n, _, m = arg.partition(" ")
        fake.big_tailnet(int(n), int(m or 0))
    elif cmd == "deny-writes":
        fake.deny_writes = arg == "on"
    elif cmd == "stats":
        return json.dumps(fake.stats()) + "\nok"
    elif cmd == "quit":
        return "quit"
    else:
        return f"error unknown command {cmd!r}"
    return "ok"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="fake tailscaled LocalAPI")
    parser.add_argument("socket")
    parser.add_argument(
        "--status", default="running", help="fixture name, e.g. running, stopped, needs-login"
    )
    parser.add_argument("--deny-writes", action="store_true", help="403 on PATCH prefs (non-operator user)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    fake = FakeLocalApi(args.socket, args.status, deny_writes=args.deny_writes).start()

    def on_term(*_: object) -> None:
        try:
            fake.stop()
        finally:
            os._exit(0)

    signal.signal(signal.SIGTERM, on_term)
    print("ready", flush=True)
    try:
        for line in sys.stdin:
            if not line.strip():
                continue
            try:
                answer = _command(fake, line)
            except Exception as exc:
                answer = f"error {type(exc).__name__}: {exc}"
            if answer == "quit":
                break
            print(answer, flush=True)
    finally:
        fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
