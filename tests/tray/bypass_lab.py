"""The real bypass helper for the tray tests: this checkout's `tray_app.helper`, as root, inside a private
network namespace that looks like a host running Tailscale (a `tailscale0` tun device with routing table 52
routes), with its saved state in a temporary directory. `enable` really loads our nftables table there;
"lost" and "drifted" are real changes to that table. Nothing reaches the host's ruleset or state.

For the outcomes only polkit can produce (a dismissed dialog, a refusal, no agent) the same helper runs
through real pkexec and polkitd: `polkit_install` below, tests/tray/test_bypass_through_polkit.py and
tests/polkit/install.py.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.bypass.tables import MULLVAD_NO_SPLIT
from tests.infra.netns import NetNS
from tests.polkit.install import USER_MARK, PolkitEnv, installed
from tray_app.core.protocol import ACTIONS
from tray_app.rootside.bypass_run import HelperCommand

ROOT = Path(__file__).resolve().parents[2]
TABLE = ("inet", "mullvad-tailscale")
# what tailscaled puts in table 52: a route per peer, its DNS address, its IPv6 range; and later a peer's subnet
TAILNET_ROUTES = (("100.100.100.100/32",), ("100.101.102.104/32",), ("fd7a:115c:a1e0::/48", "-6"))
PEER_SUBNET = "10.20.0.0/16"
CLONE_NEWNET = 0x40000000


class BypassLab:
    """A namespace with `tailscale0` and table 52, and the real helper reachable as `command`."""

    def __init__(self, ns: NetNS, state_dir: Path) -> None:
        self.ns = ns
        self.state_dir = state_dir
        state_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
        ns.run("ip", "tuntap", "add", "tailscale0", "mode", "tun")
        ns.run("ip", "link", "set", "tailscale0", "up")
        for dst, *fam in TAILNET_ROUTES:
            ns.run("ip", *fam, "route", "add", dst, "dev", "tailscale0", "table", "52")
        self.env = ("env", f"PYTHONPATH={ROOT}", f"MTT_STATE_DIR={state_dir}")

    @property
    def command(self) -> HelperCommand:
        """How the tray reaches it: directly as root (the tests run as root), no pkexec."""
        return HelperCommand(
            helper="tray_app.helper",
            use_pkexec=False,
            prefix=tuple(self.ns.argv(*self.env, sys.executable, "-m")),
        )

    def helper(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run a verb the way an administrator would from a terminal (sets the scene before the tray starts)."""
        return self.ns.run(*self.env, sys.executable, "-m", "tray_app.helper", *args, check=False)

    def enable(self, mode: str = "direct") -> None:
        r = self.helper("enable", "--mode", mode)
        assert r.returncode == 0, r.stderr

    def table(self) -> str | None:
        r = self.ns.run("nft", "list", "table", *TABLE, check=False)
        return r.stdout if r.returncode == 0 else None

    def delete_table(self) -> None:
        """What an nftables reload or `nft flush ruleset` does to us."""
        self.ns.run("nft", "delete", "table", *TABLE)

    def tamper(self) -> None:
        """Someone edits our table: an extra element in the tailnet set, so it no longer matches."""
        self.ns.run("nft", "add", "element", *TABLE, "tailnet4", "{ 192.0.2.0/24 }")

    def add_peer_route(self) -> None:
        """A peer starts advertising a subnet route: tailscaled adds it to table 52."""
        self.ns.run("ip", "route", "add", PEER_SUBNET, "dev", "tailscale0", "table", "52")

    def add_subnet_routes(self, count: int = 8) -> list[str]:
        """A subnet router's routes arriving in table 52 in one go (one `ip -batch`: a burst of netlink
        events). Spaced apart, so nft's interval set cannot merge them."""
        prefixes = [f"198.51.100.{32 * i}/28" for i in range(count)]
        batch = "".join(f"route add {p} dev tailscale0 table 52\n" for p in prefixes)
        self.ns.run("ip", "-batch", "-", input=batch)
        return prefixes

    def tailnet4(self) -> list[str]:
        r = self.ns.run("nft", "-j", "list", "set", *TABLE, "tailnet4", check=False)
        if r.returncode != 0:
            return []
        out = []
        for item in json.loads(r.stdout)["nftables"]:
            for elem in item.get("set", {}).get("elem", []):
                p = elem.get("prefix") if isinstance(elem, dict) else None
                out.append(f"{p['addr']}/{p['len']}" if p else str(elem))
        return out

    def load(self, nft_text: str) -> None:
        self.ns.run("nft", "-f", "-", input=nft_text)

    def start_watching(self, watcher: Any) -> None:
        """Start a `sources.netlink.NetlinkWatcher` inside this namespace, as the tray runs inside the host's:
        its socket is opened with this thread switched into the namespace (a netlink socket stays in the
        namespace it was made in), so table-52 and link changes made here reach the tray as real events."""
        libc = ctypes.CDLL(None, use_errno=True)
        here = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        there = os.open(f"/run/netns/{self.ns.name}", os.O_RDONLY)
        try:
            if libc.setns(there, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns into the test namespace failed")
            try:
                watcher.start()
            finally:
                if libc.setns(here, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns back to the test's own namespace failed")
        finally:
            os.close(here)
            os.close(there)
        assert watcher.error is None, watcher.error

    def saved(self) -> dict[str, Any] | None:
        """The helper's saved choice (what `restore` re-applies at boot), or None."""
        p = self.state_dir / "bypass.json"
        return json.loads(p.read_text()) if p.exists() else None


# Mullvad connected with split tunnelling unavailable (early-boot blocking, or no net_cls cgroup): its table
# has no `ct mark 0x00000f41 accept`, so an enabled bypass cannot take effect (helper exit 6).
MULLVAD_WITHOUT_SPLIT_ACCEPT = MULLVAD_NO_SPLIT


# -- through real pkexec and polkitd --------------------------------------------------------------------

DESKTOP_USER = "mtt-tray"
DESKTOP_RULES_FILE = "/etc/polkit-1/rules.d/10-mullvad-tailscale-tray-tray-test.rules"
# Without logind no session is "active", so the policy's allow_active answers cannot be had by logging in.
# This rules file gives one test user exactly what the policy gives a user at the active local desktop:
# status without a password, enable and disable with the administrator's (auth_admin_keep).
DESKTOP_RULES = """\
// TEST ONLY (tests/tray/bypass_lab.py): removed when the tray's polkit tests end.
polkit.addRule(function(action, subject) {
    if (subject.user !== "%(user)s") return polkit.Result.NOT_HANDLED;
    if (action.id === "%(status)s") return polkit.Result.YES;
    if (action.id === "%(enable)s" || action.id === "%(disable)s") return polkit.Result.AUTH_ADMIN_KEEP;
    return polkit.Result.NOT_HANDLED;
});
"""


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, check=False)


@contextlib.contextmanager
def desktop_user(env: PolkitEnv) -> Iterator[str]:
    """Create `mtt-tray` and its rules file for the duration of the `with` (inside tests/polkit's install)."""
    if _run("id", "-u", DESKTOP_USER).returncode == 0:
        fields = _run("getent", "passwd", DESKTOP_USER).stdout.split(":")
        if len(fields) < 5 or fields[4] != USER_MARK:
            raise RuntimeError(f"user {DESKTOP_USER} exists and is not a test user of this suite: remove it")
        _run("userdel", DESKTOP_USER)
    subprocess.run(
        ["useradd", "--system", "-M", "-d", "/nonexistent", "-s", "/usr/sbin/nologin", "-c", USER_MARK,
         DESKTOP_USER],
        check=True,
    )  # fmt: skip
    rules = Path(DESKTOP_RULES_FILE)
    try:
        tmp = rules.with_name(f".{rules.name}.mtt-test")
        tmp.write_text(DESKTOP_RULES % {"user": DESKTOP_USER, **ACTIONS})
        tmp.chmod(0o644)
        tmp.replace(rules)
        env.wait_rules(DESKTOP_USER, ACTIONS["status"], True)
        yield DESKTOP_USER
    finally:
        rules.unlink(missing_ok=True)
        _run("userdel", DESKTOP_USER)


@contextlib.contextmanager
def polkit_install() -> Iterator[PolkitEnv]:
    """tests/polkit's install (users, policy, rules, the helper launcher) plus `mtt-tray`; reused when
    tests/polkit's session fixture in this same pytest process holds it already."""
    with installed() as env, desktop_user(env):
        yield env
