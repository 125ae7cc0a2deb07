"""The outside world's constants, defined once: what Mullvad, Tailscale and the system fix, and where this
product's helper is installed. Pure and stdlib only: the root helper imports it (docs/bypass.md has the why of
each number).
"""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network

# --- Mullvad (talpid-core: its firewall, routing and split tunnel) ---------------------------------------------
MULLVAD_IF = "wg0-mullvad"
MULLVAD_MARK = 0x6D6F6C65  # Mullvad's fwmark ("mole"), also the id of its routing table
MULLVAD_TABLE_ID = MULLVAD_MARK  # 1836018789
SPLIT_CT_MARK = 0x00000F41  # Mullvad's split-tunnel ct mark, compared with == by its filter chains
# Mullvad's content-blocker resolvers 100.64.0.1-63: they stay in the tunnel.
MULLVAD_DNS4 = IPv4Network("100.64.0.0/26")
MULLVAD_NFT = ("inet", "mullvad")  # its firewall's nft table (family, name)
MULLVAD_NFT_CHAIN = "output"  # the chain of that table with the split-tunnel accept rule

# --- Tailscale (tailscaled on Linux) --------------------------------------------------------------------------
TAILSCALE_IF = "tailscale0"
TAILSCALE_TABLE = 52
TAILNET4 = IPv4Network("100.64.0.0/10")  # Tailscale's CGNAT range (tsaddr)
TAILNET6 = IPv6Network("fd7a:115c:a1e0::/48")  # Tailscale's ULA range
TS_BYPASS_MARK = 0x00080000  # tailscaled's own sockets (SO_MARK)
TS_MASK = 0x00FF0000  # the mark bits Tailscale owns
TAILSCALE_NFT = ("ip", "mangle")  # the nft table of tailscaled's connmark save and restore
TAILSCALE_SOCKETS = ("/run/tailscale/tailscaled.sock", "/var/run/tailscale/tailscaled.sock")

# --- this product, as installed -------------------------------------------------------------------------------
HELPER_PATH = "/usr/libexec/mullvad-tailscale-tray/bypass-helper"


def hex32(value: int) -> str:
    """A mark as nft and `ip rule` print it in this product's rules and messages: 0x00000f41."""
    return f"{value:#010x}"
