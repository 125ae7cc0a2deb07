"""Mullvad's relay locations and lockdown mode through its CLI, as the official clients change them.

* `mullvad relay list` (read once when the menu first needs it, and again when asked: Mullvad refreshes its
  list at most hourly) and `mullvad relay get` (the location constraint: what the menu checks);
* `mullvad relay set location CC [CITY]` (the daemon reconnects to the new location by itself);
* `mullvad lockdown-mode set on|off` (the status stream then carries the new setting).

Failures come back as `failed(text)` with the CLI's reason and the fix.
"""

from __future__ import annotations

from collections.abc import Callable

from PyQt6.QtCore import QObject, QProcess, pyqtSignal

from tray_app.core.mullvad_parse import LOGIN_THEN_CONNECT, cli_error_detail
from tray_app.core.mullvad_relays import Country, LocationChoice, parse_location_constraint, parse_relay_list


class MullvadLocations(QObject):
    changed = pyqtSignal()  # countries or constraint changed
    failed = pyqtSignal(str)
    done = pyqtSignal(str)  # "location" | "lockdown"

    def __init__(self, cli: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.cli = cli
        self.countries: tuple[Country, ...] = ()
        self.constraint: LocationChoice | None = None
        self.loaded = False
        self._procs: set[QProcess] = set()

    def _run(self, args: list[str], done: Callable[[int, str, str], None]) -> None:
        proc = QProcess(self)
        self._procs.add(proc)

        def finished(code: int, _status: QProcess.ExitStatus) -> None:
            out = bytes(proc.readAllStandardOutput().data()).decode("utf-8", "replace")
            err = bytes(proc.readAllStandardError().data()).decode("utf-8", "replace")
            self._procs.discard(proc)
            proc.deleteLater()
            done(code, out, err)

        def error(kind: QProcess.ProcessError) -> None:
            if kind == QProcess.ProcessError.FailedToStart:
                self._procs.discard(proc)
                proc.deleteLater()
                done(-1, "", f"cannot run `{self.cli}`: install Mullvad VPN (https://mullvad.net/download)")

        proc.finished.connect(finished)
        proc.errorOccurred.connect(error)
        proc.start(self.cli, args)

    def busy(self) -> bool:
        return bool(self._procs)

    def stop(self) -> None:
        for proc in list(self._procs):
            proc.finished.disconnect()
            proc.errorOccurred.disconnect()
            proc.kill()
            proc.waitForFinished(1000)
            proc.deleteLater()
        self._procs.clear()

    def load(self) -> None:
        def on_list(code: int, out: str, err: str) -> None:
            if code != 0:
                self.failed.emit(self._problem("read Mullvad's relay list", code, err))
                return
            countries = parse_relay_list(out)
            self.loaded = True
            if countries != self.countries:
                self.countries = countries
                self.changed.emit()

        self._run(["relay", "list"], on_list)
        self.load_constraint()

    def load_constraint(self) -> None:
        def on_get(code: int, out: str, _err: str) -> None:
            if code != 0:
                return  # the relay list's failure already says why
            constraint = parse_location_constraint(out)
            if constraint != self.constraint:
                self.constraint = constraint
                self.changed.emit()

        self._run(["relay", "get"], on_get)

    def set_location(self, choice: LocationChoice) -> None:
        args = choice.args() or ["any"]

        def on_set(code: int, _out: str, err: str) -> None:
            if code != 0:
                self.failed.emit(self._problem("change Mullvad's location", code, err))
                return
            self.constraint = choice
            self.changed.emit()
            self.done.emit("location")
            self.load_constraint()

        self._run(["relay", "set", "location", *args], on_set)

    def set_lockdown(self, on: bool) -> None:
        def on_set(code: int, _out: str, err: str) -> None:
            if code != 0:
                self.failed.emit(self._problem("change lockdown mode", code, err))
                return
            self.done.emit("lockdown")

        self._run(["lockdown-mode", "set", "on" if on else "off"], on_set)

    def _problem(self, what: str, code: int, err: str) -> str:
        if code == -1:
            return f"Could not {what}: {err}"
        low = err.lower()
        if "not logged in" in low or "no account" in low:
            return f"Could not {what}: Mullvad is not logged in; {LOGIN_THEN_CONNECT}"
        return f"Could not {what}: {cli_error_detail(err, code, f'mullvad {what}')}"
