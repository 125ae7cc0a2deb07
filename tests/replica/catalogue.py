"""The probes of coexistence.md §7 and the outcome each must have, per bypass mode and Mullvad state.

Outcome strings are explained in probes.py: an address is what the far service saw as the source (so it tells
which way the traffic left: the relay 185.65.134.10, directly 192.168.1.10, or the tailnet 100.90.1.2).
"""

from __future__ import annotations

from tests.replica import topology as t
from tests.replica.probes import Probe

PROBES: tuple[Probe, ...] = (
    # tailnet, from this host
    Probe("T1_tailnet4_tcp", "host", "tcp", t.PEER4, 80),
    Probe("T1_tailnet4_ping", "host", "ping", t.PEER4),
    Probe("T2_magicdns4", "host", "udp", t.MAGICDNS4, 53),
    Probe("T2_magicdns6", "host", "udp", t.MAGICDNS6, 53),
    Probe("T3_subnet_route", "host", "tcp", t.SUBNET_HOST, 80),
    Probe("T4_tailnet6_tcp", "host", "tcp", t.PEER6, 80),
    Probe("T4_tailnet6_ping", "host", "ping", t.PEER6),
    # internet and Mullvad's DNS must stay in the tunnel
    Probe("T5_internet4", "host", "tcp", t.WEB4, 80),
    Probe("T6_internet6", "host", "tcp", t.WEB6, 80),
    Probe("T7_mullvad_dns", "host", "udp", t.MULLVAD_DNS, 53),
    Probe("T7_blocker_dns", "host", "udp", t.BLOCKER_DNS, 53),
    Probe("T12_other_dns", "host", "udp", t.WEB4, 53),
    # tailscaled's own transport (SO_MARK 0x80000): DERP over UDP (STUN) and TCP
    Probe("T8_tailscaled_udp", "host", "udp", t.DERP4, 3478, mark=t.TAILSCALE_BYPASS_MARK),
    Probe("T9_tailscaled_tcp", "host", "tcp", t.DERP4, 443, mark=t.TAILSCALE_BYPASS_MARK),
    # `mullvad-exclude` (uid stand-in) and Mullvad's own WireGuard underlay
    Probe("T10_split_tunnel", "host", "tcp", t.WEB4, 80, uid=t.EXCLUDED_UID),
    Probe("T11_mullvad_wg", "host", "udp", t.RELAY4, t.RELAY_PORT, mark=t.MULLVAD_MARK),
    # incoming from a peer, and a LAN attacker forging a CGNAT source
    Probe("I1_incoming4", "peer", "tcp", t.HOST_TS4, t.HOST_TCP_PORT),
    Probe("I2_incoming6", "peer", "tcp", t.HOST_TS6, t.HOST_TCP_PORT),
    Probe("I3_spoofed_lan", "inet", "udp", t.HOST_LAN4, t.HOST_SINK_PORT, src=t.SPOOF_SRC),
)

TAILNET = (
    "T1_tailnet4_tcp",
    "T1_tailnet4_ping",
    "T2_magicdns4",
    "T2_magicdns6",
    "T3_subnet_route",
    "T4_tailnet6_tcp",
    "T4_tailnet6_ping",
    "I1_incoming4",
    "I2_incoming6",
)

NO_LEAKS = {
    "dns": 0,
    "tunnel_src": 0,
    "tailnet_src": 0,
    "tailnet_dst": 0,
    "tunnel_dst": 0,
    "internet_clear": 0,
}


def by_name(*names: str) -> tuple[Probe, ...]:
    wanted = set(names)
    found = tuple(p for p in PROBES + ROUTER_PROBES if p.name in wanted)
    if len(found) != len(wanted):
        raise KeyError(f"unknown probes: {wanted - {p.name for p in found}}")
    return found


def with_bypass(mode: str, mullvad: str, cgnat_drop: bool = True) -> dict[str, str]:
    """What every probe must show with the bypass on (`mode` direct|private; `mullvad` connected|blocked|
    disconnected).
    The same for every Tailscale connmark variant and rp_filter 1 or 2: that is the point of the rule set."""
    tun_dns_reply = f"fail (arrived as {t.HOST_TUN4})" if cgnat_drop else t.HOST_TUN4
    exp = {
        "T1_tailnet4_tcp": t.HOST_TS4,
        "T1_tailnet4_ping": "reply",
        "T2_magicdns4": t.HOST_TS4,
        "T2_magicdns6": t.HOST_TS6,
        "T3_subnet_route": t.HOST_TS4,
        "T4_tailnet6_tcp": t.HOST_TS6,
        "T4_tailnet6_ping": "reply",
        "T5_internet4": t.RELAY4,
        "T6_internet6": t.RELAY6,
        "T7_mullvad_dns": t.HOST_TUN4,
        # Tailscale's ts-input drops the 100.64/10-sourced reply arriving on wg0-mullvad (coexistence.md §3);
        # what matters here is that the query went through the tunnel and never out eth0.
        "T7_blocker_dns": tun_dns_reply,
        "T12_other_dns": "fail",
        "T8_tailscaled_udp": t.HOST_LAN4 if mode == "direct" else t.RELAY4,
        "T9_tailscaled_tcp": t.HOST_LAN4 if mode == "direct" else t.RELAY4,
        "T10_split_tunnel": t.HOST_LAN4,
        "T11_mullvad_wg": t.HOST_LAN4,
        "I1_incoming4": t.PEER4,
        "I2_incoming6": t.PEER6,
        "I3_spoofed_lan": "fail",
    }
    if mullvad == "disconnected":
        # Mullvad off (no lockdown): no tunnel, no firewall; everything leaves directly and the bypass is inert.
        # Private mode's pref 5200 rule finds Mullvad's table empty, so tailscaled falls through to main.
        # Mullvad's resolvers are unreachable from the LAN.
        exp.update(
            T5_internet4=t.HOST_LAN4,
            T6_internet6=t.HOST_LAN6,
            T7_mullvad_dns="fail",
            T7_blocker_dns="fail",
            T12_other_dns=t.HOST_LAN4,
            T8_tailscaled_udp=t.HOST_LAN4,
            T9_tailscaled_tcp=t.HOST_LAN4,
        )
    if mullvad == "blocked":
        # Lockdown: no tunnel, so internet and Mullvad DNS are rejected; the tailnet keeps working (the bypass
        # marks it for Mullvad's `ct mark 0x00000f41 accept`). Direct mode keeps tailscaled online outside the
        # tunnel; private mode routes it into Mullvad's empty table, so Tailscale is offline by design.
        # Excluded apps stay online (Mullvad documents that), and a socket carrying Mullvad's own mark (root only)
        # is treated like the daemon's relay traffic.
        exp.update(
            T5_internet4="fail",
            T6_internet6="fail",
            T7_mullvad_dns="fail",
            T7_blocker_dns="fail",
        )
        if mode == "private":
            exp.update(T8_tailscaled_udp="fail", T9_tailscaled_tcp="fail")
    return exp


