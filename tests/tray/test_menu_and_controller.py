"""pytest-qt: the tray renders snapshots and its menu drives the controller, the helper and the settings.

The real Monitor folds what the real Mullvad and Tailscale sources read from the fakes of both daemons
(the `mullvad` CLI and tailscaled's LocalAPI, tests/tray/daemons.py), and the menu's Mullvad and Tailscale
actions really reach those fakes; the bypass is the real root helper in a private network
namespace (tests/tray/bypass_lab.py), so every toggle really loads or removes our nftables table there.
What only polkit can answer (a dismissed dialog, a refusal) is in test_bypass_through_polkit.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from PyQt6 import sip
from PyQt6.QtGui import QGuiApplication
from PyQt6.QtWidgets import QSystemTrayIcon

from tests.infra.require import require_tools
from tests.tray.bypass_lab import PEER_SUBNET
from tests.tray.conftest import TrayRig
from tray_app.core.icon_choice import Badge, Main, Mark
from tray_app.desktop import autostart


def start(rig: TrayRig, qtbot) -> None:  # type: ignore[no-untyped-def]
    """Start the tray on whatever the helper's namespace and the fake daemons hold now (set them up with
    rig.lab and rig.daemons first)."""
    rig.app.start(show_status=False)  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: rig.monitor.is_ready, timeout=10000)  # type: ignore[attr-defined]


def ui(rig: TrayRig):  # type: ignore[no-untyped-def]
    return rig.app.ui  # type: ignore[attr-defined]


def test_renders_state_into_icon_tooltip_and_menu(rig: TrayRig, qtbot) -> None:  # type: ignore[no-untyped-def]
    start(rig, qtbot)
    u = ui(rig)
    qtbot.waitUntil(lambda: "Bypass: off" in u.tray.toolTip(), timeout=5000)
    assert u.spec.main is Main.CONNECTED and u.spec.badge is Badge.RUNNING and u.spec.mark is Mark.NONE
    m = u.menus
    assert m.mullvad_info.text() == "Mullvad: connected to se-got-wg-001, Gothenburg, Sweden"
    assert (
        not m.mullvad_connect.isEnabled()
        and m.mullvad_disconnect.isEnabled()
        and m.mullvad_reconnect.isEnabled()
    )
    assert m.tailscale_toggle.text() == "Tailscale: down"
    assert not m.operator_hint.isVisible() and not m.tailscale_login.isVisible()
    assert m.copy_ip.text() == "Copy this device's Tailscale IP (100.101.102.103)"
    assert not m.bypass.isChecked() and m.mode_actions["direct"].isChecked()
    rig.daemons.mullvad.set_state("disconnected")
    rig.daemons.tailscale_to("stopped")
    qtbot.waitUntil(m.mullvad_connect.isEnabled, timeout=5000)
    qtbot.waitUntil(lambda: m.tailscale_toggle.text() == "Tailscale: up", timeout=5000)
    assert not m.mullvad_disconnect.isEnabled() and not m.mullvad_reconnect.isEnabled()
    assert u.spec.main is Main.DISCONNECTED and u.spec.badge is Badge.STOPPED
    assert "Mullvad: disconnected" in u.tray.toolTip()


def test_menu_is_updated_in_place_never_rebuilt(rig: TrayRig, qtbot) -> None:  # type: ignore[no-untyped-def]
    start(rig, qtbot)
    u = ui(rig)
    before = [sip.unwrapinstance(a) for a in u.menus.all_actions()]  # the C++ objects, not Python wrappers
    menu_id = sip.unwrapinstance(u.menus.menu)
    changes = []
    u.menus.bypass.changed.connect(lambda: changes.append(1))
    for i in range(10):
        rig.daemons.mullvad.set_state("disconnected" if i % 2 else "connected")
        rig.daemons.tailscale_to("stopped" if i % 3 else "running")
    # the last states (Mullvad disconnected, Tailscale running) have reached the menu
    qtbot.waitUntil(u.menus.mullvad_connect.isEnabled, timeout=5000)
    qtbot.waitUntil(lambda: u.menus.tailscale_toggle.text() == "Tailscale: down", timeout=5000)
    assert [sip.unwrapinstance(a) for a in u.menus.all_actions()] == before
    assert sip.unwrapinstance(u.menus.menu) == menu_id
    assert changes == []  # the bypass item did not change, so it was not touched at all


def test_bypass_toggle_asks_the_helper_and_remembers_consent(rig: TrayRig, qtbot) -> None:  # type: ignore[no-untyped-def]
    start(rig, qtbot)
    u = ui(rig)
    settings = rig.app.settings  # type: ignore[attr-defined]
    assert not settings.bypass_wanted and rig.lab.table() is None
    u.menus.bypass.trigger()
    qtbot.waitUntil(lambda: u.menus.bypass.isChecked() and u.menus.bypass.isEnabled(), timeout=10000)
    assert "enable" in rig.verbs()
    assert rig.lab.table() is not None and rig.lab.saved()["mode"] == "direct"  # type: ignore[index]
    assert settings.bypass_wanted and u.spec.mark is Mark.ON
    assert "Bypass: on (direct)" in u.tray.toolTip()
    # choosing the private mode while on re-applies in that mode
    u.menus.mode_actions["private"].trigger()
    qtbot.waitUntil(lambda: "Bypass: on (private)" in u.tray.toolTip(), timeout=10000)
    assert rig.verbs().count("enable") == 2 and rig.lab.saved()["mode"] == "private"  # type: ignore[index]
    assert settings.bypass_mode == "private"
    u.menus.bypass.trigger()
    qtbot.waitUntil(lambda: "Bypass: off" in u.tray.toolTip(), timeout=10000)  # from the reply of `disable`
    qtbot.wait(300)  # past the debounce: a read-back would have started by now
    assert rig.verbs()[-1] == "disable"  # nothing read back: one helper run per toggle
    assert rig.lab.table() is None and rig.lab.saved() is None
    assert not settings.bypass_wanted and not u.menus.bypass.isChecked()


def test_a_helper_failure_is_shown_with_its_reason_and_the_real_state(rig: TrayRig, qtbot) -> None:  # type: ignore[no-untyped-def]
    """A real failure of the helper: Mullvad's firewall lacks the split-tunnel accept rule (exit 6, the
    bypass is applied but cannot take effect yet). The user reads why, and the menu shows what is in place."""
    from tests.tray.bypass_lab import MULLVAD_WITHOUT_SPLIT_ACCEPT

    rig.lab.load(MULLVAD_WITHOUT_SPLIT_ACCEPT)
    start(rig, qtbot)
    u = ui(rig)
    sent: list[tuple[str, str]] = []
    rig.app.notifier.sent.connect(lambda n: sent.append((n.summary, n.body)))  # type: ignore[attr-defined]
    with qtbot.waitSignal(rig.app.controller.message, timeout=10000) as blk:  # type: ignore[attr-defined]
        u.menus.bypass.trigger()
    title, text = blk.args
    assert title == "Bypass on, but Mullvad does not let it through"  # it is on: say so, and why
    assert "no split-tunnel accept rule" in text and "mullvad-tailscale-tray doctor" in text
    qtbot.waitUntil(lambda: (title, text) in sent, timeout=3000)  # what the user sees
    qtbot.waitUntil(u.menus.bypass.isEnabled, timeout=5000)
    assert rig.lab.table() is not None and rig.lab.saved() is not None  # exit 6: on and saved, not effective
    qtbot.waitUntil(lambda: "Bypass: on (direct)" in u.tray.toolTip(), timeout=5000)
    assert u.menus.bypass.isChecked()
    # the user did turn it on: the consent stands (keeping it right is the reconciler's job)
    assert rig.app.settings.bypass_wanted  # type: ignore[attr-defined]


def test_enable_that_changed_nothing_records_no_consent(rig: TrayRig, qtbot) -> None:  # type: ignore[no-untyped-def]
    """Exit 6 before anything changed (the state directory is unsafe): the toggle stays off, no consent."""
    rig.lab.state_dir.chmod(0o777)  # writable by everyone: root refuses to save its state there
    start(rig, qtbot)
    u = ui(rig)
    with qtbot.waitSignal(rig.app.controller.message, timeout=10000) as blk:  # type: ignore[attr-defined]
        u.menus.bypass.trigger()
    title, text = blk.args
    assert title == "Could not turn on the bypass" and "chmod 0755" in text  # the fix
    qtbot.waitUntil(u.menus.bypass.isEnabled, timeout=5000)
    assert not u.menus.bypass.isChecked() and not rig.app.settings.bypass_wanted  # type: ignore[attr-defined]
    assert rig.lab.table() is None


def test_mullvad_and_tailscale_actions_reach_the_daemons(rig: TrayRig, qtbot) -> None:  # type: ignore[no-untyped-def]
    d = rig.daemons
    start(rig, qtbot)
    m = ui(rig).menus
    tip = ui(rig).tray.toolTip
    failures: list[tuple[str, str]] = []
    rig.app.controller.message.connect(lambda a, b: failures.append((a, b)))  # type: ignore[attr-defined]
    m.mullvad_reconnect.trigger()  # `mullvad reconnect`: disconnecting, connecting, connected again
    qtbot.waitUntil(lambda: d.mullvad_history()[-3:] == ["disconnecting:reconnect", "connecting", "connected"],
                    timeout=10000)  # fmt: skip
    m.mullvad_disconnect.trigger()
    qtbot.waitUntil(lambda: d.mullvad_state() == "disconnected", timeout=10000)
    qtbot.waitUntil(m.mullvad_connect.isEnabled, timeout=5000)  # the daemon's new state came back
    assert not m.mullvad_disconnect.isEnabled() and "Mullvad: disconnected" in tip()
    m.tailscale_toggle.trigger()  # "Tailscale: down": PATCH prefs WantRunning=false
    qtbot.waitUntil(lambda: d.tailscale.backend_state == "Stopped", timeout=5000)
    assert [p["WantRunning"] for p in d.tailscale.patches] == [False]
    qtbot.waitUntil(lambda: m.tailscale_toggle.text() == "Tailscale: up", timeout=5000)
    m.mullvad_connect.trigger()
    m.tailscale_toggle.trigger()
    qtbot.waitUntil(lambda: d.mullvad_state() == "connected", timeout=10000)
    qtbot.waitUntil(lambda: d.tailscale.backend_state == "Running", timeout=5000)
    assert [p["WantRunning"] for p in d.tailscale.patches] == [False, True]
    qtbot.waitUntil(lambda: m.tailscale_toggle.text() == "Tailscale: down", timeout=5000)
    qtbot.waitUntil(m.mullvad_disconnect.isEnabled, timeout=5000)
    # "connecting" enables Disconnect too: wait for the daemon's final state to reach the tooltip
    qtbot.waitUntil(lambda: "Mullvad: connected to se-got-wg-001" in tip(), timeout=5000)
    assert failures == []


def test_a_failed_mullvad_action_is_shown_with_the_daemons_reason(rig: TrayRig, qtbot) -> None:  # type: ignore[no-untyped-def]
    rig.daemons.mullvad.configure(fail={"disconnect": "Error: the daemon refused to disconnect"})
    start(rig, qtbot)
    sent: list[tuple[str, str]] = []
    rig.app.notifier.sent.connect(lambda n: sent.append((n.summary, n.body)))  # type: ignore[attr-defined]
    with qtbot.waitSignal(rig.app.controller.message, timeout=10000) as blk:  # type: ignore[attr-defined]
        ui(rig).menus.mullvad_disconnect.trigger()
    title, text = blk.args
    assert title == "Action failed" and text.startswith("Could not disconnect Mullvad")
    assert "refused to disconnect" in text
    qtbot.waitUntil(lambda: (title, text) in sent, timeout=3000)
    assert rig.daemons.mullvad_state() == "connected" and ui(rig).menus.mullvad_disconnect.isEnabled()


def test_operator_hint_replaces_the_toggle_and_copies_the_fix(rig: TrayRig, qtbot) -> None:  # type: ignore[no-untyped-def]
    """tailscaled answers 403 to a user who is not its operator: the user reads the fix, and the menu
    offers to copy it in place of the toggle."""
    rig.daemons.tailscale.deny_writes = True
    start(rig, qtbot)
    m = ui(rig).menus
    assert not m.operator_hint.isVisible() and m.tailscale_toggle.isEnabled()
    sent: list[tuple[str, str]] = []
    rig.app.notifier.sent.connect(lambda n: sent.append((n.summary, n.body)))  # type: ignore[attr-defined]
    with qtbot.waitSignal(rig.app.controller.message, timeout=10000) as blk:  # type: ignore[attr-defined]
        m.tailscale_toggle.trigger()  # "Tailscale: down"
    title, text = blk.args
    assert "prefs write access denied" in text and "sudo tailscale set --operator=$USER" in text
    assert rig.daemons.tailscale.patches == [{"WantRunning": False, "WantRunningSet": True}]
    assert rig.daemons.tailscale.backend_state == "Running"  # refused: nothing changed
    qtbot.waitUntil(lambda: (title, text) in sent, timeout=3000)  # what the user sees
    qtbot.waitUntil(m.operator_hint.isVisible, timeout=3000)
    assert not m.tailscale_toggle.isEnabled()
    m.operator_hint.trigger()
    assert QGuiApplication.clipboard().text() == "sudo tailscale set --operator=$USER"


def test_copy_ip_and_login_items(rig: TrayRig, qtbot) -> None:  # type: ignore[no-untyped-def]
    start(rig, qtbot)
    m = ui(rig).menus
    m.copy_ip.trigger()
    assert QGuiApplication.clipboard().text() == "100.101.102.103"
    rig.daemons.tailscale_to("needs-login")
    qtbot.waitUntil(m.tailscale_login.isVisible, timeout=5000)
    assert not m.copy_ip.isEnabled()


def test_start_on_login_round_trip(rig: TrayRig, qtbot, isolated_config: Path) -> None:  # type: ignore[no-untyped-def]
    require_tools("desktop-file-validate")
    start(rig, qtbot)
    m = ui(rig).menus
    path = isolated_config / "autostart" / "mullvad-tailscale-tray.desktop"
    assert not m.autostart.isChecked() and not path.exists()
    m.autostart.trigger()
    assert m.autostart.isChecked() and path.is_file()
    r = subprocess.run(["desktop-file-validate", str(path)], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout == "", r.stdout + r.stderr
    text = path.read_text()
    assert "--hidden" in next(line for line in text.splitlines() if line.startswith("Exec="))
    m.autostart.trigger()
    assert not m.autostart.isChecked() and not path.exists()


def autostart_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tray_app", "autostart", *args], capture_output=True, text=True
    )


def test_autostart_cli_round_trip(isolated_config: Path) -> None:
    require_tools("desktop-file-validate")

    def run(*a):
        return subprocess.run(
            [sys.executable, "-m", "tray_app", "autostart", *a], capture_output=True, text=True
        )

    assert run("status").stdout.startswith("autostart off")
    r = run("on")
    assert r.returncode == 0 and autostart.path().is_file()
    assert subprocess.run(["desktop-file-validate", str(autostart.path())]).returncode == 0
    assert run("status").stdout.startswith("autostart on")
    assert run("off").returncode == 0 and not autostart.path().exists()
    assert run("off").stdout.strip() == "autostart was already off"


def test_notification_settings_reach_the_policy(rig: TrayRig, qtbot) -> None:  # type: ignore[no-untyped-def]
    from tray_app.core.notify_policy import Category

    start(rig, qtbot)
    m, policy = ui(rig).menus, rig.app.policy  # type: ignore[attr-defined]
    m.notifications.trigger()
    assert not policy.enabled and not rig.app.settings.notifications  # type: ignore[attr-defined]
    assert not m.category_actions[Category.BYPASS].isEnabled()
    m.notifications.trigger()
    m.category_actions[Category.TAILSCALE].trigger()
    assert policy.enabled and policy.muted == {Category.TAILSCALE}
    assert rig.app.settings.muted == {Category.TAILSCALE}  # type: ignore[attr-defined]


def test_icon_style_setting(rig: TrayRig, qtbot) -> None:  # type: ignore[no-untyped-def]
    start(rig, qtbot)
    u = ui(rig)
    u.menus.style_actions["dark"].trigger()
    assert u.style.value == "dark" and rig.app.settings.icon_style == "dark"  # type: ignore[attr-defined]
    img = u.tray.icon().pixmap(32, 32).toImage()
    assert img.pixelColor(8, 12).lightness() > 200  # light glyphs for a dark panel


def test_left_click_shows_the_status_window(rig: TrayRig, qtbot) -> None:  # type: ignore[no-untyped-def]
    start(rig, qtbot)
    u = ui(rig)
    u.tray.activated.emit(QSystemTrayIcon.ActivationReason.Trigger)
    qtbot.waitUntil(u.popup.isVisible, timeout=2000)
    assert "Mullvad: connected to se-got-wg-001" in u.popup.facts.text()
    u.tray.activated.emit(QSystemTrayIcon.ActivationReason.Trigger)
    assert not u.popup.isVisible()


# -- reconcile ---------------------------------------------------------------------------------------


def test_without_a_reconciler_the_tray_runs_no_helper_by_itself(rig: TrayRig, qtbot) -> None:  # type: ignore[no-untyped-def]
    """Drift at start-up, a new subnet route, a Mullvad reconnect: shown (out of date, with Repair), never
    fixed behind the user's back (no password-free `refresh` exists any more); Repair is the user's `enable`."""
    rig.lab.enable("direct")
    rig.lab.tamper()  # someone edited our table before the tray started
    rig.app.settings.bypass_wanted = True  # type: ignore[attr-defined]  (consent from an earlier session)
    start(rig, qtbot)
    u = ui(rig)
    qtbot.waitUntil(lambda: "out of date" in u.tray.toolTip(), timeout=10000)
    rig.lab.add_peer_route()
    rig.daemons.mullvad.set_state("connecting")
    rig.daemons.mullvad.set_state("connected")
    qtbot.wait(2500)  # past every debounce and grace
    assert set(rig.processes()) == {"status"}  # reads only (from the helper here: no reconciler runs)
    assert "192.0.2.0/24" in rig.lab.tailnet4()
    rig.app.on_action("repair-bypass")  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: "Bypass: on (direct)" in u.tray.toolTip(), timeout=10000)
    assert "enable" in rig.processes() and "refresh" not in rig.verbs()
    assert "192.0.2.0/24" not in rig.lab.tailnet4() and PEER_SUBNET in rig.lab.tailnet4()


def test_lost_bypass_is_not_restored_without_a_click(rig: TrayRig, qtbot) -> None:  # type: ignore[no-untyped-def]
    rig.lab.enable("direct")
    start(rig, qtbot)
    rig.app.settings.bypass_wanted = True  # type: ignore[attr-defined]
    u = ui(rig)
    qtbot.waitUntil(lambda: "Bypass: on" in u.tray.toolTip(), timeout=10000)
    rig.lab.delete_table()  # an nftables reload removed our table; the helper still has it saved
    rig.monitor.bypass.read_soon()  # type: ignore[attr-defined]  (what a netlink hint does)
    qtbot.waitUntil(lambda: "Bypass: lost" in u.tray.toolTip(), timeout=10000)
    assert u.spec.mark is Mark.DRIFTED
    qtbot.wait(300)
    assert rig.lab.table() is None and not {"enable", "refresh"} & set(rig.verbs())
    rig.app.on_action("restore-bypass")  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: "Bypass: on (direct)" in u.tray.toolTip(), timeout=10000)
    assert "enable" in rig.verbs() and "refresh" not in rig.verbs()  # the user's click: enable
    assert rig.lab.table() is not None

    # removed completely (an administrator ran `bypass off` elsewhere): the click has to `enable`
    assert rig.lab.helper("disable").returncode == 0
    qtbot.waitUntil(lambda: "Bypass: off" in u.tray.toolTip(), timeout=10000)  # the state dir watch saw it
    qtbot.wait(300)
    assert rig.lab.table() is None and rig.verbs().count("enable") == 1
    assert not rig.app.settings.bypass_wanted  # type: ignore[attr-defined]  (an `off` anywhere is a choice)
    rig.app.on_action("restore-bypass")  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: "Bypass: on (direct)" in u.tray.toolTip(), timeout=10000)
    assert rig.verbs().count("enable") == 2 and rig.lab.saved()["mode"] == "direct"  # type: ignore[index]


def test_bypass_is_never_turned_on_without_consent(rig: TrayRig, qtbot) -> None:  # type: ignore[no-untyped-def]
    start(rig, qtbot)
    with qtbot.waitSignal(rig.monitor.netlink.table52_changed, timeout=10000):  # type: ignore[attr-defined]
        rig.lab.add_peer_route()  # the tray hears of it ...
    seen: list[str] = []
    rig.monitor.snapshot_changed.connect(lambda s: seen.append(s.mullvad.state.value))  # type: ignore[attr-defined]
    rig.daemons.mullvad.set_state("connecting")
    rig.daemons.mullvad.set_state("connected")
    qtbot.waitUntil(lambda: seen[-2:] == ["connecting", "connected"], timeout=5000)  # the tray saw both
    qtbot.wait(800)
    assert set(rig.verbs()) == {"status"}
    assert rig.lab.table() is None and rig.lab.saved() is None


def test_doctor_window_lists_checks_and_explains_a_missing_command(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tray_app.ui.doctor_window import DoctorWindow

    report = (
        '{"checks":[{"id":"helper","status":"ok","summary":"bypass helper installed","detail":"","fix":""},'
        '{"id":"operator","status":"fail","summary":"you are not Tailscale\'s operator","detail":"403",'
        '"fix":"run `sudo tailscale set --operator=$USER`"}]}'
    )
    fake = tmp_path / "doctor.py"
    fake.write_text(f"import sys\nprint({report!r})\nsys.exit(1)\n")
    w = DoctorWindow([sys.executable, str(fake)])
    qtbot.addWidget(w)
    w.run()
    qtbot.waitUntil(lambda: w.tree.topLevelItemCount() == 2, timeout=5000)
    fail = w.tree.topLevelItem(1)
    assert fail.text(0) == "✖ fail" and fail.child(1).text(1) == "run `sudo tailscale set --operator=$USER`"
    assert w.status.text() == "Some checks need attention (1 fail, 1 ok)."
    missing = tmp_path / "old.py"
    missing.write_text(
        "import sys\nsys.stderr.write('mullvad-tailscale-tray: cannot start `doctor`: No module named x\\n')\n"
        "sys.exit(1)\n"
    )
    w2 = DoctorWindow([sys.executable, str(missing)])
    qtbot.addWidget(w2)
    w2.run()
    qtbot.waitUntil(lambda: "not available in this installation" in w2.status.text(), timeout=5000)
    w3 = DoctorWindow(["/nonexistent/mullvad-tailscale-tray"])
    qtbot.addWidget(w3)
    w3.run()
    qtbot.waitUntil(lambda: w3.status.text().startswith("Could not start"), timeout=5000)


def test_second_instance_asks_the_first_to_show_itself(qtbot) -> None:  # type: ignore[no-untyped-def]
    from tray_app.desktop.single_instance import SingleInstance

    first = SingleInstance()
    assert first.listen()
    second = SingleInstance()
    with qtbot.waitSignal(first.show_requested, timeout=3000):
        assert second.ask_running_instance()
    first.close()
    third = SingleInstance()
    assert not third.ask_running_instance(200)
    assert third.listen()  # a stale socket file is taken over
    third.close()


def test_autostart_off_hides_a_system_wide_entry(isolated_config: Path, tmp_path: Path) -> None:
    """Packages install /etc/xdg/autostart/mullvad-tailscale-tray.desktop: "off" must override it with the
    user's Hidden=true file, not just remove the user's file."""
    require_tools("desktop-file-validate")
    system = tmp_path / "xdg" / "autostart" / "mullvad-tailscale-tray.desktop"
    system.parent.mkdir(parents=True)
    system.write_text(
        "[Desktop Entry]\nType=Application\nName=Mullvad + Tailscale\nExec=mullvad-tailscale-tray --hidden\n"
    )
    run = autostart_cli
    assert run("status").stdout.startswith("autostart on")
    assert run("off").returncode == 0
    user = isolated_config / "autostart" / "mullvad-tailscale-tray.desktop"
    assert "Hidden=true" in user.read_text().splitlines()
    assert subprocess.run(["desktop-file-validate", str(user)]).returncode == 0
    assert run("status").stdout.startswith("autostart off")
    assert run("on").returncode == 0 and autostart.is_enabled()
    assert "Hidden=true" not in user.read_text()


def test_status_window_stays_on_screen_with_long_details(rig: TrayRig, qtbot) -> None:  # type: ignore[no-untyped-def]
    start(rig, qtbot)
    u = ui(rig)
    u.show_status()
    qtbot.waitUntil(u.popup.isVisible, timeout=2000)
    rig.daemons.mullvad.stop_daemon("permission-denied")  # the longest detail: the error chain and its fix
    qtbot.waitUntil(lambda: "not available" in u.popup.facts.text(), timeout=10000)
    qtbot.wait(200)  # let the layout resize the window
    screen = QGuiApplication.primaryScreen().availableGeometry()
    assert screen.contains(u.popup.geometry()), (u.popup.geometry(), screen)


def test_a_mode_changed_in_a_terminal_is_said_followed_and_options_are_kept(rig: TrayRig, qtbot) -> None:  # type: ignore[no-untyped-def]
    """Issue 14.1 in the tray: a terminal's `bypass on --mode direct` is announced (not only the radio button
    moving), the tray's own off/on afterwards keeps that mode instead of switching back to its old one, and
    the tray (which sends only the mode) keeps the options chosen in the terminal."""
    r = rig.lab.helper("enable", "--mode", "private", "--containers")
    assert r.returncode == 0, r.stderr
    start(rig, qtbot)
    u = ui(rig)
    settings = rig.app.settings  # type: ignore[attr-defined]
    sent: list[tuple[str, str]] = []
    rig.app.notifier.sent.connect(lambda n: sent.append((n.summary, n.body)))  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: "Bypass: on (private" in u.tray.toolTip(), timeout=10000)
    assert u.menus.mode_actions["private"].isChecked() and settings.bypass_mode == "private"

    r = rig.lab.helper("enable", "--mode", "direct")  # the administrator, in a terminal
    assert r.returncode == 0, r.stderr
    qtbot.waitUntil(lambda: ("Bypass mode changed to direct", DIRECT_MEANS) in sent, timeout=10000)
    assert u.menus.mode_actions["direct"].isChecked() and settings.bypass_mode == "direct"

    u.menus.bypass.trigger()  # off from the tray ...
    qtbot.waitUntil(lambda: "Bypass: off" in u.tray.toolTip() and u.menus.bypass.isEnabled(), timeout=10000)
    u.menus.bypass.trigger()  # ... and on again
    qtbot.waitUntil(
        lambda: "Bypass: on (direct" in u.tray.toolTip() and u.menus.bypass.isEnabled(), timeout=10000
    )
    assert rig.lab.saved() == {"version": 1, "mode": "direct", "options": ["containers"]}


DIRECT_MEANS = "Tailscale, its relays and your peers now see this device's real IP."
