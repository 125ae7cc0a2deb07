"""Tailscale's status read once, synchronously, for `mullvad-tailscale-tray status` and `doctor` (no Qt, no
event loop): the LocalAPI, else `tailscale status --json`; the watching source is `tailscale.py`."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from typing import Any

from tray_app.core.model import TailscaleState, TailscaleStatus
from tray_app.core.tailscale_parse import (
    cli_status,
    http_detail,
    parse_prefs,
    parse_status,
    status_tun,
    unavailable,
)
from tray_app.daemons.localapi import LocalApiError, choose_socket, request

STATUS_PATH = "/localapi/v0/status"
PREFS_PATH = "/localapi/v0/prefs"


def read_cli(cli_path: str, timeout: float) -> tuple[TailscaleStatus, str] | None:
    try:
        proc = subprocess.run(
            [cli_path, "status", "--json"], capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return cli_status(cli_path, proc.stdout, proc.stderr, proc.returncode), proc.stdout


@dataclass(frozen=True, slots=True)
class TailscaleDetails:
    """What `doctor` needs beyond the status: the prefs (operator, netfilter, routes) and TUN mode."""

    status: TailscaleStatus
    prefs: dict[str, Any] | None = None
    tun: bool | None = None


def read_details(
    socket_path: str | None, cli_path: str | None, timeout: float = 3.0, *, prefs: bool = True
) -> TailscaleDetails:
    """Status, prefs (unless `prefs` is False) and TUN mode in one synchronous go: the LocalAPI, else the CLI.
    Never raises."""
    choice = choose_socket(socket_path)
    try:
        resp = request(choice, "GET", STATUS_PATH, timeout=timeout)
    except LocalApiError as exc:
        if exc.kind == "owner" or not cli_path:
            return TailscaleDetails(exc.status)
        cli = read_cli(cli_path, timeout)
        # No usable CLI, or it cannot reach the daemon either: the socket's reason is the one to show.
        if cli is None or cli[0].state is TailscaleState.UNAVAILABLE:
            return TailscaleDetails(exc.status)
        return TailscaleDetails(cli[0], None, status_tun(cli[1]))
    if resp.status != 200:
        return TailscaleDetails(unavailable(http_detail(STATUS_PATH, resp.status, resp.body)))
    read_prefs: dict[str, Any] | None = None
    if prefs:
        try:
            presp = request(choice, "GET", PREFS_PATH, timeout=timeout)
            read_prefs = parse_prefs(presp.body) if presp.status == 200 else None
        except LocalApiError:
            pass
    return TailscaleDetails(parse_status(resp.body), read_prefs, status_tun(resp.body))


def read_status(socket_path: str | None, cli_path: str | None, timeout: float = 3.0) -> TailscaleStatus:
    """One synchronous read for the `status` command: the LocalAPI, else the CLI. Never raises."""
    return read_details(socket_path, cli_path, timeout, prefs=False).status
