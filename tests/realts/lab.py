"""The real-Tailscale lab: the replica's topology with the stand-ins replaced by the real thing
(docs/testing-replica.md, "Real Tailscale lab").

* real `tailscaled` nodes, each in its own namespace with a real TUN `tailscale0`, its own state dir and socket,
  logging off: `host` (the machine under test), `peer`, `router` (advertises 192.168.50.0/24) and `exit` (an
  exit node), joined with `tailscale up --login-server=` to
* the lab's control plane in `inet`: tests/tailscale-control (Tailscale's testcontrol + DERP + STUN);
* Mullvad's tunnel as a real WireGuard interface `wg0-mullvad` (wireguard-go), its socket carrying Mullvad's
  fwmark 0x6d6f6c65, to the `relay` namespace, which NATs to the lab's internet;
* Mullvad's firewall and routing: the replica's (tests/replica/mullvad_replica.py), unchanged.

Every address lives inside the lab's namespaces; none of them has a link to the machine's own network, so no
traffic can leave. Usage (root only)::

    with RealLab.build(build=binaries.main_build(), firewall="nftables") as lab:
        lab.probe(lab.probes())            # {"T1_tailnet4_tcp": "100.64.0.1", ...}
        lab.mullvad_block(); lab.leaks()   # the replica's Mullvad states and LAN leak counters
"""

from __future__ import annotations

import json
import os
import secrets
import selectors
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from tests.infra.desktop import stop as stop_process
from tests.infra.netns import NetNS
from tests.realts import binaries
from tests.realts.binaries import Build
from tests.replica import catalogue
from tests.replica import topology as t
from tests.replica.bypass_drivers import HelperBypass
from tests.replica.lab import LEAKWATCH, RELAY_NAT, Lab, LabError
from tests.replica.probes import Probe

REAL_ROLES = ("host", "relay", "inet", "peer", "router", "exit")
NODES = ("host", "peer", "router", "exit")
# Control (80), DERP (443) and STUN (3478), in `inet`. A private address: with a public one and http://,
# tailscaled also tries Noise over TLS on 443 after a failed dial (controlhttp), which the lab does not serve.
CONTROL4 = "172.31.0.1"
# Each tailnet node but this host sits on its own link to `inet`: 198.18.N.2, gateway 198.18.N.1.
NODE_NET = {"peer": 1, "router": 2, "exit": 3}
HOSTNAMES = {"host": "thishost", "peer": "peer", "router": "router", "exit": "exit"}
MAGIC_DOMAIN = "lab.ts.net"
WG_PORT = t.RELAY_PORT
UP_TIMEOUT = 60.0

# What a leak was, for the assertion message: the LAN router remembers every packet from a tunnel or tailnet
# source (the leak counters say how many; this says which flow).
LEAK_DETAIL = """table inet leakdetail {
  set seen4 { type ipv4_addr . ipv4_addr . inet_proto . inet_service; flags dynamic; }
  chain pre { type filter hook prerouting priority -400; policy accept;
    iifname "lan0" ip saddr { 10.64.0.0/10, 100.64.0.0/10 } meta l4proto { tcp, udp } update @seen4 { ip saddr . ip daddr . meta l4proto . th dport }
    iifname "lan0" ip saddr { 10.64.0.0/10, 100.64.0.0/10 } meta l4proto != { tcp, udp } update @seen4 { ip saddr . ip daddr . meta l4proto . 0 }
    iifname "lan0" ip daddr { 100.64.0.0/10, 192.168.50.0/24 } meta l4proto { tcp, udp } update @seen4 { ip saddr . ip daddr . meta l4proto . th dport }
  }
}
"""

SERVICES: dict[str, tuple[list[str], list[str]]] = {
    # No wildcard binds in `inet`: the control server owns CONTROL4's ports.
    "inet": (
        [f"{t.WEB4}:80", f"[{t.WEB6}]:80", f"{t.DERP4}:443"],
        [f"{t.DERP4}:3478", f"{t.WEB4}:53"],
    ),
    "relay": ([], [f"{t.MULLVAD_DNS}:53", f"{t.BLOCKER_DNS}:53"]),
    "peer": (["[::]:80"], []),
    "router": (["[::]:80"], []),
    "host": ([f"[::]:{t.HOST_TCP_PORT}"], [f"0.0.0.0:{t.HOST_SINK_PORT}"]),
}


