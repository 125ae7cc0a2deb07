"""Reconcile with the real root helper and real nft inside a private network namespace, and dunst:
our table disappears -> "Bypass lost" with a Restore action -> the click puts it back. Nothing is ever
enabled without that click."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.tray.bypass_lab import BypassLab
from tests.tray.conftest import dispose
from tests.tray.daemons import Daemons


def test_lost_table_is_announced_and_restored_only_by_the_click(  # noqa: PLR0917 -- pytest fixtures
    lab: BypassLab, daemons: Daemons, dunst, xembed_host, qtbot, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from tray_app.app import TrayApplication
    from tray_app.core.notify_policy import PolicyConfig
    from tray_app.desktop.settings import Settings
    from tray_app.monitor import Monitor
    from tray_app.rootside.service import BypassService

    mullvad, tailscale = daemons.sources()  # the fakes: Mullvad connected, Tailscale running
    monitor = Monitor(
        mullvad,
        tailscale,
        BypassService(lab.command, state_dir=str(lab.state_dir), debounce_ms=20),
        None,
        ready_timeout_ms=5000,
    )
    settings = Settings(str(tmp_path / "settings.ini"))
    app = TrayApplication(monitor, settings, policy_config=PolicyConfig(settle=0.3, user_window=2.0))
    sent: list[str] = []
    app.notifier.sent.connect(lambda n: sent.append(n.summary))
    app.start(show_status=False)
    try:
        qtbot.waitUntil(lambda: monitor.is_ready, timeout=10000)
        assert lab.table() is None
        qtbot.waitUntil(
            lambda: "Tailnet cut off" in sent, timeout=5000
        )  # cut off at start-up: one suggestion

        app.ui.menus.bypass.trigger()  # consent
        qtbot.waitUntil(lambda: "Bypass: on (direct)" in app.ui.tray.toolTip(), timeout=10000)
        # the tooltip follows the helper's reply; the consent is saved by the controller's own slot
        qtbot.waitUntil(lambda: lab.table() is not None and settings.bypass_wanted, timeout=5000)
        qtbot.wait(2500)  # past the "user just did it" window

        lab.delete_table()  # someone flushed our table
        monitor.bypass.read_soon()  # what a netlink hint or a Mullvad state change triggers
        qtbot.waitUntil(lambda: "Bypass lost" in sent, timeout=10000)
        assert "lost" in app.ui.tray.toolTip()
        qtbot.wait(500)
        assert lab.table() is None, "the tray must not restore the bypass by itself"

        # the user clicks "Restore bypass" in the notification (dunst: oldest first, so close the others)
        while (
            int(subprocess.run(["dunstctl", "count", "displayed"], capture_output=True, text=True).stdout) > 1
        ):
            subprocess.run(["dunstctl", "close"], check=True)
            qtbot.wait(100)
        subprocess.run(["dunstctl", "action", "0"], check=True)
        # by `enable` (the user's click; through pkexec that is the administrator's password, kept a while)
        qtbot.waitUntil(lambda: lab.table() is not None, timeout=10000)
        qtbot.waitUntil(lambda: "Bypass: on (direct)" in app.ui.tray.toolTip(), timeout=10000)
        history = [h["summary"] for h in dunst()]
        assert history.count("Bypass lost") == 1
        assert history[-1] in ("Bypass on (direct)", "Bypass lost")
    finally:
        dispose(app)
