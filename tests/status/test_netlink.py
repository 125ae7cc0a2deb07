"""Netlink events arrive from a real network namespace: the product's NetlinkWatcher runs in a child process
inside the namespace (tests/status/netlink_child.py) while the test changes links, addresses and routes there
with `ip`. Nothing here touches the host's network."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.infra.netns import NetNS
from tests.infra.require import require
from tests.status.lines import Event, LineReader, sig

ROOT = Path(__file__).resolve().parents[2]
# Debian 12's own Python, PyQt6 6.4 and pyroute2 0.7 (python3-pyroute2): what the .deb runs on
SYSTEM_PYTHON = "/usr/bin/python3"


class Child:
    def __init__(
        self, ns: NetNS, *args: str, env: dict[str, str] | None = None, python: str = sys.executable
    ) -> None:
        self.proc = ns.popen(
            [python, "-m", "tests.status.netlink_child", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=str(ROOT),
            env=env,
        )
        assert self.proc.stdout is not None
        self.out = LineReader(self.proc.stdout)
        self.ready = self.out.next_event(timeout=20)
        assert self.ready["signal"] == "ready"

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        assert self.proc.wait(10) == 0


@pytest.fixture
def child(netns: NetNS) -> Iterator[Child]:
    c = Child(netns)
    yield c
    c.close()


def add_link(ns: NetNS, name: str) -> None:
    """A veth pair: this kernel has no dummy module, and the peer's events are noise the watcher ignores."""
    ns.run("ip", "link", "add", name, "type", "veth", "peer", "name", f"{name}-p")


def names(events: list[Event]) -> list[tuple[object, ...]]:
    return [(ev["signal"], *ev["args"]) for ev in events]


def test_links_and_addresses_of_the_tunnels(netns: NetNS, child: Child) -> None:
    assert child.ready["args"] == [True, {}]
    # an unrelated interface says nothing; the next watched event proves nothing came before it
    add_link(netns, "eth-other")
    netns.run("ip", "link", "set", "eth-other", "up")
    add_link(netns, "wg0-mullvad")
    assert names(child.out.until(sig("mullvad_hint"))) == [
        ("link_changed", "wg0-mullvad", "added"),
        ("mullvad_hint",),
    ]
    netns.run("ip", "addr", "add", "10.64.0.2/32", "dev", "wg0-mullvad")
    assert names(child.out.until(sig("mullvad_hint"))) == [
        ("address_changed", "wg0-mullvad", "added", "10.64.0.2/32"),
        ("mullvad_hint",),
    ]
    netns.run("ip", "link", "set", "wg0-mullvad", "up")
    ev = child.out.until(sig("mullvad_hint"))
    assert ("link_changed", "wg0-mullvad", "up") in names(ev)
    # IPv6 addresses carry no label: the watcher maps them by interface index
    netns.run("ip", "addr", "add", "fc00:bbbb:bbbb:bb01::2/128", "dev", "wg0-mullvad", "nodad")
    ev = child.out.until(sig("address_changed", "wg0-mullvad", "added", "fc00:bbbb:bbbb:bb01::2/128"))
    assert all(e["args"][:1] != ["eth-other"] for e in ev)
    child.out.until(sig("mullvad_hint"))

    netns.run("ip", "tuntap", "add", "tailscale0", "mode", "tun")
    assert names(child.out.until(sig("tailscale_hint"))) == [
        ("link_changed", "tailscale0", "added"),
        ("tailscale_hint",),
    ]
    netns.run("ip", "link", "set", "wg0-mullvad", "down")
    ev = names(child.out.until(sig("link_changed", "wg0-mullvad", "down")))
    assert all(e[0] != "tailscale_hint" for e in ev)  # Mullvad's link never wakes the Tailscale source
    netns.run("ip", "link", "del", "wg0-mullvad")
    child.out.until(sig("link_changed", "wg0-mullvad", "removed"))
    netns.run("ip", "tuntap", "del", "tailscale0", "mode", "tun")
    child.out.until(sig("link_changed", "tailscale0", "removed"))


