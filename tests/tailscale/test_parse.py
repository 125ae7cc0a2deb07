"""The pure parsers over every fixture (exact values) and over broken and fuzzed input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tray_app.core.model import ExitNode, TailscaleSelf, TailscaleState, TailscaleStatus
from tray_app.core.tailscale_parse import (
    BUS_STATES,
    WATCH_MASK,
    is_mullvad_peer,
    parse_bus_line,
    parse_cli_failure,
    parse_status,
    status_from_obj,
)

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "tailscale"
SELF = TailscaleSelf(
    "thinkpad", "thinkpad.tail4a2b9c.ts.net", ("100.101.102.103", "fd7a:115c:a1e0::6f01:6667")
)
TAILNET = "alice@example.com"

EXPECTED = {
    "running": TailscaleStatus(
        TailscaleState.RUNNING, SELF, TAILNET, None, peers_online=2, peers_total=3, version="1.102.3"
    ),
    "running-exit-node": TailscaleStatus(
        TailscaleState.RUNNING, SELF, TAILNET, ExitNode("nas", True), 2, 3, version="1.102.3"
    ),
    "starting": TailscaleStatus(TailscaleState.STARTING, SELF, TAILNET, None, 2, 3, version="1.102.3"),
    "stopped": TailscaleStatus(
        TailscaleState.STOPPED,
        SELF,
        TAILNET,
        None,
        2,
        3,
        health=("Tailscale is stopped.",),
        version="1.102.3",
    ),
    "needs-login": TailscaleStatus(
        TailscaleState.NEEDS_LOGIN,
        TailscaleSelf("thinkpad", "", ()),
        health=("Tailscale is stopped.",),
        version="1.102.3",
    ),
    "needs-login-auth-url": TailscaleStatus(
        TailscaleState.NEEDS_LOGIN,
        TailscaleSelf("thinkpad", "", ()),
        version="1.102.3",
        auth_url="https://login.tailscale.com/a/1b2c3d4e5f6a7",
    ),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("kind", ["localapi-status", "status-json"])
def test_every_status_fixture_gives_exact_values(kind: str, name: str) -> None:
    got = parse_status((FIX / f"{kind}.{name}.json").read_bytes())
    assert got == EXPECTED[name]


def test_status_json_schema_of_a_running_node() -> None:
    got = parse_status((FIX / "localapi-status.running-exit-node.json").read_text())
    assert got.to_json() == {
        "state": "running",
        "self": {
            "host": "thinkpad",
            "dns_name": "thinkpad.tail4a2b9c.ts.net",
            "ips": ["100.101.102.103", "fd7a:115c:a1e0::6f01:6667"],
        },
        "tailnet": "alice@example.com",
        "exit_node": {"name": "nas", "online": True},
        "peers_online": 2,
        "peers_total": 3,
        "health": [],
        "version": "1.102.3",
        "detail": None,
    }


def test_mullvad_exit_nodes_are_not_counted_as_your_devices() -> None:
    got = parse_status((FIX / "localapi-status.running-mullvad-exit-node.json").read_bytes())
    # 5 peers in the document: nas, build-server (offline), pixel-8, and two Mullvad exit nodes.
    assert (got.peers_online, got.peers_total) == (2, 3)
    assert got.exit_node == ExitNode("se-got-wg-001 (Gothenburg, Sweden)", True)


def test_mullvad_peer_detection() -> None:
    assert is_mullvad_peer({"DNSName": "se-got-wg-001.mullvad.ts.net."})
    assert is_mullvad_peer({"DNSName": "SE-GOT-WG-001.MULLVAD.TS.NET"})
    assert is_mullvad_peer({"DNSName": "", "Tags": ["tag:mullvad-exit-node"]})
    assert not is_mullvad_peer({"DNSName": "mullvad.tail4a2b9c.ts.net.", "Tags": ["tag:mullvad-client"]})
    assert not is_mullvad_peer({"DNSName": None, "Tags": None})


def test_sharee_nodes_and_odd_peers_are_skipped() -> None:
    doc = json.loads((FIX / "localapi-status.running.json").read_text())
    peers = list(doc["Peer"].values())
    peers[0]["ShareeNode"] = True
    doc["Peer"]["x"] = "not a peer"
    doc["Peer"]["y"] = {"Online": "yes"}  # not a bool: not online
    got = status_from_obj(doc)
    assert (got.peers_online, got.peers_total) == (1, 3)


def test_unknown_backend_state_is_unavailable_with_a_detail() -> None:
    doc = json.loads((FIX / "localapi-status.running.json").read_text())
    doc["BackendState"] = "Hibernating"
    got = status_from_obj(doc)
    assert got.state is TailscaleState.UNAVAILABLE
    assert got.detail is not None and "'Hibernating'" in got.detail
    assert got.self_node == SELF  # what is known is still shown
    doc["BackendState"] = "InUseOtherUser"
    assert status_from_obj(doc).detail == "Tailscale is in use by another user on this machine"


def test_exit_node_from_exit_node_status_when_peers_are_missing() -> None:
    doc = json.loads((FIX / "localapi-status.running-exit-node.json").read_text())
    doc["Peer"] = None  # /status?peers=false
    got = status_from_obj(doc)
    assert got.exit_node == ExitNode("nQ3pX8kT2b11CNTRL", True)
    assert (got.peers_online, got.peers_total) == (0, 0)


def test_tailnet_falls_back_to_the_magicdns_suffix() -> None:
    doc = json.loads((FIX / "localapi-status.running.json").read_text())
    doc["CurrentTailnet"] = None
    assert status_from_obj(doc).tailnet == "tail4a2b9c.ts.net"


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"\xff\xfe", "not UTF-8"),
        (b"[]", "not a JSON object"),
        (b'{"Version": "1.2.3"}', "no BackendState"),
        (b'{"BackendState": 6}', "no BackendState"),
        (b"[" * 100_000, "nested too deeply"),
        (b'{"BackendState": "Runn', "invalid JSON"),
        (b"<html>502 Bad Gateway</html>", "invalid JSON"),
    ],
)
def test_broken_status_documents(data: bytes, needle: str) -> None:
    got = parse_status(data)
    assert got.state is TailscaleState.UNAVAILABLE
    assert got.detail is not None and needle in got.detail


# -- watch-ipn-bus --------------------------------------------------------------------------------


def test_state_integers_follow_ipn_state() -> None:
    # ipn/backend.go: NoState = iota, InUseOtherUser, NeedsLogin, NeedsMachineAuth, Stopped, Starting, Running
    assert BUS_STATES == {
        0: "NoState",
        1: "InUseOtherUser",
        2: "NeedsLogin",
        3: "NeedsMachineAuth",
        4: "Stopped",
        5: "Starting",
        6: "Running",
    }
    expected = [
        TailscaleState.NO_STATE,
        TailscaleState.UNAVAILABLE,
        TailscaleState.NEEDS_LOGIN,
        TailscaleState.NEEDS_MACHINE_AUTH,
        TailscaleState.STOPPED,
        TailscaleState.STARTING,
        TailscaleState.RUNNING,
    ]
    for code, state in enumerate(expected):
        assert parse_bus_line(json.dumps({"State": code})).state is state
    assert parse_bus_line('{"State": 99}').state is TailscaleState.UNAVAILABLE
    assert parse_bus_line('{"State": true}').state_code is None  # a bool is not an ipn.State
    assert WATCH_MASK == 134


def test_bus_fixture_down_up_exit_node_sequence() -> None:
    lines = (FIX / "watch-ipn-bus.mask134.down-up-exitnode.jsonl").read_bytes().splitlines()
    msgs = [parse_bus_line(line) for line in lines]
    assert [m.detail for m in msgs] == [None] * len(msgs)
    assert [m.state_code for m in msgs] == [6, None, 4, None, None, 5, None, 6, None]
    first = msgs[0]
    assert first.has_prefs and first.want_running is True and first.has_health and first.health == ()
    assert msgs[1].has_prefs and msgs[1].want_running is False
    assert msgs[3].has_health and msgs[3].health == ("Tailscale is stopped.",)
    assert msgs[6].has_health and msgs[6].health == ()
    assert all(m.needs_refresh for m in msgs)
    assert not any(m.fell_behind for m in msgs)


def test_bus_initial_status_message() -> None:
    msg = parse_bus_line((FIX / "watch-ipn-bus.mask16518.initial-status.jsonl").read_bytes().splitlines()[0])
    assert msg.state is TailscaleState.RUNNING
    assert msg.initial_status == EXPECTED["running"]


def test_bus_fell_behind_message() -> None:
    msg = parse_bus_line((FIX / "watch-ipn-bus.fell-behind.jsonl").read_text())
    assert msg.fell_behind
    assert msg.err_message == "IPN bus consumer fell behind; closing watch"
    assert not msg.needs_refresh  # the stream closes next; the reconnect re-reads


def test_bus_other_fields() -> None:
    msg = parse_bus_line('{"BrowseToURL": "https://login.tailscale.com/a/x", "LoginFinished": {}}')
    assert msg.browse_to_url == "https://login.tailscale.com/a/x" and msg.login_finished and msg.needs_refresh
    msg = parse_bus_line('{"Version": "1", "Engine": {"RBytes": 5}, "SessionID": "s"}')
    assert not msg.needs_refresh  # engine counters alone change nothing we show
    msg = parse_bus_line('{"PeerChanges": [{"NodeID": 1, "Online": false}]}')
    assert msg.other_keys == ("PeerChanges",) and msg.needs_refresh
    msg = parse_bus_line('{"ErrMessage": "something broke"}')
    assert msg.err_message == "something broke" and msg.needs_refresh


@pytest.mark.parametrize("line", [b"", b"garbage", b"[1,2]", b'{"State": 6', b"\xc3\x28", b'"x"'])
def test_broken_bus_lines_have_a_detail(line: bytes) -> None:
    msg = parse_bus_line(line)
    assert msg.detail is not None
    assert msg.state is None


def test_cli_failure_messages() -> None:
    stderr = (FIX / "status.daemon-not-running.stderr.txt").read_text()
    got = parse_cli_failure(stderr, 1, "tailscale")
    assert got.state is TailscaleState.UNAVAILABLE
    assert got.detail is not None and "sudo systemctl start tailscaled" in got.detail
    got = parse_cli_failure("", 2, "/opt/ts")
    assert got.detail == "`/opt/ts status --json` failed: exit code 2"


# -- fuzz ---------------------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
STATUS_KEYS = st.sampled_from(
    [
        "BackendState",
        "Self",
        "Peer",
        "Health",
        "CurrentTailnet",
        "ExitNodeStatus",
        "TailscaleIPs",
        "Version",
        "AuthURL",
    ]
)
BUS_KEYS = st.sampled_from(
    ["State", "Prefs", "Health", "ErrMessage", "BrowseToURL", "InitialStatus", "NetMap"]
)
FIXTURE_BYTES = [p.read_bytes() for p in sorted(FIX.glob("*.json"))]


def _assert_sane(got: TailscaleStatus) -> None:
    assert isinstance(got, TailscaleStatus)
    json.dumps(got.to_json())  # always serialisable for `status --json`
    if got.state is TailscaleState.UNAVAILABLE:
        assert got.detail


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_bytes_never_raise(data: bytes) -> None:
    _assert_sane(parse_status(data))
    parse_bus_line(data)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(STATUS_KEYS, JSON_VALUES, max_size=9))
def test_fuzz_status_shapes_never_raise(doc: dict[str, object]) -> None:
    _assert_sane(parse_status(json.dumps(doc)))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(BUS_KEYS, JSON_VALUES, max_size=7))
def test_fuzz_bus_shapes_never_raise(doc: dict[str, object]) -> None:
    msg = parse_bus_line(json.dumps(doc))
    assert msg.detail is None  # any JSON object is a message we can read
    if msg.initial_status is not None:
        _assert_sane(msg.initial_status)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(FIXTURE_BYTES), st.data())
def test_fuzz_truncated_fixtures(doc: bytes, data: st.DataObject) -> None:
    cut = data.draw(st.integers(min_value=0, max_value=len(doc) - 2))
    got = parse_status(doc[:cut])
    # Cutting before the final closing brace always breaks the document.
    if cut < len(doc.rstrip()) - 1:
        assert got.state is TailscaleState.UNAVAILABLE and got.detail


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(FIXTURE_BYTES), st.data())
def test_fuzz_mutated_fixtures(doc: bytes, data: st.DataObject) -> None:
    pos = data.draw(st.integers(min_value=0, max_value=len(doc) - 1))
    junk = data.draw(st.binary(min_size=1, max_size=8))
    _assert_sane(parse_status(doc[:pos] + junk + doc[pos + len(junk) :]))
