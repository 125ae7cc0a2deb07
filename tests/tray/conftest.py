"""Fixtures for the tray tests: isolated config, the real Monitor fed by the real Mullvad and Tailscale sources
reading the fakes that speak those daemons' protocols (tests/tray/daemons.py), the real bypass
helper in a private network namespace (tests/tray/bypass_lab.py), real pkexec + polkitd for what only polkit
can say, and the real desktop pieces (dunst, trayer, gtk-sni-tray) on the private bus and Xvfb of
tests/conftest.py."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.infra.desktop import bus_has_name, running, stop, wait_until
from tests.infra.desktop import sni_host_registered as desktop_sni_host_registered
from tests.infra.netns import NetNS
from tests.infra.require import require, require_root, require_tools
from tests.tray.bypass_lab import BypassLab
from tests.tray.daemons import Daemons, fake_daemons


@pytest.fixture(autouse=True)
def isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Never touch the developer's ~/.config or a running tray's socket."""
    cfg = tmp_path / "config"
    run = tmp_path / "run"
    cfg.mkdir()
    run.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(cfg))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(run))
    monkeypatch.setenv(
        "XDG_CONFIG_DIRS", str(tmp_path / "xdg")
    )  # no system-wide autostart entry unless a test adds one
    return cfg


def needs_x() -> None:
    require(
        os.environ.get("QT_QPA_PLATFORM") == "xcb", "needs Xvfb (install xvfb; tests/conftest.py starts it)"
    )


@dataclass
class TrayRig:
    app: object  # tray_app.app.TrayApplication
    daemons: Daemons  # the fake `mullvad` CLI and tailscaled LocalAPI the real sources read
    lab: BypassLab  # the real helper's namespace: its nft table, table 52, saved state
    monitor: object
    results: list[object]  # every HelperResult of a helper process the tray ran (one pkexec each), in order

    def verbs(self) -> list[str]:
        """The helper verbs the tray ran (each one a real helper process)."""
        return [r.verb for r in self.results]  # type: ignore[attr-defined]

    def processes(self) -> list[str]:
        """The helper verbs the tray ran as processes (each a pkexec for a user): not the published status."""
        return [r.verb for r in self.results if not r.published]  # type: ignore[attr-defined]


@pytest.fixture
def lab(netns: NetNS, tmp_path: Path) -> BypassLab:
    require_root()
    require_tools("nft", "ip")
    return BypassLab(netns, tmp_path / "state")


@pytest.fixture
def daemons() -> Iterator[Daemons]:
    """Mullvad connected, Tailscale running, until a test changes them through the fakes' controls."""
    with fake_daemons() as d:
        yield d


@pytest.fixture
def rig(
    qtbot: object, tmp_path: Path, lab: BypassLab, daemons: Daemons, request: pytest.FixtureRequest
) -> Iterator[TrayRig]:
    """The tray, not started yet: set the daemons' states through `rig.daemons` first, then start it.
    Indirect parameters (a dict) go to the bypass service, e.g. `{"debounce_ms": 300}` (default 20)."""
    from tray_app.app import TrayApplication
    from tray_app.core.notify_policy import PolicyConfig
    from tray_app.daemons.netlink import NetlinkWatcher
    from tray_app.desktop.settings import Settings
    from tray_app.monitor import Monitor
    from tray_app.rootside.service import BypassService

    mullvad, tailscale = daemons.sources()
    service = BypassService(
        lab.command, state_dir=str(lab.state_dir), **{"debounce_ms": 20, **getattr(request, "param", {})}
    )
    results: list[object] = []
    service.client.finished.connect(results.append)
    netlink = NetlinkWatcher()
    lab.start_watching(netlink)  # route and link changes in the helper's namespace are real events
    monitor = Monitor(
        mullvad,
        tailscale,
        service,  # the helper's saved state lives in lab.state_dir, not in /var/lib
        netlink,
        ready_timeout_ms=5000,  # ready comes when both fakes answered; this only bounds a lost one
    )
    app = TrayApplication(
        monitor,
        Settings(str(tmp_path / "config" / "mullvad-tailscale-tray" / "settings.ini")),
        policy_config=PolicyConfig(
            settle=0.3, flap_window=5.0, flap_count=4, flap_settle=3.0, user_window=5.0
        ),
        # as `mullvad-tailscale-tray --mullvad-cli … --tailscale-socket …` would have been started
        overrides=["--mullvad-cli", str(daemons.mullvad.cli), "--tailscale-socket", daemons.tailscale.path],
    )
    yield TrayRig(app, daemons, lab, monitor, results)
    dispose(app)


