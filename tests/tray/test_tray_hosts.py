"""The tray in real hosts under Xvfb: XEmbed (trayer) with xdotool clicks, and StatusNotifierItem
(gtk-sni-tray-standalone) with the exported DBusMenu read back over D-Bus."""

from __future__ import annotations

from PyQt6 import sip
from PyQt6.QtCore import QMetaType
from PyQt6.QtDBus import QDBus, QDBusArgument, QDBusConnection, QDBusMessage, QDBusVariant
from PyQt6.QtGui import QColor, QGuiApplication, QImage

from tests.infra.desktop import bus_has_name
from tests.tray.conftest import TrayRig

GREEN = QColor("#3a9a43")  # the connected shield


def _start(rig: TrayRig, qtbot) -> None:  # type: ignore[no-untyped-def]
    """Start the tray on the fake daemons: Mullvad connected, Tailscale running (rig.daemons)."""
    rig.app.start(show_status=False)  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: rig.monitor.is_ready, timeout=10000)  # type: ignore[attr-defined]


def _count_colour(img: QImage, colour: QColor, x0: int, y0: int, w: int, h: int, tol: int = 12) -> int:  # noqa: PLR0917
    n = 0
    for y in range(max(0, y0), min(img.height(), y0 + h)):
        for x in range(max(0, x0), min(img.width(), x0 + w)):
            c = img.pixelColor(x, y)
            if (
                abs(c.red() - colour.red()) <= tol
                and abs(c.green() - colour.green()) <= tol
                and abs(c.blue() - colour.blue()) <= tol
            ):
                n += 1
    return n


def _screen() -> QImage:
    screen = QGuiApplication.primaryScreen()
    assert screen is not None
    return screen.grabWindow(0).toImage()


def test_xembed_icon_is_drawn_clicks_open_the_status_and_the_menu(
    xembed_host, rig: TrayRig, qtbot, xdotool
) -> None:  # type: ignore[no-untyped-def]
    _start(rig, qtbot)
    ui = rig.app.ui  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: ui.tray.geometry().x() > 0, timeout=5000)
    g = ui.tray.geometry()
    qtbot.wait(300)
    assert _count_colour(_screen(), GREEN, g.x(), g.y(), g.width(), g.height()) > 20, (
        "green shield not on screen"
    )
    c = g.center()
    xdotool("mousemove", c.x(), c.y(), "click", 1)  # left click: the status window
    qtbot.waitUntil(ui.popup.isVisible, timeout=3000)
    assert "Bypass: off" in ui.popup.facts.text(), rig.monitor.snapshot.bypass
    ui.popup.hide()
    with qtbot.waitSignal(ui.menus.menu.aboutToShow, timeout=3000):
        xdotool("mousemove", c.x(), c.y(), "click", 3)  # right click: the menu
    qtbot.waitUntil(ui.menus.menu.isVisible, timeout=3000)
    qtbot.wait(200)
    p = ui.menus.menu.mapToGlobal(ui.menus.menu.actionGeometry(ui.menus.bypass).center())
    xdotool("mousemove", p.x(), p.y(), "click", 1)
    qtbot.waitUntil(lambda: "Bypass: on (direct)" in ui.tray.toolTip(), timeout=5000)
    assert "enable" in rig.verbs() and rig.lab.saved()["mode"] == "direct"  # type: ignore[index]
    assert rig.lab.table() is not None  # the real helper loaded our table
    qtbot.wait(300)  # the icon on screen follows: the purple bypass diamond appears
    g = ui.tray.geometry()
    assert _count_colour(_screen(), QColor("#9b59d0"), g.x(), g.y(), g.width(), g.height()) > 3


def _call(
    conn: QDBusConnection, service: str, path: str, iface: str, method: str, *args: object
) -> list[object]:
    # not QDBusInterface: its constructor introspects with a blocking call and our own object (same thread)
    # cannot answer, which deadlocks for 25 s (test-infra.md §2)
    msg = QDBusMessage.createMethodCall(service, path, iface, method)
    msg.setArguments(list(args))
    reply = conn.call(msg, QDBus.CallMode.BlockWithGui, 3000)
    assert reply.type() == QDBusMessage.MessageType.ReplyMessage, reply.errorMessage()
    return list(reply.arguments())


