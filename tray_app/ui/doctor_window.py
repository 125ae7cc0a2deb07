"""The Doctor window: runs `mullvad-tailscale-tray doctor --json` and lists its checks with their fixes.

The checks run in a child process (the same interpreter, `-m tray_app doctor --json`), so a slow probe
never freezes the tray and the window shows exactly what the CLI would print.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from PyQt6.QtCore import QProcess, Qt
from PyQt6.QtGui import QColor, QGuiApplication
from PyQt6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTextBrowser,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

STATUS_MARK = {"ok": "✔ ok", "warn": "▲ warn", "fail": "✖ fail", "skip": "- skip"}
STATUS_COLOUR = {"ok": "#2e8b3a", "warn": "#b7791f", "fail": "#c0392b", "skip": "#808080"}


def parse_report(stdout: str) -> list[dict[str, str]]:
    """The `checks` list of the doctor JSON; raises ValueError with a readable reason when malformed."""
    try:
        data = json.loads(stdout)
    except json.JSONDecodeError as exc:
        raise ValueError(f"doctor printed something that is not JSON ({exc.msg})") from None
    checks = data.get("checks") if isinstance(data, dict) else None
    if not isinstance(checks, list):
        raise ValueError("doctor's JSON has no `checks` list")
    out: list[dict[str, str]] = []
    for c in checks:
        if isinstance(c, dict):
            out.append({k: str(c.get(k) or "") for k in ("id", "status", "summary", "detail", "fix")})
    return out


class DoctorWindow(QDialog):
    def __init__(
        self,
        program: list[str] | None = None,
        parent: QWidget | None = None,
        *,
        overrides: Sequence[str] = (),
    ) -> None:
        super().__init__(parent)
        # Qt appends the application's display name ("… — Mullvad + Tailscale"): say it once
        self.setWindowTitle("Doctor")
        self.resize(720, 460)
        # the tray's own --mullvad-cli/--tailscale-socket/--tailscale-cli go first (they are global
        # options): the checks must look at the daemons the tray shows
        self._program = program or [sys.executable, "-m", "tray_app", *overrides, "doctor", "--json"]
        self.status = QLabel("Running checks…")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.tree = QTreeWidget()
        self.tree.setColumnCount(2)
        self.tree.setHeaderLabels(["Result", "Check"])
        self.tree.setColumnWidth(0, 90)
        self.tree.setWordWrap(True)
        self.tree.currentItemChanged.connect(self._selected)
        # the full text of the selected check: tree rows are one line, details and fixes can be long
        self.details = QTextBrowser()
        self.details.setMaximumHeight(110)
        self.details.setOpenExternalLinks(True)
        self.rerun = QPushButton("Run again")
        self.copy = QPushButton("Copy report")
        close = QPushButton("Close")
        self.rerun.clicked.connect(self.run)
        self.copy.clicked.connect(self._copy)
        close.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addWidget(self.rerun)
        buttons.addWidget(self.copy)
        buttons.addStretch(1)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.status)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.details)
        layout.addLayout(buttons)
        self._proc: QProcess | None = None
        self._checks: list[dict[str, str]] = []

    def run(self) -> None:
        if self._proc is not None:
            return
        self.tree.clear()
        self.status.setText("Running checks…")
        self.rerun.setEnabled(False)
        proc = QProcess(self)
        proc.setProgram(self._program[0])
        proc.setArguments(self._program[1:])
        proc.finished.connect(self._finished)
        proc.errorOccurred.connect(self._error)
        self._proc = proc
        proc.start()

    def _error(self, error: QProcess.ProcessError) -> None:
        if error != QProcess.ProcessError.FailedToStart or self._proc is None:
            return
        self.show_problem(f"Could not start `{' '.join(self._program)}`: {self._proc.errorString()}.")
        self._proc = None

    def _finished(self, code: int, _status: QProcess.ExitStatus) -> None:
        proc = self._proc
        self._proc = None
        if proc is None:
            return
        out = bytes(proc.readAllStandardOutput().data()).decode(errors="replace")
        err = bytes(proc.readAllStandardError().data()).decode(errors="replace").strip()
        proc.deleteLater()
        try:
            checks = parse_report(out)
        except ValueError as exc:
            # doctor exits non-zero when a check fails, so only a missing report is a problem
            why = err.splitlines()[-1] if err else str(exc)
            if "cannot start `doctor`" in err:
                why = (
                    "The doctor command is not available in this installation "
                    f"({err.splitlines()[-1]}). Update mullvad-tailscale-tray."
                )
            self.show_problem(f"Doctor did not produce a report (exit code {code}): {why}")
            return
        self.show_checks(checks)

    def show_problem(self, text: str) -> None:
        self.rerun.setEnabled(True)
        self.status.setText(text)
        self._checks = []

    def show_checks(self, checks: list[dict[str, Any]]) -> None:
        self.rerun.setEnabled(True)
        self._checks = checks
        self.tree.clear()
        counts: dict[str, int] = {}
        for c in checks:
            st = c["status"]
            counts[st] = counts.get(st, 0) + 1
            item = QTreeWidgetItem([STATUS_MARK.get(st, st), c["summary"] or c["id"]])
            item.setForeground(0, QColor(STATUS_COLOUR.get(st, "#808080")))
            item.setToolTip(
                1, "\n".join(x for x in (c["summary"], c["detail"], c["fix"] and "fix: " + c["fix"]) if x)
            )
            item.setData(0, Qt.ItemDataRole.UserRole, c)
            if c["detail"]:
                detail = QTreeWidgetItem(["", c["detail"]])
                detail.setData(0, Qt.ItemDataRole.UserRole, c)
                item.addChild(detail)
            if c["fix"]:
                fix = QTreeWidgetItem(["fix", c["fix"]])
                fix.setData(0, Qt.ItemDataRole.UserRole, c)
                item.addChild(fix)
            self.tree.addTopLevelItem(item)
            if st in ("fail", "warn"):
                item.setExpanded(True)
        bad = counts.get("fail", 0) + counts.get("warn", 0)
        order = ("fail", "warn", "ok", "skip")
        summary = ", ".join(
            f"{counts[k]} {k}" for k in sorted(counts, key=lambda k: order.index(k) if k in order else 9)
        )
        self.status.setText(
            ("All checks passed" if not bad else "Some checks need attention")
            + (f" ({summary})." if summary else ".")
        )

    def _selected(self, item: QTreeWidgetItem | None, _previous: QTreeWidgetItem | None) -> None:
        c = item.data(0, Qt.ItemDataRole.UserRole) if item is not None else None
        if not isinstance(c, dict):
            self.details.clear()
            return
        self.details.setPlainText(
            "\n".join(x for x in (c["summary"], c["detail"], c["fix"] and "Fix: " + c["fix"]) if x)
        )

    def report_text(self) -> str:
        lines = []
        for c in self._checks:
            lines.append(f"[{c['status']}] {c['summary'] or c['id']}")
            if c["detail"]:
                lines.append(f"    {c['detail']}")
            if c["fix"]:
                lines.append(f"    fix: {c['fix']}")
        return "\n".join(lines) or self.status.text()

    def _copy(self) -> None:
        clip = QGuiApplication.clipboard()
        if clip is not None:
            clip.setText(self.report_text())
