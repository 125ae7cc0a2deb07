"""Read-only facts the helper gathers itself: routing table 52, Mullvad's and Tailscale's tables."""

from __future__ import annotations

from dataclasses import dataclass

from tray_app.core import rules
from tray_app.core.routes import TAILSCALE_TABLE, RouteFacts, parse_table52
from tray_app.helper import nft, tools


def _table52(fam: str) -> str | None:
    r = tools.run("ip", fam, "-j", "route", "show", "table", str(TAILSCALE_TABLE))
    if r.rc == 0:
        return r.out
    if "does not exist" in r.err:  # `Error: ipv4: FIB table does not exist.`
        return None
    if fam == "-6" and ("Address family not supported" in r.err or "not supported" in r.err):
        return None  # kernel without IPv6
    raise tools.ToolFailedError(f"`ip {fam} route show table 52` failed: {tools.short(r.err, 3)}")


def routes() -> RouteFacts:
    return parse_table52(_table52("-4"), _table52("-6"))


@dataclass(frozen=True, slots=True)
class Mullvad:
    table: bool
    split_tunnel_accept: bool


def mullvad() -> Mullvad:
    text = nft.list_table("inet", "mullvad")
    if text is None:
        return Mullvad(False, False)
    return Mullvad(True, rules.mullvad_split_accept(text))


def tailscale_connmark() -> str:
    try:
        return rules.tailscale_connmark(nft.list_table("ip", "mangle"))
    except (tools.ToolFailedError, rules.NftJsonError):
        return rules.CONNMARK_UNKNOWN
