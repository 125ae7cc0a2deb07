"""Desktop notifications through `org.freedesktop.Notifications` with QtDBus, with actions.

The policy (`core.notify_policy`) decides what to say; this sends it, replacing the previous notification of
the same slot by id, and reports clicked actions back as `action_invoked(action_id)`. Only when no server owns
the name does it fall back to `QSystemTrayIcon.showMessage` (which in XEmbed mode is a Qt balloon without
actions).

Calls are asynchronous: a slow or hung notification server never blocks the tray.
"""

from __future__ import annotations

from collections.abc import Callable

from PyQt6.QtCore import QMetaType, QObject, QVariant, pyqtSignal, pyqtSlot
from PyQt6.QtDBus import (
    QDBusArgument,
    QDBusConnection,
    QDBusMessage,
    QDBusPendingCallWatcher,
    QDBusPendingReply,
)

from tray_app import APP_ID, DISPLAY_NAME
from tray_app.core.notify_policy import Notice, Urgency

SERVICE = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"
IFACE = "org.freedesktop.Notifications"
APP_NAME = DISPLAY_NAME
DESKTOP_ENTRY = APP_ID

Fallback = Callable[[str, str, Urgency], None]

# D-Bus wire types Qt cannot guess from Python values (an int would go out as 'i', a list as 'av')
_UINT = QMetaType.fromName(b"uint").id()
_BYTE = QMetaType.fromName(b"uchar").id()
_STRINGS = QMetaType.fromName(b"QStringList").id()


def _typed(value: object, type_id: int) -> QDBusArgument:
    arg = QDBusArgument()
    arg.add(value, type_id)
    return arg


def _hints(notice: Notice) -> dict[str, QVariant]:
    """The hints as a{sv}. A dict of QVariants is what every PyQt6 marshals as a{sv}: Debian 12's PyQt6 6.4
    knows no "QDBusVariant" meta type by name (id 0), so a QDBusArgument map of QDBusVariants silently lost
    the whole argument there, and dunst rejected the call (no notification ever showed)."""
    # the spec types urgency as a byte ('y'); dunst and others reject an int32 silently
    urgency = QVariant(int(notice.urgency))
    urgency.convert(QMetaType(_BYTE))
    hints = {
        "urgency": urgency,
        "category": QVariant("network"),
        "desktop-entry": QVariant(DESKTOP_ENTRY),
    }
    if notice.transient:
        hints["transient"] = QVariant(True)
    return hints


