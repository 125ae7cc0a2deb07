"""Issue 12 through the real tray: the internet route, Tailscale and Mullvad exit nodes, devices, accounts,
Mullvad locations and lockdown, the middle click.

The tray's real Monitor and sources read the fakes of both daemons (tests/tray/daemons.py): every item a
test activates must reach the fake daemon with the request the official clients send (`mullvad relay set
location se got`, `PATCH /localapi/v0/prefs {"ExitNodeID": ...}`, `POST /localapi/v0/profiles/<ID>`), and
the menu must follow what the daemon then reports. One test reads and clicks the menu the way a
StatusNotifierItem host does, over DBusMenu.
"""

from __future__ import annotations

import subprocess
from typing import Any

from PyQt6.QtCore import QMetaType
from PyQt6.QtDBus import QDBusArgument, QDBusConnection, QDBusVariant
from PyQt6.QtGui import QGuiApplication
from PyQt6.QtWidgets import QMessageBox, QSystemTrayIcon

from tests.tray.conftest import TrayRig
from tests.tray.test_tray_hosts import _call, registered_item


def start(rig: TrayRig, qtbot: Any, tailscale: str = "running-mullvad-exit-node") -> Any:
    """Start the tray on a tailnet with an exit node of yours and two of Tailscale's Mullvad exit nodes."""
    rig.daemons.tailscale.set_status(tailscale)
    rig.app.start(show_status=False)  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: rig.monitor.is_ready, timeout=10000)  # type: ignore[attr-defined]
    f = rig.app.features  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: bool(f.tailnet.peers), timeout=5000)
    return f


def texts(menu: Any) -> list[str]:
    return [a.text() for a in menu.actions() if a.isVisible() and not a.isSeparator()]


def action(menu: Any, text: str) -> Any:
    found = [a for a in menu.actions() if a.text() == text]
    assert found, f"{text!r} not in {texts(menu)}"
    return found[0]


def test_route_menu_shows_the_choice_and_an_exit_node_disconnects_mullvad_first(rig: TrayRig, qtbot) -> None:  # type: ignore[no-untyped-def]
    f = start(rig, qtbot)
    r = f.route
    # this fixture has a Mullvad exit node set while Mullvad is connected: the menu says it is broken
    assert r.menu.title() == "Internet: Mullvad (se-got-wg-001, Gothenburg, Sweden)"
    assert (
        r.warning.isVisible()
        and "pick one" in r.warning.text()
        and "Mullvad's rules win" in r.warning.toolTip()
    )
    assert r.mullvad.isChecked() and not r.direct.isChecked()
    assert "nas" in texts(r.menu) and r.hint.isVisible()
    countries = {a.text(): a.menu() for a in r.mullvad_nodes.actions()}
    assert set(countries) == {"Germany", "Sweden"}
    assert texts(countries["Sweden"]) == ["Best available", "Gothenburg (se-got-wg-001)"]
    assert countries["Sweden"].actions()[-1].isChecked()  # the exit node tailscaled has selected
    r.menu.aboutToShow.emit()  # opening it asks tailscaled for its suggestion
    qtbot.waitUntil(r.recommended.isVisible, timeout=5000)
    assert r.recommended.text() == "Recommended: nas"

    with qtbot.waitSignal(rig.app.controller.message, timeout=15000) as said:  # type: ignore[attr-defined]
        action(r.menu, "nas").trigger()
    assert "Mullvad is disconnected first" in said.args[1]
    assert rig.daemons.mullvad_state() == "disconnected"
    patch = rig.daemons.tailscale.patches[-1]
    assert patch["ExitNodeID"] == "nQ3pX8kT2b11CNTRL" and patch["ExitNodeIDSet"] is True
    qtbot.waitUntil(lambda: r.menu.title() == "Internet: Tailscale exit node nas", timeout=5000)
    assert action(r.menu, "nas").isChecked() and not r.mullvad.isChecked() and not r.warning.isVisible()

    # picking Mullvad clears the exit node first, then connects
    with qtbot.waitSignal(rig.app.controller.message, timeout=15000) as said:  # type: ignore[attr-defined]
        r.mullvad.trigger()
    assert "exit node is cleared" in said.args[1]
    # tailscaled's own toggle, which keeps it as InternalExitNodePrior ("Last used", test_exit_node_menus.py)
    assert rig.daemons.tailscale.patches[-1] == {"set-use-exit-node-enabled": "enabled=false"}
    assert rig.daemons.tailscale.exit_prefs["ExitNodeID"] == ""
    qtbot.waitUntil(lambda: rig.daemons.mullvad_state() == "connected", timeout=10000)
    qtbot.waitUntil(
        lambda: r.menu.title().startswith("Internet: Mullvad (") and not r.warning.isVisible(), timeout=5000
    )
    assert r.mullvad.isChecked() and not action(r.menu, "nas").isChecked()

    # allow local network access: the prefs write, and the menu follows the bus's Prefs
    r.allow_lan.trigger()
    qtbot.waitUntil(lambda: rig.daemons.tailscale.exit_prefs["ExitNodeAllowLANAccess"] is True, timeout=5000)
    qtbot.waitUntil(r.allow_lan.isChecked, timeout=5000)


