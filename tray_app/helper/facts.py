"""Read-only facts the helper gathers itself: routing table 52, Mullvad's and Tailscale's tables."""

from __future__ import annotations

from dataclasses import dataclass

from tray_app.core import rules
from tray_app.core.routes import TAILSCALE_TABLE, RouteFacts, parse_table52, with_lan
from tray_app.helper import nft, tools


def _table(fam: str, table: str = str(TAILSCALE_TABLE)) -> str | None:
    r = tools.run("ip", fam, "-j", "route", "show", "table", table)
    if r.rc == 0:
        return r.out
    if "does not exist" in r.err:  # `Error: ipv4: FIB table does not exist.`
        return None
    if fam == "-6" and ("Address family not supported" in r.err or "not supported" in r.err):
        return None  # kernel without IPv6
    raise tools.ToolFailedError(f"`ip {fam} route show table {table}` failed: {tools.short(r.err, 3)}")


def routes() -> RouteFacts:
    """Table 52 for the tailnet sets, and the main table for the LAN (--exit-via-mullvad's lan sets)."""
    return with_lan(parse_table52(_table("-4"), _table("-6")), _table("-4", "main"), _table("-6", "main"))


@dataclass(frozen=True, slots=True)
class Mullvad:
    table: bool
    split_tunnel_accept: bool


def mullvad() -> Mullvad:
    text = nft.list_table("inet", "mullvad")
    if text is None:
        return Mullvad(False, False)
    try:
        return Mullvad(True, rules.mullvad_split_accept(text))
    except rules.NftJsonError:
        # Some nft versions print invalid JSON for expressions they cannot express (e.g. a newer Mullvad's
        # match): read the plain listing of the one chain instead.
        r = tools.run("nft", "list", "chain", "inet", "mullvad", "output")
        lines = {ln.strip() for ln in r.out.splitlines()} if r.rc == 0 else set()
        return Mullvad(True, "ct mark 0x00000f41 accept" in lines)


def tailscale_connmark() -> str:
    try:
        return rules.tailscale_connmark(nft.list_table("ip", "mangle"))
    except (tools.ToolFailedError, rules.NftJsonError):
        return rules.CONNMARK_UNKNOWN
