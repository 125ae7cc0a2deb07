"""Adding a Tailscale account and logging out, through tailscaled's LocalAPI (core/account_actions.py says
which calls and why): `done(ADD)` when the login started (its URL then comes on the bus), `done(LOGOUT)`,
or `failed(what, text)` with the fix; `switched` says whether the new, empty profile became current
before a failure (the user then has to hear how to go back)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable

from tray_app.core.account_actions import new_profile_prefs
from tray_app.daemons.localapi import choose_socket
from tray_app.daemons.tailnet_client import (
    LOGIN_PATH,
    PREFS_PATH,
    PROFILES_PATH,
    START_PATH,
    TailnetClient,
    json_object,
)

ADD = "add an account"
LOGOUT = "log out"
READ_CONTROL = "read the control server"
LOGOUT_PATH = "/localapi/v0/logout"


def may_add_account(socket_path: str | None) -> bool:
    """Root, or the user tailscaled itself runs as (a socket named on purpose): they keep write access on
    a profile without an operator. Anyone else would be locked out of the new one."""
    if os.geteuid() == 0:
        return True
    choice = choose_socket(socket_path)
    try:
        return choice.explicit and os.stat(choice.path).st_uid == os.geteuid()
    except OSError:
        return False


class AccountClient(TailnetClient):
    switched = False
    control_url = ""

    def add_account(self) -> None:
        self.switched = False

        def step(method: str, path: str, body: bytes | None, then: Callable[[bytes], None]) -> None:
            self._call(method, path, body, then, ADD)

        def read_current(data: bytes) -> None:
            current = json_object(data)
            self.control_url = str(current.get("ControlURL") or "")

            def switched(_d: bytes) -> None:
                self.switched = True
                step("GET", PREFS_PATH, None, lambda d: start(json_object(d), current))

            step("PUT", PROFILES_PATH, None, switched)

        def start(defaults: dict[str, object], current: dict[str, object]) -> None:
            body = json.dumps({"UpdatePrefs": new_profile_prefs(defaults, current)}).encode()
            step(
                "POST",
                START_PATH,
                body,
                lambda _d: step("POST", LOGIN_PATH, None, lambda _e: self.done.emit(ADD)),
            )

        step("GET", PREFS_PATH, None, read_current)

    def with_control_url(self, then: Callable[[str], None]) -> None:
        """The current account's control server (prefs are readable by anyone), "" when unknown."""
        self._call(
            "GET", PREFS_PATH, None, lambda d: then(str(json_object(d).get("ControlURL") or "")), READ_CONTROL
        )

    def logout(self) -> None:
        self._call("POST", LOGOUT_PATH, None, lambda _d: self.done.emit(LOGOUT), LOGOUT)
