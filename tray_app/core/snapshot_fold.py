"""Fold source values into one immutable `Snapshot` and describe what changed (pure: no Qt, no I/O).

The monitor keeps a `Folded` value and calls `fold()` with every status a source reports. `fold()` returns
the new `Folded` and the list of `Transition`s it caused; an empty list means nothing changed and nobody
needs to hear about it (sources may repeat themselves, e.g. Mullvad re-sends Connected once the exit IP is
known).

`Transition` is what the notification policy consumes:

* `part`    -- which part of the snapshot changed: `Part.MULLVAD`, `Part.TAILSCALE` or `Part.BYPASS`;
* `before`  -- the part's previous value (a `MullvadStatus` / `TailscaleStatus` / `BypassStatus`);
* `after`   -- its new value, of the same type;
* `fields`  -- names of the dataclass fields that differ, in declaration order (e.g. `("state",)`,
  `("relay", "location")`, `("peers_online",)`), so a policy can ignore changes it does not care about;
* `initial` -- True for the first value a source reports. `before` is then only the placeholder the
  snapshot starts with (unavailable / unknown), not something the user ever saw: a policy should not
  announce it as a change ("Mullvad connected" at login would be noise).

`state_changed` is a shortcut for `"state" in fields`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from typing import Any

from tray_app.core.model import BypassStatus, MullvadStatus, Snapshot, TailscaleStatus

PartStatus = MullvadStatus | TailscaleStatus | BypassStatus


class Part(StrEnum):
    MULLVAD = "mullvad"
    TAILSCALE = "tailscale"
    BYPASS = "bypass"


ALL_PARTS = frozenset(Part)

# Which part each status type reports, and the Snapshot field that holds it: the one table a new part adds to.
PART_OF: dict[type[PartStatus], Part] = {
    MullvadStatus: Part.MULLVAD,
    TailscaleStatus: Part.TAILSCALE,
    BypassStatus: Part.BYPASS,
}


@dataclass(frozen=True, slots=True)
class Transition:
    part: Part
    before: PartStatus
    after: PartStatus
    fields: tuple[str, ...]
    initial: bool = False

    @property
    def state_changed(self) -> bool:
        return "state" in self.fields


@dataclass(frozen=True, slots=True)
class Folded:
    """The current snapshot and which parts have been reported at least once."""

    snapshot: Snapshot = field(default_factory=Snapshot)
    reported: frozenset[Part] = frozenset()

    @property
    def complete(self) -> bool:
        """Every part has been reported: the state is determined (possibly as unavailable/unknown)."""
        return self.reported == ALL_PARTS


def part_of(value: PartStatus) -> Part:
    return PART_OF[type(value)]


def part_value(snapshot: Snapshot, part: Part) -> PartStatus:
    value: PartStatus = getattr(snapshot, part.value)  # each Part's value names its Snapshot field
    return value


def with_part(snapshot: Snapshot, value: PartStatus) -> Snapshot:
    field_value: dict[str, Any] = {part_of(value).value: value}  # typed per field by PART_OF, not by mypy
    return replace(snapshot, **field_value)


def changed_fields(before: PartStatus, after: PartStatus) -> tuple[str, ...]:
    return tuple(f.name for f in fields(before) if getattr(before, f.name) != getattr(after, f.name))


def fold(state: Folded, value: PartStatus) -> tuple[Folded, list[Transition]]:
    """Put `value` into the snapshot. Returns the new state and its transitions (empty: no real change)."""
    part = part_of(value)
    before = part_value(state.snapshot, part)
    first = part not in state.reported
    diff = changed_fields(before, value)
    if not diff:
        # A first report equal to the placeholder is still news for `reported` (the state is now known).
        return (replace(state, reported=state.reported | {part}) if first else state), []
    snapshot = with_part(state.snapshot, value)
    return (
        Folded(snapshot, state.reported | {part}),
        [Transition(part, before, value, diff, initial=first)],
    )


def transitions_between(old: Snapshot, new: Snapshot) -> list[Transition]:
    """Every part that differs between two snapshots (for consumers that compare snapshots directly)."""
    out: list[Transition] = []
    for part in Part:
        before, after = part_value(old, part), part_value(new, part)
        diff = changed_fields(before, after)
        if diff:
            out.append(Transition(part, before, after, diff))
    return out