@dataclass
class Node:
    role: str
    build: Build
    dir: Path
    firewall: str
    proc: subprocess.Popen[str] | None = None
    ips: tuple[str, str] = ("", "")  # its own Tailscale v4, v6 (`tailscale ip`)
    seen4: str = ""  # the v4 address the other nodes see it at (tests/tailscale-control: 100.64.1.ID)
    up_args: list[str] = field(default_factory=list)

    @property
    def socket(self) -> str:
        # Next to the state dir, not in it: the operator tests reach it as an unprivileged user.
        return str(self.dir.parent / f"{self.dir.name}.sock")


class RealLab(Lab):
    """One real lab. Build with `RealLab.build(...)`; use as a context manager or call `close()`."""

    services = SERVICES

    def __init__(self, workdir: Path, rp_filter: int, build: Build, firewall: str) -> None:
        super().__init__(workdir, rp_filter, connmark=build.connmark, cgnat_drop=True)
        self.build_ = build
        self.firewall = firewall
        self.nodes: dict[str, Node] = {}
        self.control_url = ""
        self._control: subprocess.Popen[str] | None = None
        self._wg: dict[str, subprocess.Popen[str]] = {}
        self._etc: list[Path] = []
        self.bypass_mode: str | None = None  # what the module's fixture built it with (conftest.real_lab)
        self.helper_state = workdir / "helper-state"

    # ---- life cycle -------------------------------------------------------------------------------------
    @classmethod
    def build(  # type: ignore[override]
        cls,
        *,
        build: Build,
        firewall: str = "nftables",
        rp_filter: int = 2,
        mullvad_state: str = "connected",
        peers_build: Build | None = None,
        bypass: tuple[Path, str] | None = None,
    ) -> RealLab:
        """Topology, WireGuard, echo services, control, the four tailscaled nodes up (this host on `build` in
        `firewall` mode, the others on `peers_build`, default the same), then Mullvad in `mullvad_state`.
        `bypass=(state_dir, mode)` turns the product's bypass on so that every flow of tailscaled's is born
        under it ("Flows from before a change" in docs/tailscale.md): direct mode before Mullvad connects (the
        order of a boot), private mode after it, followed by a fresh tailscaled."""
        workdir = Path(tempfile.mkdtemp(prefix="mtt-real-", dir="/tmp"))
        workdir.chmod(0o755)  # the sockets are used by an unprivileged user in the operator tests
        lab = cls(workdir, rp_filter, build, firewall)
        lab._own_workdir = True
        with lab._building():  # closed at interpreter exit like the replica, and on a failed step
            lab._build_topology()
            lab._start_wireguard()
            lab._start_services()
            lab._start_control()
            for role in NODES:
                lab.start_tailscaled(role, build if role == "host" else (peers_build or build))
            lab._join()
            lab.set_rp_filter(rp_filter)
            if bypass is not None and bypass[1] == "private":
                # Private mode keeps tailscaled in the tunnel: connections it opened outside (with the LAN
                # source) die when Mullvad connects, for up to 2 minutes. So: Mullvad first, then the bypass,
                # then a fresh tailscaled whose every flow starts in the tunnel.
                lab.set_mullvad(mullvad_state)
                HelperBypass(lab, bypass[0]).enable("private")
                lab.restart_host()
            else:
                if bypass is not None:
                    HelperBypass(lab, bypass[0]).enable(bypass[1])
                lab.set_mullvad(mullvad_state)
            lab.settle(bypass[1] if bypass else None)
        return lab

    def close(self) -> None:
        if self._closed:
            return
        for node in self.nodes.values():
            stop_process(node.proc, grace=10)
        for proc in [*self._wg.values(), self._control]:
            stop_process(proc, grace=10)
        for d in self._etc:
            shutil.rmtree(d, ignore_errors=True)
        super().close()

    # ---- topology ---------------------------------------------------------------------------------------
    def _build_topology(self) -> None:
        for role in REAL_ROLES:
            self.namespaces[role] = NetNS(prefix=f"mttr-{role}")
            # tailscaled and wireguard-go see this as /etc/resolv.conf (`ip netns exec` bind-mounts
            # /etc/netns/NAME/*): never the machine's resolver, and nothing of theirs ever written to /etc.
            etc = Path("/etc/netns") / self.name(role)
            etc.mkdir(parents=True, exist_ok=True)
            (etc / "resolv.conf").write_text(f"nameserver {t.MULLVAD_DNS}\n")
            self._etc.append(etc)
        h, r, i = self.name("host"), self.name("relay"), self.name("inet")
        links = [
            f"link add name eth0 netns {h} type veth peer name lan0 netns {i}",
            f"link add name pub0 netns {r} type veth peer name rly0 netns {i}",
            *(
                f"link add name eth0 netns {self.name(role)} type veth peer name n{role} netns {i}"
                for role in NODE_NET
            ),
        ]
        subprocess.run(
            ["ip", "-batch", "-"], input="\n".join(links) + "\n", text=True, check=True, timeout=15
        )
        self.ip_batch(
            "host",
            [
                "link set dev eth0 up",
                f"-4 addr add {t.HOST_LAN4}/24 dev eth0",
                f"-6 addr add {t.HOST_LAN6}/64 dev eth0 nodad",
                f"-4 route add default via {t.LAN_GW4} dev eth0",
                f"-6 route add default via {t.LAN_GW6} dev eth0",
            ],
        )
        inet = [
            "link set dev lan0 up",
            "link set dev rly0 up",
            f"-4 addr add {t.LAN_GW4}/24 dev lan0",
            f"-6 addr add {t.LAN_GW6}/64 dev lan0 nodad",
            f"-4 addr add {t.INET_RELAY_SIDE4}/24 dev rly0",
            f"-6 addr add {t.INET_RELAY_SIDE6}/64 dev rly0 nodad",
            *(f"-4 addr add {a}/32 dev lo" for a in (t.WEB4, t.DERP4, t.API4, t.SPOOF_SRC, CONTROL4)),
            f"-6 addr add {t.WEB6}/128 dev lo nodad",
        ]
        for role, n in NODE_NET.items():
            inet += [f"link set dev n{role} up", f"-4 addr add 198.18.{n}.1/24 dev n{role}"]
            self.ip_batch(
                role,
                [
                    "link set dev eth0 up",
                    f"-4 addr add 198.18.{n}.2/24 dev eth0",
                    f"-4 route add default via 198.18.{n}.1",
                ],
            )
        self.ip_batch("inet", inet)
        self.ip_batch(
            "relay",
            [
                "link set dev pub0 up",
                f"-4 addr add {t.RELAY4}/24 dev pub0",
                f"-6 addr add {t.RELAY6}/64 dev pub0 nodad",
                f"-4 route add default via {t.INET_RELAY_SIDE4} dev pub0",
                f"-6 route add default via {t.INET_RELAY_SIDE6} dev pub0",
            ],
        )
        self.ip_batch("router", [f"-4 addr add {t.SUBNET_HOST}/32 dev lo"])
        ping_all = {"net.ipv4.ping_group_range": "0 2147483647"}
        forward = {"net.ipv4.ip_forward": "1", "net.ipv6.conf.all.forwarding": "1"}
        self.sysctl("host", {**ping_all, "net.ipv6.conf.all.accept_ra": "0"})
        for role in ("peer", "router", "exit"):
            self.sysctl(role, {**ping_all, **forward})
        self.sysctl("inet", {**ping_all, **forward, "net.ipv4.conf.all.arp_announce": "2"})
        self.sysctl("relay", forward)
        for role in ("inet", "relay", "peer", "router", "exit"):
            self.sysctl(role, {"net.ipv4.conf.all.rp_filter": "0", "net.ipv4.conf.default.rp_filter": "0"})
        self.nft("inet", LEAKWATCH)
        self.nft("inet", LEAK_DETAIL)
        self.nft("relay", RELAY_NAT)

    def _start_wireguard(self) -> None:
        """wg0-mullvad (host) and wgr (relay) as real WireGuard devices, wireguard-go in userspace. Each runs in
        a private mount namespace with its own /run/wireguard, so two labs never share a control socket."""
        keys = {role: subprocess.run(["wg", "genkey"], capture_output=True, text=True, check=True).stdout.strip()
                for role in ("host", "relay")}  # fmt: skip
        pubs = {
            role: subprocess.run(
                ["wg", "pubkey"], input=k, capture_output=True, text=True, check=True
            ).stdout.strip()
            for role, k in keys.items()
        }
        Path("/run/wireguard").mkdir(exist_ok=True)
        for role, dev in (("host", t.WG_IF), ("relay", "wgr")):
            log = (self.workdir / f"wireguard-{role}.log").open("w")
            self._wg[role] = self.namespaces[role].popen(
                [
                    "unshare", "--mount", "--propagation", "private", "sh", "-c",
                    'mount -t tmpfs tmpfs /run/wireguard && exec wireguard-go -f "$0"', dev,
                ],
                stdout=log, stderr=subprocess.STDOUT, env={"PATH": os.environ["PATH"], "LOG_LEVEL": "error"},
            )  # fmt: skip
            key_file = self.workdir / f"wg-{role}.key"
            key_file.write_text(keys[role] + "\n")
            key_file.chmod(0o600)
            if role == "host":
                peer = [pubs["relay"], "endpoint", f"{t.RELAY4}:{WG_PORT}", "allowed-ips", "0.0.0.0/0,::/0"]
                args = ["fwmark", f"0x{t.MULLVAD_MARK:x}", "peer", *peer]
            else:
                allowed = f"{t.HOST_TUN4}/32,{t.HOST_TUN6}/128"
                args = ["listen-port", str(WG_PORT), "peer", pubs["host"], "allowed-ips", allowed]
            self._wg_set(role, dev, ["private-key", str(key_file), *args])
        self.ip_batch(
            "host",
            [
                f"link set dev {t.WG_IF} up",
                f"-4 addr add {t.HOST_TUN4}/32 dev {t.WG_IF}",
                f"-6 addr add {t.HOST_TUN6}/128 dev {t.WG_IF} nodad",
            ],
        )
        self.ip_batch(
            "relay",
            [
                "link set dev wgr up",
                *(f"-4 addr add {a}/32 dev wgr" for a in (t.RELAY_GW4, t.BLOCKER_DNS)),
                f"-6 addr add {t.RELAY_GW6}/128 dev wgr nodad",
                f"-4 route add {t.HOST_TUN4}/32 dev wgr",
                f"-6 route add {t.HOST_TUN6}/128 dev wgr",
            ],
        )

    def _wg_set(self, role: str, dev: str, args: Sequence[str]) -> None:
        proc = self._wg[role]
        end = time.monotonic() + 10
        while True:  # the UAPI socket appears once wireguard-go has created the device
            r = self.run(
                role, "nsenter", f"--target={proc.pid}", "--mount", "wg", "set", dev, *args, check=False
            )
            if r.returncode == 0:
                return
            if proc.poll() is not None or time.monotonic() > end:
                log = (self.workdir / f"wireguard-{role}.log").read_text()
                raise LabError(f"wireguard-go for {dev} in {role} did not come up: {r.stderr.strip()} {log}")
            time.sleep(0.05)

    def wg_show(self, role: str = "host") -> str:
        dev = t.WG_IF if role == "host" else "wgr"
        pid = self._wg[role].pid
        return self.run(role, "nsenter", f"--target={pid}", "--mount", "wg", "show", dev, "dump").stdout

    def _start_control(self) -> None:
        ctl = binaries.control_binary()
        if not ctl.exists():
            raise LabError(f"no lab control server at {ctl}: {binaries.FIX}")
        self._control = self.namespaces["inet"].popen(
            [str(ctl), "-addr", CONTROL4],
            stdout=subprocess.PIPE,
            stderr=(self.workdir / "control.log").open("w"),
        )
        line = _read_line(self._control, 15)
        try:
            self.control_url = json.loads(line)["url"]
        except (ValueError, KeyError):
            raise LabError(f"lab control server did not start: {line!r} {self.log('control')}") from None

    # ---- Tailscale --------------------------------------------------------------------------------------
    def tailscaled_env(self, node: Node) -> dict[str, str]:
        return {
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": str(node.dir),
            "TS_NO_LOGS_NO_SUPPORT": "true",  # no log uploads (the flag says it too)
            "TS_DEBUG_FIREWALL_MODE": node.firewall,
        }

    def start_tailscaled(self, role: str, build: Build | None = None) -> Node:
        """Start (or restart, possibly on another version) the node's tailscaled; its state dir persists."""
        old = self.nodes.get(role)
        if old is not None:
            stop_process(old.proc, grace=10)
        build = build or (old.build if old else self.build_)
        d = self.workdir / f"ts-{role}"
        d.mkdir(exist_ok=True)
        firewall = self.firewall if role == "host" else "auto"
        node = Node(role, build, d, firewall)
        if old is not None:
            node.ips, node.seen4, node.up_args = old.ips, old.seen4, old.up_args
        log = (self.workdir / f"tailscaled-{role}.log").open("a")
        node.proc = self.namespaces[role].popen(
            [
                build.tailscaled, "--tun=tailscale0", f"--statedir={d}", f"--socket={node.socket}",
                # This host takes a new port on every start, so a restart begins with fresh flows (see
                # restart_host); the others keep the default.
                f"--port={0 if role == 'host' else 41641}", "--no-logs-no-support",
            ],
            stdout=log, stderr=subprocess.STDOUT, env=self.tailscaled_env(node),
        )  # fmt: skip
        self.nodes[role] = node
        self.wait(lambda: Path(node.socket).exists() or node.proc.poll() is not None, 20, f"{role} socket")
        if node.proc.poll() is not None:
            raise LabError(f"tailscaled {build.short} in {role} exited: {self.log(f'tailscaled-{role}')}")
        return node

    def restart_host(self) -> float:
        """Restart this host's tailscaled (on a new port) and wait until the tailnet answers; the seconds.

        Flows tracked before a routing change keep their old source address, NAT and ct mark (docs/tailscale.md,
        "Flows from before a change"): after a mode switch on a running daemon, its old flows stay where they
        began (in the tunnel) or are dropped (direct-mode flows in private mode) until they end. Tests that
        need every flow born under the current mode restart it."""
        t0 = time.monotonic()
        self.start_tailscaled("host")
        self.wait(lambda: self.status()["BackendState"] == "Running", 30, "tailscaled running")
        self.converge()
        return time.monotonic() - t0

    def spare_node(self) -> str:
        """A fifth tailscaled in its own namespace, started but never logged in (NeedsLogin); its role name."""
        if "spare" not in self.nodes:
            self.namespaces["spare"] = NetNS(prefix="mttr-spare")
            self.start_tailscaled("spare", self.build_)
        return "spare"

    def stop_tailscaled(self, role: str = "host") -> None:
        stop_process(self.nodes[role].proc, grace=10)

    def ts(
        self, role: str, *args: str, check: bool = True, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        """The node's own `tailscale` CLI against its own socket."""
        node = self.nodes[role]
        return self.run(
            role, node.build.tailscale, f"--socket={node.socket}", *args, check=check, timeout=timeout
        )

    def status(self, role: str = "host") -> dict[str, object]:
        return dict(json.loads(self.ts(role, "status", "--json").stdout))

    def up(self, role: str, *extra: str) -> None:
        node = self.nodes[role]
        node.up_args = [
            f"--login-server={self.control_url}", f"--hostname={HOSTNAMES[role]}", "--accept-dns=false",
            "--timeout=45s", *extra,
        ]  # fmt: skip
        self.ts(role, "up", *node.up_args, timeout=UP_TIMEOUT)

    def _join(self) -> None:
        self.up("router", f"--advertise-routes={t.SUBNET}")
        self.up("exit", "--advertise-exit-node")
        self.up("peer")
        self.up("host", "--accept-routes")
        seen = json.loads(self._control_api("GET", "/lab/nodes"))
        for role, node in self.nodes.items():
            ips = self.ts(role, "ip").stdout.split()
            node.ips = (next(a for a in ips if ":" not in a), next(a for a in ips if ":" in a))
            node.seen4 = seen[HOSTNAMES[role]]["seen"]
        # Ready when this host has the subnet route in table 52 and every peer online.
        self.wait(lambda: t.SUBNET in self.table52(), 30, "the subnet route in table 52")
        self.wait(lambda: self.peers_online() == 3, 30, "three peers online")
        # tailscaled configures a peer on its first packet, so a fresh tailnet drops the first probes while
        # WireGuard handshakes: warm the paths up before Mullvad connects.
        self.converge()

    def table52(self, family: str = "-4") -> str:
        return self.run("host", "ip", family, "route", "show", "table", str(t.TAILSCALE_TABLE)).stdout

    def peers_online(self, role: str = "host") -> int:
        peers = self.status(role).get("Peer") or {}
        assert isinstance(peers, dict)
        return sum(1 for p in peers.values() if p.get("Online"))

    def _control_api(self, method: str, path: str) -> str:
        code = "import sys, urllib.request as u; print(u.urlopen(u.Request(sys.argv[1], method=sys.argv[2])).read().decode())"
        return self.run("inet", "python3", "-c", code, self.control_url + path, method).stdout

    def set_online(self, role: str, online: bool) -> None:
        """What control tells the tailnet about the node's presence (testcontrol tracks none itself)."""
        self._control_api("POST", f"/lab/online?host={HOSTNAMES[role]}&online={int(online)}")

    def ip(self, role: str, v6: bool = False) -> str:
        """The address the other nodes reach `role` at (v4: its masquerade address, see tailscale-control)."""
        node = self.nodes[role]
        return node.ips[1] if v6 else node.seen4

    def own_ips(self, role: str = "host") -> tuple[str, str]:
        """The node's own addresses, as `tailscale ip` and its `status` show them."""
        return self.nodes[role].ips

    def _has_conf(self, key: str) -> bool:
        return (
            key in ("all", "default")
            or self.run("host", "ip", "link", "show", key, check=False).returncode == 0
        )

    # ---- traffic ----------------------------------------------------------------------------------------
    def probes(self, names: Sequence[str] | None = None) -> tuple[Probe, ...]:
        """The replica's probe set aimed at the real tailnet's addresses (see catalogue.py for the meaning)."""
        peer4, peer6 = self.ip("peer"), self.ip("peer", v6=True)
        host4, host6 = self.ip("host"), self.ip("host", v6=True)
        real = {t.PEER4: peer4, t.PEER6: peer6, t.HOST_TS4: host4, t.HOST_TS6: host6}
        peer_name = f"{HOSTNAMES['peer']}.{MAGIC_DOMAIN}"
        all_probes = []
        for probe in catalogue.PROBES:
            if probe.name == "T11_mullvad_wg":  # the real tunnel carries T5-T7 instead
                continue
            p = replace(probe, dst=real.get(probe.dst, probe.dst))
            if p.name.startswith("T2_magicdns"):  # a real resolver: ask it for the peer's name
                p = replace(p, kind="dns", query=peer_name)
            all_probes.append(p)
        return tuple(p for p in all_probes if names is None or p.name in names)

    def expected(self, mode: str, mullvad: str, names: Sequence[str] | None = None) -> dict[str, str]:
        """What each probe must show with the bypass on: the replica's expectations (catalogue.with_bypass)
        with the real tailnet's addresses."""
        exp = catalogue.with_bypass(mode, mullvad)
        real = {t.HOST_TS4: self.ip("host"), t.HOST_TS6: self.ip("host", v6=True)}
        real |= {t.PEER4: self.ip("peer"), t.PEER6: self.ip("peer", v6=True)}
        # T11 (Mullvad's own WireGuard) is not a probe here: the real tunnel carries T5-T7.
        out = {k: real.get(v, v) for k, v in exp.items() if k not in ("T11_mullvad_wg",)}
        # MagicDNS answers peer.lab.ts.net with the peer's address: the real tailscaled resolved it.
        out.update(T2_magicdns4=self.ip("peer"), T2_magicdns6=self.ip("peer"))
        if mode == "private" and mullvad == "blocked":
            # The replica's tailnet is a cable; the real one rides on tailscaled's transport, which private mode
            # keeps in Mullvad's tunnel: with Mullvad blocked the tailnet is offline (README, "private").
            # MagicDNS is tailscaled itself and still answers.
            out.update({n: "fail" for n in catalogue.TAILNET if n in out and not n.startswith("T2_")})
        return {k: v for k, v in out.items() if names is None or k in names}

    def reset_leaks(self) -> None:
        super().reset_leaks()
        self.run("inet", "nft", "flush", "set", "inet", "leakdetail", "seen4")

    def leaked_flows(self) -> list[str]:
        """The flows behind non-zero leak counters (v4), as "src . dst . proto . port"."""
        out = json.loads(self.run("inet", "nft", "-j", "list", "set", "inet", "leakdetail", "seen4").stdout)
        elems = [x for item in out["nftables"] if "set" in item for x in item["set"].get("elem", [])]
        return [json.dumps(e) for e in elems]

    CONVERGE = ("T1_tailnet4_tcp", "T4_tailnet6_tcp", "T3_subnet_route", "I1_incoming4")

    def converge(self, timeout: float = 60) -> float:
        """Wait until the tailnet answers again after a change of paths (tailscaled finds its new path to each
        peer by itself, within seconds); the seconds it took."""
        t0 = time.monotonic()
        self.wait(
            lambda: "fail" not in self.probe(self.probes(self.CONVERGE)).values(), timeout, "the tailnet"
        )
        return time.monotonic() - t0

    def settle(self, mode: str | None) -> None:
        """After a change: wait for the tailnet wherever it must work (not private mode with Mullvad blocked)
        and for the internet through Mullvad's tunnel while it is connected."""
        if mode is not None and not (mode == "private" and self.mullvad_state == "blocked"):
            self.converge()
        if self.mullvad_state == "connected":
            # The real tunnel, too: a WireGuard handshake retried after a change takes its own time.
            internet = self.probes(("T5_internet4",))
            self.wait(lambda: self.probe(internet)["T5_internet4"] == t.RELAY4, 60, "Mullvad's tunnel")

    def tailscaled_path(self, role: str = "peer", target: str = "host") -> str:
        """How `role` reaches `target`'s tailscaled: the endpoint `tailscale ping` reports ("192.168.1.10",
        "185.65.134.10") or "DERP" if no direct path formed, or "fail"."""
        r = self.ts(role, "ping", "--c=10", "--timeout=2s", self.ip(target), check=False, timeout=40)
        via = ""
        for line in r.stdout.splitlines():
            if line.startswith("pong from") and " via " in line:
                via = line.split(" via ", 1)[1].split(" in ", 1)[0]
        if not via:
            return "fail"
        if via.startswith("DERP"):
            return "DERP"
        return via.rsplit(":", 1)[0].strip("[]")

    # ---- helpers ----------------------------------------------------------------------------------------
    def log(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    @staticmethod
    def wait(pred: object, timeout: float, what: str) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if pred():  # type: ignore[operator]
                return
            time.sleep(0.1)
        raise LabError(f"timed out after {timeout:.0f}s waiting for {what}")

    def random_token(self) -> str:
        return secrets.token_hex(4)


class RealHelper(HelperBypass):
    """The product's helper in a real lab: after `enable` it waits until the tailnet and Mullvad's tunnel
    answer again where they must (RealLab.settle)."""

    lab: RealLab

    def enable(self, mode: str = "direct", *options: str) -> None:
        super().enable(mode, *options)
        self.lab.settle(mode)


def _read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        return proc.stdout.readline().strip() if sel.select(timeout) else ""
