"""Rule sets loaded by test-local drivers, never by the product: the published reference table of
coexistence.md (summary and §2.6), used to validate the lab itself, and the widely copied "blog" rules, a
control that must fail the probes the reference explains (IPv6, subnet routes, DNS leak, spoofing)."""

from __future__ import annotations

from collections.abc import Sequence

from tests.replica import topology as t

TABLE = "mullvad-tailscale"
DELETE_TABLE = f"table inet {TABLE} {{}}\ndelete table inet {TABLE}\n"


def _elements(prefixes: Sequence[str]) -> str:
    return ", ".join(prefixes)


def reference(mode: str, tailnet4: Sequence[str], tailnet6: Sequence[str]) -> str:
    """coexistence.md's recommended table; `private` drops the two 0x80000 lines (the ip rule is separate)."""
    v4 = _elements(["100.64.0.0/10", *tailnet4])
    v6 = _elements(["fd7a:115c:a1e0::/48", *tailnet6])
    direct = ""
    if mode == "direct":
        direct = f"""
    meta mark & 0x00ff0000 == 0x00080000 ct mark set 0x00000f41
    meta mark & 0x00ff0000 == 0x00080000 oifname "{t.WG_IF}" meta mark set 0x6d6f6c65"""
    return f"""{DELETE_TABLE}table inet {TABLE} {{
  set tailnet4 {{ type ipv4_addr; flags interval; auto-merge; elements = {{ {v4} }} }}
  set tailnet6 {{ type ipv6_addr; flags interval; auto-merge; elements = {{ {v6} }} }}
  set mullvad_dns4 {{ type ipv4_addr; flags interval; elements = {{ 100.64.0.0/26 }} }}
  chain output {{
    type route hook output priority -100; policy accept;{direct}
    ip daddr @mullvad_dns4 return
    ip daddr @tailnet4 ct mark set 0x00000f41 meta mark set 0x6d6f6c65
    ip6 daddr @tailnet6 ct mark set 0x00000f41 meta mark set 0x6d6f6c65
    ct state new meta mark 0x6d6f6c65 ct mark != 0x00000f41 ct mark set 0x00000f41
  }}
  chain prerouting {{
    type filter hook prerouting priority -145; policy accept;
    iifname "{t.TS_IF}" ct mark set 0x00000f41 meta mark set 0x6d6f6c65
    iifname != "{t.WG_IF}" ct mark 0x00000f41 meta mark set 0x6d6f6c65
  }}
}}
"""


PRIVATE_RULES_ADD = [
    f"{fam} rule add pref 5200 fwmark 0x80000/0xff0000 lookup {t.MULLVAD_TABLE}" for fam in ("-4", "-6")
]
PRIVATE_RULES_DEL = [line.replace(" add ", " del ", 1) for line in PRIVATE_RULES_ADD]


def blog() -> str:
    """The rules from tailscale#925 (sdht0) and Mullvad PR #5011's text, as users copy them."""
    return f"""{DELETE_TABLE}table inet {TABLE} {{
  chain outgoing {{
    type route hook output priority -100; policy accept;
    meta mark 0x80000 ct mark set 0x00000f41 meta mark set 0x6d6f6c65
    ip daddr 100.64.0.0/10 ct mark set 0x00000f41 meta mark set 0x6d6f6c65
  }}
  chain incoming {{
    type filter hook prerouting priority -100; policy accept;
    ip saddr 100.64.0.0/10 ct mark set 0x00000f41 meta mark set 0x6d6f6c65
  }}
}}
"""
