"""The installed policy as polkitd itself reads it, and the example rules file doing what it says.

There is no logind here, so no session is ever "active": the allow_active defaults cannot be exercised by
a real login. `pkaction --verbose` prints the defaults polkitd loaded, which is what decides on a desktop.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.infra.require import require, require_tools
from tests.polkit.install import EXAMPLE_RULES_INSTALLED, ROOT, PolkitEnv, Sandbox
from tray_app.core.protocol import ACTIONS, Exit
from tray_app.paths import HELPER_PATH

POLICY = ROOT / "polkit" / "io.github.mullvad-tailscale-tray.policy"
EXAMPLE = ROOT / "polkit" / "50-mullvad-tailscale-tray.rules.example"

EXPECTED_DEFAULTS = {
    "status": ("no", "no", "yes"),
    "enable": ("no", "no", "auth_admin_keep"),
    "disable": ("no", "no", "auth_admin_keep"),
}


def _pkaction(action: str) -> dict[str, str | list[str]]:
    out = subprocess.run(
        ["pkaction", "--action-id", action, "--verbose"], capture_output=True, text=True, check=True
    ).stdout
    fields: dict[str, str | list[str]] = {"annotation": []}
    for line in out.splitlines()[1:]:
        key, _, value = line.strip().partition(":")
        if key == "annotation":
            fields["annotation"].append(value.strip())  # type: ignore[union-attr]
        elif key:
            fields[key] = value.strip()
    return fields


@pytest.mark.root
@pytest.mark.parametrize("verb", sorted(EXPECTED_DEFAULTS))
def test_polkitd_loads_each_action_with_its_defaults(polkit_env: PolkitEnv, verb: str) -> None:
    fields = _pkaction(ACTIONS[verb])
    any_, inactive, active = EXPECTED_DEFAULTS[verb]
    assert (fields["implicit any"], fields["implicit inactive"], fields["implicit active"]) == (
        any_,
        inactive,
        active,
    )
    assert fields["annotation"] == [
        f"org.freedesktop.policykit.exec.path -> {HELPER_PATH}",
        f"org.freedesktop.policykit.exec.argv1 -> {verb}",
    ]
    assert fields["description"] and fields["message"]


@pytest.mark.root
def test_policy_declares_exactly_the_protocol_actions(polkit_env: PolkitEnv) -> None:
    listed = subprocess.run(["pkaction"], capture_output=True, text=True, check=True).stdout.split()
    ours = sorted(a for a in listed if a.startswith("io.github.mullvad-tailscale-tray."))
    assert ours == sorted(ACTIONS.values())


def test_policy_is_valid_against_polkits_dtd() -> None:
    dtd = Path("/usr/share/polkit-1/policyconfig-1.dtd")
    require_tools("xmllint")
    require(dtd.exists(), f"{dtd} is missing: polkitd is not installed (scripts/test installs it)")
    out = subprocess.run(
        ["xmllint", "--noout", "--dtdvalid", str(dtd), str(POLICY)], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr


def test_example_rules_name_only_our_actions() -> None:
    text = EXAMPLE.read_text()
    assert "io.github.mullvad-tailscale-tray.bypass." in text
    assert not re.search(r"org\.freedesktop", text)


@pytest.mark.root
def test_example_rules_let_the_group_skip_the_password(polkit_env: PolkitEnv, sandbox: Sandbox) -> None:
    """The example, installed verbatim: a member of `mullvad-tailscale` enables and disables without a
    password; a non-member is still refused; `restore` (no action of ours) still needs the admin."""
    assert not Path(EXAMPLE_RULES_INSTALLED).exists(), "a real rules file is installed; not touching it"
    before = polkit_env.authorized("mtt-member", ACTIONS["enable"])
    assert before is False
    shutil.copy(EXAMPLE, EXAMPLE_RULES_INSTALLED)
    try:
        polkit_env.wait_rules("mtt-member", ACTIONS["enable"], True)
        out = sandbox.run(polkit_env.pkexec("mtt-member", "enable"))
        assert out.returncode == 0, out.stderr
        assert sandbox.nft_table() is not None
        out = sandbox.run(polkit_env.pkexec("mtt-member", "disable"))
        assert out.returncode == 0, out.stderr
        assert sandbox.nft_table() is None

        out = sandbox.run(polkit_env.pkexec("mtt-status-only", "enable"))  # not in the group
        assert out.returncode == Exit.PKEXEC_NOT_AUTHORIZED
        out = sandbox.run(polkit_env.pkexec("mtt-member", "restore"))
        assert out.returncode == Exit.PKEXEC_NOT_AUTHORIZED  # generic action: admin password, no agent here
    finally:
        Path(EXAMPLE_RULES_INSTALLED).unlink(missing_ok=True)
        polkit_env.wait_rules("mtt-member", ACTIONS["enable"], False)
