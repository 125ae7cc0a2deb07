"""Doctor's checks of this product's installation: the helper, polkit, the reconciler unit."""

from __future__ import annotations

from tray_app.core.doctor.facts import (
    Check,
    Facts,
    Level,
)
from tray_app.core.world import (
    HELPER_PATH,
)


def check_helper(f: Facts) -> Check:
    cid = "install.helper"
    if f.helper_installed is None:
        return Check(cid, Level.SKIP, "Could not tell whether the bypass helper is installed")
    if not f.helper_installed:
        return Check(
            cid,
            Level.FAIL,
            "The bypass helper is not installed",
            f"Without {HELPER_PATH} the bypass cannot be switched on.",
            "Install the package for your distribution (see README, Install), or `sudo make install`.",
        )
    if f.helper_protocol is not None and f.helper_protocol != f.app_protocol:
        return Check(
            cid,
            Level.FAIL,
            f"The bypass helper speaks protocol {f.helper_protocol}, the app {f.app_protocol}",
            "The helper and the app come from different versions, so commands may be misunderstood.",
            "Reinstall the package so both come from the same version, then restart the tray.",
        )
    return Check(cid, Level.OK, "The bypass helper is installed and matches the app")


def check_polkit_policy(f: Facts) -> Check:
    cid = "install.polkit-policy"
    if f.polkit_policy_installed is None:
        return Check(cid, Level.SKIP, "Could not tell whether the polkit policy is installed")
    if not f.polkit_policy_installed:
        return Check(
            cid,
            Level.FAIL,
            "The polkit policy is missing",
            "pkexec then asks for the administrator password for every status read and refresh, "
            "or refuses outright.",
            "Reinstall the package; it installs "
            "/usr/share/polkit-1/actions/io.github.mullvad-tailscale-tray.policy.",
        )
    return Check(cid, Level.OK, "The polkit policy is installed")


def check_polkit_agent(f: Facts) -> Check:
    cid = "install.polkit-agent"
    if f.polkit_agents is None:
        return Check(cid, Level.SKIP, "Could not list this session's processes to find a polkit agent")
    if not f.polkit_agents:
        return Check(
            cid,
            Level.WARN,
            "No polkit authentication agent seems to run in this session",
            "Turning the bypass on or off asks for your password through an agent; without one pkexec "
            "fails with 'not authorized'. (GNOME Shell, KDE Plasma and Cinnamon have one built in.)",
            "Start your desktop's agent, e.g. `/usr/lib/policykit-1-gnome/polkit-gnome-authentication-agent-1 &` "
            "or `lxpolkit &`, and add it to your session's autostart.",
        )
    return Check(cid, Level.OK, f"Polkit authentication agent running: {', '.join(f.polkit_agents)}")


def check_boot_unit(f: Facts) -> Check:
    """The reconciler unit: enabled (restores at boot) and running (keeps the bypass right, publishes the
    status). Its published status carries a `reconciler` object, so a status without one was asked of the
    helper: no reconciler runs."""
    cid = "install.boot-unit"
    wanted = bool(f.helper_status and f.helper_status.get("saved"))
    running = bool(f.helper_status and isinstance(f.helper_status.get("reconciler"), dict))
    unit = "mullvad-tailscale-bypass.service"
    if f.boot_unit is None:
        if running:
            return Check(cid, Level.OK, "The bypass reconciler is running")
        return Check(cid, Level.SKIP, "systemd is not available, so the reconciler unit was not checked")
    if f.boot_unit == "enabled":
        if running:
            return Check(cid, Level.OK, f"The bypass reconciler is running and starts at boot ({unit})")
        if wanted:
            return Check(
                cid,
                Level.WARN,
                "The bypass is on but its reconciler is not running",
                "Nothing puts the bypass back after an nftables reload or keeps it in line with Tailscale's "
                "routes, and the tray has to ask for the status through pkexec.",
                f"Run `sudo systemctl start {unit}`; if it stops again, `journalctl -u {unit}` says why.",
            )
        return Check(cid, Level.OK, f"The reconciler unit is enabled ({unit}; nothing to keep right now)")
    if wanted:
        return Check(
            cid,
            Level.WARN,
            f"The bypass is on but its reconciler unit is {f.boot_unit}",
            "After a reboot the tailnet stays cut off while Mullvad is connected, and nothing keeps the "
            "bypass in line with Tailscale's routes.",
            f"Run `sudo systemctl enable --now {unit}`.",
        )
    return Check(cid, Level.OK, f"The reconciler unit is {f.boot_unit} (nothing to keep right)")