def without_bypass(connmark: str, rp_filter: int, cgnat_drop: bool = True) -> dict[str, str]:
    """Mullvad connected and no bypass: the problem the product fixes, as the replica must reproduce it."""
    exp = dict.fromkeys(TAILNET, "fail")
    exp.update(
        T5_internet4=t.RELAY4,
        T6_internet6=t.RELAY6,
        T7_mullvad_dns=t.HOST_TUN4,
        T7_blocker_dns=f"fail (arrived as {t.HOST_TUN4})" if cgnat_drop else t.HOST_TUN4,
        T12_other_dns="fail",
        # With Mullvad's rules in front, tailscaled's own traffic goes through the tunnel.
        T8_tailscaled_udp=t.RELAY4,
        T9_tailscaled_tcp=t.RELAY4,
        # Tailscale >= 1.96 saves 0x6f0000 over Mullvad's 0xf41: mullvad-exclude breaks (mullvad#10416)...
        T10_split_tunnel=t.HOST_LAN4 if connmark == "none" else "fail",
        # ...and with strict rp_filter the nft restore turns away replies to Mullvad's own WireGuard traffic
        # (iptables' masked restore gives 0x6d6f6c65 back unchanged, coexistence.md §2.4).
        T11_mullvad_wg=f"fail (arrived as {t.HOST_LAN4})"
        if (connmark in ("buggy", "fixed") and rp_filter == 1)
        else t.HOST_LAN4,
        I3_spoofed_lan="fail",
    )
    return exp


# Forwarded traffic, for a lab built with forwarding=True (the host routes for a container and for the tailnet).
ROUTER_PROBES: tuple[Probe, ...] = (
    Probe("D1_container_tailnet", "container", "tcp", t.PEER4, 80),
    Probe("D2_container_internet", "container", "tcp", t.WEB4, 80),
    Probe("D3_container_blocker_dns", "container", "udp", t.BLOCKER_DNS, 53),
    Probe("L1_lan_to_tailnet", "inet", "tcp", t.PEER4, 80),
    Probe("X1_exit_node_client", "peer", "tcp", t.WEB4, 80),
    Probe("S1_subnet_router_client", "peer", "tcp", t.LAN_GW4, 80),
    Probe("S2_subnet_router_container", "peer", "tcp", t.CONTAINER4, 80),
)


def router_with_bypass(containers: bool) -> dict[str, str]:
    """Forwarded flows with the bypass on (direct mode, Mullvad connected, rp_filter 2), with or without
    --exit-via-mullvad: the option only matters while Mullvad is disconnected."""
    return {
        # Containers reach the tailnet only with the option; their internet and Mullvad DNS stay in the tunnel
        # (the DNS reply comes back through Mullvad's forward chain: ts-input only guards this host's input).
        "D1_container_tailnet": t.HOST_TS4 if containers else "fail",
        "D2_container_internet": t.RELAY4,
        "D3_container_blocker_dns": t.HOST_TUN4,
        # Never a gateway from the LAN into the tailnet.
        "L1_lan_to_tailnet": "fail",
        # This host as exit node: clients leave through Mullvad, option or not (Mullvad is connected here).
        "X1_exit_node_client": t.RELAY4,
        # This host as subnet router: tailnet clients reach its LAN and its containers' bridge (the lan sets;
        # Mullvad's "allow LAN" is off in the replica), masqueraded by Tailscale.
        "S1_subnet_router_client": t.HOST_LAN4,
        "S2_subnet_router_container": t.DOCKER_GW,
    }


# Internet traffic on TCP 443: nothing of it may ever leave the physical link in the clear while Mullvad is
# connected or blocked; the LAN router counts it as `internet_clear` (the catalogue's own internet probes, the
# split-tunnelled app and tailscaled use port 80 or DERP, which may leave there).
N1 = Probe("N1_internet4_443", "host", "tcp", t.WEB4, 443)
N2 = Probe("N2_internet6_443", "host", "tcp", t.WEB6, 443)
X2 = Probe("X2_exit_client_443", "peer", "tcp", t.WEB4, 443)
# tailscaled's transport to a peer endpoint on this host's LAN (SO_MARK 0x80000), for a LAN that is also an
# accepted subnet route: direct mode lets it out to the LAN, private mode keeps it in the tunnel.
T13 = Probe("T13_tailscaled_lan_peer", "host", "tcp", t.LAN_GW4, 80, mark=t.TAILSCALE_BYPASS_MARK)
