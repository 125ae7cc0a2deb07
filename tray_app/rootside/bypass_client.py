"""The tray's non-blocking way to run the root bypass helper (QProcess; same argv as the CLI).

`request(verb)` starts the helper -- through pkexec unless the tray runs as root -- and returns at once;
`finished(HelperResult)` follows when it exits, with the status JSON already parsed into a `BypassStatus`. A
password dialog can stay open as long as the user likes, so there is no timeout on enable/disable.
Several requests may run at once; each gets its own `finished`. Every `request` is one process (one pkexec):
when to ask, and the reconciler's published file instead, is `service.BypassService`'s business.
"""

from __future__ import annotations

import dataclasses

from PyQt6.QtCore import QObject, QProcess, QProcessEnvironment, pyqtSignal

from tray_app.core.bypass_reply import HelperResult, make_result
from tray_app.core.helper_errors import launch_failure
from tray_app.rootside.bypass_run import CLEAN_ENV, EnableOptions, HelperCommand


class BypassClient(QObject):
    finished = pyqtSignal(object)  # HelperResult

    def __init__(self, command: HelperCommand | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        # Always without pkexec's text agent: a QProcess has no terminal anyone watches.
        self._command = dataclasses.replace(command or HelperCommand(), text_agent=False)
        self._running: dict[QProcess, str] = {}

    def busy(self, verb: str | None = None) -> bool:
        return any(verb is None or v == verb for v in self._running.values())

    def request(self, verb: str, options: EnableOptions | None = None) -> None:
        """Start `verb`; the outcome arrives through `finished`. Raises ValueError for a bad verb."""
        argv = self._command.argv(verb, options)
        proc = QProcess(self)
        proc.setProgram(argv[0])
        proc.setArguments(argv[1:])
        # No terminal: pkexec must use the desktop's agent, never wait on a tty prompt nobody sees.
        proc.setStandardInputFile(QProcess.nullDevice())
        if not self._command.prefix:
            env = QProcessEnvironment()
            for key, value in CLEAN_ENV.items():
                env.insert(key, value)
            proc.setProcessEnvironment(env)
        self._running[proc] = verb
        proc.finished.connect(lambda code, status, p=proc: self._done(p, code, status))
        proc.errorOccurred.connect(lambda error, p=proc: self._failed(p, error))
        proc.start()

    def stop(self) -> None:
        """Forget running requests (on quit). pkexec'd helpers are root: they finish on their own."""
        for proc in list(self._running):
            proc.finished.disconnect()
            proc.errorOccurred.disconnect()
            if proc.state() != QProcess.ProcessState.NotRunning:
                proc.kill()  # fails harmlessly for the setuid pkexec; the direct helper is ours to stop
                proc.waitForFinished(1000)
            proc.deleteLater()
        self._running.clear()

    def _done(self, proc: QProcess, code: int, status: QProcess.ExitStatus) -> None:
        verb = self._running.pop(proc, None)
        if verb is None:
            return
        out = bytes(proc.readAllStandardOutput().data()).decode(errors="replace")
        err = bytes(proc.readAllStandardError().data()).decode(errors="replace")
        if status == QProcess.ExitStatus.CrashExit:
            code = -9  # Qt hides the signal number; the message only needs "killed"
        via = self._command.via_pkexec(verb)
        proc.deleteLater()
        self.finished.emit(make_result(verb, code, out, err, via_pkexec=via))

    def _failed(self, proc: QProcess, error: QProcess.ProcessError) -> None:
        if error != QProcess.ProcessError.FailedToStart:
            return  # crashes and read errors still end in `finished`
        verb = self._running.pop(proc, None)
        if verb is None:
            return
        # Qt says "Child process set up failed: execve: No such file or directory"; keep the OS's words
        # so the line reads the same as the blocking path's.
        reason = proc.errorString().rsplit(": ", 1)[-1]
        problem = launch_failure(self._command.program(verb), reason)
        via = self._command.via_pkexec(verb)
        proc.deleteLater()
        self.finished.emit(HelperResult(verb, problem.code, via_pkexec=via, problem=problem))
