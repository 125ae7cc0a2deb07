"""Reconnect back-off shared by every source: 1 s doubling to 30 s (DESIGN.md, "Status sources")."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Backoff:
    initial: float = 1.0
    maximum: float = 30.0
    _next: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        self._next = self.initial

    def next_delay(self) -> float:
        """The delay before the next attempt; each call doubles the following one up to the maximum."""
        delay = self._next
        self._next = min(self._next * 2, self.maximum)
        return delay

    def reset(self) -> None:
        """Call after a successful connection."""
        self._next = self.initial
