"""Mullvad's firewall and routing as the daemon sets them (coexistence.md §1.3-1.8), rendered for the lab.

The table is `inet mullvad`, re-created on every state change (so its hooks win every priority tie), with
policy-drop filter chains whose second rule is `ct mark 0x00000f41 accept`. Deviations from the real daemon, all
documented in docs/testing-replica.md: the split-tunnel cgroup match is `meta skuid 4242`, `wg0-mullvad` is a
veth, the tunnel underlay is a UDP socket with SO_MARK 0x6d6f6c65, and the API endpoint is a placeholder.
"""

from __future__ import annotations

from collections.abc import Sequence

from tests.replica import topology as t

_CT = f"0x{t.SPLIT_CT_MARK:08x}"
_MARK = f"0x{t.MULLVAD_MARK:08x}"
_SPLIT_SELECTOR = f"meta skuid {t.EXCLUDED_UID}"  # stands in for `meta cgroup 5087041`

_DHCP_NDP_OUT = """
    udp sport 68 ip daddr 255.255.255.255 udp dport 67 accept
    ip6 saddr fe80::/10 udp sport 546 ip6 daddr { ff02::1:2, ff05::1:3 } udp dport 547 accept
    ip6 daddr ff02::2 icmpv6 type nd-router-solicit icmpv6 code 0 accept
    ip6 daddr ff02::1:ff00:0/104 icmpv6 type nd-neighbor-solicit icmpv6 code 0 accept
    ip6 daddr fe80::/10 icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } icmpv6 code 0 accept"""
_DHCP_NDP_IN = """
    udp sport 67 udp dport 68 accept
    ip6 saddr fe80::/10 udp sport 547 ip6 daddr fe80::/10 udp dport 546 accept
    ip6 saddr fe80::/10 icmpv6 type { nd-router-advert, nd-redirect, nd-neighbor-solicit } icmpv6 code 0 accept
    icmpv6 type nd-neighbor-advert icmpv6 code 0 accept"""

# A batch that deletes the table whether or not it exists (nft 1.0.6 has no `destroy`).
DELETE_TABLE = "table inet mullvad {}\ndelete table inet mullvad\n"


def _dns_accepts(dns: Sequence[str]) -> str:
    lines = []
    for server in dns:
        fam = "ip6" if ":" in server else "ip"
        for proto in ("udp", "tcp"):
            lines.append(f'    oif "{t.WG_IF}" {proto} dport 53 {fam} daddr {server} accept')
    return "\n".join(lines)


def connected(dns: Sequence[str] = (t.MULLVAD_DNS,)) -> str:
    """The `Connected` policy: a full replace batch (add, delete, define)."""
    accepts = _dns_accepts(dns)
    return f"""{DELETE_TABLE}table inet mullvad {{
  chain prerouting {{ type filter hook prerouting priority -199; policy accept;
    iif != "{t.WG_IF}" ct mark {_CT} meta mark set {_MARK}
    ip saddr {t.RELAY4} udp sport {t.RELAY_PORT} meta mark set {_MARK}
  }}
  chain output {{ type filter hook output priority 0; policy drop;
    oif "lo" accept
    ct mark {_CT} accept{_DHCP_NDP_OUT}
    ip daddr {t.RELAY4} udp dport {t.RELAY_PORT} meta mark {_MARK} accept
{accepts}
    udp dport 53 reject
    tcp dport 53 reject with tcp reset
    oif "{t.WG_IF}" accept
    reject
  }}
  chain input {{ type filter hook input priority 0; policy drop;
    iif "lo" accept
    ct mark {_CT} accept{_DHCP_NDP_IN}
    ip saddr {t.RELAY4} udp sport {t.RELAY_PORT} ct state established accept
    iif "{t.WG_IF}" accept
  }}
  chain forward {{ type filter hook forward priority 0; policy drop;
    ct mark {_CT} accept
{accepts}
    udp dport 53 reject
    tcp dport 53 reject with tcp reset
    oif "{t.WG_IF}" accept
    iif "{t.WG_IF}" ct state established accept
    reject
  }}
  chain mangle {{ type route hook output priority -150; policy accept;
{accepts}
    {_SPLIT_SELECTOR} ct mark set {_CT} meta mark set {_MARK}
  }}
  chain nat {{ type nat hook postrouting priority 100; policy accept;
    oif "{t.WG_IF}" ct mark {_CT} drop
    oif != "lo" ct mark {_CT} masquerade
  }}
}}
"""


def blocked() -> str:
    """The `Blocked` policy (lockdown while disconnected, or the error state)."""
    return f"""{DELETE_TABLE}table inet mullvad {{
  chain prerouting {{ type filter hook prerouting priority -199; policy accept;
  }}
  chain output {{ type filter hook output priority 0; policy drop;
    oif "lo" accept
    ct mark {_CT} accept{_DHCP_NDP_OUT}
    ip daddr {t.API4} tcp dport 443 meta skuid 0 accept
    udp dport 53 reject
    tcp dport 53 reject with tcp reset
    reject
  }}
  chain input {{ type filter hook input priority 0; policy drop;
    iif "lo" accept
    ct mark {_CT} accept{_DHCP_NDP_IN}
    ip saddr {t.API4} tcp sport 443 ct state established meta skuid 0 accept
  }}
  chain forward {{ type filter hook forward priority 0; policy drop;
    ct mark {_CT} accept
    udp dport 53 reject
    tcp dport 53 reject with tcp reset
    reject
  }}
  chain mangle {{ type route hook output priority -150; policy accept;
    {_SPLIT_SELECTOR} ct mark set {_CT} meta mark set {_MARK}
  }}
  chain nat {{ type nat hook postrouting priority 100; policy accept;
    oif != "lo" ct mark {_CT} masquerade
  }}
}}
"""


# `ip -batch` lines. The rules carry NO pref: the kernel gives them (second rule's pref - 1), which puts them at
# 5208/5209, in front of Tailscale's 5210-5270, as on a real machine after any reconnect.
RULES_ADD = [
    f"-4 rule add not fwmark {_MARK} lookup {t.MULLVAD_TABLE}",
    f"-6 rule add not fwmark {_MARK} lookup {t.MULLVAD_TABLE}",
    "-4 rule add lookup main suppress_prefixlength 0",
    "-6 rule add lookup main suppress_prefixlength 0",
]
RULES_DEL = [line.replace(" add ", " del ", 1) for line in RULES_ADD]
ROUTES_ADD = [
    f"-4 route replace {t.RELAY_GW4}/32 dev {t.WG_IF}",
    f"-6 route replace {t.RELAY_GW6}/128 dev {t.WG_IF}",
    f"-4 route replace default dev {t.WG_IF} table {t.MULLVAD_TABLE}",
    f"-6 route replace default dev {t.WG_IF} table {t.MULLVAD_TABLE}",
]
SYSCTLS = {"net.ipv4.conf.all.src_valid_mark": "1", "net.ipv4.conf.all.arp_ignore": "2"}