def test_lockdown_a_non_operator_and_a_logged_out_mullvad_get_the_fix(rig: TrayRig, qtbot) -> None:  # type: ignore[no-untyped-def]
    subprocess.run([str(rig.daemons.mullvad.cli), "lockdown-mode", "set", "on"], check=True)
    f = start(rig, qtbot)
    qtbot.waitUntil(lambda: rig.monitor.snapshot.mullvad.lockdown is True, timeout=5000)  # type: ignore[attr-defined]
    with qtbot.waitSignal(rig.app.controller.message, timeout=5000) as said:  # type: ignore[attr-defined]
        action(f.route.menu, "nas").trigger()
    assert "mullvad lockdown-mode set off" in said.args[1]
    assert rig.daemons.mullvad_state() == "connected" and not rig.daemons.tailscale.patches  # nothing changed
    assert f.route.mullvad.isChecked() and not action(f.route.menu, "nas").isChecked()

    subprocess.run([str(rig.daemons.mullvad.cli), "lockdown-mode", "set", "off"], check=True)
    qtbot.waitUntil(lambda: rig.monitor.snapshot.mullvad.lockdown is False, timeout=5000)  # type: ignore[attr-defined]
    rig.daemons.tailscale.deny_writes = True
    with qtbot.waitSignal(rig.app.controller.message, timeout=15000) as said:  # type: ignore[attr-defined]
        f.route.direct.trigger()  # clear the exit node: tailscaled says 403
    assert "sudo tailscale set --operator=$USER" in said.args[1]

    # Mullvad not logged in: the CLI only warns, the tray says it with the fix
    rig.daemons.tailscale.deny_writes = False
    rig.daemons.mullvad.configure(logged_in=False, auth_fails=True)
    rig.daemons.mullvad.set_state("disconnected")
    rig.daemons.tailscale.set_status("running")  # no exit node: picking Mullvad only connects it
    rig.daemons.tailscale.push_state(6)
    qtbot.waitUntil(f.route.direct.isChecked, timeout=5000)
    said_now: list[str] = []
    rig.app.controller.message.connect(lambda _title, text: said_now.append(text))  # type: ignore[attr-defined]
    f.route.mullvad.trigger()
    fix = "Mullvad is not logged in: log in with `mullvad account login` (or in the Mullvad app)"
    qtbot.waitUntil(lambda: any(t.startswith(fix) for t in said_now), timeout=15000)
    qtbot.wait(300)
    assert not any(t == "Internet traffic goes through Mullvad." for t in said_now)  # no false success


def test_devices_submenu_yours_first_online_first_and_copy(rig: TrayRig, qtbot) -> None:  # type: ignore[no-untyped-def]
    rig.daemons.tailscale.big_tailnet(12, 0)
    f = start(rig, qtbot, tailscale="running")
    rig.daemons.tailscale.big_tailnet(12, 0)
    rig.daemons.tailscale.push_state(6)
    d = f.devices
    qtbot.waitUntil(lambda: d.menu.title() == "Tailnet devices (8/12 online)", timeout=5000)
    titles = [a.text() for a in d.menu.actions() if a.isVisible()]
    assert titles[0] == "dev-0000 (linux)"  # yours, online, by name
    mine = [t for t in titles if "bob@example.org" not in t]
    assert titles[: len(mine)] == mine  # then the ones shared with you
    offline = next(t for t in titles if "last seen" in t)
    assert offline.startswith("dev-0002 (macOS) · last seen")
    dev = d.devices["nDev0004CNTRL"]
    assert dev.copy_name.text() == "Copy name (dev-0004.tail4a2b9c.ts.net)"
    dev.copy_ipv4.trigger()
    clip = QGuiApplication.clipboard()
    assert clip is not None and clip.text() == "100.64.0.5"
    ids_before = {k: id(a) for k, a in d.list.actions.items()}
    rig.daemons.tailscale.push_state(6)  # same document again: nothing to rebuild
    qtbot.wait(500)
    assert {k: id(a) for k, a in d.list.actions.items()} == ids_before
    rig.daemons.tailscale.go_away()  # tailscaled stops: its last peers are not shown as live
    qtbot.waitUntil(lambda: not d.menu.menuAction().isEnabled(), timeout=10000)
    assert not f.accounts.menu.menuAction().isEnabled()


