"""Doctor's checks of the bypass itself: our table as the helper reports it, private mode's ip rules."""

from __future__ import annotations

from tray_app.core.doctor.facts import (
    Check,
    Facts,
    Level,
)
from tray_app.core.model import MullvadState, TailscaleState
from tray_app.core.protocol import cli_enable_command


def check_bypass(f: Facts) -> Check:
    cid = "bypass.state"
    hs = f.helper_status
    if hs is None:
        return Check(
            cid,
            Level.SKIP,
            "The bypass state could not be read",
            f.helper_error or "",
            "Make sure the helper and polkit policy are installed and a polkit agent runs.",
        )
    enabled = bool(hs.get("enabled"))
    mullvad_up = f.mullvad is not None and f.mullvad.state in (
        MullvadState.CONNECTED,
        MullvadState.CONNECTING,
        MullvadState.ERROR,
    )
    ts_up = f.tailscale is not None and f.tailscale.state is TailscaleState.RUNNING
    if not enabled:
        if hs.get("saved"):
            return Check(
                cid,
                Level.FAIL,
                "The bypass should be on but its table is gone",
                "You turned it on earlier, but the nftables table is missing (an nftables reload with "
                "`flush ruleset`, or a reboot without the reconciler unit).",
                "Run `mullvad-tailscale-tray bypass on` (or `sudo systemctl start mullvad-tailscale-bypass`).",
            )
        if mullvad_up and ts_up:
            return Check(
                cid,
                Level.FAIL,
                "Mullvad is active and the bypass is off: your tailnet is cut off",
                "Mullvad's firewall and routing swallow traffic to your Tailscale devices.",
                "Run `mullvad-tailscale-tray bypass on` (direct mode) or `--mode private`.",
            )
        return Check(cid, Level.OK, "The bypass is off")
    mode = hs.get("mode") or "?"
    if not hs.get("matches_expected", False):
        return Check(
            cid,
            Level.WARN,
            f"The bypass ({mode}) is on but out of date",
            "Its table differs from what the current routes in table 52 call for (new subnet routes or "
            "peers, or someone edited it).",
            f"Run `{cli_enable_command(str(mode), hs.get('options') or [])}` to re-apply it.",
        )
    return Check(cid, Level.OK, f"The bypass is on ({mode} mode) and matches Tailscale's routes")


def check_private_rules(f: Facts) -> Check:
    cid = "bypass.private-rules"
    hs = f.helper_status
    if hs is None or "private_rules" not in hs:
        return Check(cid, Level.SKIP, "The bypass's ip rules could not be read", f.helper_error or "")
    private = hs.get("enabled") and hs.get("mode") == "private"
    present = bool(hs.get("private_rules"))
    if private and not present:
        return Check(
            cid,
            Level.FAIL,
            "Private mode is on but its ip rules (pref 5200) are missing",
            "tailscaled's own traffic then leaves outside Mullvad, with your real IP. systemd-networkd "
            "(ManageForeignRoutingPolicyRules=yes) removes foreign rules when it reconfigures.",
            "Run `mullvad-tailscale-tray bypass on --mode private` to put them back, and set "
            "ManageForeignRoutingPolicyRules=no in networkd.conf.",
        )
    if not private and present:
        return Check(
            cid,
            Level.WARN,
            "Private-mode ip rules (pref 5200) are present while private mode is off",
            "They force tailscaled's traffic into Mullvad's table.",
            "Run `mullvad-tailscale-tray bypass off` and turn the bypass on again in the mode you want.",
        )
    return Check(cid, Level.OK, "The bypass's ip rules match its mode")
