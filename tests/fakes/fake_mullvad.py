#!/usr/bin/env python3
"""A fake `mullvad` CLI that speaks the real output formats, for tests and benchmarks (stdlib only).

Use it through the controller class:

    from tests.fakes.fake_mullvad import FakeMullvad
    fake = FakeMullvad(tmp_path, state="disconnected")   # writes tmp_path/daemon.json and tmp_path/mullvad
    run_app(["--mullvad-cli", str(fake.cli), ...])         # fake.cli is an executable wrapper script
    fake.set_state("connected", relay="se-got-wg-001")     # every running `status ... listen` prints it
    fake.stop_daemon(); fake.start_daemon()                # listen processes exit with the daemon's error

Commands understood (argv after the program name):
  status [-v|--verbose] [-d|--debug] [-j|--json] [listen]   the current state; `listen` keeps printing changes
  version | lockdown-mode get | block-when-disconnected get (layout 2021 only)
  connect [-w] | disconnect [-w] | reconnect [-w]           change the state like the daemon would
  relay list | relay get | relay set location CC [CITY [HOST]] | HOST     (cmds/relay.rs formats)
  lockdown-mode set on|off                                  the setting; listeners get a settings event
Anything else is a clap usage error (exit 2). While the daemon is stopped every command except the first line
of `version` fails like the real CLI (exit 1, anyhow's `Caused by:` chain on stderr).

The daemon lives in `<dir>/daemon.json` (env `FAKE_MULLVAD_DIR` names the directory; the wrapper sets it).
Keys, all optional except `state`:
  running        bool, default true; false: commands fail as `failure` says
  failure        "not-running" (ENOENT) | "refused" (stale socket, ECONNREFUSED) | "permission-denied" (EACCES)
  cli_version, daemon_version   strings for `mullvad version` (default "2026.4"; they differ -> extra line)
  suggested_upgrade             string or null for `mullvad version`
  json           bool, default true; false: a CLI older than 2024.5, `--json` is rejected by clap (exit 2)
  layout         "2026" (multi-line, default) | "2022" (one line `Connected to HOST in City, Country`)
                 | "2021" (`Tunnel status: Connected to WireGuard ip:port/UDP`)
  lockdown       bool: the lockdown setting (`lockdown-mode get`; `locked_down` when disconnecting)
  relays         [[country, cc, city, code, [hostnames]], ...] for `relay list` (default: three cities)
  location       {"country", "city", "hostname"} codes: the location constraint (`relay get`; default any)
  logged_in      bool, default true; false: the `Warning: You are not logged in` line before states
  auth_fails     bool: `connect` ends in the error state `auth_failed` (a logged-out or expired account)
  state          a serde TunnelState object as `mullvad status --json` prints it (see `make_state`)
  relay          {"hostname","city","country"} used by `connect` (default se-got-wg-001 in Gothenburg)
  connect_delay  seconds `connect`/`reconnect` stay in connecting (default 0.05)
  fail           {"connect": "stderr text", ...}: make that action fail with exit 1
  script         steps every new `status ... listen` plays right after its first state:
                   {"state": obj} | {"line": "raw text"} | {"huge": bytes, "state_prefix": bool}
                   | {"sleep": seconds} | {"exit": code, "stderr": "text"}
  log, seq       the controller's append-only event log (same step kinds plus {"stop": failure}); listeners
                 print the entries newer than what they have seen when poked through their FIFO
                 (`<dir>/listeners/<pid>`), so they wait on select() instead of polling.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import select
import shlex
import signal
import sys
import time
from pathlib import Path

TYPE_CHECKING = False  # typing serves annotations only: not importing it saves each fake command 2 ms
if TYPE_CHECKING:
    from typing import Any

DEFAULT_RELAY = {"hostname": "se-got-wg-001", "city": "Gothenburg", "country": "Sweden"}
DEFAULT_RELAYS = [
    ["Germany", "de", "Frankfurt", "fra", ["de-fra-wg-001", "de-fra-wg-002"]],
    ["Sweden", "se", "Gothenburg", "got", ["se-got-wg-001", "se-got-wg-002"]],
    ["Sweden", "se", "Stockholm", "sto", ["se-sto-wg-001"]],
]


def many_relays(count: int) -> list[list[Any]]:
    """`count` relays over 40 countries of 3 cities each, like Mullvad's real list (about 600 relays)."""
    out: list[list[Any]] = []
    per_city = max(1, count // 120)
    for c in range(40):
        cc = chr(97 + c // 26) + chr(97 + c % 26)
        for k in range(3):
            code = f"{chr(97 + k)}{chr(97 + c % 26)}{chr(97 + c // 26)}"
            hosts = [f"{cc}-{code}-wg-{n + 1:03d}" for n in range(per_city)]
            out.append([f"Country {c:02d}", cc, f"City {c:02d}-{k}", code, hosts])
    return out


LOG_KEEP = 2000

# --- the daemon's state (shared by the CLI and the controller) ----------------------------------------------


def _dir() -> Path:
    value = os.environ.get("FAKE_MULLVAD_DIR")
    if not value:
        sys.stderr.write("fake mullvad: FAKE_MULLVAD_DIR is not set\n")
        raise SystemExit(70)
    return Path(value)


@contextlib.contextmanager
def _locked(directory: Path) -> Any:
    with open(directory / "lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _read(directory: Path) -> dict[str, Any]:
    with open(directory / "daemon.json") as f:
        data: dict[str, Any] = json.load(f)
    return data


def _write(directory: Path, data: dict[str, Any]) -> None:
    tmp = directory / f"daemon.json.{os.getpid()}"
    tmp.write_text(json.dumps(data))
    os.replace(tmp, directory / "daemon.json")


def _poke(directory: Path) -> None:
    listeners = directory / "listeners"
    if not listeners.is_dir():
        return
    for fifo in listeners.iterdir():
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno in (errno.ENXIO, errno.ENOENT):
                with contextlib.suppress(OSError):
                    fifo.unlink()  # its listener is gone
            continue
        try:
            os.write(fd, b"x")
        except OSError:
            pass  # pipe full: the listener has a poke pending anyway
        finally:
            os.close(fd)


def _mutate(directory: Path, change: Any) -> None:
    with _locked(directory):
        data = _read(directory)
        change(data)
        log = data.setdefault("log", [])
        del log[:-LOG_KEEP]
        _write(directory, data)
    _poke(directory)


def _append(data: dict[str, Any], entry: dict[str, Any]) -> None:
    data["seq"] = int(data.get("seq", 0)) + 1
    data.setdefault("log", []).append({"seq": data["seq"], **entry})


def make_state(
    kind: str,
    *,
    relay: str | None = "se-got-wg-001",
    city: str | None = "Gothenburg",
    country: str | None = "Sweden",
    entry: str | None = None,
    features: list[str] | None = None,
    ipv4: str | None = None,
    locked_down: bool = False,
    cause: str = "is_offline",
    cause_details: Any = None,
    block_failure: bool = False,
    after: str = "nothing",
) -> dict[str, Any]:
    """A serde `TunnelState` object as `mullvad status --json` prints it (mullvad-types states.rs)."""
    if kind in ("connected", "connecting"):
        location = {
            "latitude": 57.70887,
            "longitude": 11.97456,
            "ipv4": ipv4,
            "ipv6": None,
            "mullvad_exit_ip": True,
            "hostname": relay,
            "city": city,
            "country": country,
            "entry_hostname": entry,
            "entry_city": None,
            "entry_country": None,
        }
        endpoint = {
            "address": "198.51.100.23:49321",
            "protocol": "udp",
            "quantum_resistant": True,
            "obfuscation": None,
            "entry_endpoint": {"address": "203.0.113.7:51820", "protocol": "udp"} if entry else None,
            "tunnel_interface": "wg0-mullvad",
            "daita": False,
        }
        feats = ["QuantumResistance"] if features is None else features
        return {
            "state": kind,
            "details": {"endpoint": endpoint, "location": location, "feature_indicators": feats},
        }
    if kind == "disconnected":
        return {"state": "disconnected", "details": {"location": None, "locked_down": locked_down}}
    if kind == "disconnecting":
        return {"state": "disconnecting", "details": after}
    if kind == "error":
        cause_obj: dict[str, Any] = {"reason": cause}
        if cause_details is not None:
            cause_obj["details"] = cause_details
        return {
            "state": "error",
            "details": {
                "cause": cause_obj,
                "block_failure": {"reason": "generic"} if block_failure else None,
            },
        }
    raise ValueError(f"unknown state kind {kind!r}")


# --- output formats (mullvad-cli format.rs, cmds/*.rs) -------------------------------------------------------

_AUTH_MESSAGES = {
    "INVALID_ACCOUNT": "You've logged in with an account number that is not valid. Please log out and try another one.",
    "EXPIRED_ACCOUNT": "You have no more VPN time left on this account. Please log in on our website to buy more credit.",
    "TOO_MANY_CONNECTIONS": "This account has too many simultaneous connections. Disconnect another device or try connecting again shortly.",
}


def _cause_text(details: dict[str, Any]) -> str:
    cause = details.get("cause") or {}
    reason = cause.get("reason", "")
    extra = cause.get("details")
    if reason == "auth_failed":
        code = str(extra or "").strip("[]")
        return "Authentication with remote server failed: " + _AUTH_MESSAGES.get(code, "Unknown error.")
    if reason == "is_offline":
        return "This device is offline, no tunnels can be established"
    if reason == "tunnel_parameter_error":
        return "Failure to generate tunnel parameters: Failure to select a matching tunnel relay"
    if reason == "set_firewall_policy_error":
        return "Failed to set firewall policy"
    if reason == "set_dns_error":
        return "Failed to set system DNS server"
    return str(reason)


_FEATURE_DISPLAY = {
    "QuantumResistance": "Quantum Resistance",
    "LockdownMode": "Lockdown Mode",
    "LanSharing": "LAN Sharing",
    "DaitaMultihop": "DAITA: Multihop",
    "MultihopAuto": "Multihop (Automatic)",
    "Daita": "DAITA",
}


def _option(name: str, value: str) -> str:
    return f"    {name + ':':<24}{value}"


def _options(state: dict[str, Any], verbose: bool) -> dict[str, str]:
    details = state.get("details") or {}
    loc = details.get("location") or {}
    out: dict[str, str] = {}
    if state["state"] in ("connected", "connecting"):
        relay = loc.get("hostname") or "198.51.100.23"
        if verbose:
            relay += " (198.51.100.23:49321/UDP)"
        if loc.get("entry_hostname"):
            relay += " via " + loc["entry_hostname"] + (" (203.0.113.7:51820/UDP)" if verbose else "")
        out["Relay"] = relay
        feats = details.get("feature_indicators") or []
        if feats:
            out["Features"] = ", ".join(sorted(_FEATURE_DISPLAY.get(f, f) for f in feats))
        if verbose:
            out["Tunnel interface"] = "wg0-mullvad"
    if loc.get("country"):
        place = loc["country"] + (f", {loc['city']}" if loc.get("city") else "")
        if loc.get("ipv4"):
            place += f". IPv4: {loc['ipv4']}"
        out["Visible location"] = place
    return out


def text_lines(
    state: dict[str, Any], previous: dict[str, Any] | None, verbose: bool, layout: str
) -> list[str]:
    """What `mullvad status [-v]` prints for `state` (in listen mode only what changed since `previous`)."""
    kind = state.get("state")
    details = state.get("details")
    d = details if isinstance(details, dict) else {}
    if layout in ("2021", "2022"):
        prefix = "Tunnel status: " if layout == "2021" else ""
        if kind in ("connected", "connecting"):
            loc = d.get("location") or {}
            if layout == "2021":
                target = "WireGuard 198.51.100.23:49321/UDP"
                if loc.get("entry_hostname"):
                    target += " via 203.0.113.7:51820/UDP"
            else:
                target = loc.get("hostname") or "198.51.100.23"
                if loc.get("city") and loc.get("country"):
                    target += f" in {loc['city']}, {loc['country']}"
                if loc.get("entry_hostname"):
                    target += " via " + loc["entry_hostname"]
            word = "Connected" if kind == "connected" else "Connecting"
            return [f"{prefix}{word} to {target}{'...' if kind == 'connecting' else ''}"]
        if kind == "disconnected":
            return [f"{prefix}Disconnected"]
        if kind == "disconnecting":
            return [f"{prefix}Disconnecting..."]
        return [f"{prefix}Blocked: {_cause_text(d)}"]
    # 2024.6 and later: header when the kind changes, then the options that changed
    same_kind = previous is not None and previous.get("state") == kind
    lines: list[str] = []
    if kind == "disconnecting":
        return [] if details == "reconnect" else ["Disconnecting"]
    if kind == "error":
        return [f"Blocked: {_cause_text(d)}"]
    if kind == "disconnected":
        was_locked = bool(((previous or {}).get("details") or {}).get("locked_down")) if same_kind else False
        if not same_kind:
            lines.append("Disconnected")
        if d.get("locked_down") and not was_locked:
            lines.append(" " * 28 + "Internet access is blocked due to lockdown mode")
        elif same_kind and was_locked and not d.get("locked_down"):
            lines.append(" " * 28 + "Internet access is no longer blocked due to lockdown mode")
    elif not same_kind or verbose:
        lines.append("Connected" if kind == "connected" else "Connecting")
    old = _options(previous, verbose) if same_kind and previous is not None else {}
    for name, value in sorted(_options(state, verbose).items(), key=lambda kv: (len(kv[0]), kv[0])):
        if name not in old:
            lines.append(_option(name, value))
        elif old[name] != value:
            lines.append(_option(f"{name} (new)", value))
        elif verbose:
            lines.append(_option(name, value))
    return lines


def _daemon_error(failure: str) -> str:
    os_error = {
        "refused": "Connection refused (os error 111)",
        "permission-denied": "Permission denied (os error 13)",
    }.get(failure, "No such file or directory (os error 2)")
    return (
        "Error: Management RPC server or client error\n\nCaused by:\n"
        f"    0: transport error\n    1: {os_error}\n    2: {os_error}\n"
    )


STREAM_ENDED = (
    "Error: Management RPC server or client error\n\nCaused by:\n"
    '    0: status: Unknown, message: "transport error", details: [], metadata: MetadataMap { headers: {} }\n'
    "    1: transport error\n    2: connection error\n    3: broken pipe\n"
)


def _clap_error(arg: str, usage: str = "mullvad status [OPTIONS] [COMMAND]") -> None:
    sys.stderr.write(
        f"error: unexpected argument '{arg}' found\n\n  tip: to pass '{arg}' as a value, use '-- {arg}'\n\n"
        f"Usage: {usage}\n\nFor more information, try '--help'.\n"
    )
    raise SystemExit(2)


def _out(text: str) -> None:
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(0) from None


def _require_daemon(data: dict[str, Any]) -> None:
    if not data.get("running", True):
        sys.stderr.write(_daemon_error(str(data.get("failure", "not-running"))))
        raise SystemExit(1)


class _Printer:
    def __init__(self, data: dict[str, Any], as_json: bool, verbose: bool) -> None:
        self.as_json = as_json
        self.verbose = verbose
        self.layout = str(data.get("layout", "2026"))
        self.previous: dict[str, Any] | None = None

    def state(self, state: dict[str, Any]) -> None:
        if self.as_json:
            _out(json.dumps(state, separators=(",", ":")) + "\n")
        else:
            lines = text_lines(state, self.previous, self.verbose, self.layout)
            if lines:
                _out("\n".join(lines) + "\n")
        self.previous = state

    def step(self, step: dict[str, Any]) -> None:
        if "state" in step:
            self.state(step["state"])
        elif "line" in step:
            _out(str(step["line"]) + "\n")
        elif "huge" in step:
            size = int(step["huge"])
            head = (
                '{"state":"connected","details":{"pad":"'
                if step.get("state_prefix")
                else '{"countries":[{"name":"'
            )
            _out(head + "x" * max(0, size - len(head) - 4) + '"}]}\n')
        elif "sleep" in step:
            time.sleep(float(step["sleep"]))
        elif "exit" in step:
            sys.stderr.write(str(step.get("stderr", "")))
            sys.stderr.flush()
            raise SystemExit(int(step["exit"]))


def _warn_logged_out(data: dict[str, Any]) -> None:
    state = data.get("state") or {}
    if not data.get("logged_in", True) and state.get("state") in ("connecting", "connected", "error"):
        _out("Warning: You are not logged in to an account.\n")


def _status(argv: list[str]) -> None:
    as_json = verbose = listen = False
    for arg in argv:
        if listen:
            _clap_error(arg, "mullvad status listen")
        if arg in ("-j", "--json"):
            as_json = True
        elif arg in ("-v", "--verbose", "-d", "--debug"):
            verbose = True
        elif arg == "listen":
            listen = True
        else:
            _clap_error(arg)
    directory = _dir()
    fifo_fd = -1
    if listen:
        listeners = directory / "listeners"
        listeners.mkdir(exist_ok=True)
        fifo = listeners / str(os.getpid())
        with contextlib.suppress(FileNotFoundError):
            fifo.unlink()
        os.mkfifo(fifo)
        # O_RDWR keeps the FIFO open for writing too, so it never reports EOF between pokes.
        fifo_fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)

        def _cleanup(*_: object) -> None:
            with contextlib.suppress(OSError):
                fifo.unlink()
            os._exit(0)

        signal.signal(signal.SIGTERM, _cleanup)
        signal.signal(signal.SIGINT, _cleanup)
    try:
        _status_run(directory, as_json, verbose, listen, fifo_fd)
    finally:
        if listen:
            with contextlib.suppress(OSError):
                (directory / "listeners" / str(os.getpid())).unlink()


def _status_run(directory: Path, as_json: bool, verbose: bool, listen: bool, fifo_fd: int) -> None:
    with _locked(directory):
        data = _read(directory)
    if as_json and not data.get("json", True):
        _clap_error("--json")
    _require_daemon(data)
    printer = _Printer(data, as_json, verbose)
    _warn_logged_out(data)
    printer.state(data["state"])
    if not listen:
        return
    seen = int(data.get("seq", 0))
    for step in data.get("script") or []:
        printer.step(step)
    while True:
        ready, _, _ = select.select([fifo_fd], [], [], 1.0)
        if not ready:
            if os.getppid() == 1:
                return  # our reader died without killing us
            continue
        with contextlib.suppress(BlockingIOError):
            while os.read(fifo_fd, 4096):
                pass
        with _locked(directory):
            data = _read(directory)
        for entry in data.get("log") or []:
            if int(entry["seq"]) <= seen:
                continue
            seen = int(entry["seq"])
            if "stop" in entry:
                sys.stderr.write(STREAM_ENDED)
                raise SystemExit(1)
            printer.step(entry)


def _set_state(directory: Path, state: dict[str, Any]) -> None:
    def change(data: dict[str, Any]) -> None:
        data["state"] = state
        _append(data, {"state": state})

    _mutate(directory, change)


def _action(verb: str, argv: list[str]) -> None:
    for arg in argv:
        if arg not in ("-w", "--wait"):
            _clap_error(arg, f"mullvad {verb} [OPTIONS]")
    directory = _dir()
    with _locked(directory):
        data = _read(directory)
    _require_daemon(data)
    failure = (data.get("fail") or {}).get(verb)
    if failure:
        sys.stderr.write(str(failure).rstrip("\n") + "\n")
        raise SystemExit(1)
    current = (data.get("state") or {}).get("state")
    relay = {**DEFAULT_RELAY, **(data.get("relay") or {})}
    delay = float(data.get("connect_delay", 0.05))
    lockdown = bool(data.get("lockdown", False))
    features = ["QuantumResistance"] + (["LockdownMode"] if lockdown else [])

    def connected(kind: str) -> dict[str, Any]:
        return make_state(
            kind, relay=relay["hostname"], city=relay["city"], country=relay["country"], features=features
        )

    if verb in ("connect", "reconnect") and not data.get("logged_in", True):
        _out("Warning: You are not logged in to an account.\n")
    if verb in ("connect", "reconnect") and data.get("auth_fails"):
        # without a (valid) account the daemon cannot authenticate: it blocks (status-json.blocked-auth-failed...)
        _set_state(directory, make_state("connecting", relay=relay["hostname"], city=relay["city"],
                                         country=relay["country"], features=features))  # fmt: skip
        _set_state(directory, make_state("error", cause="auth_failed", cause_details="[INVALID_ACCOUNT]"))
        return
    if verb == "connect":
        if current == "connected":
            return
        _set_state(directory, connected("connecting"))
        time.sleep(delay)
        _set_state(directory, connected("connected"))
    elif verb == "disconnect":
        if current == "disconnected":
            return
        _set_state(directory, make_state("disconnecting"))
        _set_state(directory, make_state("disconnected", locked_down=lockdown))
    else:
        if current in ("disconnected", "disconnecting", None):
            sys.stderr.write("Error: Not reconnecting due to being in disconnected state\n")
            raise SystemExit(1)
        _set_state(directory, make_state("disconnecting", after="reconnect"))
        _set_state(directory, connected("connecting"))
        time.sleep(delay)
        _set_state(directory, connected("connected"))


def _version() -> None:
    directory = _dir()
    with _locked(directory):
        data = _read(directory)
    cli = str(data.get("cli_version", "2026.4"))
    daemon = str(data.get("daemon_version", cli))
    width = 21 if data.get("layout") == "2021" else 22
    _out(f"{'Current version':{width}}: {cli}\n")
    if not data.get("running", True):
        os_error = _daemon_error(str(data.get("failure", "not-running"))).splitlines()[-1].split(": ", 1)[1]
        sys.stderr.write(
            "Error: Failed to connect to mullvad-daemon\n\nCaused by:\n    0: Management RPC server or client error\n"
            f"    1: transport error\n    2: {os_error}\n    3: {os_error}\n"
        )
        raise SystemExit(1)
    if daemon != cli:
        _out(f"{'mullvad-daemon version':{width}}: {daemon}\n")
    upgrade = data.get("suggested_upgrade") or "none"
    _out(f"{'Is supported':{width}}: true\n{'Suggested upgrade':{width}}: {upgrade}\n")


def _lockdown(command: str, argv: list[str]) -> None:
    directory = _dir()
    with _locked(directory):
        data = _read(directory)
    old = data.get("layout") == "2021"
    if (command == "lockdown-mode") == old:
        sys.stderr.write(
            f"error: unrecognized subcommand '{command}'\n\nUsage: mullvad <COMMAND>\n\n"
            "For more information, try '--help'.\n"
        )
        raise SystemExit(2)
    if command == "lockdown-mode" and len(argv) == 2 and argv[0] == "set":
        _lockdown_set(argv[1])
        return
    if argv != ["get"]:
        _clap_error(" ".join(argv) or "<none>", f"mullvad {command} <COMMAND>")
    _require_daemon(data)
    on = bool(data.get("lockdown", False))
    if old:
        _out(f"Network traffic will be {'blocked' if on else 'allowed'} when the VPN is disconnected\n")
    else:
        _out(f"Block traffic when the VPN is disconnected: {'on' if on else 'off'}\n")


def _relay_rows(data: dict[str, Any]) -> list[list[Any]]:
    return list(data.get("relays") or DEFAULT_RELAYS)


def _relay(argv: list[str]) -> None:
    directory = _dir()
    with _locked(directory):
        data = _read(directory)
    _require_daemon(data)
    rows = _relay_rows(data)
    if argv == ["list"]:
        countries: dict[tuple[str, str], list[list[Any]]] = {}
        for row in rows:
            countries.setdefault((row[0], row[1]), []).append(row)
        for (name, cc), cities in sorted(countries.items()):
            _out(f"{name} ({cc})\n")
            for _c, _cc, city, code, hosts in sorted(cities, key=lambda r: r[2]):
                _out(f"\t{city} ({code}) @ 57.70887°N, 11.97456°W\n")
                for i, host in enumerate(hosts):
                    _out(f"\t\t{host} (185.213.154.{66 + i}, 2a03:1b20:5:f011::a{i:x}) - WireGuard, hosted by 31173"
                         " (Mullvad-owned)\n")  # fmt: skip
            _out("\n")
        return
    if argv == ["get"]:
        loc = data.get("location") or {}
        if not loc.get("country"):
            where = "any"
        elif not loc.get("city"):
            where = f"country {loc['country']}"
        else:
            where = f"city {loc['city']}, {loc['country']}"
            if loc.get("hostname"):
                where += f", hostname {loc['hostname']}"
        _out(
            "Generic constraints\n"
            + _option("Location", where)
            + "\n"
            + _option("Tunnel protocol", "any")
            + "\n"
        )
        return
    if len(argv) >= 3 and argv[:2] == ["set", "location"]:
        args = argv[2:]
        if args == ["any"]:
            loc = {}
        else:
            match = [r for r in rows if r[1] == args[0] and (len(args) < 2 or r[3] == args[1])]
            if not match or (len(args) > 2 and args[2] not in match[0][4]):
                sys.stderr.write(f"Error: Invalid location argument: {' '.join(args)}\n")
                raise SystemExit(1)
            loc = {
                "country": args[0],
                "city": args[1] if len(args) > 1 else "",
                "hostname": "".join(args[2:3]),
            }
        row = next(
            r
            for r in rows
            if not loc or (r[1] == loc["country"] and (not loc["city"] or r[3] == loc["city"]))
        )
        relay = {"hostname": row[4][0], "city": row[2], "country": row[0]}

        def change(d: dict[str, Any]) -> None:
            d["location"] = loc
            d["relay"] = relay

        _mutate(directory, change)
        _out("Relay constraints updated\n")
        if (data.get("state") or {}).get("state") in ("connected", "connecting"):
            _action("reconnect", [])  # the daemon reconnects to the new location by itself
        return
    _clap_error(" ".join(argv) or "<none>", "mullvad relay <COMMAND>")


def _lockdown_set(value: str) -> None:
    if value not in ("on", "off"):
        _clap_error(value, "mullvad lockdown-mode set <POLICY>")
    directory = _dir()
    with _locked(directory):
        data = _read(directory)
    _require_daemon(data)
    on = value == "on"

    def change(d: dict[str, Any]) -> None:
        d["lockdown"] = on
        _append(d, {"line": json.dumps({"lockdown_mode": on, "auto_connect": False, "allow_lan": False})})
        state = d.get("state") or {}
        if state.get("state") == "disconnected":
            d["state"] = make_state("disconnected", locked_down=on)
            _append(d, {"state": d["state"]})
        elif state.get("state") in ("connected", "connecting"):
            # the daemon re-sends the state with the LockdownMode feature indicator
            feats = [f for f in state["details"].get("feature_indicators") or [] if f != "LockdownMode"]
            state["details"]["feature_indicators"] = feats + (["LockdownMode"] if on else [])
            _append(d, {"state": state})

    _mutate(directory, change)


def main(argv: list[str]) -> int:
    if not argv:
        _clap_error("<none>", "mullvad <COMMAND>")
    command, rest = argv[0], argv[1:]
    if command == "status":
        _status(rest)
    elif command == "version":
        _version()
    elif command in ("lockdown-mode", "block-when-disconnected"):
        _lockdown(command, rest)
    elif command in ("connect", "disconnect", "reconnect"):
        _action(command, rest)
    elif command == "relay":
        _relay(rest)
    else:
        sys.stderr.write(
            f"error: unrecognized subcommand '{command}'\n\nUsage: mullvad <COMMAND>\n\n"
            "For more information, try '--help'.\n"
        )
        return 2
    return 0


# --- the controller tests and benchmarks use -----------------------------------------------------------------


# The wrapper imports this file as a module, so Python runs its cached bytecode instead of compiling the
# script on every command, and `-I -S` skip site-packages (stdlib only): about 15 ms less per command, which the
# tray's start-up figures include (bench/bench_tray.py). argv: -c DIR ARGS...
_LAUNCH = shlex.quote(
    "import sys; sys.path.insert(0, sys.argv.pop(1)); import fake_mullvad; "
    "raise SystemExit(fake_mullvad.main(sys.argv[1:]))"
)


class FakeMullvad:
    """Owns one fake daemon directory and the `mullvad` wrapper executable in it."""

    def __init__(
        self,
        directory: Path | str,
        *,
        state: str | dict[str, Any] = "disconnected",
        running: bool = True,
        failure: str = "not-running",
        json_supported: bool = True,
        layout: str = "2026",
        lockdown: bool = False,
        logged_in: bool = True,
        daemon_version: str = "2026.4",
        cli_version: str | None = None,
        script: list[dict[str, Any]] | None = None,
        connect_delay: float = 0.05,
        **state_args: Any,
    ) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        data = {
            "running": running,
            "failure": failure,
            "json": json_supported,
            "layout": layout,
            "lockdown": lockdown,
            "logged_in": logged_in,
            "daemon_version": daemon_version,
            "cli_version": cli_version or daemon_version,
            "state": self._state(state, lockdown, **state_args),
            "script": script or [],
            "connect_delay": connect_delay,
            "seq": 0,
            "log": [],
        }
        with _locked(self.dir):
            _write(self.dir, data)
        self.cli = self.dir / "mullvad"
        self.cli.write_text(
            "#!/bin/sh\n"
            f"FAKE_MULLVAD_DIR={shlex.quote(str(self.dir))} exec {shlex.quote(sys.executable)} -I -S -c {_LAUNCH} "
            f'{shlex.quote(str(Path(__file__).resolve().parent))} "$@"\n'
        )
        self.cli.chmod(0o755)

    @staticmethod
    def _state(state: str | dict[str, Any], lockdown: bool = False, **state_args: Any) -> dict[str, Any]:
        """A serde state; a kind name gets the lockdown setting's marks like the daemon adds them."""
        if isinstance(state, dict):
            return state
        if lockdown and state in ("connected", "connecting"):
            state_args.setdefault("features", ["QuantumResistance", "LockdownMode"])
        if state == "disconnected":
            state_args.setdefault("locked_down", lockdown)
        return make_state(state, **state_args)

    def _lockdown(self) -> bool:
        return bool(self.read().get("lockdown", False))

    def read(self) -> dict[str, Any]:
        with _locked(self.dir):
            return _read(self.dir)

    def set_state(self, state: str | dict[str, Any], **state_args: Any) -> None:
        """Change the tunnel state; every listener prints it."""
        _set_state(self.dir, self._state(state, self._lockdown(), **state_args))

    def send_line(self, line: str) -> None:
        """A raw stdout line for every listener (warnings, settings events, garbage)."""
        _mutate(self.dir, lambda data: _append(data, {"line": line}))

    def send_huge_line(self, size: int, *, state_prefix: bool = False) -> None:
        """A line of `size` bytes, like the relay list event (or a bogus huge state with `state_prefix`)."""
        _mutate(self.dir, lambda data: _append(data, {"huge": size, "state_prefix": state_prefix}))

    def stop_daemon(self, failure: str = "not-running") -> None:
        """The daemon goes away: listeners exit 1 with a stream error, later commands fail with `failure`."""

        def change(data: dict[str, Any]) -> None:
            data["running"] = False
            data["failure"] = failure
            _append(data, {"stop": failure})

        _mutate(self.dir, change)

    def start_daemon(self, state: str | dict[str, Any] | None = None, **state_args: Any) -> None:
        def change(data: dict[str, Any]) -> None:
            data["running"] = True
            if state is not None:
                data["state"] = self._state(state, bool(data.get("lockdown")), **state_args)

        _mutate(self.dir, change)

    def configure(self, **fields: Any) -> None:
        """Change any daemon.json key (e.g. `lockdown=True`, `fail={"connect": "..."}`, `json=False`)."""
        _mutate(self.dir, lambda data: data.update(fields))

    def listener_count(self) -> int:
        listeners = self.dir / "listeners"
        return len(list(listeners.iterdir())) if listeners.is_dir() else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