def test_routes_of_table_52_and_rules(netns: NetNS, child: Child) -> None:
    add_link(netns, "tailscale0")
    netns.run("ip", "link", "set", "tailscale0", "up")
    child.out.until(sig("link_changed", "tailscale0", "up"))
    child.out.until(sig("tailscale_hint"))
    # a route in another table is no news; the table-52 route right after it proves that
    netns.run("ip", "route", "add", "192.168.77.0/24", "dev", "tailscale0", "table", "99")
    netns.run("ip", "route", "add", "100.64.0.0/10", "dev", "tailscale0", "table", "52")
    assert names(child.out.until(sig("table52_changed"))) == [
        ("route_changed", "added", "100.64.0.0/10"),
        ("tailscale_hint",),
        ("table52_changed",),
    ]
    netns.run("ip", "-6", "route", "add", "fd7a:115c:a1e0::/48", "dev", "tailscale0", "table", "52")
    child.out.until(sig("route_changed", "added", "fd7a:115c:a1e0::/48"))
    child.out.until(sig("table52_changed"))
    netns.run("ip", "route", "del", "100.64.0.0/10", "dev", "tailscale0", "table", "52")
    child.out.until(sig("route_changed", "removed", "100.64.0.0/10"))
    child.out.until(sig("table52_changed"))
    # the private mode's rule (DESIGN.md): rule changes are announced so the bypass is re-read
    netns.run("ip", "rule", "add", "pref", "5200", "fwmark", "0x80000/0xff0000", "lookup", "1836018789")
    child.out.until(sig("rules_changed"))


def test_existing_links_are_known_at_start(netns: NetNS) -> None:
    add_link(netns, "wg0-mullvad")
    netns.run("ip", "link", "set", "wg0-mullvad", "up")
    c = Child(netns)
    try:
        assert c.ready["args"] == [True, {"wg0-mullvad": True}]
        # no "added" for a link that was already there: the next event is the real change
        netns.run("ip", "link", "set", "wg0-mullvad", "down")
        assert names(c.out.until(sig("mullvad_hint"))) == [
            ("link_changed", "wg0-mullvad", "down"),
            ("mullvad_hint",),
        ]
    finally:
        c.close()


def test_the_decoder_waits_for_the_first_message_and_misses_nothing(netns: NetNS) -> None:
    """The tray starts without pyroute2's decoder: it is imported, and the links dumped, when the first
    message arrives. A tunnel that came up before that dump is in it, yet its source is still woken."""
    c = Child(netns, "lazy")
    try:
        assert c.ready["args"] == [True, False]  # subscribed, decoder not loaded
        os.kill(c.proc.pid, signal.SIGSTOP)  # the tunnel appears before the watcher reads anything
        try:
            add_link(netns, "wg0-mullvad")
        finally:
            os.kill(c.proc.pid, signal.SIGCONT)
        # the dump already shows the link, so its queued message changes nothing: the hint must come anyway
        assert names(c.out.until(sig("mullvad_hint"), timeout=5)) == [("mullvad_hint",)]
        netns.run("ip", "link", "set", "wg0-mullvad", "up")
        assert names(c.out.until(sig("mullvad_hint"))) == [
            ("link_changed", "wg0-mullvad", "up"),
            ("mullvad_hint",),
        ]
        netns.run("ip", "link", "set", "wg0-mullvad", "down")  # and after it, changes as ever
        assert names(c.out.until(sig("mullvad_hint"))) == [
            ("link_changed", "wg0-mullvad", "down"),
            ("mullvad_hint",),
        ]
    finally:
        c.close()


def test_overflow_rereads_links_and_fires_every_hint(netns: NetNS) -> None:
    c = Child(netns, "1")  # the smallest receive buffer the kernel allows
    try:
        add_link(netns, "flood0")
        os.kill(c.proc.pid, signal.SIGSTOP)  # the applet is busy: nobody reads the socket
        try:
            batch = "".join(f"addr add 10.9.{i // 250}.{i % 250 + 1}/32 dev flood0\n" for i in range(400))
            netns.run("ip", "-batch", "-", input=batch)
            add_link(netns, "wg0-mullvad")  # lost in the overflow
        finally:
            os.kill(c.proc.pid, signal.SIGCONT)
        ev = names(c.out.until(sig("resynced")))
        assert ("link_changed", "wg0-mullvad", "added") in ev
        for hint in ("mullvad_hint", "tailscale_hint", "table52_changed", "rules_changed"):
            assert (hint,) in ev
        # still listening after the overflow
        netns.run("ip", "link", "del", "wg0-mullvad")
        c.out.until(sig("link_changed", "wg0-mullvad", "removed"))
    finally:
        c.close()


