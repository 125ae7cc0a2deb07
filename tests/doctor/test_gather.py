"""Doctor end to end: facts gathered from the daemon fakes, the real helper in a private namespace, and
the real ip rules / sysctls of that namespace, then judged by the pure checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.fake_localapi import FakeLocalApi
from tests.fakes.fake_mullvad import FakeMullvad
from tests.infra.netns import NetNS
from tray_app import doctor_facts
from tray_app.core import doctor
from tray_app.core.doctor.facts import Check, Facts, Level
from tray_app.rootside.bypass_run import HelperCommand

ROOT = Path(__file__).resolve().parents[2]
# Mullvad's output chain, reduced to what the doctor looks at (coexistence.md §1.8).
MULLVAD_OUTPUT = """table inet mullvad {{
  chain output {{
    type filter hook output priority 0; policy drop;
    oif "lo" accept
    {accept}
    reject
  }}
}}
"""


@pytest.fixture
def work_dir(short_tmp: Path) -> Path:
    return short_tmp


class Lab:
    def __init__(self, ns: NetNS, work: Path) -> None:
        self.ns = ns
        self.env = ("env", f"PYTHONPATH={ROOT}", f"MTT_STATE_DIR={work / 'state'}")
        self.command = HelperCommand(
            helper="tray_app.helper", use_pkexec=False, prefix=tuple(ns.argv(*self.env, sys.executable, "-m"))
        )
        ns.run("ip", "tuntap", "add", "tailscale0", "mode", "tun")
        ns.run("ip", "link", "set", "tailscale0", "up")
        ns.run("ip", "route", "add", "100.101.102.103/32", "dev", "tailscale0", "table", "52")
        ns.run("ip", "rule", "add", "pref", "5270", "lookup", "52")

    def helper(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.ns.run(*self.env, sys.executable, "-m", "tray_app.helper", *args, check=False)

    def mullvad_connects(self) -> None:
        """Mullvad's table with the split-tunnel accept, and its rules added after Tailscale's."""
        self.ns.run(
            "nft",
            "-f",
            "-",
            input=MULLVAD_OUTPUT.format(accept="ct mark 0x00000f41 accept"),
        )
        self.ns.run("ip", "rule", "add", "not", "fwmark", "0x6d6f6c65", "lookup", "1836018789")
        self.ns.run("ip", "rule", "add", "lookup", "main", "suppress_prefixlength", "0")

    def facts(self, mullvad: FakeMullvad, ts: FakeLocalApi) -> Facts:
        """Gather inside the namespace: the ip rules and rp_filter are the namespace's own."""
        code = (
            "import json, sys, pickle\n"
            "from tray_app import doctor_facts\n"
            "from tray_app.rootside.bypass_run import HelperCommand\n"
            "opts = pickle.loads(bytes.fromhex(sys.argv[1]))\n"
            "sys.stdout.write(pickle.dumps(doctor_facts.gather(opts)).hex())\n"
        )
        import pickle

        opts = doctor_facts.Options(
            mullvad_cli=str(mullvad.cli),
            tailscale_socket=ts.path,
            tailscale_cli="/nonexistent/tailscale",
            helper_path=str(ROOT / "packaging" / "bypass-helper"),
            helper=HelperCommand(
                helper="tray_app.helper", use_pkexec=False, prefix=(*self.env, sys.executable, "-m")
            ),
        )
        out = self.ns.run(
            "env",
            f"PYTHONPATH={ROOT}",
            f"DBUS_SESSION_BUS_ADDRESS={os.environ.get('DBUS_SESSION_BUS_ADDRESS', '')}",
            sys.executable,
            "-c",
            code,
            pickle.dumps(opts).hex(),
        )
        facts: Facts = pickle.loads(bytes.fromhex(out.stdout))  # noqa: S301 - our own child process
        return facts


@pytest.fixture
def lab(netns: NetNS, work_dir: Path) -> Lab:
    return Lab(netns, work_dir)


def by_id(facts: Facts) -> dict[str, Check]:
    return {c.id: c for c in doctor.run_checks(facts)}


