"""Doctor's checks of the desktop: tray host, notifications, autostart, the reachability probe."""

from __future__ import annotations

from tray_app.core.doctor.facts import (
    Check,
    Facts,
    Level,
)


def check_tray_host(f: Facts) -> Check:
    cid = "desktop.tray-host"
    if f.sni_host is None and f.xembed_host is None:
        return Check(cid, Level.SKIP, "No desktop session found (no D-Bus session bus or display)")
    if f.sni_host or f.xembed_host:
        kind = "StatusNotifierItem" if f.sni_host else "XEmbed"
        return Check(cid, Level.OK, f"A system tray is available ({kind})")
    return Check(
        cid,
        Level.WARN,
        "No system tray is available",
        "The tray icon cannot be shown; notifications and the command line still work.",
        "On GNOME install and enable the AppIndicator extension (`gnome-shell-extension-appindicator`); "
        "on other desktops add a system tray / status notifier applet to the panel.",
    )


def check_notifications(f: Facts) -> Check:
    cid = "desktop.notifications"
    if f.notification_server is None:
        return Check(cid, Level.SKIP, "No D-Bus session bus to look for a notification server")
    if not f.notification_server:
        return Check(
            cid,
            Level.WARN,
            "No notification server is running",
            "Tunnel changes cannot pop up as desktop notifications.",
            "Start your desktop's notification daemon (e.g. `dunst &` or `mako &`).",
        )
    return Check(cid, Level.OK, f"Notification server: {f.notification_server}")


def check_autostart(f: Facts) -> Check:
    cid = "desktop.autostart"
    if f.autostart is None:
        return Check(cid, Level.SKIP, "Autostart state unknown")
    if f.autostart:
        return Check(cid, Level.OK, "The tray starts on login")
    return Check(
        cid,
        Level.OK,
        "The tray does not start on login",
        "",
        "Run `mullvad-tailscale-tray autostart on` if you want it to.",
    )


def check_probe(f: Facts) -> Check:
    cid = "probe.peer"
    p = f.probe
    if p is None:
        return Check(cid, Level.SKIP, "No end-to-end probe requested (use `doctor --probe PEER`)")
    if p.reachable:
        return Check(cid, Level.OK, f"{p.target} answered", p.detail)
    return Check(
        cid,
        Level.FAIL,
        f"{p.target} did not answer",
        p.detail,
        "Check the bypass state above; `tailscale ping " + p.target + "` shows whether the peer is up.",
    )
