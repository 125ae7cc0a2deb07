"""The status window a left click (or a second launch) shows: the icon large, the facts, two quick actions.

A small tool window rather than a Qt.Popup: it must also appear when the tray host is missing, and must not
grab the pointer when a second instance asks for it.
"""

from __future__ import annotations

from PyQt6.QtCore import QPoint, QRect, Qt
from PyQt6.QtGui import QGuiApplication, QIcon
from PyQt6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from tray_app.core.tooltip import TITLE

MIN_TEXT_WIDTH = 440
MAX_WIDTH = 560


class StatusPopup(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Tool | Qt.WindowType.WindowStaysOnTopHint)
        self.setWindowTitle(TITLE)
        self.pic = QLabel()
        self.title = QLabel(f"<b>{TITLE}</b>")
        self.facts = QLabel()
        self.facts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.facts.setWordWrap(True)  # problem details can be long; the window must stay on screen
        self.facts.setMinimumWidth(MIN_TEXT_WIDTH)
        self.setMaximumWidth(MAX_WIDTH)
        self._anchor: QRect | None = None
        self.bypass_button = QPushButton("Turn bypass on")
        self.menu_button = QPushButton("More…")
        close = QPushButton("Close")
        close.clicked.connect(self.hide)
        head = QHBoxLayout()
        head.addWidget(self.pic)
        text = QVBoxLayout()
        text.addWidget(self.title)
        text.addWidget(self.facts)
        head.addLayout(text, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.bypass_button)
        buttons.addWidget(self.menu_button)
        buttons.addStretch(1)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addLayout(head)
        layout.addLayout(buttons)

    def update_view(self, icon: QIcon, lines: list[str], *, bypass_on: bool, bypass_enabled: bool) -> None:
        self.pic.setPixmap(icon.pixmap(48, 48))
        text = "\n".join(lines)
        if self.facts.text() != text:
            self.facts.setText(text)
            if self.isVisible():
                self._place()  # the text changed size: stay whole and on screen
        self.bypass_button.setText("Turn bypass off" if bypass_on else "Turn bypass on")
        self.bypass_button.setEnabled(bypass_enabled)

    def show_near(self, anchor: QRect | None) -> None:
        """Next to the tray icon when its position is known (XEmbed), else the top-right of the screen."""
        self._anchor = anchor
        self._place()
        self.show()
        self.raise_()
        self.activateWindow()

    def _place(self) -> None:
        anchor = self._anchor
        self.adjustSize()
        # adjustSize sizes a top-level window for one line per wrapped label; give word-wrapped details
        # the height they need at this width, or their last lines are cut off
        layout = self.layout()
        if layout is not None and layout.hasHeightForWidth():
            need = layout.totalHeightForWidth(self.width())
            if need > self.height():
                self.resize(self.width(), need)
        screen = QGuiApplication.primaryScreen()
        avail = screen.availableGeometry() if screen else QRect(0, 0, 1024, 768)
        if anchor is not None and anchor.x() > 0:
            x = min(anchor.center().x() - self.width() // 2, avail.right() - self.width())
            below = anchor.bottom() + 4
            y = below if below + self.height() < avail.bottom() else anchor.top() - self.height() - 4
            pos = QPoint(max(avail.left(), x), max(avail.top(), y))
        else:
            pos = QPoint(avail.right() - self.width() - 8, avail.top() + 8)
        self.move(pos)
