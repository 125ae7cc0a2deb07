"""Issue 14: a new user's first hour. Each test goes through what the user touches: the exported DBusMenu
as an SNI host reads and clicks it, notifications on dunst, the command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.infra.require import require, require_tools
from tests.tray.conftest import TrayRig
from tests.tray.dbusmenu import host_view
from tests.tray.test_menu_and_controller import autostart_cli


def _start(rig: TrayRig, qtbot) -> None:  # type: ignore[no-untyped-def]
    rig.app.start(show_status=False)  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: rig.monitor.is_ready, timeout=10000)  # type: ignore[attr-defined]


def test_doctor_from_the_menu_checks_the_daemons_the_tray_shows(sni_host, rig: TrayRig, qtbot) -> None:  # type: ignore[no-untyped-def]
    """14.4: the tray runs on --tailscale-socket/--mullvad-cli; its Doctor window must too, not report
    tailscaled unreachable and tell the user to pass the option they passed."""
    _start(rig, qtbot)
    ui = rig.app.ui  # type: ignore[attr-defined]
    with host_view(qtbot) as host:
        host.click("Doctor…")
        qtbot.waitUntil(
            lambda: ui.doctor is not None and ui.doctor.tree.topLevelItemCount() > 5, timeout=60000
        )
    rows = {c["id"]: c for c in ui.doctor._checks}
    assert rows["tailscale.daemon"]["status"] == "ok", rows["tailscale.daemon"]
    assert rows["mullvad.daemon"]["status"] == "ok", rows["mullvad.daemon"]
    assert ui.doctor.windowTitle() == "Doctor"  # Qt adds " — Mullvad + Tailscale" once


def test_the_trays_daemon_options_are_what_it_passes_on() -> None:
    from tray_app.app import daemon_overrides
    from tray_app.cli import build_parser

    args = build_parser().parse_args(["--tailscale-socket", "/tmp/ts.sock", "--mullvad-cli", "/opt/mullvad"])
    assert daemon_overrides(args) == [
        "--mullvad-cli", "/opt/mullvad", "--tailscale-socket", "/tmp/ts.sock", "--tailscale-cli", "tailscale",
    ]  # fmt: skip


def test_start_on_login_follows_the_terminal(sni_host, rig: TrayRig, qtbot) -> None:  # type: ignore[no-untyped-def]
    """14.5: `autostart off` in a terminal; the menu the host opens next must not say "Start on login" ✓."""
    _start(rig, qtbot)
    with host_view(qtbot) as host:
        assert host.items()["Start on login"].checked is False
        host.click("Start on login")
        qtbot.waitUntil(lambda: host.items()["Start on login"].checked is True, timeout=3000)
        assert autostart_cli("status").stdout.startswith("autostart on")
        assert autostart_cli("off").returncode == 0
        assert host.items()["Start on login"].checked is False
        assert autostart_cli("on").returncode == 0
        assert host.items()["Start on login"].checked is True


def test_own_bypass_steps_on_private_off_are_each_confirmed(
    sni_host, dunst, notify_calls, rig: TrayRig, qtbot
) -> None:  # type: ignore[no-untyped-def]
    """14.6 end to end: on -> private -> off from the menu within seconds. Flap suppression is set to hold
    for ten minutes here, so if the user's own steps counted as flapping, "Bypass off" would never come."""
    from tray_app.core.notify_policy import PolicyConfig
    from tray_app.ui.menu import MODE_TEXT

    rig.app.policy.config = PolicyConfig(  # type: ignore[attr-defined]
        settle=0.3, flap_window=60.0, flap_count=4, flap_settle=600.0, user_window=20.0
    )
    _start(rig, qtbot)
    sent: list[str] = []
    rig.app.notifier.sent.connect(lambda n: sent.append(n.summary))  # type: ignore[attr-defined]
    with host_view(qtbot) as host:
        # each step once the previous one was confirmed (a state that never held 0.3 s is not news)
        host.click("Tailnet bypass")
        qtbot.waitUntil(lambda: "Bypass on (direct)" in sent, timeout=10000)
        assert "Bypass: on (direct)" in host.tooltip()
        qtbot.waitUntil(lambda: host.enabled(MODE_TEXT["private"]), timeout=10000)
        host.click(MODE_TEXT["private"])
        qtbot.waitUntil(lambda: "Bypass mode changed to private" in sent, timeout=10000)
        assert "Bypass: on (private)" in host.tooltip()
        qtbot.waitUntil(lambda: host.enabled("Tailnet bypass"), timeout=10000)  # not "(waiting for …)"
        host.click("Tailnet bypass")
        qtbot.waitUntil(lambda: "Bypass off" in sent, timeout=10000)  # with flapping: in 10 minutes
        assert "Bypass: off" in host.tooltip()
    assert [s for s in sent if s.startswith("Bypass")] == [
        "Bypass on (direct)",
        "Bypass mode changed to private",
        "Bypass off",
    ]
    calls = [c for c in notify_calls() if str(c["summary"]).startswith("Bypass")]
    assert [c["urgency"] for c in calls] == [0, 0, 0]  # the user's own: quieter
    assert rig.lab.table() is None


