"""`mullvad-tailscale-tray route [mullvad|direct|exit-node NODE] [--allow-lan|--no-allow-lan] [--json]`.

Shows where internet traffic goes and changes it with the same plan as the tray (core/internet_route.py):
an exit node disconnects Mullvad first, Mullvad clears the exit node first, lockdown mode refuses an exit
node. Each step goes through the daemon's own interface (`mullvad connect|disconnect`, tailscaled's
`PATCH /localapi/v0/prefs`). Exit codes: 0 done, 1 a step failed, 3 refused (the message says why and how).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from typing import Any

from tray_app.core.internet_route import (
    Plan,
    Route,
    Step,
    allow_lan_patch,
    current,
    exit_node_patch,
    plan_allow_lan,
    plan_direct,
    plan_exit_node,
    plan_mullvad,
)
from tray_app.core.model import MullvadState, Snapshot
from tray_app.core.mullvad_parse import LOGIN_THEN_CONNECT, NOT_LOGGED_IN
from tray_app.core.tailnet import Tailnet, exit_node_label, tailnet_from_status
from tray_app.core.tailscale_parse import parse_prefs, parse_status
from tray_app.daemons.mullvad_read import read_status as read_mullvad
from tray_app.daemons.tailnet_client import SUGGEST_PATH, TailnetError, call_sync

EXIT_REFUSED = 3
MULLVAD_WAIT_S = 15.0


def _read(args: argparse.Namespace) -> tuple[Snapshot, Tailnet]:
    mullvad = read_mullvad(args.mullvad_cli)
    try:
        body = call_sync(args.tailscale_socket, "GET", "/localapi/v0/status", None, "read its status")
    except TailnetError as exc:
        from tray_app.core.tailscale_parse import unavailable  # noqa: PLC0415

        return Snapshot(mullvad=mullvad, tailscale=unavailable(str(exc))), Tailnet()
    allow_lan: bool | None = None
    try:
        prefs = parse_prefs(
            call_sync(args.tailscale_socket, "GET", "/localapi/v0/prefs", None, "read its prefs")
        )
        lan = (prefs or {}).get("ExitNodeAllowLANAccess")
        allow_lan = lan if isinstance(lan, bool) else None
    except TailnetError:
        pass
    return Snapshot(mullvad=mullvad, tailscale=parse_status(body)), tailnet_from_status(
        json.loads(body), allow_lan
    )


def _suggestion(args: argparse.Namespace) -> str | None:
    try:
        obj = json.loads(call_sync(args.tailscale_socket, "GET", SUGGEST_PATH, None, "suggest an exit node"))
    except (TailnetError, ValueError):
        return None
    # tailscaled answers {"ID": "", "Name": ""} when no exit node qualifies: no suggestion
    return obj.get("ID") or None if isinstance(obj, dict) and isinstance(obj.get("ID"), str) else None


def _show(route: Route, t: Tailnet, suggested: str | None, as_json: bool) -> None:
    nodes = [*t.exit_nodes, *t.mullvad_exit_nodes]
    if as_json:
        out: dict[str, Any] = route.to_json()
        out["allow_lan"] = t.allow_lan
        out["suggested"] = suggested
        out["exit_nodes"] = [
            {"id": p.id, "name": p.name, "dns_name": p.dns_name, "online": p.online, "mullvad": p.mullvad,
             "country": p.location.country if p.location else None,
             "city": p.location.city if p.location else None, "selected": p.id == t.exit_node_id}
            for p in nodes
        ]  # fmt: skip
        print(json.dumps(out, indent=2))
        return
    print(f"Internet traffic: {route.text}")
    if route.warning:
        print(f"warning: {route.warning}")
    if t.allow_lan is not None:
        print(f"Local network access while using an exit node: {'allowed' if t.allow_lan else 'blocked'}")
    if nodes:
        print("Exit nodes (`route exit-node NAME`):")
        for p in nodes:
            marks = "*" if p.id == t.exit_node_id else " "
            rec = "  (recommended)" if p.id == suggested else ""
            print(f" {marks} {p.name:<28} {exit_node_label(p)}{rec}")
    else:
        print("No exit nodes in your tailnet.")


def _mullvad(cli: str, verb: str) -> str | None:
    try:
        proc = subprocess.run([cli, verb], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"could not run `{cli} {verb}`: {exc}"
    if proc.returncode != 0:
        return f"`mullvad {verb}` failed: {(proc.stderr or proc.stdout).strip()}"
    if NOT_LOGGED_IN in proc.stdout:
        return f"Mullvad is not logged in: {LOGIN_THEN_CONNECT}"
    return None


def _wait_disconnected(cli: str) -> bool:
    end = time.monotonic() + MULLVAD_WAIT_S
    while time.monotonic() < end:
        if read_mullvad(cli).state is MullvadState.DISCONNECTED:
            return True
        time.sleep(0.2)
    return False


def execute(args: argparse.Namespace, plan: Plan) -> str | None:
    """Run the steps in order; the first failure stops and is returned."""
    for step in plan.steps:
        if step is Step.MULLVAD_DISCONNECT:
            problem = _mullvad(args.mullvad_cli, "disconnect")
            if problem:
                return problem
            if not _wait_disconnected(args.mullvad_cli):
                return f"Mullvad did not disconnect within {MULLVAD_WAIT_S:.0f} s; nothing else was changed"
        elif step is Step.MULLVAD_CONNECT:
            problem = _mullvad(args.mullvad_cli, "connect")
            if problem:
                return problem
        else:
            peer = plan.exit_node if step is Step.SET_EXIT_NODE else None
            lan = plan.allow_lan if step is Step.SET_EXIT_NODE else None
            body = (
                allow_lan_patch(bool(plan.allow_lan))
                if step is Step.SET_ALLOW_LAN
                else exit_node_patch(peer, lan)
            )
            try:
                call_sync(args.tailscale_socket, "PATCH", "/localapi/v0/prefs", body, "change the exit node")
            except TailnetError as exc:
                return str(exc)
    return None


def run(args: argparse.Namespace) -> int:
    snapshot, tailnet = _read(args)
    target: str | None = args.target
    lan: bool | None = args.allow_lan
    if target is None and lan is None:
        _show(current(snapshot, tailnet), tailnet, _suggestion(args), args.json)
        return 0
    if target == "exit-node":
        if not args.node:
            print("route exit-node needs a NODE (a name, IP or ID; `route` lists them)", file=sys.stderr)
            return 2
        plan = plan_exit_node(snapshot, tailnet, args.node, lan)
    elif target == "mullvad":
        plan = plan_mullvad(snapshot, tailnet)
    elif target == "direct":
        plan = plan_direct(snapshot, tailnet)
    else:
        plan = plan_allow_lan(snapshot, tailnet, bool(lan))
    if plan.refused:
        print(f"refused: {plan.refusal}", file=sys.stderr)
        return EXIT_REFUSED
    problem = execute(args, plan)
    if problem:
        print(f"failed: {problem}", file=sys.stderr)
        return 1
    snapshot, tailnet = _read(args)
    route = current(snapshot, tailnet)
    if args.json:
        print(
            json.dumps(
                {**route.to_json(), "allow_lan": tailnet.allow_lan, "did": [s.value for s in plan.steps]}
            )
        )
    else:
        print(plan.explanation)
        for note in plan.notes:
            print(f"note: {note}")
        print(f"Internet traffic: {route.text}")
    return 0
