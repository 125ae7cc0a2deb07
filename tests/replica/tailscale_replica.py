"""Tailscale's Linux routing and nftables-backend rules (coexistence.md §2.1-2.4), rendered for the lab.

Connmark variants (the 2026 change, §2.4), named by what the nft backend installs:

* `none`   Tailscale <= 1.94: no connmark rules.
* `buggy`  1.96-1.98 nft: save/restore with the byte-swapped mask 0x0000ff00, which overwrites the whole
           packet mark of every established reply and the whole ct mark of new flows with such bits.
* `fixed`  >= 1.100 nft: mask 0x00ff0000, restore only when the ct mark has bits in it.
* `ipt96`  1.96-1.98 iptables backend (`CONNMARK --restore-mark/--save-mark --nfmask 0xff0000 --ctmask
           0xff0000`): every established reply gets mark = (mark & ~0xff0000) | (ct & 0xff0000); a NEW flow
           whose mark has bits in 0xff0000 gets ct = (ct & ~0xff0000) | (mark & 0xff0000).
* `ipt100` >= 1.100 iptables backend: the same, but the restore only when the ct mark has bits in 0xff0000.

nft cannot copy masked bits between registers (`meta mark set meta mark & M | ct mark & M` is rejected:
"Right hand side ... must be constant", coexistence.md §2.4), so the iptables variants enumerate every one of
the 256 values of the masked byte, one `== V ... set ... & ~M | V` rule each. That is exact for every mark,
not just the ones the probes produce; only the rule text differs from iptables-nft's xt `CONNMARK` target.

Pre-1.100 nft backends also wrote ts-forward/ts-postrouting masks byte-swapped (0x0000ff00 / 0x400); the
replica follows that. `cgnat_drop=False` models netfilter `nodivert`/`off` or the
`disable-linux-cgnat-drop-rule` node attribute: no anti-spoof drop in ts-input.
"""

from __future__ import annotations

from tests.replica import topology as t

CONNMARK_VARIANTS = ("none", "buggy", "fixed", "ipt96", "ipt100")
IPTABLES_VARIANTS = ("ipt96", "ipt100")
TS_MASK = 0x00FF0000

# Table 52: a /32 or /128 per peer, MagicDNS v4 and v6, one accepted subnet route.
ROUTES_52 = [
    f"-4 route replace {t.PEER4}/32 dev {t.TS_IF} table {t.TAILSCALE_TABLE}",
    f"-4 route replace {t.MAGICDNS4}/32 dev {t.TS_IF} table {t.TAILSCALE_TABLE}",
    f"-4 route replace {t.SUBNET} dev {t.TS_IF} table {t.TAILSCALE_TABLE}",
    f"-6 route replace {t.PEER6}/128 dev {t.TS_IF} table {t.TAILSCALE_TABLE}",
    f"-6 route replace {t.MAGICDNS6}/128 dev {t.TS_IF} table {t.TAILSCALE_TABLE}",
]
RULES = [
    f"{fam} rule add pref {pref} {sel}"
    for fam in ("-4", "-6")
    for pref, sel in (
        (5210, "fwmark 0x80000/0xff0000 lookup main"),
        (5230, "fwmark 0x80000/0xff0000 lookup default"),
        (5250, "fwmark 0x80000/0xff0000 unreachable"),
        (5270, f"lookup {t.TAILSCALE_TABLE}"),
    )
]

TABLES = ("ip filter", "ip6 filter", "ip nat", "ip6 nat", "ip mangle", "ip6 mangle")
DELETE_TABLES = "".join(f"table {name} {{}}\ndelete table {name}\n" for name in TABLES)


def _masks(connmark: str) -> tuple[str, str]:
    """(Tailscale's mark mask, its subnet-route mark) as this backend writes them on x86 (only the pre-1.100
    nft backend swapped the bytes; iptables always had them right)."""
    return ("0x0000ff00", "0x00000400") if connmark in ("none", "buggy") else ("0x00ff0000", "0x00040000")


