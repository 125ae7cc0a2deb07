"""Accounts ▸ "Add another account…" and "Log out…" (pure: the prefs and the words, no I/O).

What tailscaled does (1.102.5, checked in tests/realts/test_send_accounts_real.py):
* `tailscale login` is `PUT /localapi/v0/profiles/` (a new, empty profile, current at once), then
  `POST /localapi/v0/start` with the new profile's whole prefs, then `POST /localapi/v0/login-interactive`;
  the login URL comes on the bus (BrowseToURL). The prefs are the new profile's defaults (read back from
  `GET /localapi/v0/prefs`: Start replaces them all, and a zero NetfilterMode would be "off") with the
  current account's control server and operator, so a self-hosted tailnet and the desktop user carry over.
* Tailscale keeps the operator per profile and a new one has none: a user who is only the operator is
  refused everything once the empty profile is current (even switching back) until root steps in. So
  only root (or the user tailscaled runs as) adds an account from the tray; the operator gets the command.
* `POST /localapi/v0/logout` logs out at control and deletes the profile; an empty one is current then
  (NeedsLogin), again without an operator.
"""

from __future__ import annotations

from typing import Any

DEFAULT_CONTROL = ("", "https://controlplane.tailscale.com", "https://login.tailscale.com")
ADD_TITLE = "Add a Tailscale account"
LOGOUT_TITLE = "Log out of Tailscale"


def new_profile_prefs(defaults: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """The `UpdatePrefs` of the Start that logs the new, empty profile in (`tailscale login`'s)."""
    prefs = {k: v for k, v in defaults.items() if k != "Config"}  # Config: the node's keys, never sent back
    prefs.update(WantRunning=True, LoggedOut=False)
    for key in ("ControlURL", "OperatorUser"):
        if current.get(key):
            prefs[key] = current[key]
    return prefs


def login_command(control_url: str) -> str:
    """What a terminal needs for a new account when the tray may not make one."""
    cmd = "sudo tailscale login --operator=$USER"
    return cmd if control_url in DEFAULT_CONTROL else f"{cmd} --login-server={control_url}"


def add_refused(control_url: str) -> str:
    return (
        "Tailscale gives a new account no operator, so once it is current Tailscale would refuse you "
        "everything, even switching back. Add it in a terminal instead (copied to the clipboard): "
        f"`{login_command(control_url)}`"
    )


def add_started() -> str:
    return (
        "Switched to a new, empty account: log in to it on the page that opens in your browser. "
        "Your other accounts stay in Tailscale account ▸."
    )


def add_failed(text: str, switched: bool) -> str:
    back = (
        " You are on a new, empty account now: pick yours in Tailscale account ▸ to go back."
        if switched
        else ""
    )
    return text + back


def logout_question(account: str, tailnet: str, operator_only: bool) -> str:
    text = (
        f"Log out of {account}?\n\nThis device leaves the tailnet {tailnet or account} until you log in "
        "again, and Tailscale forgets the account on this device (logging in again adds it back)."
    )
    if operator_only:
        text += (
            "\n\nTailscale keeps its operator per account, so logging in again needs an administrator: "
            "`sudo tailscale login --operator=$USER`."
        )
    return text


def logged_out(account: str) -> str:
    return f"Logged out of {account}: this device is off the tailnet until you log in again."
