"""Opt-in notifications about the tailnet (pure: no Qt, no I/O): a watched device comes online or goes
offline, a Taildrop file arrived, this device's node key expires within 7 days, a new health warning.

Same rules as `notify_policy`: a value must hold `settle` seconds before it is said (a peer that drops for
a second says nothing), a subject that changed `flap_count` times within `flap_window` must hold
`flap_settle`, one notification per subject (the slot replaces the previous one), and what was there at
start-up is not news. Each kind is off until the user turns it on (menu: Notify about ▸).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from tray_app.core.notify_policy import Action, Category, Notice, PolicyConfig, Urgency
from tray_app.core.tailnet import Tailnet, ago, key_expires_within

ACTION_SAVE_FILES = "taildrop-save"  # save the waiting files to the Downloads folder and open it
ACTION_REAUTH = "tailscale-reauth"  # start a re-authentication and open its login URL


class TailnetKind(StrEnum):
    DEVICES = "devices"
    TAILDROP = "taildrop"
    KEY_EXPIRY = "keyexpiry"
    HEALTH = "health"


KIND_LABELS = {
    TailnetKind.DEVICES: "Watched devices online or offline (choose in Tailnet devices)",
    TailnetKind.TAILDROP: "Taildrop files received",
    TailnetKind.KEY_EXPIRY: "This device's key expires within 7 days",
    TailnetKind.HEALTH: "Tailscale health warnings",
}


@dataclass
class _Track:
    announced: Hashable = None
    pending: Hashable = None
    since: float = 0.0
    changes: deque[float] = field(default_factory=deque)


@dataclass(frozen=True, slots=True)
class TailnetFacts:
    """Everything the policy looks at, at one moment."""

    tailnet: Tailnet
    health: tuple[str, ...] = ()
    files: tuple[str, ...] = ()  # names of Taildrop files waiting
    now: datetime | None = None  # wall clock, for the key expiry and "last seen"


class TailnetNotifyPolicy:
    def __init__(self, config: PolicyConfig | None = None) -> None:
        self.config = config or PolicyConfig()
        self.enabled: frozenset[TailnetKind] = frozenset()  # opt-in
        self.watched: frozenset[str] = frozenset()
        self._tracks: dict[str, _Track] = {}
        self._facts: TailnetFacts | None = None
        self._based = False

    def _values(self, f: TailnetFacts) -> dict[str, Hashable]:
        out: dict[str, Hashable] = {}
        for p in f.tailnet.peers:
            if p.id in self.watched:
                out[f"device:{p.id}"] = p.online
        out["taildrop"] = f.files
        expiry = key_expires_within(f.tailnet, f.now) if f.now else None
        out["keyexpiry"] = expiry.isoformat() if expiry else None
        out["health"] = f.health
        return out

    def baseline(self, facts: TailnetFacts, now: float) -> None:
        """What is there at start-up is known: only changes after it are said (an expiring key too)."""
        self._facts = facts
        for slot, value in self._values(facts).items():
            self._tracks[slot] = _Track(announced=value, pending=value, since=now)
        self._based = True

    def observe(self, facts: TailnetFacts, now: float) -> None:
        if not self._based:
            self.baseline(facts, now)
            return
        self._facts = facts
        for slot, value in self._values(facts).items():
            track = self._tracks.get(slot)
            if track is None:  # a device just picked for watching: its state now is the baseline
                self._tracks[slot] = _Track(announced=value, pending=value, since=now)
                continue
            if value != track.pending:
                track.pending, track.since = value, now
                track.changes.append(now)
            while track.changes and now - track.changes[0] > self.config.flap_window:
                track.changes.popleft()

    def _settle(self, track: _Track) -> float:
        c = self.config
        return c.flap_settle if len(track.changes) >= c.flap_count else c.settle

    def next_deadline(self) -> float | None:
        due = [t.since + self._settle(t) for t in self._tracks.values() if t.pending != t.announced]
        return min(due) if due else None

    def poll(self, now: float) -> list[Notice]:
        out: list[Notice] = []
        for slot, track in self._tracks.items():
            if track.pending == track.announced or now - track.since < self._settle(track) - 1e-9:
                continue
            old, track.announced = track.announced, track.pending
            notice = self._render(slot, old, track.pending)
            if notice is not None:
                out.append(notice)
        return out

    def _on(self, kind: TailnetKind) -> bool:
        return kind in self.enabled

    def _render(self, slot: str, old: Hashable, new: Hashable) -> Notice | None:
        f = self._facts
        if f is None:
            return None
        cat = Category.TAILSCALE
        if slot.startswith("device:") and self._on(TailnetKind.DEVICES):
            peer = f.tailnet.peer(slot.removeprefix("device:"))
            if peer is None:
                return None
            if new:
                return Notice(
                    slot,
                    cat,
                    f"{peer.name} is online",
                    f"{peer.dns_name or peer.name} is back on the tailnet.",
                )
            seen = ago(peer.last_seen, f.now) if f.now else "offline"
            return Notice(slot, cat, f"{peer.name} went offline", f"{peer.dns_name or peer.name}: {seen}.")
        if slot == "taildrop" and self._on(TailnetKind.TAILDROP):
            added = _added(old, new)
            if not added:
                return None
            names = ", ".join(added[:3]) + (f" and {len(added) - 3} more" if len(added) > 3 else "")
            return Notice(slot, cat, "Taildrop: file received" if len(added) == 1 else "Taildrop: files received",
                          f"{names} is waiting. Save it to your Downloads folder?" if len(added) == 1 else
                          f"{names} are waiting. Save them to your Downloads folder?", Urgency.NORMAL,
                          (Action(ACTION_SAVE_FILES, "Save to Downloads"),))  # fmt: skip
        if slot == "keyexpiry" and self._on(TailnetKind.KEY_EXPIRY) and new:
            when = datetime.fromisoformat(str(new))
            left = (when - f.now).total_seconds() / 86400 if f.now else 0
            text = (
                "has expired"
                if left <= 0
                else f"expires in {left:.0f} days"
                if left >= 1
                else "expires today"
            )
            return Notice(slot, cat, "Tailscale key expiring", f"This device's key {text} ({when:%Y-%m-%d}): "
                          "re-authenticate to stay on the tailnet.", Urgency.NORMAL,
                          (Action(ACTION_REAUTH, "Re-authenticate"),))  # fmt: skip
        if slot == "health" and self._on(TailnetKind.HEALTH):
            added = _added(old, new)
            if added:
                return Notice(slot, cat, "Tailscale warning", "; ".join(added))
        return None


def _added(old: Hashable, new: Hashable) -> list[str]:
    """Items of the tuple `new` that the tuple `old` did not have."""
    before = set(old) if isinstance(old, tuple) else set()
    return [str(x) for x in new if x not in before] if isinstance(new, tuple) else []
