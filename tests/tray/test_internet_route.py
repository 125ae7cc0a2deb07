"""The internet route: the pure safety plan (core/internet_route.py), the tailnet reader (core/tailnet.py),
the relay-list reader (core/mullvad_relays.py), and the `route` command run as a user would against the
fakes of both daemons (the fake `mullvad` CLI, the fake tailscaled LocalAPI)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.fakes.fake_localapi import FakeLocalApi, big_status, load_fixture
from tests.fakes.fake_mullvad import FakeMullvad
from tray_app.core.internet_route import (
    RouteKind,
    Step,
    current,
    exit_node_patch,
    plan_direct,
    plan_exit_node,
    plan_mullvad,
)
from tray_app.core.model import MullvadState, MullvadStatus, Snapshot, TailscaleState, TailscaleStatus
from tray_app.core.mullvad_relays import (
    LocationChoice,
    location_of_relay,
    parse_location_constraint,
    parse_relay_list,
)
from tray_app.core.tailnet import device_label, key_expires_within, mullvad_groups, tailnet_from_status

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)


def tailnet(name: str = "running-mullvad-exit-node"):  # type: ignore[no-untyped-def]
    return tailnet_from_status(json.loads(load_fixture(name)), allow_lan=False)


def snap(mullvad: str = "connected", *, lockdown: bool = False, can_write: bool | None = None) -> Snapshot:
    m = MullvadState(mullvad)
    return Snapshot(
        mullvad=MullvadStatus(m, relay="se-got-wg-001", location="Gothenburg, Sweden", lockdown=lockdown,
                              blocked=m is MullvadState.DISCONNECTED and lockdown),
        tailscale=TailscaleStatus(TailscaleState.RUNNING, can_write=can_write),
    )  # fmt: skip


def test_the_tailnet_reader_orders_devices_and_groups_mullvad_exit_nodes() -> None:
    t = tailnet()
    assert t.exit_node_id == "nMv1se1CNTRL"  # the Mullvad node in use in this fixture
    assert [p.name for p in t.exit_nodes] == ["nas"]
    assert {p.name for p in t.mullvad_exit_nodes} == {"se-got-wg-001", "de-fra-wg-002"}
    groups = mullvad_groups(t.mullvad_exit_nodes)
    assert [c for c, _ in groups] == ["Germany", "Sweden"] and groups[1][1][0][0] == "Gothenburg"
    devices = t.devices
    assert all(not p.mullvad for p in devices)
    assert [p.online for p in devices] == sorted((p.online for p in devices), reverse=True)
    big = tailnet_from_status(json.loads(big_status(load_fixture("running"), 30, 12)))
    devs = big.devices
    assert devs[0].mine and not devs[-1].mine  # yours first, then shared
    offline = next(p for p in devs if not p.online)
    assert "last seen" in device_label(offline, NOW) and "(" in device_label(offline, NOW)  # with its OS
    assert len(big.mullvad_exit_nodes) == 12 and len(big.exit_nodes) == 3


def test_key_expiry_within_seven_days() -> None:
    t = tailnet("running")
    assert t.self_key_expiry is None or key_expires_within(t, NOW) is None
    soon = replace(t, self_key_expiry=datetime(2026, 11, 30, tzinfo=UTC))
    assert key_expires_within(soon, NOW) == datetime(2026, 11, 30, tzinfo=UTC)


def test_picking_an_exit_node_while_mullvad_is_connected_disconnects_mullvad_first() -> None:
    t = tailnet()
    plan = plan_exit_node(snap("connected"), t, "nas")
    assert plan.steps == (Step.MULLVAD_DISCONNECT, Step.SET_EXIT_NODE) and plan.exit_node is not None
    assert "Mullvad is disconnected first" in plan.explanation
    # Mullvad already off: just the exit node
    assert plan_exit_node(snap("disconnected"), t, "nas").steps == (Step.SET_EXIT_NODE,)


def test_lockdown_refuses_an_exit_node_with_the_fix() -> None:
    plan = plan_exit_node(snap("connected", lockdown=True), tailnet(), "nas")
    assert plan.refused and plan.steps == ()
    assert "mullvad lockdown-mode set off" in (plan.refusal or "")
    assert plan_exit_node(snap("disconnected", lockdown=True), tailnet(), "nas").refused


def test_refusals_carry_their_fix() -> None:
    assert "--operator=$USER" in (plan_exit_node(snap(can_write=False), tailnet(), "nas").refusal or "")
    t = tailnet("running")
    none = replace(t, peers=tuple(replace(p, exit_option=False) for p in t.peers))
    assert "--advertise-exit-node" in (plan_exit_node(snap(), none, "anything").refusal or "")
    assert "route` lists them" in (plan_exit_node(snap(), tailnet(), "nope").refusal or "")


def test_mullvad_clears_the_exit_node_and_direct_clears_both() -> None:
    t = tailnet()
    assert plan_mullvad(snap("disconnected"), t).steps == (Step.CLEAR_EXIT_NODE, Step.MULLVAD_CONNECT)
    assert plan_mullvad(snap("connected"), t).steps == (Step.CLEAR_EXIT_NODE,)
    assert plan_direct(snap("connected"), t).steps == (Step.CLEAR_EXIT_NODE, Step.MULLVAD_DISCONNECT)


def test_current_route_names_the_broken_combination() -> None:
    route = current(snap("connected"), tailnet())
    assert route.kind is RouteKind.MULLVAD and route.warning is not None  # exit node set behind Mullvad
    assert current(snap("disconnected"), tailnet()).kind is RouteKind.EXIT_NODE
    assert current(snap("disconnected"), tailnet("running")).kind is RouteKind.DIRECT
    assert current(snap("disconnected", lockdown=True), tailnet("running")).kind is RouteKind.BLOCKED


def test_exit_node_patch_is_what_tailscale_set_sends() -> None:
    body = exit_node_patch(tailnet().peer("nas"), True)
    assert body == {"ExitNodeID": "nQ3pX8kT2b11CNTRL", "ExitNodeIDSet": True, "ExitNodeIP": "", "ExitNodeIPSet": True,
                    "ExitNodeAllowLANAccess": True, "ExitNodeAllowLANAccessSet": True}  # fmt: skip
    assert exit_node_patch(None, None)["ExitNodeID"] == ""


def test_relay_list_and_location_readers_take_every_layout() -> None:
    new = "Sweden (se)\n\tGothenburg (got) @ 57.70887°N, 11.97456°W\n\t\tse-got-wg-001 (185.213.154.66, " \
          "2a03:1b20:5:f011::a01f) - WireGuard, hosted by 31173 (Mullvad-owned)\n\n"  # fmt: skip
    old = "Sweden (se)\n\tGothenburg (got) @ 57.70887°N, 11.97456°W\n\t\tse-got-wg-001 (185.213.154.66) - WireGuard\n"
    for text in (new, old):
        (country,) = parse_relay_list(text)
        assert (country.code, country.cities[0].code, country.cities[0].relays) == (
            "se",
            "got",
            ("se-got-wg-001",),
        )
    assert (
        parse_location_constraint("Generic constraints\n    Location:               any\n")
        == LocationChoice()
    )
    assert parse_location_constraint("    Location: country se") == LocationChoice("se")
    assert parse_location_constraint("    Location: city got, se, hostname se-got-wg-004") == LocationChoice(
        "se", "got", "se-got-wg-004"
    )
    assert location_of_relay("de-fra-wg-002") == LocationChoice("de", "fra")


# -- the command, as a user runs it ------------------------------------------------------------------------


@pytest.fixture
def fakes(short_tmp: Path) -> Iterator[tuple[FakeMullvad, FakeLocalApi]]:
    api = FakeLocalApi(short_tmp / "ts.sock", "running-mullvad-exit-node").start()
    try:
        yield FakeMullvad(short_tmp / "m", state="connected"), api
    finally:
        api.stop()


def route(fakes: tuple[FakeMullvad, FakeLocalApi], *args: str) -> subprocess.CompletedProcess[str]:
    m, api = fakes
    return subprocess.run(
        [sys.executable, "-m", "tray_app", "--mullvad-cli", str(m.cli), "--tailscale-socket", api.path, "route", *args],
        capture_output=True, text=True, cwd=ROOT, timeout=60, check=False,
    )  # fmt: skip


def test_route_command_shows_and_switches(fakes: tuple[FakeMullvad, FakeLocalApi]) -> None:
    m, api = fakes
    shown = route(fakes)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("Internet traffic: Mullvad (se-got-wg-001, Gothenburg, Sweden)\nwarning:")
    assert (
        "nas" in shown.stdout
        and "Frankfurt (de-fra-wg-002)" in shown.stdout
        and "(recommended)" in shown.stdout
    )

    done = route(fakes, "exit-node", "nas", "--allow-lan")
    assert done.returncode == 0, done.stderr
    assert "Mullvad is disconnected first" in done.stdout
    assert done.stdout.rstrip().endswith("Internet traffic: Tailscale exit node nas")
    assert m.read()["state"]["state"] == "disconnected"  # the real order: Mullvad off, then the exit node
    assert api.patches[-1]["ExitNodeID"] == "nQ3pX8kT2b11CNTRL" and api.patches[-1]["ExitNodeAllowLANAccess"]

    js = json.loads(route(fakes, "--json").stdout)
    assert js["route"] == "exit-node" and js["allow_lan"] is True
    assert [n["name"] for n in js["exit_nodes"] if n["selected"]] == ["nas"]

    back = route(fakes, "mullvad")
    assert back.returncode == 0 and "exit node is cleared" in back.stdout
    assert api.patches[-1] == {"set-use-exit-node-enabled": "enabled=false"}  # tailscaled keeps it as prior
    assert api.exit_prefs["ExitNodeID"] == "" and m.read()["state"]["state"] == "connected"


def test_route_command_refuses_and_fails_with_the_reason(fakes: tuple[FakeMullvad, FakeLocalApi]) -> None:
    m, api = fakes
    subprocess.run([str(m.cli), "lockdown-mode", "set", "on"], check=True)
    refused = route(fakes, "exit-node", "nas")
    assert refused.returncode == 3 and "lockdown-mode set off" in refused.stderr
    assert m.read()["state"]["state"] == "connected" and not api.patches  # nothing was changed
    api.deny_writes = True
    subprocess.run([str(m.cli), "lockdown-mode", "set", "off"], check=True)
    failed = route(fakes, "exit-node", "nas")
    assert failed.returncode == 1 and "--operator=$USER" in failed.stderr
    m.configure(logged_in=False, auth_fails=True)
    api.deny_writes = False
    route(fakes, "direct")
    refused = route(fakes, "mullvad")
    assert (
        refused.returncode == 1
        and "Mullvad is not logged in: log in with `mullvad account login`" in refused.stderr
    )


@pytest.mark.parametrize(
    "doc",
    [None, [], "x", {"Peer": 5}, {"Peer": {"k": None}}, {"Peer": {"k": {"Online": "yes", "LastSeen": 5,
     "TailscaleIPs": "100.1.1.1", "Location": [], "KeyExpiry": "garbage"}}, "Self": [], "User": None}],
)  # fmt: skip
def test_readers_never_fail_on_what_a_daemon_may_send(doc: object) -> None:
    from tray_app.core.tailnet import parse_profiles

    t = tailnet_from_status(doc)
    assert all(not p.online and p.last_seen is None and p.location is None for p in t.peers)
    assert parse_profiles(doc) == () or isinstance(doc, list)
    assert parse_relay_list(str(doc) + "\n\t\tstray relay line\n\tcity without country (x)\n") == ()
    assert parse_location_constraint(str(doc)) is None


def test_route_command_reads_a_malformed_status_as_unavailable(
    fakes: tuple[FakeMullvad, FakeLocalApi],
) -> None:
    """tailscaled answering 200 with a body that is no JSON (truncated): the reason, never a traceback."""
    _m, api = fakes
    api.status_raw = b'{"BackendState": "Runn'
    shown = route(fakes, "--json")
    assert shown.returncode == 0, shown.stderr
    assert "Traceback" not in shown.stderr
    js = json.loads(shown.stdout)
    assert js["exit_nodes"] == []
