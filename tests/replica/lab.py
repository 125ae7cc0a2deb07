"""A namespace replica of a machine running Mullvad and Tailscale, for traffic tests (docs/testing-replica.md).

Four network namespaces (names unique per lab), nothing created in the caller's namespace:

* `host`  the machine under test: `eth0` on the LAN, `wg0-mullvad` and `tailscale0` (veth pairs without ARP),
          Mullvad's `inet mullvad` table and ip rules, Tailscale's table 52, rules 5210-5270 and nft tables;
* `relay` the Mullvad relay: the tunnel's far end, Mullvad's DNS (10.64.0.1, content blocker 100.64.0.7), SNAT
          to its public address 185.65.134.10;
* `peer`  a tailnet peer (100.101.102.103, fd7a:115c:a1e0::1234), MagicDNS and a subnet (192.168.50.0/24);
* `inet`  the LAN router and the internet (9.9.9.9, DERP 198.51.100.10) with leak counters on the LAN link.

Usage (root only)::

    with Lab.build(rp_filter=2, connmark="fixed") as lab:     # Tailscale up, then Mullvad connects
        lab.probe(probes.CATALOGUE)                            # {"T1_tailnet4_tcp": "fail", ...}
        lab.mullvad_reconnect(); lab.mullvad_block()
        lab.leaks()                                            # {"dns": 0, "tunnel_src": 0, ...}

Every command is bounded by a timeout; `close()` (also on a failed build and at interpreter exit) kills the
echo services and deletes the namespaces.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import selectors
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from types import TracebackType

from tests.infra.netns import NetNS
from tests.replica import mullvad_replica as mullvad
from tests.replica import tailscale_replica as tailscale
from tests.replica import topology as t
from tests.replica.probes import Probe, run_probes

ROLES = ("host", "relay", "peer", "inet")
ECHO_SERVER = Path(__file__).resolve().parent / "echo_server.py"
CMD_TIMEOUT = 15.0
READY_TIMEOUT = 10.0

_LIVE: set[Lab] = set()


@atexit.register
def _close_all() -> None:
    for lab in list(_LIVE):
        lab.close()


# Every service answers with the source address it saw; see echo_server.py.
SERVICES: dict[str, tuple[list[str], list[str]]] = {
    "inet": (["[::]:80", "[::]:443"], [f"{t.DERP4}:3478", f"{t.WEB4}:53"]),
    "relay": ([], [f"{t.MULLVAD_DNS}:53", f"{t.BLOCKER_DNS}:53", f"{t.RELAY4}:{t.RELAY_PORT}"]),
    "peer": (["[::]:80"], [f"{t.MAGICDNS4}:53", f"[{t.MAGICDNS6}]:53"]),
    "host": ([f"[::]:{t.HOST_TCP_PORT}"], [f"0.0.0.0:{t.HOST_SINK_PORT}"]),
}

# Counters on the LAN router's side of the physical link: anything counted here left the host in the clear.
LEAKWATCH = """table inet leakwatch {
  counter dns {
  }
  counter tunnel_src {
  }
  counter tailnet_src {
  }
  counter tailnet_dst {
  }
  counter tunnel_dst {
  }
  counter internet_clear {
  }
  chain pre {
    type filter hook prerouting priority -300; policy accept;
    iifname != "lan0" return
    udp dport 53 counter name "dns"
    tcp dport 53 counter name "dns"
    ip saddr 10.64.0.0/10 counter name "tunnel_src"
    ip6 saddr fc00:bbbb::/32 counter name "tunnel_src"
    ip saddr 100.64.0.0/10 counter name "tailnet_src"
    ip6 saddr fd7a:115c:a1e0::/48 counter name "tailnet_src"
    ip daddr { 100.64.0.0/10, 192.168.50.0/24, 192.168.60.0/24 } counter name "tailnet_dst"
    ip6 daddr { fd7a:115c:a1e0::/48, 2001:db8:60::/64 } counter name "tailnet_dst"
    ip daddr 10.64.0.0/10 counter name "tunnel_dst"
    ip6 daddr fc00:bbbb::/32 counter name "tunnel_dst"
    ip daddr 9.9.9.9 tcp dport 443 counter name "internet_clear"
    ip6 daddr 2001:db8:9::9 tcp dport 443 counter name "internet_clear"
  }
}
"""

# Docker's own source NAT for the default bridge (its iptables-nft POSTROUTING rule, in nft words).
DOCKER_NAT = """table ip docker-nat {
  chain POSTROUTING { type nat hook postrouting priority 100; policy accept; ip saddr 172.17.0.0/16 oifname != "docker0" masquerade; }
}
"""

RELAY_NAT = """table inet relaynat {
  chain post { type nat hook postrouting priority 100; policy accept; oifname "pub0" masquerade; }
}
"""


class LabError(RuntimeError):
    pass


class Lab:
    """One replica. Build with `Lab.build(...)`; use as a context manager or call `close()`."""

    services = SERVICES  # {role: (TCP endpoints, UDP endpoints)} of the echo services

    def __init__(self, workdir: Path, rp_filter: int, connmark: str, cgnat_drop: bool) -> None:
        self.workdir = workdir
        self.rp_filter = rp_filter
        self.connmark = connmark
        self.cgnat_drop = cgnat_drop
        self.mullvad_state = "disconnected"
        self.mullvad_dns: tuple[str, ...] = (t.MULLVAD_DNS, t.BLOCKER_DNS)
        self.namespaces: dict[str, NetNS] = {}
        self._servers: dict[str, subprocess.Popen[str]] = {}
        self._closed = False
        self._own_workdir = False
        self.forwarding = False

    # ---- life cycle -------------------------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        *,
        rp_filter: int = 2,
        connmark: str = "none",
        cgnat_drop: bool = True,
        mullvad_state: str = "connected",
        workdir: Path | None = None,
        forwarding: bool = False,
    ) -> Lab:
        """Topology, echo services, Tailscale up, then Mullvad in `mullvad_state` (the common real-world order:
        tailscaled first, Mullvad connecting later, so Mullvad's ip rules land in front of Tailscale's).
        `forwarding=True` makes the host a router: IPv4 forwarding on, a `container` namespace behind `docker0`
        with Docker's masquerade, the peer using the host as exit node and subnet router, and the LAN router
        sending the peer's address to the host (the "LAN -> tailnet through the host" probe)."""
        own_workdir = workdir is None
        if workdir is None:
            workdir = Path(tempfile.mkdtemp(prefix="mtt-replica-"))
        lab = cls(workdir, rp_filter, connmark, cgnat_drop)
        lab._own_workdir = own_workdir
        lab.forwarding = forwarding
        with lab._building():
            lab._build_topology()
            lab._start_services()
            lab._tailscale_up()
            lab.set_mullvad(mullvad_state)
        return lab

    @contextlib.contextmanager
    def _building(self) -> Iterator[None]:
        """Around a `build`: the lab is closed at interpreter exit, and at once if a step fails."""
        _LIVE.add(self)
        try:
            yield
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        _LIVE.discard(self)
        for proc in self._servers.values():
            proc.terminate()
        for proc in self._servers.values():
            try:
                proc.wait(2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(2)
        for ns in self.namespaces.values():
            ns.delete()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Lab:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ---- plumbing ---------------------------------------------------------------------------------------
    def name(self, role: str) -> str:
        return self.namespaces[role].name

    def run(
        self, role: str, *cmd: str, check: bool = True, input: str | None = None, timeout: float = CMD_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        """Run a command in a lab namespace (captured, text, bounded)."""
        proc = self.namespaces[role].run(*cmd, check=False, input=input, timeout=timeout)
        if check and proc.returncode != 0:
            raise LabError(f"[{role}] {' '.join(cmd)} -> rc {proc.returncode}: {proc.stderr.strip()}")
        return proc

    def nft(self, role: str, text: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(role, "nft", "-f", "-", input=text, check=check)

    def ip_batch(self, role: str, lines: Iterable[str], check: bool = True) -> None:
        """`ip -batch` per family; a line may start with `-4 ` or `-6 ` (batch files cannot carry options)."""
        groups: dict[str, list[str]] = {"-4": [], "-6": []}
        for line in lines:
            fam, _, rest = line.partition(" ")
            if fam in groups:
                groups[fam].append(rest)
            else:
                groups["-4"].append(line)
        for fam, cmds in groups.items():
            if cmds:
                args = ["ip", fam, "-batch", "-"] + (["-force"] if not check else [])
                self.run(role, *args, input="\n".join(cmds) + "\n", check=check)

    def sysctl(self, role: str, values: dict[str, str]) -> None:
        if values:
            self.run(role, "sysctl", "-q", "-w", *(f"{k}={v}" for k, v in values.items()))

    # ---- topology ---------------------------------------------------------------------------------------
    def _build_topology(self) -> None:
        for role in ROLES:
            self.namespaces[role] = NetNS(prefix=f"mttr-{role}")
        h, r, p, i = (self.name(x) for x in ROLES)
        # veth pairs created straight into their namespaces. The two tunnel links run without ARP and with one
        # MAC on both ends, so they behave like the layer-3 devices they stand in for.
        links = [
            f"link add name eth0 netns {h} type veth peer name lan0 netns {i}",
            f"link add name {t.WG_IF} netns {h} address 02:00:00:00:00:0a type veth "
            f"peer name wgr netns {r} address 02:00:00:00:00:0a",
            f"link add name {t.TS_IF} netns {h} address 02:00:00:00:00:0b type veth "
            f"peer name tsp netns {p} address 02:00:00:00:00:0b",
            f"link add name pub0 netns {r} type veth peer name rly0 netns {i}",
        ]
        subprocess.run(
            ["ip", "-batch", "-"], input="\n".join(links) + "\n", text=True, check=True, timeout=CMD_TIMEOUT
        )
        self.ip_batch(
            "host",
            [
                f"link set dev {t.WG_IF} arp off",
                f"link set dev {t.TS_IF} arp off",
                *(f"link set dev {d} up" for d in ("eth0", t.WG_IF, t.TS_IF)),
                f"-4 addr add {t.HOST_LAN4}/24 dev eth0",
                f"-6 addr add {t.HOST_LAN6}/64 dev eth0 nodad",
                f"-4 addr add {t.HOST_TUN4}/32 dev {t.WG_IF}",
                f"-6 addr add {t.HOST_TUN6}/128 dev {t.WG_IF} nodad",
                f"-4 addr add {t.HOST_TS4}/32 dev {t.TS_IF}",
                f"-6 addr add {t.HOST_TS6}/128 dev {t.TS_IF} nodad",
                f"-4 route add default via {t.LAN_GW4} dev eth0",
                f"-6 route add default via {t.LAN_GW6} dev eth0",
            ],
        )
        self.ip_batch(
            "inet",
            [
                "link set dev lan0 up",
                "link set dev rly0 up",
                f"-4 addr add {t.LAN_GW4}/24 dev lan0",
                f"-6 addr add {t.LAN_GW6}/64 dev lan0 nodad",
                f"-4 addr add {t.INET_RELAY_SIDE4}/24 dev rly0",
                f"-6 addr add {t.INET_RELAY_SIDE6}/64 dev rly0 nodad",
                *(f"-4 addr add {a}/32 dev lo" for a in (t.WEB4, t.DERP4, t.API4, t.SPOOF_SRC)),
                f"-6 addr add {t.WEB6}/128 dev lo nodad",
            ],
        )
        self.ip_batch(
            "relay",
            [
                "link set dev wgr arp off",
                "link set dev wgr up",
                "link set dev pub0 up",
                *(f"-4 addr add {a}/32 dev wgr" for a in (t.RELAY_GW4, t.BLOCKER_DNS)),
                f"-6 addr add {t.RELAY_GW6}/128 dev wgr nodad",
                f"-4 route add {t.HOST_TUN4}/32 dev wgr",
                f"-6 route add {t.HOST_TUN6}/128 dev wgr",
                f"-4 addr add {t.RELAY4}/24 dev pub0",
                f"-6 addr add {t.RELAY6}/64 dev pub0 nodad",
                f"-4 route add default via {t.INET_RELAY_SIDE4} dev pub0",
                f"-6 route add default via {t.INET_RELAY_SIDE6} dev pub0",
            ],
        )
        self.ip_batch(
            "peer",
            [
                "link set dev tsp arp off",
                "link set dev tsp up",
                f"-4 addr add {t.PEER4}/32 dev tsp",
                f"-6 addr add {t.PEER6}/128 dev tsp nodad",
                *(f"-4 addr add {a}/32 dev lo" for a in (t.MAGICDNS4, t.SUBNET_HOST)),
                f"-6 addr add {t.MAGICDNS6}/128 dev lo nodad",
                f"-4 route add {t.HOST_TS4}/32 dev tsp src {t.PEER4}",
                f"-6 route add {t.HOST_TS6}/128 dev tsp src {t.PEER6}",
            ],
        )
        ping_all = {"net.ipv4.ping_group_range": "0 2147483647"}
        self.sysctl("host", {**ping_all, "net.ipv6.conf.all.accept_ra": "0"})
        self.sysctl("peer", ping_all)
        # The LAN router asks ARP from its LAN address, as a real one does. Left at arp_announce 0 it may take
        # the source of whatever packet it is delivering (9.9.9.9, the spoofer's 100.70.0.5): the host, under
        # Mullvad's arp_ignore=2, ignores such a request, and every reply queued behind it is lost. That made
        # the first probe batch of a fresh lab flaky (T11 lost when I3 and a failing T10 ran alongside).
        self.sysctl(
            "inet",
            {
                **ping_all,
                "net.ipv4.ip_forward": "1",
                "net.ipv6.conf.all.forwarding": "1",
                "net.ipv4.conf.all.arp_announce": "2",
            },
        )
        self.sysctl("relay", {"net.ipv4.ip_forward": "1", "net.ipv6.conf.all.forwarding": "1"})
        for role in ("inet", "relay", "peer"):
            self.sysctl(role, {"net.ipv4.conf.all.rp_filter": "0", "net.ipv4.conf.default.rp_filter": "0"})
        self.set_rp_filter(self.rp_filter)
        self.nft("inet", LEAKWATCH)
        self.nft("relay", RELAY_NAT)
        if self.forwarding:
            self._build_router()

    def _build_router(self) -> None:
        self.namespaces["container"] = NetNS(prefix="mttr-container")
        subprocess.run(
            [
                *("ip", "link", "add", "name", "docker0", "netns", self.name("host"), "type", "veth"),
                *("peer", "name", "eth0", "netns", self.name("container")),
            ],
            check=True,
            timeout=CMD_TIMEOUT,
        )
        self.ip_batch(
            "host",
            ["link set dev docker0 up", f"-4 addr add {t.DOCKER_GW}/16 dev docker0"],
        )
        self.ip_batch(
            "container",
            [
                "link set dev eth0 up",
                f"-4 addr add {t.CONTAINER4}/16 dev eth0",
                f"-4 route add default via {t.DOCKER_GW}",
            ],
        )
        self.sysctl("host", {"net.ipv4.ip_forward": "1"})
        self.sysctl("container", {"net.ipv4.ping_group_range": "0 2147483647"})
        self.services = {**SERVICES, "container": (["[::]:80"], [])}  # the tailnet -> a container's service
        self.nft("host", DOCKER_NAT)
        # The peer uses this host as its exit node (9.9.9.9) and as subnet router for its LAN and its
        # containers' bridge.
        self.ip_batch(
            "peer",
            [
                f"-4 route add {t.WEB4}/32 dev tsp src {t.PEER4}",
                f"-4 route add {t.HOST_LAN4.rsplit('.', 1)[0]}.0/24 dev tsp src {t.PEER4}",
                f"-4 route add {t.CONTAINER4.rsplit('.', 2)[0]}.0.0/16 dev tsp src {t.PEER4}",
            ],
        )
        # A LAN host that tries to reach the tailnet through this host.
        self.ip_batch("inet", [f"-4 route add {t.PEER4}/32 via {t.HOST_LAN4}"])

    def _start_services(self) -> None:
        for role, (tcp, udp) in self.services.items():
            log = self.workdir / f"{role}.log"
            log.touch()
            argv = [sys.executable, str(ECHO_SERVER), "--log", str(log)]
            argv += [a for ep in tcp for a in ("--tcp", ep)] + [a for ep in udp for a in ("--udp", ep)]
            self._servers[role] = self.namespaces[role].popen(
                argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
        for role, proc in self._servers.items():
            assert proc.stdout is not None
            with selectors.DefaultSelector() as sel:
                sel.register(proc.stdout, selectors.EVENT_READ)
                line = proc.stdout.readline() if sel.select(READY_TIMEOUT) else ""
            if line.strip() != "ready":
                proc.kill()
                err = proc.stderr.read() if proc.stderr and proc.poll() is not None else ""
                raise LabError(f"echo service in {role} did not start: {err.strip() or 'no ready line'}")

    # ---- Tailscale --------------------------------------------------------------------------------------
    def _tailscale_up(self) -> None:
        self.ip_batch("host", tailscale.ROUTES_52 + tailscale.RULES)
        self.nft("host", tailscale.tables(self.connmark, self.cgnat_drop))
        self.sysctl("host", tailscale.sysctls(self.connmark))

    def set_tailscale(self, connmark: str | None = None, cgnat_drop: bool | None = None) -> None:
        """Switch the connmark variant or the CGNAT drop (a tailscaled upgrade or netfilter-mode change).
        Re-created tables run first at a priority tie, so Mullvad then reconnects to be registered last again,
        the order a real machine ends up in whenever Mullvad's state changes."""
        if connmark is not None:
            self.connmark = connmark
        if cgnat_drop is not None:
            self.cgnat_drop = cgnat_drop
        self.nft("host", tailscale.tables(self.connmark, self.cgnat_drop))
        self.sysctl("host", tailscale.sysctls(self.connmark))
        if self.mullvad_state != "disconnected":
            self.set_mullvad(self.mullvad_state)

    def set_subnet_route(self, prefix: str, peer_addr: str, present: bool = True) -> None:
        """Tailscale accepting (or dropping) a subnet route: the route in table 52 and the address on the peer."""
        fam = "-6" if ":" in prefix else "-4"
        bits = 128 if fam == "-6" else 32
        verb = "replace" if present else "del"
        # Removing what is already gone is fine (idempotent clean-up).
        self.ip_batch(
            "host", [f"{fam} route {verb} {prefix} dev {t.TS_IF} table {t.TAILSCALE_TABLE}"], check=present
        )
        addr = f"{fam} addr {'replace' if present else 'del'} {peer_addr}/{bits} dev lo"
        self.ip_batch("peer", [addr + (" nodad" if fam == "-6" and present else "")], check=present)

    def tailscale_stop(self) -> None:
        """tailscaled stops: its ip rules, table 52 and nft tables go, and tailscale0 goes down (the real daemon
        deletes the device; down keeps the replica's veth pair, and takes its routes and IPv6 addresses)."""
        self.ip_batch("host", [r.replace(" add ", " del ", 1) for r in tailscale.RULES], check=False)
        self.ip_batch(
            "host", [f"{fam} route flush table {t.TAILSCALE_TABLE}" for fam in ("-4", "-6")], check=False
        )
        self.nft("host", tailscale.DELETE_TABLES)
        self.ip_batch("host", [f"link set dev {t.TS_IF} down"])

    def tailscale_start(self) -> None:
        """tailscaled starts again: device up with its addresses, then routes, rules and tables as at build."""
        self.ip_batch(
            "host",
            [
                f"link set dev {t.TS_IF} up",
                f"-4 addr replace {t.HOST_TS4}/32 dev {t.TS_IF}",
                f"-6 addr replace {t.HOST_TS6}/128 dev {t.TS_IF} nodad",
            ],
        )
        self._tailscale_up()

    def set_routes_52(self, prefixes: Sequence[str], present: bool = True) -> None:
        """Routes through tailscale0 in table 52 (an exit node's default, a subnet router's wide pair)."""
        verb = "replace" if present else "del"
        lines = [
            f"{'-6' if ':' in p else '-4'} route {verb} {p} dev {t.TS_IF} table {t.TAILSCALE_TABLE}"
            for p in prefixes
        ]
        self.ip_batch("host", lines, check=present)

    def set_rp_filter(self, value: int) -> None:
        self.rp_filter = value
        keys = ("all", "default", "eth0", t.WG_IF, t.TS_IF, "lo")
        self.sysctl("host", {f"net.ipv4.conf.{k}.rp_filter": str(value) for k in keys if self._has_conf(k)})

    def _has_conf(self, key: str) -> bool:
        """Has the host net.ipv4.conf.KEY? The replica builds every interface named above."""
        return True

    # ---- Mullvad ----------------------------------------------------------------------------------------
    def set_mullvad(self, state: str) -> None:
        {
            "connected": self.mullvad_connect,
            "blocked": self.mullvad_block,
            "disconnected": self.mullvad_disconnect,
        }[state]()

    def _mullvad_clear_routing(self) -> None:
        # Mullvad deletes its rules and tunnel routes on every state change; absent ones are fine here.
        self.ip_batch("host", mullvad.RULES_DEL, check=False)
        flush = [f"-4 route flush table {t.MULLVAD_TABLE}", f"-6 route flush table {t.MULLVAD_TABLE}"]
        self.ip_batch("host", flush, check=False)

    def mullvad_connect(self) -> None:
        """Connected: the tunnel is up, the table and the ip rules are (re-)created (no pref: they land in front
        of Tailscale's), default routes in table 1836018789, gateway routes in main."""
        self._mullvad_clear_routing()
        self.ip_batch(
            "host",
            [
                f"link set dev {t.WG_IF} up",  # the daemon creates the device and its addresses afresh
                f"-4 addr replace {t.HOST_TUN4}/32 dev {t.WG_IF}",
                f"-6 addr replace {t.HOST_TUN6}/128 dev {t.WG_IF} nodad",
            ],
        )
        self.sysctl("host", mullvad.SYSCTLS)
        self.nft("host", mullvad.connected(self.mullvad_dns))
        self.ip_batch("host", mullvad.RULES_ADD + mullvad.ROUTES_ADD)
        self.mullvad_state = "connected"

    def mullvad_reconnect(self) -> None:
        """A reconnect as the daemon does it: delete and re-create the table and the ip rules."""
        self.nft("host", mullvad.DELETE_TABLE)
        self.mullvad_connect()

    def mullvad_block(self) -> None:
        """Blocked (lockdown while disconnected, or the error state): the blocking table, no rules or routes,
        the tunnel device gone (modelled as link down)."""
        self._mullvad_clear_routing()
        self.nft("host", mullvad.blocked())
        self.ip_batch("host", [f"link set dev {t.WG_IF} down"])
        self.mullvad_state = "blocked"

    def mullvad_disconnect(self) -> None:
        """Disconnected without lockdown: table deleted, no rules, tunnel down."""
        self._mullvad_clear_routing()
        self.nft("host", mullvad.DELETE_TABLE)
        self.ip_batch("host", [f"link set dev {t.WG_IF} down"])
        self.mullvad_state = "disconnected"

    # ---- traffic ----------------------------------------------------------------------------------------
    def probe(self, probes: Sequence[Probe], timeout: float = 1.0) -> dict[str, str]:
        """Run the probes concurrently; {name: outcome} (see probes.py for the outcome strings)."""
        return run_probes(probes, self.name, self.arrivals, timeout=timeout)

    def arrivals(self) -> dict[str, str]:
        """{UDP token: source address seen} from every echo service's log."""
        seen: dict[str, str] = {}
        for role in self.services:
            for line in (self.workdir / f"{role}.log").read_text(encoding="utf-8").splitlines():
                with contextlib.suppress(ValueError):
                    event = json.loads(line)
                    if "token" in event:
                        seen[event["token"]] = event["src"]
        return seen

    def leaks(self) -> dict[str, int]:
        """Packets counted on the LAN router's side of the physical link, per leak class."""
        out = self.run("inet", "nft", "-j", "list", "counters", "table", "inet", "leakwatch").stdout
        return {
            item["counter"]["name"]: int(item["counter"]["packets"])
            for item in json.loads(out)["nftables"]
            if "counter" in item
        }

    def reset_leaks(self) -> None:
        self.run("inet", "nft", "reset", "counters", "table", "inet", "leakwatch")

    # ---- introspection ----------------------------------------------------------------------------------
    def ip_rules(self, family: str = "-4") -> list[dict[str, object]]:
        return list(json.loads(self.run("host", "ip", "-j", family, "rule", "show").stdout))

    def nft_tables(self, role: str = "host") -> list[str]:
        out = json.loads(self.run(role, "nft", "-j", "list", "tables").stdout)["nftables"]
        return [f"{x['table']['family']} {x['table']['name']}" for x in out if "table" in x]

    def snapshot(self) -> dict[str, str]:
        """The host's firewall and policy routing as text (no handles), to prove something changed nothing.
        Kernel-made routes (addresses, link-local, multicast) are left out: IPv6 DAD adds them on its own time."""

        def routes(fam: str) -> str:
            out = self.run("host", "ip", fam, "route", "show", "table", "all").stdout
            return "\n".join(sorted(line for line in out.splitlines() if "proto kernel" not in line))

        return {
            "nft": self.run("host", "nft", "list", "ruleset").stdout,
            "rules4": self.run("host", "ip", "-4", "rule", "show").stdout,
            "rules6": self.run("host", "ip", "-6", "rule", "show").stdout,
            "routes4": routes("-4"),
            "routes6": routes("-6"),
        }

    def env_for_helper(self, state_dir: Path) -> dict[str, str]:
        """Environment for `python -m tray_app.helper` run in the host namespace from this checkout."""
        repo = Path(__file__).resolve().parents[2]
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL")}
        env.update(PYTHONPATH=str(repo), MTT_STATE_DIR=str(state_dir))
        return env
