"""Read-only facts the helper gathers itself: routing table 52, Mullvad's and Tailscale's tables."""

from __future__ import annotations

import socket
from typing import NamedTuple

from tray_app.core import rules_readback, their_tables
from tray_app.core.protocol import TABLE_FAMILY, TABLE_NAME
from tray_app.core.routes import RouteError, RouteFacts, parse_table52, with_lan
from tray_app.core.world import (
    MULLVAD_NFT,
    MULLVAD_NFT_CHAIN,
    SPLIT_CT_MARK,
    TAILSCALE_NFT,
    TAILSCALE_TABLE,
    hex32,
)
from tray_app.helper import nft, rtnl, tools


def _tables(family: int) -> dict[int, list[dict[str, object]] | None]:
    """Table 52 and the main table of one family, from one netlink dump."""
    try:
        return rtnl.tables(family, (TAILSCALE_TABLE, rtnl.MAIN_TABLE))
    except OSError as e:  # as for a listing that cannot be understood: nothing is changed on a guess
        raise RouteError(f"routing table {TAILSCALE_TABLE} cannot be read over netlink ({e})") from None


def routes() -> RouteFacts:
    """Table 52 for the tailnet sets, and the main table for the LAN (the lan sets, every mode), read
    in-process over rtnetlink (helper/rtnl.py) in the shape `ip -j route show table N` prints."""
    v4, v6 = _tables(socket.AF_INET), _tables(socket.AF_INET6)
    return with_lan(
        parse_table52(v4[TAILSCALE_TABLE], v6[TAILSCALE_TABLE]), v4[rtnl.MAIN_TABLE], v6[rtnl.MAIN_TABLE]
    )


class Mullvad(NamedTuple):
    table: bool
    split_tunnel_accept: bool


class Others:
    """Mullvad's and Tailscale's tables, listed by two nft children that run at the same time as each other
    and as whatever the caller does meanwhile (a toggle's own batch): their facts are only reported, never
    acted on. A context manager: children nobody collected are ended on the way out."""

    def __init__(self, ours: bool = False) -> None:
        """ours: list our own table too (`self.ours`), for a caller that needs it before its batch."""
        self._jobs: list[tools.Job] = []
        try:
            self._mullvad = self._start(*MULLVAD_NFT)
            self._mangle = self._start(*TAILSCALE_NFT)
            self.ours = self._start(TABLE_FAMILY, TABLE_NAME) if ours else None
        except BaseException:
            self.__exit__()
            raise

    def _start(self, family: str, name: str) -> tools.Job:
        job = nft.list_job(family, name)
        self._jobs.append(job)
        return job

    def __enter__(self) -> Others:
        return self

    def __exit__(self, *_exc: object) -> None:
        for job in self._jobs:
            job.close()

    def mullvad(self) -> Mullvad:
        return mullvad(self._mullvad)

    def connmark(self) -> str:
        return tailscale_connmark(self._mangle)


def mullvad(job: tools.Job | None = None) -> Mullvad:
    text = nft.list_table(*MULLVAD_NFT, job)
    if text is None:
        return Mullvad(False, False)
    try:
        return Mullvad(True, their_tables.mullvad_split_accept(text))
    except rules_readback.NftJsonError:
        # Some nft versions print invalid JSON for expressions they cannot express (e.g. a newer Mullvad's
        # match): read the plain listing of the one chain instead.
        r = tools.run("nft", "list", "chain", *MULLVAD_NFT, MULLVAD_NFT_CHAIN)
        lines = {ln.strip() for ln in r.out.splitlines()} if r.rc == 0 else set()
        return Mullvad(True, f"ct mark {hex32(SPLIT_CT_MARK)} accept" in lines)


def tailscale_connmark(job: tools.Job | None = None) -> str:
    try:
        return their_tables.tailscale_connmark(nft.list_table(*TAILSCALE_NFT, job))
    except (tools.ToolFailedError, rules_readback.NftJsonError):
        return their_tables.CONNMARK_UNKNOWN
