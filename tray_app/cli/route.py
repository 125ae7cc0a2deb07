"""`mullvad-tailscale-tray route [mullvad|direct|last-used|exit-node NODE|exit-node --country CC]
[--allow-lan|--no-allow-lan] [--json]`.

Shows where internet traffic goes and changes it with the same plan as the tray (core/internet_route.py):
an exit node disconnects Mullvad first, Mullvad clears the exit node first, lockdown mode refuses an exit
node. Each step goes through the daemon's own interface (`mullvad connect|disconnect`, tailscaled's
`PATCH /localapi/v0/prefs`). Exit codes: 0 done, 1 a step failed, 3 refused (the message says why and how).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import time
from typing import Any

from tray_app.core.exit_node_host import host_view
from tray_app.core.internet_route import (
    Plan,
    Route,
    Step,
    allow_lan_patch,
    current,
    exit_node_patch,
    last_used,
    last_used_name,
    plan_allow_lan,
    plan_best_available,
    plan_direct,
    plan_exit_node,
    plan_last_used,
    plan_mullvad,
)
from tray_app.core.model import BypassState, BypassStatus, MullvadState, Snapshot
from tray_app.core.mullvad_parse import LOGIN_THEN_CONNECT, NOT_LOGGED_IN
from tray_app.core.tailnet import Tailnet, best_available, exit_node_label, exit_prefs, tailnet_from_status
from tray_app.core.tailscale_parse import parse_prefs, parse_status_doc
from tray_app.daemons.mullvad_read import read_status as read_mullvad
from tray_app.daemons.tailnet_client import SUGGEST_PATH, TailnetError, call_sync, use_exit_node_sync
from tray_app.rootside.published import read_status as read_published

EXIT_REFUSED = 3
MULLVAD_WAIT_S = 15.0


def _read(args: argparse.Namespace) -> tuple[Snapshot, Tailnet]:
    mullvad = read_mullvad(args.mullvad_cli)
    try:
        body = call_sync(args.tailscale_socket, "GET", "/localapi/v0/status", None, "read its status")
    except TailnetError as exc:
        from tray_app.core.tailscale_parse import unavailable  # noqa: PLC0415

        return Snapshot(mullvad=mullvad, tailscale=unavailable(str(exc))), Tailnet()
    prefs = None
    with contextlib.suppress(TailnetError):  # not readable (no operator): the prefs' facts stay unknown
        prefs = exit_prefs(
            parse_prefs(call_sync(args.tailscale_socket, "GET", "/localapi/v0/prefs", None, "read its prefs"))
        )
    # the bypass only where the reconciler publishes it (no pkexec for a look): else unknown, and said so
    published = read_published()
    bypass = published.status if published is not None else None
    # one decode; a body that is no JSON reads as unavailable with the reason, never a traceback
    status, doc = parse_status_doc(body)
    snapshot = Snapshot(mullvad, status, bypass or BypassStatus(BypassState.UNKNOWN))
    return snapshot, tailnet_from_status(doc, prefs=prefs)


def _suggestion(args: argparse.Namespace) -> str | None:
    try:
        obj = json.loads(call_sync(args.tailscale_socket, "GET", SUGGEST_PATH, None, "suggest an exit node"))
    except (TailnetError, ValueError):
        return None
    # tailscaled answers {"ID": "", "Name": ""} when no exit node qualifies: no suggestion
    return obj.get("ID") or None if isinstance(obj, dict) and isinstance(obj.get("ID"), str) else None


def _show(route: Route, s: Snapshot, t: Tailnet, suggested: str | None, as_json: bool) -> None:
    nodes = [*t.exit_nodes, *t.mullvad_exit_nodes]
    last = last_used(t)
    host = host_view(s, t)
    countries = sorted(
        {p.location.country for p in t.mullvad_exit_nodes if p.location and p.location.country}
    )
    best = {c: b for c in countries if (b := best_available(t.mullvad_exit_nodes, c)) is not None}
    if as_json:
        out: dict[str, Any] = route.to_json()
        out["allow_lan"] = t.allow_lan
        out["suggested"] = suggested
        out["last_used"] = last[0] if last else None
        out["best_available"] = {c: b.id for c, b in best.items()}
        out["exit_node_host"] = {
            "advertising": host.advertising,
            "clients": host.fate.value if host.fate else None,
            "fix_offered": host.fix_offered,
        }
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
    if best:
        picks = ", ".join(f"{c}: {b.name}" for c, b in best.items())
        print(f"Best available Mullvad exit node (`route exit-node --country COUNTRY`): {picks}")
    if last:
        print(f"Last used (`route last-used`): {last_used_name(t, last[0])}")
    if host.advertising:
        print(f"This device is an exit node. {host.text}" + (f" ({host.tip})" if host.fix_offered else ""))


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
        elif step in (Step.CLEAR_EXIT_NODE, Step.RESTORE_EXIT_NODE):
            try:
                use_exit_node_sync(args.tailscale_socket, step is Step.RESTORE_EXIT_NODE)
            except TailnetError as exc:
                return str(exc)
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
        _show(current(snapshot, tailnet), snapshot, tailnet, _suggestion(args), args.json)
        return 0
    if args.country is not None and (target != "exit-node" or args.node):
        print("--country goes with `route exit-node` instead of a NODE", file=sys.stderr)
        return 2
    if target == "exit-node" and args.country is not None:
        plan = plan_best_available(snapshot, tailnet, args.country, lan)
    elif target == "exit-node":
        if not args.node:
            print("route exit-node needs a NODE (a name, IP or ID; `route` lists them) or --country COUNTRY",
                  file=sys.stderr)  # fmt: skip
            return 2
        plan = plan_exit_node(snapshot, tailnet, args.node, lan)
    elif target == "last-used":
        plan = plan_last_used(snapshot, tailnet)
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