def test_accounts_list_and_switch_like_tailscale_switch(rig: TrayRig, qtbot) -> None:  # type: ignore[no-untyped-def]
    f = start(rig, qtbot)
    a = f.accounts
    qtbot.waitUntil(lambda: a.menu.title() == "Tailscale account: alice@example.com", timeout=5000)
    items = {x.text(): x for x in a.list.actions.values()}  # the accounts (then Add…, Log out…)
    assert set(items) == {"alice@example.com (example.com)", "alice@work.example (work.example)"}
    assert items["alice@example.com (example.com)"].isChecked()
    items["alice@work.example (work.example)"].trigger()
    qtbot.waitUntil(lambda: a.menu.title() == "Tailscale account: alice@work.example", timeout=5000)
    assert ("POST", "/localapi/v0/profiles/c3d4") in [(m, t) for m, t, _h in rig.daemons.tailscale.requests]
    # a non-operator may not even list profiles (tailscaled's 403): the submenu says how to fix it
    rig.daemons.tailscale.deny_writes = True
    a.menu.aboutToShow.emit()
    qtbot.waitUntil(a.problem.isVisible, timeout=5000)
    assert "sudo tailscale set --operator=$USER" in a.problem.text()


def test_mullvad_location_and_lockdown_with_confirmation(rig: TrayRig, qtbot) -> None:  # type: ignore[no-untyped-def]
    f = start(rig, qtbot)
    loc = f.location
    assert loc.loading.isVisible()
    loc.menu.aboutToShow.emit()  # the relay list is read when the menu is first opened
    qtbot.waitUntil(
        lambda: "se" in loc.country_menus and loc.any.isChecked(), timeout=5000
    )  # list and constraint
    assert loc.menu.title() == "Mullvad location: Gothenburg, Sweden"
    assert [a.text() for a in loc.menu.actions() if a.menu()] == ["Germany", "Sweden"]
    sweden = loc.country_menus["se"]
    assert [a.text() for a in sweden.actions()] == ["Any city in Sweden", "Gothenburg (2)", "Stockholm (1)"]
    assert loc.any.isChecked()  # the constraint is "any"
    action(sweden, "Stockholm (1)").trigger()
    qtbot.waitUntil(lambda: rig.daemons.mullvad.read().get("location", {}).get("city") == "sto", timeout=5000)
    qtbot.waitUntil(lambda: action(sweden, "Stockholm (1)").isChecked(), timeout=5000)
    assert not loc.any.isChecked()
    assert [a.text() for a in loc.menu.actions() if a.menu()] == ["Germany", "✓ Sweden"]  # the chosen country
    qtbot.waitUntil(lambda: loc.menu.title() == "Mullvad location: Stockholm, Sweden", timeout=10000)

    assert not loc.lockdown.isChecked() and loc.lockdown.text().startswith("Lockdown mode: off")
    loc.lockdown.trigger()
    box = f.confirm
    assert isinstance(box, QMessageBox) and box.isVisible() and "Turn on lockdown mode?" in box.text()
    assert rig.daemons.mullvad.read()["lockdown"] is False  # nothing before the answer
    assert not loc.lockdown.isChecked()
    next(b for b in box.buttons() if b.text() == "Turn on").click()
    qtbot.waitUntil(lambda: rig.daemons.mullvad.read()["lockdown"] is True, timeout=5000)
    qtbot.waitUntil(loc.lockdown.isChecked, timeout=5000)
    assert loc.lockdown.text().startswith("Lockdown mode: on")
    loc.lockdown.trigger()  # turning it off asks too; Cancel changes nothing
    f.confirm.reject()
    qtbot.wait(300)
    assert rig.daemons.mullvad.read()["lockdown"] is True and loc.lockdown.isChecked()