def _filter(family: str, own: str, cgnat_drop: bool, connmark: str) -> str:
    mask, subnet_mark = _masks(connmark)
    keep = f"0x{0xFFFFFFFF ^ int(mask, 16):08x}"
    saddr = "ip saddr" if family == "ip" else "ip6 saddr"
    cgnat = ""
    if family == "ip":
        cgnat = f'\n    iifname != "{t.TS_IF}*" ip saddr 100.115.92.0/23 return'
        if cgnat_drop:
            cgnat += f'\n    iifname != "{t.TS_IF}*" ip saddr 100.64.0.0/10 drop'
    forward_drop = f'\n    oifname "{t.TS_IF}*" ip saddr 100.64.0.0/10 drop' if family == "ip" else ""
    return f"""table {family} filter {{
  chain INPUT {{ type filter hook input priority 0; policy accept; jump ts-input; }}
  chain FORWARD {{ type filter hook forward priority 0; policy accept; jump ts-forward; }}
  chain ts-input {{
    iifname "lo*" {saddr} {own} accept
    iifname "{t.TS_IF}*" accept{cgnat}
    udp dport 41641 accept
  }}
  chain ts-forward {{
    iifname "{t.TS_IF}*" meta mark set meta mark & {keep} | {subnet_mark}
    meta mark & {mask} == {subnet_mark} accept{forward_drop}
    oifname "{t.TS_IF}*" accept
  }}
}}
table {family} nat {{
  chain POSTROUTING {{ type nat hook postrouting priority 100; policy accept; jump ts-postrouting; }}
  chain ts-postrouting {{
    meta mark & {mask} == {subnet_mark} masquerade
  }}
}}
"""


def _masked_byte_rules(match: str, target: str, values: range) -> str:
    """One rule per value V of `match & 0xff0000`: `target = (target & ~0xff0000) | V` (see the module doc)."""
    keep = f"0x{0xFFFFFFFF ^ TS_MASK:08x}"
    return "\n    ".join(
        f"{match} & 0x{TS_MASK:08x} == 0x{v << 16:08x} {target} set {target} & {keep}"
        + (f" | 0x{v << 16:08x}" if v else "")
        for v in values
    )


def _mangle_iptables(family: str, connmark: str) -> str:
    """iptables-nft's `mangle` table: PREROUTING is a filter chain, OUTPUT a route chain, both at -150."""
    restore_from = 0 if connmark == "ipt96" else 1  # >= 1.100: `-m connmark ! --mark 0/0xff0000`
    restore = _masked_byte_rules("ct mark", "meta mark", range(restore_from, 256))
    save = _masked_byte_rules("meta mark", "ct mark", range(1, 256))
    return f"""table {family} mangle {{
  chain PREROUTING {{ type filter hook prerouting priority -150; policy accept;
    ct state established,related jump ts-connmark-restore
  }}
  chain ts-connmark-restore {{
    {restore}
  }}
  chain OUTPUT {{ type route hook output priority -150; policy accept;
    ct state new meta mark & 0x{TS_MASK:08x} != 0 jump ts-connmark-save
  }}
  chain ts-connmark-save {{
    {save}
  }}
}}
"""


def _mangle(family: str, connmark: str) -> str:
    if connmark == "none":
        return ""
    if connmark in IPTABLES_VARIANTS:
        return _mangle_iptables(family, connmark)
    if connmark == "buggy":
        restore = "ct state established,related meta mark set ct mark & 0x0000ff00"
        save = "ct state new meta mark & 0x0000ff00 != 0 ct mark set meta mark & 0x0000ff00"
    elif connmark == "fixed":
        restore = "ct state established,related ct mark & 0x00ff0000 != 0 meta mark set ct mark & 0x00ff0000"
        save = "ct state new meta mark & 0x00ff0000 != 0 ct mark set meta mark & 0x00ff0000"
    else:
        raise ValueError(f"unknown connmark variant {connmark!r}; one of {CONNMARK_VARIANTS}")
    return f"""table {family} mangle {{
  chain PREROUTING {{ type filter hook prerouting priority -150; policy accept;
    {restore}
  }}
  chain OUTPUT {{ type filter hook output priority -150; policy accept;
    {save}
  }}
}}
"""


def tables(connmark: str = "none", cgnat_drop: bool = True) -> str:
    """A batch that replaces all of the replica's Tailscale tables."""
    if connmark not in CONNMARK_VARIANTS:
        raise ValueError(f"unknown connmark variant {connmark!r}; one of {CONNMARK_VARIANTS}")
    return (
        DELETE_TABLES
        + _filter("ip", t.HOST_TS4, cgnat_drop, connmark)
        + _filter("ip6", t.HOST_TS6, cgnat_drop, connmark)
        + _mangle("ip", connmark)
        + _mangle("ip6", connmark)
    )


def sysctls(connmark: str) -> dict[str, str]:
    # 1.98 writes src_valid_mark host-wide (#19796), with either backend; the 1.96-1.98 variants include it.
    return {"net.ipv4.conf.all.src_valid_mark": "1"} if connmark != "none" else {}
