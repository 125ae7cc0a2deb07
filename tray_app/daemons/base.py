"""The small interface every status source implements (DESIGN.md, "Status sources").

A source owns its connection to one daemon, reconnects with `core.backoff.Backoff`, and reports every
state -- including "daemon absent" -- as a `core.model` value through `changed`. It never raises into Qt.
"""

from __future__ import annotations

from PyQt6.QtCore import QObject, pyqtSignal


class Source(QObject):
    """Base for the Mullvad and Tailscale sources. Subclasses emit `changed(status)` only on real change."""

    changed = pyqtSignal(object)

    def start(self) -> None:
        """Connect and begin watching; emits the first state as soon as it is known."""
        raise NotImplementedError

    def stop(self) -> None:
        """Disconnect and cancel timers and child processes."""
        raise NotImplementedError

    def hint(self) -> None:
        """A netlink hint that something changed: retry now if in back-off, re-read if polling text."""
        raise NotImplementedError
