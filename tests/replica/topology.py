"""Addresses and names of the namespace replica (coexistence.md §1.8). Every address lives only in the lab.

inet (LAN router + "internet")                relay (Mullvad relay, SNAT to its public address)
  lan0 192.168.1.1 ---- eth0 --+         +--- pub0 185.65.134.10 ---- rly0 (inet)
                               |  host   |
                    wg0-mullvad 10.66.0.2 ---- wgr 10.64.0.1, 100.64.0.7 (DNS)
                    tailscale0 100.90.1.2 ---- tsp (peer) 100.101.102.103, 100.100.100.100, 192.168.50.1
"""

from __future__ import annotations

# Mullvad's identifiers (coexistence.md §1.1).
MULLVAD_MARK = 0x6D6F6C65
MULLVAD_TABLE = 1836018789
SPLIT_CT_MARK = 0xF41
TAILSCALE_BYPASS_MARK = 0x80000
TAILSCALE_TABLE = 52
# The `mullvad-exclude` stand-in: Mullvad's mangle rule matches this uid instead of its cgroup.
EXCLUDED_UID = 4242

WG_IF = "wg0-mullvad"
TS_IF = "tailscale0"

# host
HOST_LAN4 = "192.168.1.10"
HOST_LAN6 = "2001:db8:1::10"
HOST_TUN4 = "10.66.0.2"
HOST_TUN6 = "fc00:bbbb:bbbb:bb01::2"
HOST_TS4 = "100.90.1.2"
HOST_TS6 = "fd7a:115c:a1e0::abcd"
HOST_TCP_PORT = 8080  # incoming connections from the peer
HOST_SINK_PORT = 9999  # UDP sink for the spoofed LAN packet

# inet (LAN router and internet)
LAN_GW4 = "192.168.1.1"
LAN_GW6 = "2001:db8:1::1"
WEB4 = "9.9.9.9"
WEB6 = "2001:db8:9::9"
DERP4 = "198.51.100.10"
INET_RELAY_SIDE4 = "185.65.134.1"
INET_RELAY_SIDE6 = "2001:db8:ffff::1"
SPOOF_SRC = "100.70.0.5"  # a LAN attacker's forged CGNAT source

# relay
RELAY4 = "185.65.134.10"
RELAY6 = "2001:db8:ffff::10"
RELAY_PORT = 51820
RELAY_GW4 = "10.64.0.1"
RELAY_GW6 = "fc00:bbbb:bbbb:bb01::1"
MULLVAD_DNS = "10.64.0.1"
BLOCKER_DNS = "100.64.0.7"  # content-blocker resolver inside Tailscale's 100.64.0.0/10
API4 = "198.51.100.99"  # Mullvad API placeholder (Blocked state allows it for uid 0)

# container (behind docker0 on the host; only with Lab.build(forwarding=True))
DOCKER_GW = "172.17.0.1"
CONTAINER4 = "172.17.0.2"

# peer (tailnet)
PEER4 = "100.101.102.103"
PEER6 = "fd7a:115c:a1e0::1234"
MAGICDNS4 = "100.100.100.100"
MAGICDNS6 = "fd7a:115c:a1e0::53"
SUBNET = "192.168.50.0/24"
SUBNET_HOST = "192.168.50.1"

# Subnet routes the tests accept and withdraw later (counted as tailnet destinations on the LAN side).
EXTRA_SUBNET4 = ("192.168.60.0/24", "192.168.60.1")
EXTRA_SUBNET6 = ("2001:db8:60::/64", "2001:db8:60::1")
