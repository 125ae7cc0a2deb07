"""The fold: one immutable snapshot, transitions only on real change, first reports marked initial."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tray_app.core.model import (
    BypassState,
    BypassStatus,
    MullvadState,
    MullvadStatus,
    Snapshot,
    TailscaleState,
    TailscaleStatus,
)
from tray_app.core.snapshot_fold import PART_OF, Folded, Part, fold, transitions_between

CONNECTED = MullvadStatus(
    MullvadState.CONNECTED, relay="se-got-wg-001", location="Gothenburg, Sweden", lockdown=False
)


def test_first_report_is_initial_and_marks_part_reported() -> None:
    state, tr = fold(Folded(), CONNECTED)
    assert state.snapshot.mullvad == CONNECTED
    assert state.reported == {Part.MULLVAD}
    assert len(tr) == 1
    assert tr[0].part is Part.MULLVAD
    assert tr[0].initial
    assert tr[0].before.state is MullvadState.UNAVAILABLE
    assert tr[0].after is CONNECTED
    assert tr[0].state_changed
    assert "relay" in tr[0].fields


def test_every_part_has_one_status_type_and_one_snapshot_field() -> None:
    """The fold's table (issue 13: a new part is a row there, a field in Snapshot, a member of Part)."""
    assert sorted(PART_OF.values()) == sorted(Part)
    assert [f for f in Snapshot.__dataclass_fields__] == [p.value for p in Part]
    values = [CONNECTED, TailscaleStatus(TailscaleState.RUNNING), BypassStatus(BypassState.ON, mode="direct")]
    for value in values:
        state, [tr] = fold(Folded(), value)
        part = PART_OF[type(value)]
        assert tr.part is part and state.reported == {part} and getattr(state.snapshot, part.value) is value


def test_repeated_value_is_no_change() -> None:
    state, _ = fold(Folded(), CONNECTED)
    again, tr = fold(state, MullvadStatus(**{f: getattr(CONNECTED, f) for f in CONNECTED.__slots__}))
    assert tr == []
    assert again is state


def test_first_report_equal_to_placeholder_is_silent_but_known() -> None:
    state, tr = fold(Folded(), TailscaleStatus(TailscaleState.UNAVAILABLE))
    assert tr == []
    assert state.reported == {Part.TAILSCALE}
    assert not state.complete
    state, _ = fold(state, MullvadStatus(MullvadState.UNAVAILABLE))
    state, _ = fold(state, BypassStatus(BypassState.UNKNOWN))
    assert state.complete
    assert state.snapshot == Snapshot()


def test_later_change_lists_only_changed_fields() -> None:
    state, _ = fold(Folded(), CONNECTED)
    moved = MullvadStatus(
        MullvadState.CONNECTED, relay="de-fra-wg-002", location="Frankfurt, Germany", lockdown=False
    )
    state, tr = fold(state, moved)
    assert [(t.part, t.fields, t.initial, t.state_changed) for t in tr] == [
        (Part.MULLVAD, ("relay", "location"), False, False)
    ]
    assert state.snapshot.mullvad == moved


def test_parts_are_independent() -> None:
    state, _ = fold(Folded(), CONNECTED)
    state, tr = fold(state, BypassStatus(BypassState.ON, mode="direct"))
    assert state.snapshot.mullvad == CONNECTED
    assert state.snapshot.bypass.state is BypassState.ON
    assert tr[0].part is Part.BYPASS
    assert state.snapshot.to_json()["bypass"] == {"state": "on", "mode": "direct", "detail": None}


def test_transitions_between_snapshots() -> None:
    a = Snapshot()
    b = Snapshot(mullvad=CONNECTED, bypass=BypassStatus(BypassState.OFF))
    tr = transitions_between(a, b)
    assert [t.part for t in tr] == [Part.MULLVAD, Part.BYPASS]
    assert transitions_between(b, b) == []


mullvad_values = st.builds(
    MullvadStatus,
    state=st.sampled_from(MullvadState),
    relay=st.sampled_from([None, "se-got-wg-001", "de-fra-wg-002"]),
    lockdown=st.sampled_from([None, True, False]),
)
tailscale_values = st.builds(
    TailscaleStatus, state=st.sampled_from(TailscaleState), peers_online=st.integers(0, 3)
)
bypass_values = st.builds(
    BypassStatus, state=st.sampled_from(BypassState), mode=st.sampled_from([None, "direct", "private"])
)


@given(st.lists(st.one_of(mullvad_values, tailscale_values, bypass_values), max_size=30))
def test_any_sequence_emits_exactly_the_real_changes(values: list[object]) -> None:
    state = Folded()
    for v in values:
        before = state.snapshot
        state, tr = fold(state, v)  # type: ignore[arg-type]
        # a transition iff the snapshot changed, and it describes exactly that change
        assert (tr != []) == (state.snapshot != before)
        assert tr == [] or [(t.part, t.before, t.after, t.fields) for t in tr] == [
            (t.part, t.before, t.after, t.fields) for t in transitions_between(before, state.snapshot)
        ]
        # the snapshot always holds the last value of each part
        assert v in (state.snapshot.mullvad, state.snapshot.tailscale, state.snapshot.bypass)
