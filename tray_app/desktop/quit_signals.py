"""Ctrl-C and SIGTERM end a Qt event loop cleanly, for the tray and for `watch`.

Python runs signal handlers only when it gets control, never inside Qt's C++ loop, so the signal is written
to a socket that a QSocketNotifier watches: no polling timer, no idle wake-ups.
"""

from __future__ import annotations

import contextlib
import signal
import socket
from typing import Any

from PyQt6 import sip
from PyQt6.QtCore import QCoreApplication, QObject, QSocketNotifier

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class QuitOnSignals(QObject):
    """Installs the wake-up socket and the handlers; `app.quit()` on a signal. `close()` puts back what was
    there before (for `watch`, which returns to its caller); the tray keeps it until it exits."""

    def __init__(self, app: QCoreApplication) -> None:
        super().__init__(app)
        self._read_end, self._write_end = socket.socketpair()
        self._read_end.setblocking(False)
        self._write_end.setblocking(False)
        self._old_wakeup = signal.set_wakeup_fd(self._write_end.fileno())
        # The byte on the socket does the work; the handler only keeps Python from raising KeyboardInterrupt.
        self._old_handlers: dict[signal.Signals, Any] = {
            s: signal.signal(s, lambda *_: None) for s in SIGNALS
        }
        self._notifier = QSocketNotifier(
            sip.voidptr(self._read_end.fileno()), QSocketNotifier.Type.Read, self
        )
        self._notifier.activated.connect(self._woken)
        self._app = app

    def _woken(self) -> None:
        with contextlib.suppress(OSError):
            self._read_end.recv(64)
        self._app.quit()

    def close(self) -> None:
        self._notifier.setEnabled(False)
        signal.set_wakeup_fd(self._old_wakeup)
        for s, handler in self._old_handlers.items():
            signal.signal(s, handler)
        self._read_end.close()
        self._write_end.close()
