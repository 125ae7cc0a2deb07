"""Renders the tray's main states for the README (run by `scripts/screenshots OUTDIR`).

It starts its own Xvfb, a private session bus, trayer and dunst, feeds the real TrayApplication the
Snapshots to show (no daemons, no helper: it draws pictures, it tests nothing), and grabs: the icon in every
state on light and dark panels, the tray in a panel with its menu open, the status window, a notification
with its action, and the doctor window.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _start_x() -> list[subprocess.Popen[bytes]]:
    r, w = os.pipe()
    x = subprocess.Popen(
        ["Xvfb", "-displayfd", str(w), "-screen", "0", "1024x640x24", "-nolisten", "tcp"],
        pass_fds=(w,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(w)
    num = b""
    while not num.endswith(b"\n"):
        num += os.read(r, 16)
    os.close(r)
    os.environ["DISPLAY"] = ":" + num.decode().strip()
    bus = subprocess.Popen(
        ["dbus-daemon", f"--config-file={ROOT / 'tests/infra/test-session-bus.conf'}", "--nofork", "--nopidfile",
         "--print-address=1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    assert bus.stdout is not None
    os.environ["DBUS_SESSION_BUS_ADDRESS"] = bus.stdout.readline().decode().strip()
    os.environ["QT_QPA_PLATFORM"] = "xcb"
    os.environ["NO_AT_BRIDGE"] = "1"
    return [x, bus]


def main(out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    procs = _start_x()
    tmp = Path(subprocess.run(["mktemp", "-d"], capture_output=True, text=True, check=True).stdout.strip())
    os.environ["XDG_CONFIG_HOME"] = str(tmp / "config")
    os.environ["XDG_RUNTIME_DIR"] = str(tmp)
    try:
        return _shoot(out, tmp, procs)
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
        subprocess.run(["rm", "-rf", str(tmp)], check=False)


def _shoot(out: Path, tmp: Path, procs: list[subprocess.Popen[bytes]]) -> int:
    from PyQt6.QtCore import QPoint, QRect, Qt
    from PyQt6.QtGui import QColor, QFont, QImage, QPainter
    from PyQt6.QtWidgets import QApplication, QSystemTrayIcon

    app = QApplication([sys.argv[0]])
    app.setStyle("Fusion")

    def pump(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.01)

    def grab(rect: QRect | None = None) -> QImage:
        screen = app.primaryScreen()
        assert screen is not None
        img = screen.grabWindow(0).toImage()
        return img.copy(rect) if rect is not None else img

    # 1. every state on a light and a dark panel, labelled ---------------------------------------------------
    from tray_app.core.icon_choice import Badge, IconSpec, Main, Mark, Style
    from tray_app.ui.icon import render

    cell, pad, label_w, head_h = 22, 12, 110, 34
    mains = [Main.CONNECTED, Main.CONNECTING, Main.DISCONNECTED, Main.BLOCKED, Main.LEAKING, Main.UNAVAILABLE]
    badges = [Badge.RUNNING, Badge.STARTING, Badge.STOPPED, Badge.NEEDS_LOGIN, Badge.UNAVAILABLE]
    marks = [Mark.NONE, Mark.ON, Mark.DRIFTED]
    cols = [(b, k) for b in badges for k in marks]
    col_w = cell + pad
    panel_w = label_w + len(cols) * col_w + pad + 10
    panel_h = head_h + len(mains) * (cell + pad) + pad
    panels = [("light panel", "#f3f3f3", "#202020", Style.COLOUR), ("dark panel", "#262626", "#f0f0f0", Style.COLOUR),
              ("monochrome, light panel", "#f3f3f3", "#202020", Style.LIGHT_PANEL),
              ("monochrome, dark panel", "#262626", "#f0f0f0", Style.DARK_PANEL)]  # fmt: skip
    scale = 2  # drawn at tray size, shown enlarged so the README reader can see the pixels
    sheet = QImage(panel_w * scale, panel_h * len(panels) * scale, QImage.Format.Format_ARGB32)
    sheet.fill(QColor("white"))
    p = QPainter(sheet)
    p.scale(scale, scale)
    small = QFont("DejaVu Sans", 6)
    for i, (title, bg, fg, style) in enumerate(panels):
        y0 = i * panel_h
        p.fillRect(0, y0, panel_w, panel_h, QColor(bg))
        p.setPen(QColor(fg))
        p.setFont(QFont("DejaVu Sans", 7, QFont.Weight.Bold))
        p.drawText(6, y0 + 12, title)
        p.setFont(small)
        p.drawText(6, y0 + 22, "Tailscale:")
        p.drawText(6, y0 + 31, "bypass:")
        for c, (b, k) in enumerate(cols):
            x = label_w + c * col_w
            if k is Mark.NONE:
                p.drawText(
                    x,
                    y0 + 22,
                    {"needs-login": "needs login", "unavailable": "not running"}.get(b.value, b.value),
                )
            p.drawText(x, y0 + 31, {"none": "off", "on": "on", "drifted": "drift"}[k.value])
        for r, m in enumerate(mains):
            y = y0 + head_h + r * (cell + pad)
            p.drawText(6, y + 15, f"Mullvad {m.value}")
            for c, (b, k) in enumerate(cols):
                p.drawImage(label_w + c * col_w, y, render(IconSpec(m, b, k), cell, style))
    p.end()
    sheet.save(str(out / "icons.png"))

    # 2. the tray in a real panel with its menu open -----------------------------------------------------------
    trayer = subprocess.Popen(
        ["trayer", "--edge", "top", "--align", "right", "--widthtype", "pixel", "--width", "120", "--height", "28",
         "--SetDockType", "true", "--transparent", "false", "--tint", "0x2b2b2b"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    procs.append(trayer)
    dunst = subprocess.Popen(["dunst"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(dunst)
    end = time.monotonic() + 10
    while not QSystemTrayIcon.isSystemTrayAvailable() and time.monotonic() < end:
        pump(0.05)

    from PyQt6.QtCore import QObject, pyqtSignal

    from tests.tray.standins import BYPASS_OFF, BYPASS_ON, MULLVAD_CONNECTED, TS_RUNNING, snap
    from tray_app.app import TrayApplication
    from tray_app.core.model import MullvadState, MullvadStatus
    from tray_app.core.notify_policy import PolicyConfig
    from tray_app.desktop.settings import Settings

    class SnapshotFeed(QObject):
        """Stands where the Monitor would: hands the tray the Snapshots to draw."""

        snapshot_changed = pyqtSignal(object)
        ready = pyqtSignal(object)

    feed = SnapshotFeed()
    tray = TrayApplication(feed, Settings(str(tmp / "settings.ini")), policy_config=PolicyConfig(settle=0.2))
    tray.settings.bypass_wanted = True
    tray.apply_settings()
    tray.start(show_status=False)
    shown = snap(MULLVAD_CONNECTED, TS_RUNNING, BYPASS_ON)
    feed.snapshot_changed.emit(shown)
    feed.ready.emit(shown)
    end = time.monotonic() + 10
    while tray.ui.tray.geometry().x() <= 0 and time.monotonic() < end:
        pump(0.05)
    import json

    from PyQt6.QtGui import QCursor

    from tests.fakes.fake_localapi import load_fixture
    from tray_app.core.tailnet import Profile, tailnet_from_status

    f = tray.features  # what the Tailscale source would read from /status and /profiles
    f.on_tailnet(tailnet_from_status(json.loads(load_fixture("running")), False))
    f._on_profiles((Profile("a1b2", "alice@example.com", "example.com"),), "a1b2")
    pump(0.5)
    g = tray.ui.tray.geometry()
    menu = tray.ui.menus.menu
    menu.popup(QPoint(g.center().x() - 380, g.bottom() + 2))
    pump(0.6)
    mg = menu.geometry()
    region = QRect(mg.left() - 10, 0, max(mg.width(), 1024 - mg.left()) + 10, mg.bottom() + 12).intersected(
        QRect(0, 0, 1024, 640)
    )
    grab(region).save(str(out / "menu.png"))
    menu.hide()

    # 2b. the same menu with "Internet traffic" open: your exit node, Tailscale's Mullvad exit nodes by country
    f.on_tailnet(tailnet_from_status(json.loads(load_fixture("running-mullvad-exit-node")), False))
    f.suggestion = ("nQ3pX8kT2b11CNTRL", "nas")
    f.render()
    menu.popup(QPoint(60, g.bottom() + 2))  # room on the right for the submenu
    pump(0.6)
    title = f.route.menu.menuAction()
    QCursor.setPos(menu.mapToGlobal(menu.actionGeometry(title).center()))  # hovering opens the submenu
    pump(1.2)
    rg = f.route.menu.geometry()
    mg = menu.geometry()
    box = QRect(mg.left() - 10, 0, rg.right() - mg.left() + 20, max(mg.bottom(), rg.bottom()) + 12)
    grab(box.intersected(QRect(0, 0, 1024, 640))).save(str(out / "menu-internet.png"))
    f.route.menu.hide()
    menu.hide()

    # 3. the status window (left click) ------------------------------------------------------------------------
    tray.ui.show_status()
    pump(0.6)
    pg = tray.ui.popup.frameGeometry()
    grab(QRect(pg.left(), 0, 1024 - pg.left(), pg.bottom() + 8)).save(str(out / "status.png"))
    tray.ui.popup.hide()

    # 4. a notification with its action: Mullvad connects while the bypass is off ------------------------------
    tray.settings.bypass_wanted = False
    tray.apply_settings()
    feed.snapshot_changed.emit(snap(MullvadStatus(MullvadState.DISCONNECTED), TS_RUNNING, BYPASS_OFF))
    pump(1.0)
    subprocess.run(["dunstctl", "close-all"], check=False)
    feed.snapshot_changed.emit(snap(MULLVAD_CONNECTED, TS_RUNNING, BYPASS_OFF))
    pump(1.5)
    grab(QRect(1024 - 420, 0, 420, 250)).save(str(out / "notification.png"))
    subprocess.run(["dunstctl", "close-all"], check=False)

    # 5. the doctor window -------------------------------------------------------------------------------------
    from tray_app.ui.doctor_window import DoctorWindow

    doctor = DoctorWindow()
    doctor.move(20, 40)
    doctor.resize(760, 560)
    doctor.show()
    doctor.run()
    end = time.monotonic() + 30
    while doctor.status.text() == "Running checks…" and time.monotonic() < end:
        pump(0.1)
    pump(0.4)
    tree = doctor.tree
    for i in range(tree.topLevelItemCount()):
        item = tree.topLevelItem(i)
        if item is not None and item.text(0).endswith(("fail", "warn")):
            tree.setCurrentItem(item)
            break
    pump(0.3)
    fg = doctor.frameGeometry()
    grab(fg.adjusted(-2, -2, 2, 2)).save(str(out / "doctor.png"))
    doctor.close()
    tray.stop()
    del Qt
    print(f"screenshots written to {out}: " + ", ".join(sorted(f.name for f in out.glob("*.png"))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots")))