def test_login_entry_is_skipped_once_the_program_is_gone(isolated_config: Path, tmp_path: Path) -> None:
    """14.12: after a purge, the user's own autostart entry must not start a missing binary at every login.
    systemd's XDG autostart generator (what GNOME and KDE sessions on systemd use) decides, via TryExec."""
    generator = Path("/usr/lib/systemd/user-generators/systemd-xdg-autostart-generator")
    require(generator.is_file(), "needs systemd's XDG autostart generator (install systemd)")
    require_tools("desktop-file-validate")
    installed = tmp_path / "bin" / "mullvad-tailscale-tray"  # the installed command, as a package puts it
    installed.parent.mkdir()
    installed.write_text("#!/bin/sh\nexit 0\n")
    installed.chmod(0o755)
    env = {**os.environ, "PATH": f"{installed.parent}:{os.environ['PATH']}"}
    out = subprocess.run([sys.executable, "-m", "tray_app", "autostart", "on"], env=env, capture_output=True,
                         text=True, timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr
    entry = isolated_config / "autostart" / "mullvad-tailscale-tray.desktop"
    assert f"TryExec={installed}" in entry.read_text().splitlines()
    assert subprocess.run(["desktop-file-validate", str(entry)]).returncode == 0

    def units() -> list[str]:
        out = tmp_path / f"units-{len(list(tmp_path.glob('units-*')))}"
        out.mkdir()
        subprocess.run([str(generator), out, out, out], env=env, check=True, capture_output=True)
        return sorted({p.name for p in out.rglob("*.service")})

    assert units() == ["app-mullvad\\x2dtailscale\\x2dtray@autostart.service"]
    installed.unlink()  # apt purge
    assert units() == []


def test_log_in_without_a_working_browser_shows_the_link_to_copy(  # type: ignore[no-untyped-def]  # noqa: PLR0917
    sni_host, dunst, notify_calls, rig: TrayRig, qtbot, monkeypatch
) -> None:
    """14.9: "Tailscale: log in…" where xdg-open finds no working browser (BROWSER is one that fails, and
    no desktop default): the link is shown, and its button copies it."""
    from PyQt6.QtGui import QGuiApplication

    require_tools("xdg-open", "dunstctl")
    monkeypatch.setenv("BROWSER", "/bin/false")  # a browser that cannot start
    monkeypatch.setenv("XDG_DATA_DIRS", "/nonexistent")  # no desktop's default browser either
    monkeypatch.delenv("XDG_CURRENT_DESKTOP", raising=False)
    rig.daemons.tailscale_to("needs-login-auth-url")
    _start(rig, qtbot)
    url = rig.monitor.snapshot.tailscale.auth_url  # type: ignore[attr-defined]
    assert url and url.startswith("https://login.tailscale.com/a/")
    subprocess.run(["dunstctl", "close-all"], check=True)
    with host_view(qtbot) as host:
        host.click("Tailscale: log in…")
    summary = "Open this link to log in to Tailscale"

    def shown() -> list[dict[str, object]]:
        return [c for c in notify_calls() if c["summary"] == summary]

    qtbot.waitUntil(lambda: bool(shown()), timeout=15000)
    (call,) = shown()
    assert str(call["body"]).startswith(url) and "no web browser was found" in str(call["body"])
    assert call["actions"] == ["copy-link", "Copy link", "default", "Copy link"]
    QGuiApplication.clipboard().clear()
    qtbot.waitUntil(lambda: _displayed() == 1, timeout=3000)
    subprocess.run(["dunstctl", "action", "0"], check=True)  # the user clicks it
    qtbot.waitUntil(lambda: QGuiApplication.clipboard().text() == url, timeout=5000)


def _displayed() -> int:
    out = subprocess.run(["dunstctl", "count", "displayed"], capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


def test_polish_what_the_user_reads(sni_host, dunst, notify_calls, rig: TrayRig, qtbot, qapp) -> None:  # type: ignore[no-untyped-def]  # noqa: PLR0917
    """14.13: the item is listed as "Mullvad + Tailscale"; notifications carry the icon of the state they
    announce; the leak warning says its fix once and goes away when Mullvad connects again; bodies start
    uppercase; the tooltip keeps the bypass options; the status window shows long details whole."""
    from PyQt6.QtGui import QImage

    from tray_app.app import name_application

    names = (qapp.applicationName(), qapp.applicationDisplayName(), qapp.desktopFileName())
    name_application(qapp)  # as `mullvad-tailscale-tray` names itself
    try:
        rig.lab.helper("enable", "--containers")
        _start(rig, qtbot)
        ui = rig.app.ui  # type: ignore[attr-defined]
        with host_view(qtbot) as host:
            assert host.prop("Title") == "Mullvad + Tailscale"
            assert "Bypass: on (direct, containers)" in host.tooltip()
    finally:
        qapp.setApplicationName(names[0])
        qapp.setApplicationDisplayName(names[1])
        qapp.setDesktopFileName(names[2])

    def call(summary: str) -> dict[str, object]:
        qtbot.waitUntil(lambda: any(c["summary"] == summary for c in notify_calls()), timeout=10000)
        return [c for c in notify_calls() if c["summary"] == summary][-1]

    rig.daemons.mullvad.set_state("error", cause="tunnel_parameter_error", cause_details="no_matching_relay")
    blocked = call("Mullvad is blocking traffic")
    assert str(blocked["body"]).startswith("No Mullvad relay matches your settings")
    rig.daemons.mullvad.set_state("error", cause="is_offline", block_failure=True)
    leak = call("Mullvad could not block traffic")
    body = str(leak["body"])
    assert body.count("systemctl restart mullvad-daemon") == 1 and body.count("Mullvad") <= 2, body
    assert body[0].isupper()
    icons = {str(blocked["icon"]), str(leak["icon"])}
    assert len(icons) == 2 and all(i.endswith(".png") and QImage(i).width() == 64 for i in icons), icons
    assert str(leak["icon"]).endswith("leaking+running+on.png")  # the tray's own icon of that state
    qtbot.waitUntil(lambda: _displayed() == 1, timeout=3000)
    rig.daemons.mullvad.set_state("connected")  # the warning is false now: withdrawn, not left up
    qtbot.waitUntil(lambda: _displayed() == 0, timeout=5000)
    connected = call("Mullvad connected")
    assert str(connected["icon"]).endswith("connected+running+on.png")

    rig.daemons.mullvad.stop_daemon("permission-denied")  # the longest detail: its error chain and fix
    ui.show_status()
    qtbot.waitUntil(lambda: "not available" in ui.popup.facts.text(), timeout=10000)
    qtbot.wait(300)
    facts = ui.popup.facts
    assert facts.height() >= facts.heightForWidth(facts.width()), (
        facts.height(),
        facts.heightForWidth(facts.width()),
    )
