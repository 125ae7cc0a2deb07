"""Tests read `nft list` text through tests/infra/nft_text.py, so any nftables version passes them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.infra.nft_text import canonical, priority_value

FIXTURES = Path(__file__).parent.parent / "fixtures" / "nft"


def test_the_same_table_is_spelled_differently_by_nft_1_0_and_1_1() -> None:
    old = (FIXTURES / "ours-private-all.nft-1.0.6.txt").read_text()
    new = (FIXTURES / "ours-private-all.nft-1.1.3.txt").read_text()
    assert "type route hook output priority -100;" in old
    assert "type route hook output priority dstnat;" in new
    assert old != new
    assert canonical(old) == canonical(new)
    assert "type route hook output priority -100; policy accept;" in canonical(new)
    assert "type filter hook prerouting priority -145; policy accept;" in canonical(new)  # "mangle + 5"


@pytest.mark.parametrize(
    ("spelling", "value"),
    [("-100", -100), ("0", 0), ("dstnat", -100), ("mangle + 5", -145), ("mangle - 5", -155), ("srcnat", 100)],
)
def test_priority_spellings(spelling: str, value: int) -> None:
    assert priority_value(spelling) == value


def test_an_unknown_priority_name_fails_loudly() -> None:
    with pytest.raises(ValueError, match=r"priority name .sometime. is unknown"):
        canonical("type filter hook output priority sometime; policy accept;")
