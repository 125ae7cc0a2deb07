"""The Mullvad parsers over every fixture (exact values) and over broken, truncated and random input."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tray_app.core import mullvad_parse as mp
from tray_app.core.model import MullvadState, MullvadStatus

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "mullvad"
S = MullvadState

GOT = "Gothenburg, Sweden"
RELAY = "se-got-wg-001"
QR = ("QuantumResistance",)
OFFLINE = "this device is offline: connect to a network and Mullvad reconnects by itself"
EXPIRED = "the Mullvad account has no time left: add time at https://mullvad.net/account, then reconnect"
NO_RELAY = "no Mullvad relay matches your settings: pick another with `mullvad relay set location <country>`"
LOGGED_OUT = "not logged in to a Mullvad account: log in with `mullvad account login`"
FIREWALL = (
    "Mullvad could not set its firewall rules: check that nftables works and restart it with "
    "`sudo systemctl restart mullvad-daemon`"
)
MULTI = ("LanSharing", "LockdownMode", "Multihop", "QuantumResistance")


def connected(**kw: object) -> MullvadStatus:
    args: dict[str, object] = {"relay": RELAY, "location": GOT, "lockdown": False, "features": QR}
    args.update(kw)
    return MullvadStatus(S.CONNECTED, **args)  # type: ignore[arg-type]


def connecting(**kw: object) -> MullvadStatus:
    args: dict[str, object] = {"relay": RELAY, "location": GOT, "lockdown": False, "features": QR}
    args.update(kw)
    return MullvadStatus(S.CONNECTING, **args)  # type: ignore[arg-type]


def error(detail: str, failure: bool = False) -> MullvadStatus:
    return MullvadStatus(S.ERROR, blocked=not failure, detail=detail, block_failure=failure)


DISCONNECTED = MullvadStatus(S.DISCONNECTED, lockdown=False)
LOCKED = MullvadStatus(S.DISCONNECTED, lockdown=True, blocked=True)
BARE_DISCONNECTED = MullvadStatus(S.DISCONNECTED)
DISCONNECTING = MullvadStatus(S.DISCONNECTING)
OLD_CONNECTED = MullvadStatus(S.CONNECTED, relay=RELAY, location=GOT)

TEXT = {
    # 2024.6 .. 2026 layout
    "status.connected.txt": connected(),
    "status-v.connected.txt": connected(),
    "status.connecting.txt": connecting(),
    "status-v.connecting.txt": connecting(),
    "connect-wait.txt": connecting(),  # the first state of the transcript
    "status.disconnected.txt": DISCONNECTED,
    "status-v.disconnected.txt": DISCONNECTED,
    "status.disconnected-lockdown.txt": LOCKED,
    "status-v.disconnected-lockdown.txt": LOCKED,
    "status.disconnecting.txt": DISCONNECTING,
    "status-v.disconnecting.txt": DISCONNECTING,
    "status.blocked-offline.txt": error(OFFLINE),
    "status-v.blocked-offline.txt": error(OFFLINE),
    "status.blocked-auth-failed.txt": error(EXPIRED),
    "status-v.blocked-auth-failed.txt": error(EXPIRED),
    "status.blocked-no-matching-relay.txt": error(NO_RELAY),
    "status-v.blocked-no-matching-relay.txt": error(NO_RELAY),
    "status.blocked-logged-out.txt": error(LOGGED_OUT),
    "status.blocked-firewall-failed.txt": error(FIREWALL),
    "status.connected-multihop.txt": connected(lockdown=True, features=MULTI),
    "status-v.connected-multihop.txt": connected(lockdown=True, features=MULTI),
    "status.connected-daita-multihop-2026.4.txt": connected(features=("DaitaMultihop", "QuantumResistance")),
    "status.connected-no-features.txt": connected(lockdown=None, features=()),
    "status-listen.connect-disconnect.txt": DISCONNECTED,
    "status-v-listen.connect-disconnect.txt": DISCONNECTED,
    # 2024 multi-line layout (HashMap order)
    "multiline-2024/status-v.connected.txt": connected(),
    "multiline-2024/status-listen.txt": connecting(lockdown=None, features=()),
    "multiline-2024/status.disconnected-lockdown.txt": LOCKED,
    # 2022.2 .. 2023 one-line layout
    "oneline-2022/status.connected.txt": OLD_CONNECTED,
    "oneline-2022/status-v.connected.txt": OLD_CONNECTED,
    "oneline-2022/status.connected-multihop.txt": OLD_CONNECTED,
    "oneline-2022/status-v.connected-multihop.txt": OLD_CONNECTED,
    "oneline-2022/status.connected-obfuscated.txt": OLD_CONNECTED,
    "oneline-2022/status.connected-country-only.txt": MullvadStatus(
        S.CONNECTED, relay=RELAY, location="Sweden"
    ),
    "oneline-2022/status.connecting.txt": MullvadStatus(S.CONNECTING, relay=RELAY, location=GOT),
    "oneline-2022/status.disconnected.txt": BARE_DISCONNECTED,
    "oneline-2022/status.disconnecting.txt": DISCONNECTING,
    "oneline-2022/status.blocked-auth-failed.txt": error(EXPIRED),
    "oneline-2022/status.blocked-no-matching-relay.txt": error(NO_RELAY),
    # before 2022.2: no hostname in the output at all
    "legacy-2021/status.connected.txt": MullvadStatus(S.CONNECTED),
    "legacy-2021/status.connected-multihop.txt": MullvadStatus(S.CONNECTED),
    "legacy-2021/status.connecting.txt": MullvadStatus(S.CONNECTING),
    "legacy-2021/status.disconnected.txt": BARE_DISCONNECTED,
    "legacy-2021/status.disconnecting.txt": DISCONNECTING,
    "legacy-2021/status.blocked-offline.txt": error(OFFLINE),
    "legacy-2021/status.blocked-auth-failed.txt": error(EXPIRED),
}

JSON = {
    "status-json.connected.json": connected(),
    "status-json.connecting.json": connecting(),
    "status-json.disconnected.json": DISCONNECTED,
    "status-json.disconnected-lockdown.json": LOCKED,
    "status-json.disconnecting.json": DISCONNECTING,
    "status-json.disconnecting-block.json": DISCONNECTING,
    "status-json.disconnecting-reconnect.json": MullvadStatus(S.CONNECTING),
    "status-json.blocked-offline.json": error(OFFLINE),
    "status-json.blocked-auth-failed.json": error(EXPIRED),
    "status-json.blocked-auth-failed.logged-out-variant.txt": error(LOGGED_OUT),
    "status-json.blocked-no-matching-relay.json": error(NO_RELAY),
    "status-json.blocked-firewall-failed.json": error(f"{FIREWALL}; {mp.LEAK_WARNING}", failure=True),
    "status-json.blocked-unknown-cause.json": error(
        "Mullvad blocks traffic (need new flux capacitor): see `mullvad status` and `journalctl -u mullvad-daemon`"
    ),
    "status-json.connected-multihop.json": connected(lockdown=True, features=MULTI),
    "status-json.connected-unknown-feature.json": connected(features=("Lwo", "TeleportationDrive")),
    "status-json.connected-2024.5.json": connected(lockdown=None, features=()),
    "status-json.unknown-state.json": mp.unavailable(
        "Mullvad reported a state this version does not know (`hibernating`): update mullvad-tailscale-tray; "
        "`mullvad status` shows it"
    ),
    # a listen transcript: the last state wins
    "status-json-listen.connect-disconnect.jsonl": DISCONNECTED,
    "status-json-listen.mixed-events.jsonl": connected(lockdown=True, features=("LockdownMode",)),
}


@pytest.mark.parametrize("name", sorted(TEXT))
def test_text_fixture(name: str) -> None:
    assert mp.parse_text_status((FIX / name).read_text()) == TEXT[name]


@pytest.mark.parametrize("name", sorted(JSON))
def test_json_fixture(name: str) -> None:
    assert mp.parse_json_output((FIX / name).read_text()) == JSON[name]


def test_every_status_fixture_is_covered() -> None:
    names = {
        str(p.relative_to(FIX))
        for p in FIX.rglob("*")
        if p.is_file() and p.name.startswith(("status", "connect")) and "stderr" not in p.name
    }
    assert names == set(TEXT) | set(JSON)


def test_block_failure_comes_from_stderr_in_text_mode() -> None:
    out = (FIX / "status.blocked-firewall-failed.txt").read_text()
    err = (FIX / "status.blocked-firewall-failed.stderr.txt").read_text()
    assert mp.parse_text_status(out, err) == error(f"{FIREWALL}; {mp.LEAK_WARNING}", failure=True)


def test_listen_json_lines_one_by_one() -> None:
    lines = (FIX / "status-json-listen.connect-disconnect.jsonl").read_text().splitlines()
    states = [mp.parse_json_line(line) for line in lines]
    assert [s.state if s else None for s in states] == [
        S.DISCONNECTED,
        S.CONNECTING,
        S.CONNECTED,
        S.CONNECTED,
        S.DISCONNECTING,
        S.DISCONNECTED,
        S.DISCONNECTED,
    ]
    # the re-broadcast with the exit IP is the same status: no change for the tray
    assert states[2] == states[3]


def test_non_state_lines_are_skipped() -> None:
    lines = (FIX / "status-json-listen.mixed-events.jsonl").read_text().splitlines()
    kinds = [mp.parse_json_line(line) for line in lines]
    assert [k.state if k else None for k in kinds] == [
        None,  # Warning: not logged in
        S.DISCONNECTED,
        None,  # settings
        S.DISCONNECTED,
        None,  # leak report
        None,  # version info
        None,  # not JSON
        S.CONNECTING,
        None,  # truncated state
        None,  # gRPC shape
        None,  # a list
        S.CONNECTED,
    ]
    assert mp.lockdown_from_settings({"block_when_disconnected": True}) is True
    assert mp.lockdown_from_settings({"lockdown_mode": False}) is False
    assert mp.lockdown_from_settings({"other": 1}) is None
    for grpc in FIX.glob("grpc.*.json*"):
        assert mp.parse_json_output(grpc.read_text()).state is S.UNAVAILABLE


def test_versions() -> None:
    assert mp.parse_version((FIX / "version.txt").read_text()) == "2026.4"
    assert mp.parse_version((FIX / "version.daemon-mismatch.txt").read_text()) == "2026.3"
    assert mp.parse_version((FIX / "version.2021.txt").read_text()) == "2021.6"
    assert mp.parse_version("garbage\n: :\n") is None


def test_lockdown_get() -> None:
    assert mp.parse_lockdown((FIX / "lockdown-mode-get.on.txt").read_text()) is True
    assert mp.parse_lockdown((FIX / "lockdown-mode-get.off.txt").read_text()) is False
    assert mp.parse_lockdown((FIX / "lockdown-get.block-when-disconnected-2021.txt").read_text()) is True
    assert mp.parse_lockdown("Network traffic will be allowed when the VPN is disconnected") is False
    assert mp.parse_lockdown("") is None


def test_cli_errors_carry_the_fix() -> None:
    for name in ("status.daemon-not-running.stderr.txt", "status.daemon-refused.stderr.txt"):
        assert mp.cli_error_detail((FIX / name).read_text(), 1) == mp.NOT_RUNNING
    assert mp.NOT_RUNNING == (
        "Mullvad daemon is not running: start it with `sudo systemctl start mullvad-daemon`"
    )
    assert mp.cli_error_detail((FIX / "version.daemon-not-running.txt").read_text(), 1) == mp.NOT_RUNNING
    denied = mp.cli_error_detail((FIX / "status.permission-denied.stderr.txt").read_text(), 1)
    assert denied == mp.PERMISSION_DENIED
    assert "sudo usermod -aG" in denied
    assert mp.cli_error_detail("", 3, "mullvad connect") == (
        "`mullvad connect` failed (exit code 3) without saying why: run it in a terminal"
    )
    assert mp.cli_error_detail("Error: Not reconnecting due to being in disconnected state\n", 1, "x") == (
        "`x` failed (exit code 1): Not reconnecting due to being in disconnected state"
    )


def test_json_unsupported_detection() -> None:
    for name in ("status-json.json-unsupported.stderr.txt", "status-json.json-unsupported-clap3.stderr.txt"):
        assert mp.is_json_unsupported((FIX / name).read_text(), 2)
    assert not mp.is_json_unsupported((FIX / "status.daemon-not-running.stderr.txt").read_text(), 1)
    assert not mp.is_json_unsupported("error: unexpected argument 'listen' found", 2)


def test_merge_status() -> None:
    bare = MullvadStatus(S.DISCONNECTED)
    assert mp.merge_status(bare, "2026.4", True) == MullvadStatus(
        S.DISCONNECTED, lockdown=True, blocked=True, version="2026.4"
    )
    # the state's own knowledge wins over the setting
    assert mp.merge_status(connected(lockdown=False), None, True).lockdown is False
    gone = mp.unavailable("x")
    assert mp.merge_status(gone, "2026.4", True) == gone


def test_features_both_spellings_fold_to_serde_names() -> None:
    assert mp.feature_name("Quantum Resistance") == "QuantumResistance"
    assert mp.feature_name("Multihop (Automatic)") == "MultihopAuto"
    assert mp.feature_name("DAITA: Multihop") == "DaitaMultihop"
    assert mp.feature_name("LAN Sharing") == "LanSharing"
    assert mp.feature_name("Brand New Thing") == "Brand New Thing"


def test_relay_is_the_hostname_only() -> None:
    text = (
        "Connected\n    Relay:                  se-got-wg-001 (198.51.100.23:49321/UDP) via "
        "de-fra-wg-002 (203.0.113.7:51820/UDP) (multihop enabled to support DAITA)\n"
    )
    assert mp.parse_text_status(text).relay == "se-got-wg-001"
    assert mp.parse_text_status("Connected\n    Relay:                  None\n").relay is None
    assert (
        mp.parse_text_status("Connected\n    Relay:                  [2001:db8::1]:51820/UDP\n").relay is None
    )


# --- robustness ---------------------------------------------------------------------------------------------

ALL_FIXTURES = sorted(p for p in FIX.rglob("*") if p.is_file() and p.suffix in (".txt", ".json", ".jsonl"))


def _check(status: MullvadStatus) -> None:
    assert isinstance(status, MullvadStatus)
    assert isinstance(status.state, MullvadState)
    if status.state is S.UNAVAILABLE:
        assert status.detail
    if status.state is S.ERROR:
        assert status.detail


def _everything(text: str) -> None:
    _check(mp.parse_text_status(text, text))
    _check(mp.parse_json_output(text))
    for line in text.splitlines()[:50]:
        result = mp.parse_json_line(line)
        if result is not None:
            _check(result)
    assert isinstance(mp.cli_error_detail(text, 1), str)
    mp.parse_version(text)
    mp.parse_lockdown(text)
    mp.is_json_unsupported(text, 2)


@pytest.mark.parametrize("path", ALL_FIXTURES, ids=lambda p: str(p.relative_to(FIX)))
def test_truncated_fixtures_never_raise(path: Path) -> None:
    text = path.read_text()
    for cut in range(0, len(text) + 1, max(1, len(text) // 40)):
        _everything(text[:cut])
        _everything(text[cut:])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_random_bytes(data: bytes) -> None:
    _everything(data.decode("utf-8", "replace"))
    result = mp.parse_json_line(data)
    if result is not None:
        _check(result)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=30,
)
kinds = st.sampled_from(["connected", "connecting", "disconnected", "disconnecting", "error", "weird", ""])


@settings(max_examples=300, deadline=None)
@given(kinds, json_values, st.dictionaries(st.text(max_size=12), json_values, max_size=4))
def test_random_json_states(kind: str, details: object, extra: dict[str, object]) -> None:
    obj = {"state": kind, "details": details, **extra}
    obj["state"] = kind
    status = mp.status_from_json(obj)
    assert status is not None
    _check(status)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "Connected",
                "Connecting to x...",
                "Tunnel status: Blocked: ",
                "Blocked:",
                "    Relay: ",
                "    Features: ,,,",
                "    Visible location: , . IPv4:",
                "                            Internet access is blocked due to lockdown mode",
                "\tvia ",
                "Disconnected",
                "Warning: You are not logged in to an account.",
            ]
        )
        | st.text(max_size=40),
        max_size=12,
    )
)
def test_random_text_lines(lines: list[str]) -> None:
    _everything("\n".join(lines))


def test_huge_inputs() -> None:
    huge = '{"state":"connected","details":{"pad":"' + "x" * (mp.MAX_LINE + 10) + '"}}'
    assert mp.parse_json_line(huge) is None
    assert mp.parse_json_output(huge).state is S.UNAVAILABLE
    deep = "[" * 100_000 + "]" * 100_000
    assert mp.parse_json_line('{"state":' + deep + "}") is None
    _check(mp.parse_text_status("Connected\n    Relay: " + "a" * 1_000_000))
