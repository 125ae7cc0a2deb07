"""What the tray says about this host's exit-node clients is what happens to them (core/exit_node_host.py).

For every combination of Mullvad's state (connected, blocked, disconnected) and the bypass (off; on in each
mode; on with `--exit-via-mullvad`), the pure `clients_fate` names where the clients' internet traffic goes,
and the forwarding replica measures it: X2, TCP 443 from the tailnet peer that uses this host as its exit
node, and the LAN router's `internet_clear` counter (traffic to the internet on the physical link, outside
Mullvad). It may count only while Mullvad is off and the tray says "directly"; "dropped" and "nowhere" must
get no answer. The same peer uses this host as its subnet router (S1, to the LAN router, with no "allow LAN"
in Mullvad): with the bypass on it reaches the LAN in every Mullvad state."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.replica import catalogue as c
from tests.replica import topology as t
from tests.replica.bypass_drivers import HelperBypass
from tests.replica.conftest import require_lab_tools
from tests.replica.lab import Lab
from tray_app.core.exit_node_host import Fate, clients_fate
from tray_app.core.model import BypassState, BypassStatus, MullvadState, MullvadStatus

MULLVAD = {
    "connected": MullvadStatus(MullvadState.CONNECTED),
    "blocked": MullvadStatus(MullvadState.ERROR, blocked=True),
    "disconnected": MullvadStatus(MullvadState.DISCONNECTED),
}
# what the lab must show for each fate: X2's answer (the source address the internet saw) and whether it leaked
SEEN = {
    Fate.MULLVAD: (t.RELAY4, False),
    Fate.DIRECT: (t.HOST_LAN4, True),  # Mullvad is off: leaving directly is what it means
    Fate.DROPPED: ("fail", False),
    Fate.NOWHERE: ("fail", False),
}


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    require_lab_tools()
    with Lab.build(rp_filter=2, connmark="none", forwarding=True) as built:
        yield built


def _states(lab: Lab) -> Iterator[str]:
    steps: dict[str, Callable[[], None]] = {
        "connected": lab.mullvad_connect, "blocked": lab.mullvad_block, "disconnected": lab.mullvad_disconnect
    }  # fmt: skip
    for name, go in steps.items():
        if lab.mullvad_state != name:
            go()
        yield name
    lab.mullvad_connect()


def test_the_clients_fate_the_tray_names_is_what_happens(lab: Lab, helper: HelperBypass) -> None:
    bypasses = {
        "off": (None, BypassStatus(BypassState.OFF)),
        "direct": (("direct",), BypassStatus(BypassState.ON, "direct")),
        "private": (("private",), BypassStatus(BypassState.ON, "private")),
        "direct, exit via Mullvad": (
            ("direct", "exit-via-mullvad"),
            BypassStatus(BypassState.ON, "direct", options=("exit-via-mullvad",)),
        ),
        "private, exit via Mullvad": (
            ("private", "exit-via-mullvad"),
            BypassStatus(BypassState.ON, "private", options=("exit-via-mullvad",)),
        ),
    }
    problems: list[str] = []
    fates: set[Fate] = set()
    for name, (enable, status) in bypasses.items():
        if enable is None:
            helper.call("disable", check=False)
        else:
            helper.enable(*enable)
        for state in _states(lab):
            fate = clients_fate(MULLVAD[state], status)
            fates.add(fate)
            lab.reset_leaks()
            got = lab.probe((c.X2, *c.by_name("S1_subnet_router_client")))
            leaked = lab.leaks()["internet_clear"] > 0
            if (got["X2_exit_client_443"], leaked) != SEEN[fate]:
                problems.append(f"bypass {name}, Mullvad {state}: said {fate}, saw {got} (leaked: {leaked})")
            lan = t.HOST_LAN4 if enable or state == "disconnected" else "fail"  # off: the tailnet is cut off
            if got["S1_subnet_router_client"] != lan:
                problems.append(f"bypass {name}, Mullvad {state}: the LAN through this host gave {got}")
    helper.disable()
    assert fates == set(Fate)  # every sentence the menu can say was checked
    assert not problems, "\n" + "\n".join(problems)
