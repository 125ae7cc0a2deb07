"""Issue 14: a new user's first hour. Each test goes through what the user touches: the exported DBusMenu
as an SNI host reads and clicks it, notifications on dunst, the command line."""

from __future__ import annotations

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
