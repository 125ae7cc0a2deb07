"""tailscaled's LocalAPI calls behind the exit-node, account and suggestion controls.

The same requests the official clients send (client/local in tailscale.com):

* `PATCH /localapi/v0/prefs` with ExitNodeID/ExitNodeIP/ExitNodeAllowLANAccess and their `...Set` flags
  (`tailscale set --exit-node=... --exit-node-allow-lan-access`);
* `POST /localapi/v0/set-use-exit-node-enabled?enabled=false|true` (the official GUIs' exit-node toggle):
  off keeps the exit node as the prefs' InternalExitNodePrior, on turns that back on ("Last used"). A
  daemon without it (404) is cleared with the prefs patch instead;
* `GET /localapi/v0/suggest-exit-node` (`tailscale exit-node suggest`): `{"ID", "Name", "Location"}`;
* `GET /localapi/v0/profiles/` and `/profiles/current`, `POST /localapi/v0/profiles/<ID>` (`tailscale
  switch`). tailscaled answers the profile endpoints only to a user with write access (root or the
  operator): 403 `profiles access denied` otherwise, shown with the operator fix.

`TailnetClient` runs them on the Qt event loop (`LocalApiCall`); the `*_sync` functions are the blocking
versions for the `route` command.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from PyQt6.QtCore import QObject, pyqtSignal

from tray_app.core.internet_route import exit_node_patch, use_exit_node_path
from tray_app.core.tailnet import Profile, parse_profile, parse_profiles, safe_name
from tray_app.core.tailscale_parse import http_problem
from tray_app.daemons.localapi import LocalApiError, choose_socket, request
from tray_app.daemons.localapi_call import LocalApiCall

PREFS_PATH = "/localapi/v0/prefs"
SUGGEST_PATH = "/localapi/v0/suggest-exit-node"
PROFILES_PATH = "/localapi/v0/profiles/"
FILES_PATH = "/localapi/v0/files/"
READ_PROFILES = ("list your accounts", "read the current account")
LIST_FILES = "list the Taildrop files"
CHECK_FORWARDING = "check IP forwarding"
BACKGROUND = (*READ_PROFILES, "suggest an exit node", LIST_FILES, CHECK_FORWARDING)
LOGIN_PATH = "/localapi/v0/login-interactive"
START_PATH = "/localapi/v0/start"
REAUTH = "start a login"


def free_path(folder: Path, name: str) -> Path:
    """`name` in `folder`, or `name (1)`, `name (2)`... when taken."""
    target = folder / name
    stem, dot, ext = name.partition(".")
    n = 1
    while target.exists():
        target = folder / (f"{stem} ({n}){dot}{ext}")
        n += 1
    return target


def json_object(data: bytes) -> dict[str, object]:
    """A LocalAPI answer that should be a JSON object; {} when it is not."""
    try:
        obj = json.loads(data)
    except ValueError:
        return {}
    return obj if isinstance(obj, dict) else {}


class TailnetClient(QObject):
    """Emits `suggestion(id, name)` (id "" when the daemon suggests none), `profiles(tuple[Profile, ...],
    current_id)`, `failed(what, text)`, `done(what)`. Reads that run by themselves (`BACKGROUND`) fail quietly: the caller decides."""

    suggestion = pyqtSignal(str, str)
    forwarding = pyqtSignal(str)  # check-ip-forwarding's Warning ("" when forwarding works)
    files = pyqtSignal(tuple)  # names of the Taildrop files waiting
    saved = pyqtSignal(str, tuple)  # folder, names saved there
    profiles = pyqtSignal(tuple, str)
    failed = pyqtSignal(str, str)  # what was being done (READ_* or a write), the text with the fix
    done = pyqtSignal(str)

    def __init__(self, socket_path: str | None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._socket_path = socket_path
        self._calls: set[LocalApiCall] = set()

    def _call(
        self, method: str, path: str, body: bytes | None, on_ok: Callable[[bytes], None], what: str, *,
        on_error: Callable[[int, bytes], None] | None = None,
    ) -> None:  # fmt: skip
        call = LocalApiCall(choose_socket(self._socket_path), method, path, body, parent=self)
        err = call.start()
        if err is not None:
            call.deleteLater()
            self.failed.emit(what, f"Could not reach tailscaled to {what}: {err.detail}")
            return
        self._calls.add(call)

        def finished(code: int, data: bytes) -> None:
            self._drop(call)
            if 200 <= code < 300:
                on_ok(data)
            elif on_error is not None:
                on_error(code, data)
            else:
                self.failed.emit(what, http_problem(what, code, data))

        def failed(e: LocalApiError) -> None:
            self._drop(call)
            self.failed.emit(what, f"Could not reach tailscaled to {what}: {e.detail}")

        call.finished.connect(finished)
        call.failed.connect(failed)

    def _drop(self, call: LocalApiCall) -> None:
        self._calls.discard(call)
        call.deleteLater()

    def busy(self) -> bool:
        return bool(self._calls)

    def stop(self) -> None:
        for call in list(self._calls):
            call.abort()
            self._drop(call)

    def patch_prefs(self, body: dict[str, object], what: str = "change the exit node") -> None:
        self._call("PATCH", PREFS_PATH, json.dumps(body).encode(), lambda _d: self.done.emit(what), what)

    def use_exit_node(self, on: bool, what: str = "change the exit node") -> None:
        """Off keeps the exit node as tailscaled's prior; on turns the prior back on."""

        def failed(code: int, data: bytes) -> None:
            if code == 404 and not on:  # a daemon without the call: clear it the old way (no prior kept)
                self.patch_prefs(exit_node_patch(None, None), what)
            else:
                self.failed.emit(what, http_problem(what, code, data))

        self._call(
            "POST", use_exit_node_path(on), None, lambda _d: self.done.emit(what), what, on_error=failed
        )

    def check_ip_forwarding(self) -> None:
        """`GET /localapi/v0/check-ip-forwarding` (what `tailscale up --advertise-exit-node` asks): tailscaled's
        warning, with its link to the fix, when the kernel would not forward for exit-node clients."""

        def ok(data: bytes) -> None:
            warning = json_object(data).get("Warning")
            self.forwarding.emit(warning if isinstance(warning, str) else "")

        self._call("GET", "/localapi/v0/check-ip-forwarding", None, ok, CHECK_FORWARDING)

    def fetch_suggestion(self) -> None:
        def ok(data: bytes) -> None:
            obj = json_object(data)
            if isinstance(obj.get("ID"), str):
                # {"ID": "", "Name": ""}: no exit node qualifies now (emitted too: an old one is stale)
                self.suggestion.emit(obj["ID"], str(obj.get("Name") or obj["ID"]))

        self._call("GET", SUGGEST_PATH, None, ok, "suggest an exit node")

    def fetch_profiles(self) -> None:
        def ok_current(listed: tuple[Profile, ...]) -> Callable[[bytes], None]:
            def inner(data: bytes) -> None:
                try:
                    cur = parse_profile(json.loads(data))
                except ValueError:
                    cur = None
                self.profiles.emit(listed, cur.id if cur else "")

            return inner

        def ok_list(data: bytes) -> None:
            try:
                listed = parse_profiles(json.loads(data))
            except ValueError:
                listed = ()
            self._call("GET", PROFILES_PATH + "current", None, ok_current(listed), "read the current account")

        self._call("GET", PROFILES_PATH, None, ok_list, "list your accounts")

    def list_files(self) -> None:
        """`GET /localapi/v0/files/`: the Taildrop files waiting (apitype.WaitingFile: Name, Size)."""

        def ok(data: bytes) -> None:
            try:
                doc = json.loads(data)
            except ValueError:
                return
            names = [f.get("Name") for f in doc if isinstance(f, dict)] if isinstance(doc, list) else []
            self.files.emit(tuple(n for n in names if isinstance(n, str) and n))

        self._call("GET", FILES_PATH, None, ok, LIST_FILES)

    def save_files(self, names: tuple[str, ...], folder: Path) -> None:
        """Like `tailscale file get --conflict=rename FOLDER`: stream each file to disk (`.NAME.part`, renamed
        when complete, never over another file), then delete it from tailscaled's waiting area."""
        done: list[str] = []
        todo = [n for n in names if safe_name(n)]

        def next_file() -> None:
            if not todo:
                self.saved.emit(str(folder), tuple(done))
                return
            name = todo.pop(0)
            path = FILES_PATH + quote(name, safe="")
            try:
                folder.mkdir(parents=True, exist_ok=True)
                target = free_path(folder, name)
                part = folder / f".{target.name}.part"
                out = open(part, "xb")  # noqa: SIM115  (closed when the download ends, below)
            except OSError as exc:
                self.failed.emit("save", f"Could not save {name} in {folder}: {exc.strerror or exc}")
                return

            def finish(code: int, data: bytes, err: LocalApiError | None = None) -> None:
                self._calls.discard(call)
                call.deleteLater()
                out.close()
                if err is not None or not 200 <= code < 300:
                    part.unlink(missing_ok=True)
                    what = "fetch a Taildrop file"
                    text = (
                        f"Could not reach tailscaled to {what}: {err.detail}"
                        if err
                        else http_problem(what, code, data)
                    )
                    self.failed.emit("save", text)
                    return
                final = free_path(folder, target.name)  # someone may have taken the name meanwhile
                try:
                    part.rename(final)
                except OSError as exc:
                    self.failed.emit("save", f"Could not save {name} in {folder}: {exc.strerror or exc}")
                    return
                done.append(final.name)
                self._call("DELETE", path, None, lambda _d: next_file(), "remove a saved Taildrop file")

            def write(chunk: bytes) -> None:
                try:
                    out.write(chunk)
                except OSError as exc:  # disk full, folder gone: stop, keep nothing half written
                    call.abort()
                    out.close()
                    part.unlink(missing_ok=True)
                    self._calls.discard(call)
                    call.deleteLater()
                    self.failed.emit("save", f"Could not save {name} in {folder}: {exc.strerror or exc}")

            call = LocalApiCall(choose_socket(self._socket_path), "GET", path, sink=write, parent=self)
            err = call.start()
            if err is not None:
                call.deleteLater()
                out.close()
                part.unlink(missing_ok=True)
                self.failed.emit("save", f"Could not reach tailscaled to fetch a Taildrop file: {err.detail}")
                return
            self._calls.add(call)
            call.finished.connect(finish)
            call.failed.connect(lambda e: finish(0, b"", e))

        next_file()

    def reauth(self) -> None:
        """`tailscale up --force-reauth` asks for this; the login URL then comes on the bus (BrowseToURL)."""
        self._call("POST", LOGIN_PATH, None, lambda _d: self.done.emit("reauth"), REAUTH)

    def login(self) -> None:
        """`tailscale up` from NeedsLogin. After a log out tailscaled has no control client and WantRunning
        is off: `login-interactive` alone then hands out no URL. Start it again with this account's prefs and
        WantRunning on (Start replaces every pref, so all of them), then ask for the interactive login."""

        def start(data: bytes) -> None:
            try:
                prefs = json.loads(data)
            except ValueError:
                prefs = None
            if not isinstance(prefs, dict):
                self.failed.emit(REAUTH, "Could not start a login: tailscaled sent prefs that are not JSON.")
                return
            prefs["WantRunning"] = True
            body = json.dumps({"UpdatePrefs": prefs}).encode()
            self._call("POST", START_PATH, body, lambda _d: self.reauth(), REAUTH)

        self._call("GET", PREFS_PATH, None, start, REAUTH)

    def switch_profile(self, profile_id: str) -> None:
        self._call(
            "POST", PROFILES_PATH + quote(profile_id, safe=""), None, lambda _d: self.done.emit("switch"),
            "switch accounts",
        )  # fmt: skip


# -- blocking versions for the CLI ----------------------------------------------------------------------------


class TailnetError(Exception):
    def __init__(self, text: str, status: int = 0) -> None:
        super().__init__(text)
        self.status = status  # the daemon's HTTP status; 0 when it was not reached


def call_sync(
    socket_path: str | None, method: str, path: str, body: dict[str, object] | None, what: str
) -> bytes:
    try:
        resp = request(
            choose_socket(socket_path), method, path, json.dumps(body).encode() if body is not None else None
        )
    except LocalApiError as exc:
        raise TailnetError(f"Could not reach tailscaled to {what}: {exc.detail}") from None
    if not 200 <= resp.status < 300:
        raise TailnetError(http_problem(what, resp.status, resp.body), resp.status)
    return resp.body


def use_exit_node_sync(socket_path: str | None, on: bool) -> None:
    """The blocking `use_exit_node` for the `route` command (same 404 fallback)."""
    what = "change the exit node"
    try:
        call_sync(socket_path, "POST", use_exit_node_path(on), None, what)
    except TailnetError as exc:
        if on or exc.status != 404:
            raise
        call_sync(socket_path, "PATCH", PREFS_PATH, exit_node_patch(None, None), what)
