"""Reconcile with the real root helper and real nft inside a private network namespace, and dunst:
our table disappears -> "Bypass lost" with a Restore action -> the click puts it back. Nothing is ever
enabled without that click."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.infra.netns import NetNS
from tests.infra.require import require_tools
from tests.tray.standins import MULLVAD_CONNECTED, TS_RUNNING, ScriptedSource


def _table(ns: NetNS) -> bool:
    return ns.run("nft", "list", "table", "inet", "mullvad-tailscale", check=False).returncode == 0


def test_lost_table_is_announced_and_restored_only_by_the_click(
    netns: NetNS, dunst, xembed_host, qtbot, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    require_tools("nft")
    from tray_app.app import TrayApplication
    from tray_app.core.notify_policy import PolicyConfig
    from tray_app.monitor import Monitor
    from tray_app.sources.bypass_client import BypassClient
    from tray_app.sources.bypass_run import HelperCommand
    from tray_app.sources.settings import Settings

    state_dir = tmp_path / "state"
    state_dir.mkdir()
    # the real helper, as root, in the namespace; its saved state in a temporary directory
    helper = HelperCommand(
        helper="tray_app.helper",
        use_pkexec=False,
        prefix=(
            *netns.argv("env", f"MTT_STATE_DIR={state_dir}", f"PYTHONPATH={Path.cwd()}"),
            sys.executable,
            "-m",
        ),
    )
    mullvad, tailscale = ScriptedSource(), ScriptedSource()
    mullvad.value, tailscale.value = MULLVAD_CONNECTED, TS_RUNNING
    monitor = Monitor(
        mullvad, tailscale, BypassClient(helper), None, bypass_debounce_ms=20, ready_timeout_ms=500
    )
    settings = Settings(str(tmp_path / "settings.ini"))
    app = TrayApplication(monitor, settings, policy_config=PolicyConfig(settle=0.3, user_window=2.0))
    sent: list[str] = []
    app.notifier.sent.connect(lambda n: sent.append(n.summary))
    app.start(show_status=False)
    try:
        qtbot.waitUntil(lambda: monitor.is_ready, timeout=10000)
        assert not _table(netns)
        qtbot.waitUntil(
            lambda: "Tailnet cut off" in sent, timeout=5000
        )  # cut off at start-up: one suggestion

        app.ui.menus.bypass.trigger()  # consent
        qtbot.waitUntil(lambda: "Bypass: on (direct)" in app.ui.tray.toolTip(), timeout=10000)
        assert _table(netns) and settings.bypass_wanted
        qtbot.wait(2500)  # past the "user just did it" window

        netns.run("nft", "delete", "table", "inet", "mullvad-tailscale")  # someone flushed our table
        monitor.refresh_bypass()  # what a netlink hint or a Mullvad state change triggers
        qtbot.waitUntil(lambda: "Bypass lost" in sent, timeout=10000)
        assert "lost" in app.ui.tray.toolTip()
        qtbot.wait(500)
        assert not _table(netns), "the tray must not restore the bypass by itself"

        # the user clicks "Restore bypass" in the notification (dunst: oldest first, so close the others)
        while (
            int(subprocess.run(["dunstctl", "count", "displayed"], capture_output=True, text=True).stdout) > 1
        ):
            subprocess.run(["dunstctl", "close"], check=True)
            qtbot.wait(100)
        subprocess.run(["dunstctl", "action", "0"], check=True)
        qtbot.waitUntil(lambda: _table(netns), timeout=10000)  # by `refresh`: saved as on, no password needed
        qtbot.waitUntil(lambda: "Bypass: on (direct)" in app.ui.tray.toolTip(), timeout=10000)
        history = [h["summary"] for h in dunst()]
        assert history.count("Bypass lost") == 1
        assert history[-1] in ("Bypass on (direct)", "Bypass lost")
    finally:
        app.stop()
