"""The exit-node choices other trays have, through the real tray and its real sources, against the fake
tailscaled (tests/fakes/fake_localapi.py, grown from tailscaled's own handlers) and the real bypass helper:

* Tailscale's Mullvad exit nodes ▸ country ▸ "Best available" (the official systray's first entry): the
  highest Location.Priority among the country's online nodes, with the same safety plan as any exit node;
* "Last used" (Trayscale, KTailctl): clearing the exit node goes through tailscaled's
  `set-use-exit-node-enabled`, which keeps it as InternalExitNodePrior; the item turns it back on. A daemon
  without that call (404) is cleared with the prefs patch, and the tray's own memory offers it instead;
* "Run this device as an exit node" (Tail Tray, KTailctl): AdvertiseRoutes through the prefs, checked from
  the prefs; and what none of them has: where the clients' traffic goes while Mullvad is connected here,
  and the one fix (the bypass's exit-via-Mullvad option, one helper run through the bypass service).

The `route` command's `--country` and `last-used` run as a user would, against the same fakes."""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.fake_localapi import FakeLocalApi
from tests.fakes.fake_mullvad import FakeMullvad
from tests.tray.conftest import TrayRig
from tests.tray.test_feature_menus import action, start, texts
from tests.tray.test_internet_route import fakes, route  # noqa: F401  (the fixture)

STO, MMA = "nMv3se1CNTRL", "nMv4se1CNTRL"


def more_swedes(api: FakeLocalApi) -> None:
    """Two more Swedish Mullvad exit nodes: Stockholm ranks above Gothenburg, Malmö (higher yet) is offline."""
    api.set_status("running-mullvad-exit-node")
    doc = api.status_doc()
    got = next(p for p in doc["Peer"].values() if p["ID"] == "nMv1se1CNTRL")
    for node_id, host, city, code, prio, online in (
        (STO, "se-sto-wg-003", "Stockholm", "STO", 120, True), (MMA, "se-mma-wg-004", "Malmö", "MMA", 900, False),
    ):  # fmt: skip
        p = json.loads(json.dumps(got))
        p.update(ID=node_id, HostName=host, DNSName=f"{host}.mullvad.ts.net.", Online=online, ExitNode=False,
                 PublicKey=f"nodekey:{node_id}", TailscaleIPs=[f"100.90.{prio % 250}.1"])  # fmt: skip
        p["Location"] = {**p["Location"], "City": city, "CityCode": code, "Priority": prio}
        doc["Peer"][p["PublicKey"]] = p
    api.set_status_doc(doc)


def test_best_available_and_last_used_through_the_menu(rig: TrayRig, qtbot: Any) -> None:
    api = rig.daemons.tailscale
    more_swedes(api)
    rig.app.start(show_status=False)  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: rig.monitor.is_ready, timeout=10000)  # type: ignore[attr-defined]
    f = rig.app.features  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: len(f.tailnet.peers) == 7, timeout=10000)
    r = f.route
    sweden = {a.text(): a.menu() for a in r.mullvad_nodes.actions()}["Sweden"]
    assert texts(sweden) == ["Best available", "Gothenburg", "Malmö", "Stockholm"]  # then by city
    with qtbot.waitSignal(rig.app.controller.message, timeout=15000) as said:  # type: ignore[attr-defined]
        action(sweden, "Best available").trigger()
    assert "Mullvad is disconnected first" in said.args[1] and "se-sto-wg-003" in said.args[1]
    assert rig.daemons.mullvad_state() == "disconnected"  # the same safety plan as any exit node
    assert api.patches[-1]["ExitNodeID"] == STO  # priority 120 online, not the offline 900
    qtbot.waitUntil(lambda: r.menu.title() == "Internet: Tailscale exit node se-sto-wg-003", timeout=5000)
    assert not r.last_used.isVisible()  # one is in use

    # off through tailscaled's toggle: it keeps the exit node, and the menu offers it back
    with qtbot.waitSignal(rig.app.controller.message, timeout=15000):  # type: ignore[attr-defined]
        r.direct.trigger()
    assert api.patches[-1] == {"set-use-exit-node-enabled": "enabled=false"}
    assert api.exit_prefs["InternalExitNodePrior"] == STO
    qtbot.waitUntil(
        lambda: r.last_used.isVisible() and r.last_used.text() == "Last used: se-sto-wg-003", timeout=5000
    )
    with qtbot.waitSignal(rig.app.controller.message, timeout=15000) as said:  # type: ignore[attr-defined]
        r.last_used.trigger()
    assert said.args[1] == "Internet traffic goes through the Tailscale exit node se-sto-wg-003."
    assert api.patches[-1] == {"set-use-exit-node-enabled": "enabled=true"}
    assert api.exit_prefs["ExitNodeID"] == STO
    qtbot.waitUntil(lambda: not r.last_used.isVisible(), timeout=5000)

    # a daemon without the toggle: cleared with the prefs patch (no prior kept); the tray remembers it
    api.old_daemon = True
    with qtbot.waitSignal(rig.app.controller.message, timeout=15000):  # type: ignore[attr-defined]
        r.direct.trigger()
    assert api.patches[-1]["ExitNodeID"] == "" and api.exit_prefs["InternalExitNodePrior"] == ""
    qtbot.waitUntil(
        lambda: r.last_used.text() == "Last used: se-sto-wg-003" and r.last_used.isVisible(), timeout=5000
    )
    with qtbot.waitSignal(rig.app.controller.message, timeout=15000):  # type: ignore[attr-defined]
        r.last_used.trigger()
    assert api.patches[-1]["ExitNodeID"] == STO and api.patches[-1]["ExitNodeIDSet"] is True