def test_tailnet_cut_off_is_a_failure_with_the_fix(lab: Lab, work_dir: Path) -> None:
    lab.mullvad_connects()
    with FakeLocalApi(str(work_dir / "ts.sock"), "running") as ts:
        facts = lab.facts(FakeMullvad(work_dir / "mullvad", state="connected"), ts)
    checks = by_id(facts)
    bypass = checks["bypass.state"]
    assert bypass.status is Level.FAIL
    assert "tailnet is cut off" in bypass.summary
    assert "bypass on" in bypass.fix
    assert checks["mullvad.split-tunnel"].status is Level.OK
    assert checks["mullvad.daemon"].status is Level.OK
    assert checks["tailscale.daemon"].status is Level.OK
    assert "in front of Tailscale's (5270)" in checks["routing.rule-order"].summary
    assert doctor.exit_code(list(checks.values())) == 1


def test_bypass_on_and_matching_is_ok(lab: Lab, work_dir: Path) -> None:
    lab.mullvad_connects()
    assert lab.helper("enable").returncode == 0
    with FakeLocalApi(str(work_dir / "ts.sock"), "running") as ts:
        facts = lab.facts(FakeMullvad(work_dir / "mullvad", state="connected"), ts)
    checks = by_id(facts)
    assert checks["bypass.state"].status is Level.OK, checks["bypass.state"]
    assert "direct mode" in checks["bypass.state"].summary
    assert checks["bypass.private-rules"].status is Level.OK
    assert checks["install.helper"].status is Level.OK


def test_private_rules_removed_behind_our_back_fail(lab: Lab, work_dir: Path) -> None:
    assert lab.helper("enable", "--mode", "private").returncode == 0
    lab.ns.run("ip", "-4", "rule", "del", "pref", "5200")
    lab.ns.run("ip", "-6", "rule", "del", "pref", "5200")
    with FakeLocalApi(str(work_dir / "ts.sock"), "running") as ts:
        facts = lab.facts(FakeMullvad(work_dir / "mullvad", state="disconnected"), ts)
    check = by_id(facts)["bypass.private-rules"]
    assert check.status is Level.FAIL
    assert "pref 5200" in check.summary


def test_no_split_tunnel_accept_rule_fails(lab: Lab, work_dir: Path) -> None:
    lab.ns.run(
        "nft",
        "-f",
        "-",
        input=MULLVAD_OUTPUT.format(accept=""),
    )
    with FakeLocalApi(str(work_dir / "ts.sock"), "running") as ts:
        facts = lab.facts(FakeMullvad(work_dir / "mullvad", state="connected"), ts)
    check = by_id(facts)["mullvad.split-tunnel"]
    assert check.status is Level.FAIL
    assert "split-tunnel" in check.fix


def doctor_cli(
    work_dir: Path, *args: str, mullvad_cli: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`mullvad-tailscale-tray doctor ARGS` as a user runs it, with the daemons pointed at `work_dir`."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "MTT_MULLVAD_CLI": mullvad_cli or str(work_dir / "no-mullvad"),
        "MTT_TAILSCALE_SOCKET": str(work_dir / "no.sock"),
        "MTT_TAILSCALE_CLI": str(work_dir / "no-tailscale"),
    }
    return subprocess.run(
        [sys.executable, "-m", "tray_app", "doctor", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_cli_json_with_daemons_absent_says_what_to_do(work_dir: Path) -> None:
    out = doctor_cli(work_dir, "--json")
    data = json.loads(out.stdout)
    checks = {c["id"]: c for c in data["checks"]}
    assert set(checks["mullvad.daemon"]) == {"id", "status", "summary", "detail", "fix"}
    assert checks["mullvad.daemon"]["status"] == "warn"
    assert "Install Mullvad VPN" in checks["mullvad.daemon"]["fix"]
    assert checks["tailscale.daemon"]["status"] == "warn"
    assert "tailscaled" in checks["tailscale.daemon"]["fix"]
    assert out.returncode == (1 if any(c["status"] == "fail" for c in checks.values()) else 0)


def test_cli_text_is_readable(work_dir: Path) -> None:
    out = doctor_cli(work_dir)
    assert "[WARN] Mullvad's daemon cannot be reached" in out.stdout
    assert "fix: Install Mullvad VPN (https://mullvad.net/download)" in out.stdout
    assert out.stdout.rstrip().splitlines()[-1].endswith("skipped")


def test_mullvad_daemon_stopped_says_start_it(work_dir: Path) -> None:
    fake = FakeMullvad(work_dir / "mullvad", state="connected")
    fake.stop_daemon()
    out = doctor_cli(work_dir, "--json", mullvad_cli=str(fake.cli))
    check = {c["id"]: c for c in json.loads(out.stdout)["checks"]}["mullvad.daemon"]
    assert check["status"] == "warn"
    assert check["fix"] == "Start it with `sudo systemctl start mullvad-daemon`."