def _escape(text: str) -> str:
    """`html.escape(text, quote=False)`: importing `html` would load its entity table, 0.7 MB of the tray."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class Notifier(QObject):
    """Sends notices; remembers the server's id per slot so the next notice of a slot replaces it."""

    action_invoked = pyqtSignal(str)  # action id of a notice we sent
    sent = pyqtSignal(object)  # the Notice, once handed to a server or the fallback (for tests and bench)

    def __init__(
        self,
        fallback: Fallback | None = None,
        icon: str = "",
        parent: QObject | None = None,
        *,
        icon_for: Callable[[Notice], str] | None = None,
    ) -> None:
        super().__init__(parent)
        self._bus = QDBusConnection.sessionBus()
        self._fallback = fallback
        self._icon = icon
        self._icon_for = icon_for  # the icon of the state a notice announces ("" or None: the app's)
        self._ids: dict[str, int] = {}  # slot -> server id
        self._slots: dict[int, str] = {}  # server id -> slot
        self._default_actions: dict[int, str] = {}  # server id -> the action a click on the bubble means
        self._watchers: set[QDBusPendingCallWatcher] = set()
        # Does the server read bodies as markup? Unknown until GetCapabilities answers; notices wait for it,
        # because a body carries text from others (a peer's Taildrop file name, a daemon's detail) that must
        # show as written, never as markup or a link.
        self._markup: bool | None = None
        self._waiting: list[Notice] = []
        self._bus.connect(SERVICE, PATH, IFACE, "ActionInvoked", self._on_action)
        self._bus.connect(SERVICE, PATH, IFACE, "NotificationClosed", self._on_closed)

    def server_present(self) -> bool:
        iface = self._bus.interface()
        if iface is None:
            return False
        reply = iface.isServiceRegistered(SERVICE)
        return bool(reply.value()) if reply.isValid() else False

    def send(self, notice: Notice) -> None:
        if not self.server_present():
            self._markup = None  # the next server may differ
            if self._fallback is not None:
                self._fallback(notice.summary, notice.body, notice.urgency)
                self.sent.emit(notice)
            return
        if self._markup is None:
            self._waiting.append(notice)
            if len(self._waiting) == 1:
                self._ask_capabilities()
            return
        self._notify(notice)

    def _ask_capabilities(self) -> None:
        msg = QDBusMessage.createMethodCall(SERVICE, PATH, IFACE, "GetCapabilities")
        watcher = QDBusPendingCallWatcher(self._bus.asyncCall(msg, 5000), self)
        self._watchers.add(watcher)

        def done(w: QDBusPendingCallWatcher) -> None:
            self._watchers.discard(w)
            reply = QDBusPendingReply(w).reply()
            caps: list[str] = []
            if reply.type() == QDBusMessage.MessageType.ReplyMessage and reply.arguments():
                caps = [str(c) for c in reply.arguments()[0]]
            # Servers that parse markup say body-markup (GNOME, Plasma) or, like dunst 1.9 with its default
            # `markup = full`, only body-hyperlinks. No answer: escape anyway; a stray "&amp;" is better than
            # a peer's markup or link.
            self._markup = not caps or bool({"body-markup", "body-hyperlinks"} & set(caps))
            waiting, self._waiting = self._waiting, []
            for notice in waiting:
                self._notify(notice)
            w.deleteLater()

        watcher.finished.connect(done)

    def _notify(self, notice: Notice) -> None:
        body = _escape(notice.body) if self._markup else notice.body
        msg = QDBusMessage.createMethodCall(SERVICE, PATH, IFACE, "Notify")
        actions: list[str] = []
        for a in notice.actions:
            actions += [a.id, a.label]
        if notice.actions:
            actions += ["default", notice.actions[0].label]  # a click on the bubble means the first action
        if notice.urgency is Urgency.CRITICAL:
            timeout = 0  # stays until dismissed
        elif notice.transient:
            timeout = 4000
        else:
            timeout = -1  # the server's default
        msg.setArguments(
            [
                APP_NAME,
                _typed(self._ids.get(notice.slot, 0), _UINT),
                (self._icon_for(notice) if self._icon_for is not None else "") or self._icon,
                notice.summary,
                body,
                _typed(actions, _STRINGS),
                _hints(notice),
                timeout,
            ]
        )
        watcher = QDBusPendingCallWatcher(self._bus.asyncCall(msg, 5000), self)
        self._watchers.add(watcher)
        slot = notice.slot

        def done(w: QDBusPendingCallWatcher) -> None:
            self._watchers.discard(w)
            reply = QDBusPendingReply(w).reply()
            if reply.type() == QDBusMessage.MessageType.ReplyMessage and reply.arguments():
                nid = int(reply.arguments()[0])
                old = self._ids.get(slot)
                if old is not None and old != nid:
                    self._slots.pop(old, None)
                self._ids[slot] = nid
                self._slots[nid] = slot
                if notice.actions:
                    self._default_actions[nid] = notice.actions[0].id
                self.sent.emit(notice)
            w.deleteLater()

        watcher.finished.connect(done)

    def withdraw(self, slot: str) -> None:
        nid = self._ids.pop(slot, None)
        if nid is None:
            return
        self._slots.pop(nid, None)
        msg = QDBusMessage.createMethodCall(SERVICE, PATH, IFACE, "CloseNotification")
        msg.setArguments([_typed(nid, _UINT)])
        self._bus.asyncCall(msg, 5000)

    @pyqtSlot(QDBusMessage)
    def _on_action(self, msg: QDBusMessage) -> None:
        args = msg.arguments()
        if len(args) < 2:
            return
        nid, key = int(args[0]), str(args[1])
        slot = self._slots.get(nid)
        if slot is None:
            return  # another application's notification: the signal is broadcast
        if key == "default":
            # "default" stands for the first action of that notice; the sender registered it as such
            key = self._default_actions.get(nid, "")
            if not key:
                return
        self.action_invoked.emit(key)

    @pyqtSlot(QDBusMessage)
    def _on_closed(self, msg: QDBusMessage) -> None:
        args = msg.arguments()
        if not args:
            return
        nid = int(args[0])
        slot = self._slots.pop(nid, None)
        self._default_actions.pop(nid, None)
        if slot is not None and self._ids.get(slot) == nid:
            del self._ids[slot]

    def pending(self) -> int:
        """Notify calls still waiting for the server's reply (or for its capabilities)."""
        return len(self._watchers) + len(self._waiting)