def registered_item(conn: QDBusConnection, qtbot) -> str:  # type: ignore[no-untyped-def]
    """The bus name of the first StatusNotifierItem the watcher has (waits for one)."""
    watcher = "org.kde.StatusNotifierWatcher"

    def items() -> list[str]:
        (v,) = _call(conn, watcher, "/StatusNotifierWatcher", "org.freedesktop.DBus.Properties", "Get",
                     watcher, "RegisteredStatusNotifierItems")  # fmt: skip
        return list(v)  # type: ignore[call-overload]

    qtbot.waitUntil(lambda: bool(items()), timeout=5000)
    return items()[0].split("/")[0]


def _labels(layout: object) -> list[tuple[int, str, bool, bool]]:
    """(id, label, enabled, visible) of every item, depth first."""
    out: list[tuple[int, str, bool, bool]] = []

    def walk(node: object) -> None:
        item_id, props, children = node  # type: ignore[misc]
        if "label" in props:
            out.append((item_id, props["label"], props.get("enabled", True), props.get("visible", True)))
        for child in children:
            walk(child)

    walk(layout)
    return out


def _find(img: QImage, colour: QColor, region: tuple[int, int, int, int]) -> tuple[int, int] | None:
    x0, y0, w, h = region
    pts = [
        (x, y)
        for y in range(y0, y0 + h)
        for x in range(x0, x0 + w)
        if _count_colour(img, colour, x, y, 1, 1) == 1
    ]
    if len(pts) < 10:
        return None
    return sum(p[0] for p in pts) // len(pts), sum(p[1] for p in pts) // len(pts)


def test_sni_host_draws_the_icon_and_a_click_opens_the_status(sni_host, rig: TrayRig, qtbot, xdotool) -> None:  # type: ignore[no-untyped-def]
    _start(rig, qtbot)
    ui = rig.app.ui  # type: ignore[attr-defined]
    ui.show()
    found: list[tuple[int, int]] = []

    def on_screen() -> bool:
        pos = _find(_screen(), GREEN, (600, 0, 424, 32))  # the host bar: top edge, icons at the end
        if pos:
            found.append(pos)
        return pos is not None

    qtbot.waitUntil(on_screen, timeout=5000)
    assert ui.tray.geometry().isEmpty()  # SNI: the host draws it, Qt does not know where
    x, y = found[-1]
    xdotool("mousemove", x, y, "click", 1)  # the host calls Activate
    qtbot.waitUntil(ui.popup.isVisible, timeout=3000)
    ui.popup.hide()
    with qtbot.waitSignal(ui.menus.menu.aboutToShow, timeout=3000):
        xdotool("mousemove", x, y, "click", 3)  # the host renders our menu from DBusMenu