def test_this_device_as_exit_node_says_where_clients_go_and_fixes_it(rig: TrayRig, qtbot: Any) -> None:
    api = rig.daemons.tailscale
    f = start(rig, qtbot, tailscale="running")  # Mullvad connected, no exit node in use
    r = f.route
    qtbot.waitUntil(r.host.isEnabled, timeout=5000)  # the prefs were read
    assert not r.host.isChecked() and not r.clients.isVisible() and not r.fix.isVisible()
    # the bypass is off: Mullvad cuts the tailnet off, so the clients would get nothing

    # tailscaled's own forwarding check (what `tailscale up --advertise-exit-node` asks) is said with it
    api.forwarding_warning = "IP forwarding is disabled, subnet routing/exit nodes will not work. See https://tailscale.com/s/ip-forwarding"
    with qtbot.waitSignal(rig.app.controller.message, timeout=15000) as said:  # type: ignore[attr-defined]
        r.host.trigger()
    assert api.patches[-1] == {"AdvertiseRoutes": ["0.0.0.0/0", "::/0"], "AdvertiseRoutesSet": True}
    assert said.args[1].startswith("This device offers itself as an exit node.")
    assert "the tailnet cannot reach this device" in said.args[1]
    assert said.args[1].endswith(" " + api.forwarding_warning)
    qtbot.waitUntil(r.host.isChecked, timeout=5000)  # from the bus's Prefs
    assert r.clients.text() == "⚠ Its clients' internet: nothing (Mullvad cuts the tailnet off)"
    assert r.fix.isVisible() and r.fix.text() == "Send exit-node clients through Mullvad"

    # the fix: one helper run, `enable --exit-via-mullvad` (the bypass on, direct mode as chosen before)
    before = len(rig.processes())
    r.fix.trigger()
    qtbot.waitUntil(lambda: r.clients.text() == "Its clients' internet: through Mullvad", timeout=10000)
    assert rig.processes()[before:] == ["enable"]
    saved = rig.lab.saved() or {}
    assert saved["mode"] == "direct" and "exit-via-mullvad" in saved["options"], saved
    assert not r.fix.isVisible()
    rig.daemons.mullvad.set_state("disconnected")
    qtbot.waitUntil(
        lambda: r.clients.text() == "Its clients' internet: blocked until Mullvad connects", timeout=10000
    )

    # using an exit node while being one: refused before tailscaled would refuse it
    with qtbot.waitSignal(rig.app.controller.message, timeout=5000) as said:  # type: ignore[attr-defined]
        action(r.menu, "nas").trigger()
    assert "turn off “Run this device as an exit node” first" in said.args[1]
    assert api.exit_prefs["ExitNodeID"] == ""

    # a non-operator: tailscaled's 403, with the fix
    api.deny_writes = True
    with qtbot.waitSignal(rig.app.controller.message, timeout=15000) as said:  # type: ignore[attr-defined]
        r.host.trigger()
    assert "sudo tailscale set --operator=$USER" in said.args[1]
    qtbot.waitUntil(r.host.isChecked, timeout=5000)  # still what the daemon says
    api.deny_writes = False
    with qtbot.waitSignal(rig.app.controller.message, timeout=15000) as said:  # type: ignore[attr-defined]
        r.host.trigger()
    assert said.args[1] == "This device no longer offers itself as an exit node."
    qtbot.waitUntil(lambda: not r.host.isChecked() and not r.clients.isVisible(), timeout=5000)
    assert api.exit_prefs["AdvertiseRoutes"] is None


def test_route_picks_the_best_of_a_country_and_the_last_used(fakes: tuple[FakeMullvad, FakeLocalApi]) -> None:  # noqa: F811
    m, api = fakes
    more_swedes(api)
    js = json.loads(route(fakes, "--json").stdout)
    assert js["best_available"] == {"Germany": "nMv2de1CNTRL", "Sweden": STO}
    assert js["last_used"] is None and js["exit_node_host"] == {
        "advertising": False,
        "clients": None,
        "fix_offered": False,
    }
    done = route(fakes, "exit-node", "--country", "se", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["exit_node"] == STO and m.read()["state"]["state"] == "disconnected"
    assert route(fakes, "direct").returncode == 0
    shown = route(fakes)
    assert "Last used (`route last-used`): se-sto-wg-003" in shown.stdout
    assert "Sweden: se-sto-wg-003" in shown.stdout
    back = route(fakes, "last-used", "--json")
    assert back.returncode == 0, back.stderr
    assert json.loads(back.stdout)["did"] == ["restore-exit-node"] and api.exit_prefs["ExitNodeID"] == STO
    refused = route(fakes, "exit-node", "--country", "Narnia")
    assert refused.returncode == 3 and "No Mullvad exit node in 'Narnia'" in refused.stderr
    assert route(fakes, "mullvad", "--country", "se").returncode == 2
