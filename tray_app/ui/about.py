"""The About dialog: what this is, its version, where the docs are."""

from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QIcon
from PyQt6.QtWidgets import QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from tray_app import __version__

TEXT = (
    "<h3>Mullvad + Tailscale</h3>"
    f"<p>Version {__version__}</p>"
    "<p>Shows Mullvad VPN's and Tailscale's state in one tray icon and keeps a small nftables bypass in "
    "place so the tailnet keeps working while Mullvad is connected.</p>"
    "<p>Icon: the shield is Mullvad (tick: connected, dots: connecting, empty: disconnected, bar: blocking, "
    "dashed: not running); the badge is Tailscale (disc: running, ring: stopped, triangle: needs login, "
    "cross: not running); a diamond means the bypass is on (hollow: out of date).</p>"
    "<p>Not affiliated with Mullvad VPN AB or Tailscale Inc. Licence: GPL-3.0-or-later.</p>"
    "<p>Command line: <code>mullvad-tailscale-tray status</code>, <code>bypass on|off</code>, "
    "<code>doctor</code>.</p>"
)


class AboutDialog(QDialog):
    def __init__(self, icon: QIcon, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About Mullvad + Tailscale")
        self.setWindowIcon(icon)
        pic = QLabel()
        pic.setPixmap(icon.pixmap(64, 64))
        pic.setAlignment(Qt.AlignmentFlag.AlignTop)
        text = QLabel(TEXT)
        text.setWordWrap(True)
        text.setTextFormat(Qt.TextFormat.RichText)
        text.setMinimumWidth(380)
        row = QHBoxLayout()
        row.addWidget(pic)
        row.addWidget(text, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(buttons)