def test_sni_item_exports_tooltip_and_a_live_dbusmenu(sni_host, rig: TrayRig, qtbot) -> None:  # type: ignore[no-untyped-def]
    _start(rig, qtbot)
    ui = rig.app.ui  # type: ignore[attr-defined]
    ui.show()
    conn = QDBusConnection.connectToBus(QDBusConnection.BusType.SessionBus, "tray-test-client")
    try:
        service = registered_item(conn, qtbot)
        assert bus_has_name(service)

        def prop(name: str) -> object:
            return _call(conn, service, "/StatusNotifierItem", "org.freedesktop.DBus.Properties", "Get",
                         "org.kde.StatusNotifierItem", name)[0]  # fmt: skip

        tip = prop("ToolTip")
        assert "Mullvad: connected to se-got-wg-001" in str(tip[2]) + str(tip[3])  # type: ignore[index]
        menu_path = str(prop("Menu"))
        names = QDBusArgument()
        names.add([], QMetaType.fromName(b"QStringList").id())
        _rev, layout = _call(conn, service, menu_path, "com.canonical.dbusmenu", "GetLayout", 0, -1, names)
        labels = _labels(layout)
        by_label = {lab: (i, en, vis) for i, lab, en, vis in labels}
        assert "Mullvad: connected to se-got-wg-001, Gothenburg, Sweden" in by_label
        assert by_label["Mullvad: connect"][1] is False and by_label["Mullvad: disconnect"][1] is True
        assert by_label["Tailnet bypass"][1] is True
        assert {"Doctor…", "About…", "Quit", "Start on login", "Notifications"} <= set(by_label)
        ids_before = sorted(i for i, *_ in labels)

        # a state change updates the exported items in place: same ids, new labels/enabled flags
        rig.daemons.mullvad.set_state("disconnected")
        qtbot.waitUntil(ui.menus.mullvad_connect.isEnabled, timeout=5000)

        def relabelled() -> bool:
            _r, lay = _call(conn, service, menu_path, "com.canonical.dbusmenu", "GetLayout", 0, -1, names)
            now = {lab: (i, en) for i, lab, en, _v in _labels(lay)}
            return now.get("Mullvad: connect", (0, False))[1] is True and "Mullvad: disconnected" in now

        qtbot.waitUntil(relabelled, timeout=3000)
        _r, lay = _call(conn, service, menu_path, "com.canonical.dbusmenu", "GetLayout", 0, -1, names)
        assert sorted(i for i, *_ in _labels(lay)) == ids_before

        # clicking an item the way a host does
        ts = QDBusArgument()
        ts.add(0, QMetaType.fromName(b"uint").id())
        with qtbot.waitSignal(ui.menus.mullvad_connect.triggered, timeout=3000):
            _call(conn, service, menu_path, "com.canonical.dbusmenu", "Event",
                  by_label["Mullvad: connect"][0], "clicked", QDBusVariant(0), ts)  # fmt: skip
        qtbot.waitUntil(
            lambda: rig.daemons.mullvad_state() == "connected", timeout=10000
        )  # `mullvad connect`
        qtbot.waitUntil(ui.menus.mullvad_disconnect.isEnabled, timeout=5000)  # ... and the tray heard it
        # Activate (left click in the host) shows the status window
        _call(conn, service, "/StatusNotifierItem", "org.kde.StatusNotifierItem", "Activate", 10, 10)
        qtbot.waitUntil(ui.popup.isVisible, timeout=3000)
    finally:
        QDBusConnection.disconnectFromBus("tray-test-client")


def test_a_host_that_appears_later_gets_the_icon(rig: TrayRig, qtbot) -> None:  # type: ignore[no-untyped-def]
    """The panel comes up after the tray at login: the item registers once the host is there, and the menu
    it exports is still the same set of actions."""
    from tests.infra.desktop import sni_host as run_sni
    from tests.tray.conftest import _sni_host_registered

    _start(rig, qtbot)
    ui = rig.app.ui  # type: ignore[attr-defined]
    actions = [sip.unwrapinstance(a) for a in ui.menus.all_actions()]
    with run_sni():
        qtbot.waitUntil(_sni_host_registered, timeout=10000)
        conn = QDBusConnection.connectToBus(QDBusConnection.BusType.SessionBus, "tray-test-late")
        try:

            def items() -> list[str]:
                (v,) = _call(conn, "org.kde.StatusNotifierWatcher", "/StatusNotifierWatcher",
                             "org.freedesktop.DBus.Properties", "Get", "org.kde.StatusNotifierWatcher",
                             "RegisteredStatusNotifierItems")  # fmt: skip
                return list(v)  # type: ignore[call-overload]

            qtbot.waitUntil(lambda: bool(items()), timeout=5000)
        finally:
            QDBusConnection.disconnectFromBus("tray-test-late")
    assert [sip.unwrapinstance(a) for a in ui.menus.all_actions()] == actions
