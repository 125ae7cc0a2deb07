"""`doctor` against the real tailscaled: the operator, its netfilter mode, its connmark generation (read by the
real helper from the real daemon's rules) and the exit node, gathered inside the lab's host namespace."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import pytest

from tests.realts.lab import HOSTNAMES, RealLab
from tray_app import doctor_facts
from tray_app.core import doctor
from tray_app.core.doctor.facts import Check, Facts, Level
from tray_app.rootside.bypass_run import HelperCommand

pytestmark = pytest.mark.real_tailscale
LAB_MULLVAD = "disconnected"  # Tailscale alone: Mullvad's state is not what these tests read
REPO = Path(__file__).resolve().parents[2]
CHILD = (
    "import sys, pickle\n"
    "from tray_app import doctor_facts\n"
    "opts = pickle.loads(bytes.fromhex(sys.argv[1]))\n"
    "sys.stdout.write(pickle.dumps(doctor_facts.gather(opts)).hex())\n"
)


def checks(lab: RealLab, state_dir: Path) -> dict[str, Check]:
    """doctor's checks on facts gathered as root in the host namespace, with this checkout's helper."""
    env = ("env", f"PYTHONPATH={REPO}", f"MTT_STATE_DIR={state_dir}")
    opts = doctor_facts.Options(
        mullvad_cli="/nonexistent/mullvad",
        tailscale_socket=lab.nodes["host"].socket,
        tailscale_cli=lab.nodes["host"].build.tailscale,
        helper_path=str(REPO / "packaging" / "bypass-helper"),
        helper=HelperCommand(helper="tray_app.helper", use_pkexec=False, prefix=(*env, sys.executable, "-m")),
    )
    out = lab.run("host", *env, sys.executable, "-c", CHILD, pickle.dumps(opts).hex()).stdout
    facts: Facts = pickle.loads(bytes.fromhex(out))  # noqa: S301 - our own child process
    return {c.id: c for c in doctor.run_checks(facts)}


GENERATION = {"none": "none", "first": "1.96-1.98", "masked": ">=1.100"}


def test_doctor_reads_the_real_daemon(real_lab: RealLab, tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    got = checks(real_lab, state)
    assert got["tailscale.daemon"].status is Level.OK, got["tailscale.daemon"]
    assert got["tailscale.netfilter"].status is Level.OK, got["tailscale.netfilter"]
    # The daemon's prefs name no kind when the firewall mode comes from TS_DEBUG_FIREWALL_MODE or autodetection
    # (NetfilterKind is "" unless `--netfilter-kind` set it): doctor then says only "on" (docs/tailscale.md).
    assert got["tailscale.netfilter"].summary == "Tailscale's netfilter mode is on"
    gen = GENERATION[real_lab.build_.connmark]
    assert gen in got["tailscale.connmark"].summary, got["tailscale.connmark"]
    assert got["tailscale.exit-node"].status is Level.OK
    # doctor runs as root here: root is the operator only once the daemon says so.
    assert got["tailscale.operator"].status is not Level.OK
    real_lab.ts("host", "set", "--operator=root")
    real_lab.ts("host", "set", f"--exit-node={real_lab.ip('exit')}")
    try:
        got = checks(real_lab, state)
        assert got["tailscale.operator"].status is Level.OK, got["tailscale.operator"]
        exit_check = got["tailscale.exit-node"]
        assert exit_check.status is not Level.OK
        assert HOSTNAMES["exit"] in exit_check.summary
    finally:
        real_lab.ts("host", "set", "--operator=", "--exit-node=")
