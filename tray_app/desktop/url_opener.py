"""Opens a link in the user's browser with `xdg-open`, and says when that did not work.

QDesktopServices.openUrl only starts xdg-open and reports success even when xdg-open then finds no
browser (its complaint goes to stderr, which nobody sees from a tray). Running it here gives its exit
code: anything but 0, or no xdg-open at all, is `failed(url, reason)`, so the tray can show the link.
"""

from __future__ import annotations

import shutil

from PyQt6.QtCore import QObject, QProcess, pyqtSignal

# xdg-open's documented exit codes
_XDG_OPEN_EXIT = {
    1: "xdg-open was called wrongly",
    2: "xdg-open could not find the link",
    3: "no web browser was found",
    4: "the web browser failed to open it",
}


class UrlOpener(QObject):
    failed = pyqtSignal(str, str)  # url, why

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._running: set[QProcess] = set()

    def open(self, url: str) -> None:
        if not url.startswith(("https://", "http://")):  # never hand xdg-open an option or a local file
            self.failed.emit(url, "it is not a web link")
            return
        xdg_open = shutil.which("xdg-open")
        if xdg_open is None:
            self.failed.emit(url, "xdg-open is not installed (package xdg-utils)")
            return
        proc = QProcess(self)
        proc.setProgram(xdg_open)
        proc.setArguments([url])
        proc.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
        self._running.add(proc)

        def finished(code: int, status: QProcess.ExitStatus) -> None:
            self._running.discard(proc)
            output = bytes(proc.readAll().data()).decode(errors="replace").strip()
            proc.deleteLater()
            if status == QProcess.ExitStatus.NormalExit and code == 0:
                return
            why = _XDG_OPEN_EXIT.get(code, f"xdg-open failed (exit code {code})")
            last = output.splitlines()[-1] if output else ""
            self.failed.emit(url, f"{why}: {last}" if last else why)

        def error(err: QProcess.ProcessError) -> None:
            if err == QProcess.ProcessError.FailedToStart:
                self._running.discard(proc)
                self.failed.emit(url, f"xdg-open could not be started ({proc.errorString()})")

        proc.finished.connect(finished)
        proc.errorOccurred.connect(error)
        # A browser that xdg-open runs in the foreground keeps it alive as long as the browser runs: that
        # is success, so nothing waits for it.
        proc.start()
