"""A source whose value the benchmark sets, to time the tray's own cost (value -> tooltip) without a daemon
process in the way. Tests never use it: they read the daemons' fakes through the real sources
(tests/tray/daemons.py)."""

from __future__ import annotations

from tray_app.daemons.base import Source


class ScriptedSource(Source):
    def __init__(self) -> None:
        super().__init__()
        self.value: object = None
        self.started = False

    def start(self) -> None:
        self.started = True
        if self.value is not None:
            self.changed.emit(self.value)

    def stop(self) -> None:
        self.started = False

    def hint(self) -> None:
        pass

    def set(self, value: object) -> None:
        self.value = value
        if self.started:
            self.changed.emit(value)