def test_middle_click_toggles_the_bypass_and_can_be_turned_off(
    xembed_host, rig: TrayRig, qtbot, xdotool
) -> None:  # type: ignore[no-untyped-def]
    f = start(rig, qtbot, tailscale="running")
    ui = rig.app.ui  # type: ignore[attr-defined]
    assert f.middle.isChecked()  # on by default
    qtbot.waitUntil(lambda: ui.tray.geometry().x() > 0, timeout=5000)
    c = ui.tray.geometry().center()
    xdotool("mousemove", c.x(), c.y(), "click", 2)  # trayer passes the middle button to the icon
    qtbot.waitUntil(lambda: "Bypass: on (direct)" in ui.tray.toolTip(), timeout=10000)
    # a status read after the helper saved its state can show "on" before the enable's own reply is recorded
    qtbot.waitUntil(lambda: "enable" in rig.verbs() and rig.lab.table() is not None, timeout=5000)
    f.middle.trigger()  # off: a middle click does nothing
    assert rig.app.settings.middle_click == "none"  # type: ignore[attr-defined]
    n = len(rig.verbs())
    xdotool("mousemove", c.x(), c.y(), "click", 2)
    qtbot.wait(800)
    assert "disable" not in rig.verbs()[n:] and "Bypass: on" in ui.tray.toolTip()
    assert QSystemTrayIcon.isSystemTrayAvailable()


def _layout(
    conn: QDBusConnection, service: str, path: str
) -> dict[str, tuple[int, dict[str, Any], list[str]]]:
    names = QDBusArgument()
    names.add([], QMetaType.fromName(b"QStringList").id())
    _rev, layout = _call(conn, service, path, "com.canonical.dbusmenu", "GetLayout", 0, -1, names)
    out: dict[str, tuple[int, dict[str, Any], list[str]]] = {}

    def walk(node: Any) -> None:
        item_id, props, children = node
        kids = [c[1].get("label", "") for c in children]
        if "label" in props:
            out[props["label"]] = (item_id, props, kids)
        for child in children:
            walk(child)

    walk(layout)
    return out


def test_a_status_notifier_host_reads_and_clicks_the_new_submenus(sni_host, rig: TrayRig, qtbot) -> None:  # type: ignore[no-untyped-def]
    start(rig, qtbot)
    ui = rig.app.ui  # type: ignore[attr-defined]
    ui.show()
    conn = QDBusConnection.connectToBus(QDBusConnection.BusType.SessionBus, "features-test-client")
    try:
        service = registered_item(conn, qtbot)
        (menu_path,) = _call(conn, service, "/StatusNotifierItem", "org.freedesktop.DBus.Properties", "Get",
                             "org.kde.StatusNotifierItem", "Menu")  # fmt: skip
        lay = _layout(conn, service, str(menu_path))
        route = lay["Internet: Mullvad (se-got-wg-001, Gothenburg, Sweden)"]
        assert route[1].get("children-display") == "submenu"
        assert "Through Mullvad (Gothenburg, Sweden)" in route[2] and "nas" in route[2]
        assert lay["Through Mullvad (Gothenburg, Sweden)"][1].get("toggle-state") == 1
        assert lay["nas"][1].get("toggle-state") == 0
        assert "Tailnet devices (2/3 online)" in lay and "Tailscale account: alice@example.com" in lay
        # a host opening "Mullvad location" (AboutToShow) makes the tray read the relay list; the new
        # entries reach the host as a layout update of that submenu only
        loc_id = lay["Mullvad location: Gothenburg, Sweden"][0]
        _call(conn, service, str(menu_path), "com.canonical.dbusmenu", "AboutToShow", loc_id)

        def relays_listed() -> bool:
            now = _layout(conn, service, str(menu_path))
            return {"Germany", "Sweden"} <= set(now["Mullvad location: Gothenburg, Sweden"][2])

        qtbot.waitUntil(relays_listed, timeout=10000)
        assert _layout(conn, service, str(menu_path))["Sweden"][2] == [
            "Any city in Sweden", "Gothenburg (2)", "Stockholm (1)"
        ]  # fmt: skip
        ts = QDBusArgument()
        ts.add(0, QMetaType.fromName(b"uint").id())
        _call(conn, service, str(menu_path), "com.canonical.dbusmenu", "Event", lay["nas"][0], "clicked",
              QDBusVariant(0), ts)  # fmt: skip
        qtbot.waitUntil(lambda: bool(rig.daemons.tailscale.patches), timeout=15000)
        assert rig.daemons.tailscale.patches[-1]["ExitNodeID"] == "nQ3pX8kT2b11CNTRL"
        assert rig.daemons.mullvad_state() == "disconnected"

        def followed() -> bool:
            now = _layout(conn, service, str(menu_path))
            return "Internet: Tailscale exit node nas" in now and now["nas"][1].get("toggle-state") == 1

        qtbot.waitUntil(followed, timeout=5000)
    finally:
        QDBusConnection.disconnectFromBus("features-test-client")
