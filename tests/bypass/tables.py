"""nft text of the other daemons' tables, as coexistence.md §1.8 and §2.4 describe them (a replica, not a copy).

Used to prove the helper reads them right and never touches them.
"""

from __future__ import annotations

# Mullvad, Connected, split tunnelling available (the `ct mark 0x00000f41 accept` rule 2 of output/input/forward).
MULLVAD_CONNECTED = """
table inet mullvad {
  chain prerouting { type filter hook prerouting priority -199; policy accept;
    iif != "wg0-mullvad" ct mark 0x00000f41 meta mark set 0x6d6f6c65
    ip saddr 185.65.134.10 udp sport 51820 meta mark set 0x6d6f6c65
  }
  chain output { type filter hook output priority 0; policy drop;
    oif "lo" accept
    ct mark 0x00000f41 accept
    udp sport 68 ip daddr 255.255.255.255 udp dport 67 accept
    ip daddr 185.65.134.10 udp dport 51820 meta mark 0x6d6f6c65 accept
    oif "wg0-mullvad" udp dport 53 ip daddr 10.64.0.1 accept
    udp dport 53 reject
    tcp dport 53 reject with tcp reset
    oif "wg0-mullvad" accept
    reject
  }
  chain input { type filter hook input priority 0; policy drop;
    iif "lo" accept
    ct mark 0x00000f41 accept
    iif "wg0-mullvad" accept
  }
  chain forward { type filter hook forward priority 0; policy drop;
    ct mark 0x00000f41 accept
    oif "wg0-mullvad" accept
    iif "wg0-mullvad" ct state established accept
    reject
  }
  chain mangle { type route hook output priority -150; policy accept;
    meta skuid 4242 ct mark set 0x00000f41 meta mark set 0x6d6f6c65
  }
  chain nat { type nat hook postrouting priority 100; policy accept;
    oif "wg0-mullvad" ct mark 0x00000f41 drop
    oif != "lo" ct mark 0x00000f41 masquerade
  }
}
"""

# Early-boot blocking (or no cgroups for split tunnelling): no ct-mark accept anywhere.
MULLVAD_NO_SPLIT = """
table inet mullvad {
  chain output { type filter hook output priority 0; policy drop;
    oif "lo" accept
    udp dport 53 reject
    reject
  }
  chain input { type filter hook input priority 0; policy drop;
    iif "lo" accept
  }
}
"""

# A narrower ct-mark accept (extra condition) is not Mullvad's split-tunnel rule.
MULLVAD_NARROW_ACCEPT = """
table inet mullvad {
  chain output { type filter hook output priority 0; policy drop;
    oif "lo" accept
    tcp dport 443 ct mark 0x00000f41 accept
    reject
  }
}
"""

# Tailscale 1.96-1.98, nftables backend: byte-swapped mask on x86 (§2.4).
TS_MANGLE_196 = """
table ip mangle {
  chain PREROUTING { type filter hook prerouting priority -150; policy accept;
    ct state established,related meta mark set ct mark & 0x0000ff00
  }
  chain OUTPUT { type filter hook output priority -150; policy accept;
    ct state new meta mark & 0x0000ff00 != 0 ct mark set meta mark & 0x0000ff00
  }
}
"""

# Tailscale >= 1.100, nftables backend: real 0xff0000 mask, conditional restore.
TS_MANGLE_1100 = """
table ip mangle {
  chain PREROUTING { type filter hook prerouting priority -150; policy accept;
    ct state established,related ct mark & 0x00ff0000 != 0 meta mark set ct mark & 0x00ff0000
  }
  chain OUTPUT { type filter hook output priority -150; policy accept;
    ct state new meta mark & 0x00ff0000 != 0 ct mark set meta mark & 0x00ff0000
  }
}
"""

# An `ip mangle` table without connmark rules (some other tool's).
MANGLE_OTHER = """
table ip mangle {
  chain OUTPUT { type route hook output priority -150; policy accept;
    tcp dport 25 meta mark set 0x1
  }
}
"""


def recreate(text: str, family: str, name: str) -> str:
    """The batch Mullvad sends on every state change: add, delete, add the table."""
    return f"table {family} {name} {{}}\ndelete table {family} {name}\n{text}"