def system_pyroute2() -> str:
    """The version of Debian's python3-pyroute2 that /usr/bin/python3 imports (0.7.2 on Debian 12)."""
    require(os.access(SYSTEM_PYTHON, os.X_OK), f"{SYSTEM_PYTHON} is missing (scripts/test installs python3)")
    got = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", "python3-pyroute2"], capture_output=True, text=True
    )
    require(
        got.returncode == 0,
        "python3-pyroute2 (Debian's pyroute2 0.7) is not installed (scripts/test installs it)",
    )
    return got.stdout


def test_debian_12_pyroute2(netns: NetNS) -> None:
    """Debian 12 ships pyroute2 0.7 (python3-pyroute2): the same watcher works with it, on Debian's own Python
    and PyQt6, as the installed package runs."""
    assert system_pyroute2().startswith("0.7")
    c = Child(netns, env={**os.environ, "PYTHONPATH": str(ROOT)}, python=SYSTEM_PYTHON)
    try:
        add_link(netns, "wg0-mullvad")
        netns.run("ip", "addr", "add", "fc00:bbbb:bbbb:bb01::2/128", "dev", "wg0-mullvad", "nodad")
        netns.run("ip", "link", "set", "wg0-mullvad", "up")
        netns.run("ip", "route", "add", "100.100.100.100/32", "dev", "wg0-mullvad", "table", "52")
        events = names(c.out.until(sig("route_changed")))
        assert ("link_changed", "wg0-mullvad", "added") in events
        assert ("address_changed", "wg0-mullvad", "added", "fc00:bbbb:bbbb:bb01::2/128") in events
        assert ("link_changed", "wg0-mullvad", "up") in events
        assert events[-1] == ("route_changed", "added", "100.100.100.100/32")
        netns.run("ip", "rule", "add", "pref", "5200", "fwmark", "0x80000/0xff0000", "lookup", "1836018789")
        c.out.until(sig("rules_changed"))
    finally:
        c.close()


# What the watcher loads of pyroute2, read inside the child: which way, how much, and whether sys.modules is
# as it was (a later `import pyroute2` must get the whole package).
PROBE = """
import json, sys
from tray_app.daemons import netlink
p = netlink.pyroute2()
links = netlink.dump_links()
marshal_from = type(p.marshal).__module__
left = sorted(n for n in sys.modules if n.split(".")[0] == "pyroute2")
import pyroute2
print(json.dumps({"loaded": p.loaded, "links": sorted(l.name for l in links.values()),
                  "marshal_from": marshal_from, "left": left, "file": pyroute2.__file__,
                  "full": hasattr(pyroute2, "IPRoute")}))
"""


@pytest.mark.parametrize("python", ["venv", "debian"])
def test_only_the_needed_pyroute2_modules_are_imported(netns: NetNS, python: str) -> None:
    """pyroute2's package __init__ imports the whole library (about 20 MB): the watcher imports only the
    decoder's modules, on PyPI's 0.9 (the venv) and on Debian's 0.7, and leaves sys.modules clean."""
    if python == "debian":
        system_pyroute2()
    exe = SYSTEM_PYTHON if python == "debian" else sys.executable
    out = netns.run(exe, "-c", PROBE, env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout
    got = json.loads(out)
    assert got["loaded"] == "submodules"
    assert got["links"] == ["lo"]  # the dump was decoded by those modules alone
    assert got["marshal_from"] in ("pyroute2.netlink.marshal", "pyroute2.netlink.nlsocket")
    assert got["left"] == []
    assert got["full"] is True  # and the import after it is pyroute2 in full, not a bare package
    if python == "debian":
        assert got["file"].startswith("/usr/lib/python3/dist-packages/pyroute2/")


def test_without_pyroute2_the_watcher_says_what_to_install(netns: NetNS) -> None:
    """A broken install (pyroute2 missing): the watcher stays off and its message carries the fix."""
    code = (
        "import sys; sys.modules['pyroute2'] = None\n"  # what Python does for a package that cannot be imported
        "from PyQt6.QtCore import QCoreApplication\n"
        "from tray_app.daemons.netlink import NetlinkWatcher\n"
        "app = QCoreApplication([]); w = NetlinkWatcher(); w.start(); print(w.available); print(w.error)\n"
    )
    out = netns.run(sys.executable, "-c", code, env={**os.environ, "PYTHONPATH": str(ROOT)})
    available, error = out.stdout.splitlines()
    assert available == "False"
    assert error.startswith("cannot watch netlink (pyroute2 is not installed: install python3-pyroute2")
    assert "changes are noticed more slowly" in error
    assert "install python3-pyroute2" in out.stderr  # the log line says it too