def dispose(app: object) -> None:
    """Stop a test's tray and delete it: its pending timers (the no-tray check, 3 s after start) must not
    fire during a later test and send a notification to that test's server."""
    from PyQt6 import sip

    app.stop()  # type: ignore[attr-defined]
    app.ui.popup.close()  # type: ignore[attr-defined]
    sip.delete(app)  # type: ignore[arg-type]


# -- real desktop pieces ------------------------------------------------------------------------------


@pytest.fixture
def dunst() -> Iterator[object]:
    """A real notification daemon on the private bus. Yields `history()`: what it showed, oldest first."""
    needs_x()
    require_tools("dunst", "dunstctl", "busctl")
    from tests.infra.desktop import dunst as run_dunst

    def history() -> list[dict[str, str]]:
        subprocess.run(["dunstctl", "close-all"], check=True)
        time.sleep(0.1)
        out = subprocess.run(["dunstctl", "history"], capture_output=True, text=True, check=True).stdout
        items = json.loads(out)["data"][0]
        rows = [{k: str(n[k]["data"]) for k in ("appname", "summary", "body", "id")} for n in items]
        return sorted(rows, key=lambda r: int(r["id"]))

    with run_dunst():
        yield history


@pytest.fixture
def notify_calls(tmp_path: Path) -> Iterator[object]:
    """dbus-monitor on the private bus: every Notify call as {summary, body, urgency, actions}."""
    require_tools("dbus-monitor")
    log = tmp_path / "notify-calls.txt"
    with log.open("w") as out:
        p = subprocess.Popen(
            [
                "dbus-monitor",
                "--session",
                "type='method_call',interface='org.freedesktop.Notifications',member='Notify'",
            ],
            stdout=out,
            stderr=subprocess.DEVNULL,
        )
    time.sleep(0.2)  # let it subscribe

    def calls() -> list[dict[str, object]]:
        text = log.read_text()
        out = []
        for block in text.split("method call")[1:]:
            if "member=Notify" not in block:
                continue
            strings = re.findall(r'^\s*string "(.*)"$', block, re.M)
            urgency = re.search(r'string "urgency"\s+variant\s+byte (\d)', block)
            actions_part = block.split("array [", 1)[1].split("]", 1)[0] if "array [" in block else ""
            out.append(
                {
                    "icon": strings[1],
                    "summary": strings[2],
                    "body": strings[3],
                    "urgency": int(urgency.group(1)) if urgency else None,
                    "actions": re.findall(r'string "(.*)"', actions_part),
                }
            )
        return out

    try:
        yield calls
    finally:
        stop(p)  # type: ignore[arg-type]


@pytest.fixture
def xembed_host(qapp: object) -> Iterator[None]:
    """trayer: a real XEmbed system tray docked at the top right."""
    needs_x()
    from PyQt6.QtWidgets import QSystemTrayIcon

    argv = ["trayer", "--edge", "top", "--align", "right", "--widthtype", "pixel", "--width", "200",
            "--height", "32", "--SetDockType", "true", "--transparent", "false", "--tint", "0x333333"]  # fmt: skip
    require_tools("trayer")
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        end = time.monotonic() + 10
        while not QSystemTrayIcon.isSystemTrayAvailable():
            qapp.processEvents()  # type: ignore[attr-defined]
            time.sleep(0.02)
            assert time.monotonic() < end, "trayer did not become the tray manager"
        yield
    finally:
        stop(p)  # type: ignore[arg-type]


@pytest.fixture
def sni_host() -> Iterator[None]:
    """gtk-sni-tray-standalone --watcher: a real StatusNotifierItem host; Qt then exports SNI + DBusMenu."""
    needs_x()
    from tests.infra.desktop import sni_host as run_sni

    watcher = "org.kde.StatusNotifierWatcher"
    wait_until(lambda: not bus_has_name(watcher), 5, "the previous SNI watcher gone")
    with run_sni():
        # Qt picks SNI only when a host is registered, at the moment each tray icon is created: wait for it
        wait_until(_sni_host_registered, 10, "the SNI host registered with its watcher")
        yield


_sni_host_registered = desktop_sni_host_registered


@pytest.fixture
def xdotool() -> object:
    needs_x()
    require_tools("xdotool")

    def run(*args: object) -> None:
        subprocess.run(["xdotool", *map(str, args)], check=True)

    return run


__all__ = ["bus_has_name", "running", "shutil", "wait_until"]
