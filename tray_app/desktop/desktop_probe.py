"""Is there a tray host and a notification server in this session? (doctor, and the tray's start-up notice)

Needs no display server connection through Qt and no QApplication: D-Bus via QtDBus (QtCore only), and
the XEmbed tray selection through libX11 directly, so `doctor` works from a plain terminal.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

from PyQt6.QtDBus import QDBusConnection, QDBusMessage

TIMEOUT_MS = 2000


def _call(service: str, path: str, iface: str, method: str, *args: object) -> list[object] | None:
    bus = QDBusConnection.sessionBus()
    if not bus.isConnected():
        return None
    msg = QDBusMessage.createMethodCall(service, path, iface, method)
    if args:
        msg.setArguments(list(args))
    reply = bus.call(msg, timeout=TIMEOUT_MS)
    if reply.type() != QDBusMessage.MessageType.ReplyMessage:
        return None
    return list(reply.arguments())


def sni_host() -> bool | None:
    """True when a StatusNotifierWatcher exists and reports a registered host."""
    if not QDBusConnection.sessionBus().isConnected():
        return None
    reply = _call(
        "org.kde.StatusNotifierWatcher",
        "/StatusNotifierWatcher",
        "org.freedesktop.DBus.Properties",
        "Get",
        "org.kde.StatusNotifierWatcher",
        "IsStatusNotifierHostRegistered",
    )
    if not reply:
        return False
    value = reply[0]
    variant = getattr(value, "variant", None)
    return bool(variant() if callable(variant) else value)


def notification_server() -> str | None:
    """ "name version" of the org.freedesktop.Notifications server, "" when none, None without a bus."""
    if not QDBusConnection.sessionBus().isConnected():
        return None
    reply = _call(
        "org.freedesktop.Notifications",
        "/org/freedesktop/Notifications",
        "org.freedesktop.Notifications",
        "GetServerInformation",
    )
    if not reply or len(reply) < 3:
        return ""
    return f"{reply[0]} {reply[2]}"


def xembed_host() -> bool | None:
    """True when some client owns the _NET_SYSTEM_TRAY_S<screen> selection on $DISPLAY."""
    display_name = os.environ.get("DISPLAY")
    if not display_name:
        return None
    libname = ctypes.util.find_library("X11")
    if libname is None:
        return None
    x11 = ctypes.CDLL(libname)
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XDefaultScreen.argtypes = [ctypes.c_void_p]
    x11.XInternAtom.restype = ctypes.c_ulong
    x11.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    x11.XGetSelectionOwner.restype = ctypes.c_ulong
    x11.XGetSelectionOwner.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
    x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    display = x11.XOpenDisplay(display_name.encode())
    if not display:
        return None
    try:
        screen = x11.XDefaultScreen(display)
        atom = x11.XInternAtom(display, f"_NET_SYSTEM_TRAY_S{screen}".encode(), 0)
        return bool(x11.XGetSelectionOwner(display, atom))
    finally:
        x11.XCloseDisplay(display)


def probe() -> tuple[bool | None, bool | None, str | None]:
    return sni_host(), xembed_host(), notification_server()
