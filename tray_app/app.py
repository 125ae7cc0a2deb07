"""Wiring: builds the monitor, the controller, the notifications and the tray, and runs the event loop.

This is the composition root, so it is the one module that knows every layer: the tray (`ui/`) is imported
inside `run()` only, keeping `app` importable without widgets for the pieces the tests drive directly.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from PyQt6.QtCore import QObject, QTimer, pyqtSignal, pyqtSlot
from PyQt6.QtDBus import QDBusConnection, QDBusMessage, QDBusServiceWatcher
from PyQt6.QtGui import QGuiApplication
from PyQt6.QtWidgets import QApplication, QSystemTrayIcon

from tray_app import APP_ID, DISPLAY_NAME
from tray_app.controller import Controller
from tray_app.core.model import Snapshot
from tray_app.core.notify_policy import (
    ACTION_ENABLE_BYPASS,
    ACTION_LOGIN,
    ACTION_NEVER_SUGGEST,
    ACTION_REPAIR_BYPASS,
    ACTION_RESTORE_BYPASS,
    Action,
    Category,
    Notice,
    NotifyPolicy,
    PolicyConfig,
    Urgency,
    UserIntent,
    Withdraw,
)
from tray_app.desktop.notifications import Notifier
from tray_app.desktop.quit_signals import QuitOnSignals
from tray_app.desktop.settings import Settings
from tray_app.desktop.single_instance import SingleInstance
from tray_app.desktop.url_opener import UrlOpener

ACTION_COPY_LINK = "copy-link"

NO_TRAY_CHECK_MS = 3000  # give a panel that starts with the session time to claim the tray
SNI_WATCHER = "org.kde.StatusNotifierWatcher"
SNI_SETTLE_MS = 500  # the host registers itself with its watcher just after the watcher's name appears
NO_TRAY_TEXT = (
    "No system tray was found, so the icon cannot be shown. "
    "GNOME: install and enable the AppIndicator extension (gnome-shell-extension-appindicator), then log "
    "out and in. Other desktops: add a system tray / status notifier widget to the panel. "
    "The tray keeps running: notifications and `mullvad-tailscale-tray status` still work."
)


class NotifyDriver(QObject):
    """Feeds snapshots to the pure policy, wakes it at its deadline, sends what it decides."""

    def __init__(
        self,
        policy: NotifyPolicy,
        notifier: Notifier,
        clock: Callable[[], float] = time.monotonic,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.policy = policy
        self.notifier = notifier
        self.clock = clock
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.poll)

    def on_snapshot(self, snapshot: Snapshot) -> None:
        self.policy.observe(snapshot, self.clock())
        self.poll()

    def on_ready(self, snapshot: Snapshot) -> None:
        self.policy.baseline(snapshot, self.clock())
        self.poll()

    def user_action(self, intent: Any) -> None:
        if isinstance(intent, UserIntent):
            self.policy.user_initiated(intent.subject, self.clock(), intent.expect)
        else:
            self.policy.user_initiated(intent, self.clock())

    def poll(self) -> None:
        now = self.clock()
        for item in self.policy.poll(now):
            if isinstance(item, Withdraw):
                self.notifier.withdraw(item.slot)
            else:
                self.notifier.send(item)
        deadline = self.policy.next_deadline()
        if deadline is None:
            self._timer.stop()  # idle: no timer, no wake-ups
        else:
            self._timer.start(max(0, int((deadline - now) * 1000) + 1))


class TrayApplication(QObject):
    """Everything but the event loop; tests build it with a monitor of their own."""

    def __init__(
        self,
        monitor: Any,
        settings: Settings,
        *,
        policy_config: PolicyConfig | None = None,
        overrides: Sequence[str] = (),
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        from tray_app.ui.tray import TrayUI  # noqa: PLC0415  (composition root: see the module docstring)

        self.monitor = monitor
        self.settings = settings
        self.opener = UrlOpener(self)
        self._login_url = ""  # the link shown when no browser opened it ("Copy link")
        self.controller = Controller(
            settings,
            getattr(monitor, "mullvad", None),
            getattr(monitor, "tailscale", None),
            getattr(monitor, "bypass", None),
            clipboard=_copy_to_clipboard,
            open_url=self.opener.open,
            parent=self,
        )
        self.ui = TrayUI(self.controller, self, overrides=overrides)
        from tray_app.features import TailnetFeatures  # noqa: PLC0415  (widgets: see the module docstring)

        self.features = TailnetFeatures(
            self.ui,
            self.controller,
            monitor,
            policy_config=policy_config,
            open_url=self.opener.open,
            parent=self,
        )
        self.policy = NotifyPolicy(policy_config)
        self.notifier = Notifier(
            fallback=self.ui.balloon, icon=_icon_name(), parent=self, icon_for=_state_icon
        )
        self.driver = NotifyDriver(self.policy, self.notifier, parent=self)
        self.features.notifier = self.notifier
        self.apply_settings()
        self._said_no_tray = False

        monitor.snapshot_changed.connect(self._on_snapshot)
        if hasattr(monitor, "ready"):
            monitor.ready.connect(self.driver.on_ready)
        self.controller.user_action.connect(self.driver.user_action)
        self.controller.message.connect(self.show_message)
        self.controller.wanted_changed.connect(lambda _on: self.apply_settings())
        self.ui.settings_changed.connect(self.apply_settings)
        self.notifier.action_invoked.connect(self.on_action)
        self.opener.failed.connect(self.show_link)
        # a tray host that starts after us (the panel at login) gets the icon too
        self._sni_watch = QDBusServiceWatcher(
            SNI_WATCHER,
            QDBusConnection.sessionBus(),
            QDBusServiceWatcher.WatchModeFlag.WatchForRegistration,
            self,
        )
        self._sni_watch.serviceRegistered.connect(
            lambda _name: QTimer.singleShot(SNI_SETTLE_MS, self._host_appeared)
        )

    def apply_settings(self) -> None:
        self.policy.enabled = self.settings.notifications
        self.policy.muted = self.settings.muted
        self.policy.bypass_wanted = self.settings.bypass_wanted

    def _on_snapshot(self, snapshot: Snapshot) -> None:
        self.controller.on_snapshot(snapshot)  # may record a `bypass off` run elsewhere as the user's choice
        self.policy.bypass_wanted = self.settings.bypass_wanted
        self.ui.render(snapshot)
        self.features.on_snapshot(snapshot)
        self.driver.on_snapshot(snapshot)

    def on_action(self, action_id: str) -> None:
        c = self.controller
        if action_id == ACTION_ENABLE_BYPASS:
            c.set_bypass(True)
        elif action_id == ACTION_RESTORE_BYPASS:
            c.restore_bypass()
        elif action_id == ACTION_REPAIR_BYPASS:
            c.repair_bypass()
        elif action_id == ACTION_NEVER_SUGGEST:
            c.never_suggest()
            self.apply_settings()
            self.ui.render(self.ui.snapshot)
        elif action_id == ACTION_LOGIN:
            c.tailscale_login()
        elif action_id == ACTION_COPY_LINK and self._login_url:
            _copy_to_clipboard(self._login_url)
        else:
            self.features.on_action(action_id)

    def show_link(self, url: str, why: str) -> None:
        """No browser opened the login link: show it, with a button that copies it."""
        self._login_url = url
        self.notifier.send(
            Notice(
                "open-link",
                Category.TAILSCALE,
                "Open this link to log in to Tailscale",
                f"{url} did not open in a browser ({why}). Copy it into a browser on any device.",
                Urgency.NORMAL,
                (Action(ACTION_COPY_LINK, "Copy link"),),
            )
        )

    def _host_appeared(self) -> None:
        if self.ui.shown:
            self.ui.reattach()

    def show_message(self, title: str, text: str) -> None:
        """An answer to something the user did: shown even when notifications are muted."""
        self.notifier.send(Notice("message", Category.BYPASS, title, text, Urgency.NORMAL))

    def start(self, *, show_status: bool) -> None:
        snapshot = getattr(self.monitor, "snapshot", None)
        if snapshot is not None and snapshot != self.ui.snapshot:
            self._on_snapshot(snapshot)  # run() starts the monitor before the widgets: what it knows already
        self.ui.show()
        if hasattr(self.monitor, "start"):
            self.monitor.start()
        self.features.start()
        if show_status:
            self.ui.show_status()
        QTimer.singleShot(NO_TRAY_CHECK_MS, self.check_tray_host)

    def check_tray_host(self) -> bool:
        """Say once, on stderr and as a notification, that no tray host exists, with the fix."""
        if QSystemTrayIcon.isSystemTrayAvailable():
            return True
        if not self._said_no_tray:
            self._said_no_tray = True
            print(f"mullvad-tailscale-tray: {NO_TRAY_TEXT}", file=sys.stderr)
            self.notifier.send(Notice("no-tray", Category.MULLVAD, "No system tray found", NO_TRAY_TEXT))
        return False

    def stop(self) -> None:
        self.ui.hide()
        self.features.stop()
        if hasattr(self.monitor, "stop"):
            self.monitor.stop()


def daemon_overrides(args: argparse.Namespace) -> list[str]:
    """The tray's --mullvad-cli/--tailscale-socket/--tailscale-cli as global options, so that what it runs
    (the Doctor window's `doctor --json`) looks at the same daemons the tray shows."""
    out: list[str] = []
    for option in ("mullvad_cli", "tailscale_socket", "tailscale_cli"):
        value = getattr(args, option, None)
        if value:
            out += ["--" + option.replace("_", "-"), str(value)]
    return out


def _copy_to_clipboard(text: str) -> None:
    clip = QGuiApplication.clipboard()
    if clip is not None:
        clip.setText(text)


def _state_icon(notice: Notice) -> str:
    """A notice about a state carries that state's tray icon ("Mullvad disconnected": the empty shield)."""
    if notice.snapshot is None:
        return ""
    from tray_app.core.icon_choice import choose  # noqa: PLC0415
    from tray_app.ui.icon import state_icon_file  # noqa: PLC0415

    return state_icon_file(choose(notice.snapshot))


def _icon_name() -> str:
    """The icon notifications carry: the themed name when installed, else the checkout's SVG file."""
    from tray_app.ui.icon import app_icon_path  # noqa: PLC0415

    try:
        path = app_icon_path()
    except FileNotFoundError:
        return "mullvad-tailscale-tray"
    if str(path).startswith("/usr/"):
        return "mullvad-tailscale-tray"
    return str(path) if path.is_file() else "mullvad-tailscale-tray"


class SessionBusWatch(QObject):
    """Tells when the session bus goes away (the desktop session ended, or its dbus-daemon died). Without
    it the tray has no icon and no notifications, yet its socket keeps refusing a new start ("already
    running"). libdbus delivers a local `Disconnected` signal on the dead connection: no polling."""

    gone = pyqtSignal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.watching = QDBusConnection.sessionBus().connect(
            "",
            "/org/freedesktop/DBus/Local",
            "org.freedesktop.DBus.Local",
            "Disconnected",
            self._disconnected,
        )

    @pyqtSlot(QDBusMessage)
    def _disconnected(self, _msg: QDBusMessage) -> None:
        self.gone.emit()


BUS_GONE_TEXT = (
    "the D-Bus session bus went away (the desktop session ended or its dbus-daemon stopped), so the icon "
    "and notifications cannot work: exiting. Start it again in the new session."
)


def name_application(app: QApplication) -> None:
    # Qt exports the application name as the StatusNotifierItem's Title (what hosts list the item as)
    app.setApplicationName(DISPLAY_NAME)
    app.setApplicationDisplayName(DISPLAY_NAME)
    app.setDesktopFileName(APP_ID)


def run(args: argparse.Namespace) -> int:
    app = QApplication.instance() or QApplication([sys.argv[0]])
    if not isinstance(app, QApplication):
        print("mullvad-tailscale-tray: a non-widget Qt application is already running", file=sys.stderr)
        return 1
    name_application(app)
    app.setQuitOnLastWindowClosed(False)  # closing the doctor or about window must not end the tray
    on_signal = QuitOnSignals(app)  # Ctrl-C and the session's SIGTERM end the event loop cleanly

    guard = SingleInstance()
    hidden = bool(getattr(args, "hidden", False))
    # --hidden is the login autostart: a tray already running is fine and must not pop its window
    if guard.ask_running_instance(show=not hidden):
        print("mullvad-tailscale-tray is already running" + ("" if hidden else ": showed its status window"))
        return 0
    if not guard.listen():
        print(
            f"mullvad-tailscale-tray: cannot create {guard.path} ({guard.error}); a second start will not "
            "find this one. Check that $XDG_RUNTIME_DIR is writable.",
            file=sys.stderr,
        )

    try:
        from tray_app.monitor import Monitor  # noqa: PLC0415

        monitor = Monitor.create(args.mullvad_cli, args.tailscale_socket, args.tailscale_cli)
    except ImportError as exc:
        print(
            f"mullvad-tailscale-tray: incomplete installation ({exc}); reinstall the package", file=sys.stderr
        )
        return 1
    # The daemons' first answers are the slowest part of a start (the Mullvad CLI is a process, three at
    # once): ask before the widgets are built, so both happen at the same time. Their answers are read by the
    # event loop, after the tray below has connected to the monitor; what it learnt before is replayed.
    monitor.start()

    tray = TrayApplication(monitor, Settings(), overrides=daemon_overrides(args))
    bus_watch = SessionBusWatch(tray)

    def bus_gone() -> None:
        print(f"mullvad-tailscale-tray: {BUS_GONE_TEXT}", file=sys.stderr)
        app.quit()  # the `finally` below removes the instance socket, so the next start is not refused

    bus_watch.gone.connect(bus_gone)
    guard.show_requested.connect(tray.ui.show_status)
    tray.ui.quit_requested.connect(app.quit)
    tray.start(show_status=not hidden)
    try:
        return app.exec()
    finally:
        on_signal.close()
        tray.stop()
        guard.close()
