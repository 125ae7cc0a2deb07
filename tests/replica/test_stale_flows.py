"""tailscaled's flows from before a bypass change, judged by traffic (docs/bypass.md, "Flows from before a change").

Conntrack keeps a flow's NAT, source address and ct mark from its first packet. A long-lived flow stands in for
tailscaled's control/DERP connections: a connected UDP socket with tailscaled's mark 0x80000 (its source
address is fixed at connect, like a TCP connection's), answered by the DERP echo service. It is built before
the change and keeps talking after it; what the DERP service sees and the LAN router's leak counters say where
it went. Nothing of it may leave the physical link with the tunnel address, nor with the real IP once private
mode is on and Mullvad blocks.
"""

from __future__ import annotations

import contextlib
import socket
import uuid
from collections.abc import Iterator

from tests.replica import catalogue as c
from tests.replica import topology as t
from tests.replica.bypass_drivers import HelperBypass
from tests.replica.lab import Lab
from tests.replica.probes import in_netns

ROUNDS = 5
DERP_STUN = 3478


class Flow:
    """One tailscaled-like UDP flow to the DERP echo service, alive across the change."""

    def __init__(self, lab: Lab, sock: socket.socket) -> None:
        self.lab = lab
        self.sock = sock

    def exchange(self) -> list[str]:
        """Send ROUNDS datagrams; the source the DERP service saw for each, or "none" where none arrived."""
        tokens = [f"stale-{uuid.uuid4().hex}" for _ in range(ROUNDS)]
        for token in tokens:
            with contextlib.suppress(OSError):  # a drop may come back as an error on a connected socket
                self.sock.send(token.encode())
            with contextlib.suppress(OSError):
                self.sock.recv(256)  # the echo (or the timeout): one datagram in flight at a time
        seen = self.lab.arrivals()
        return [seen.get(token, "none") for token in tokens]


@contextlib.contextmanager
def flow(lab: Lab) -> Iterator[Flow]:
    with in_netns(lab.name("host")):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, t.TAILSCALE_BYPASS_MARK)
        s.settimeout(0.5)
        s.connect((t.DERP4, DERP_STUN))
        yield Flow(lab, s)
    finally:
        s.close()


def _left_directly(sources: list[str]) -> list[str]:
    """The sources that mean the datagram left the physical link outside the tunnel."""
    return [s for s in sources if s in (t.HOST_LAN4, t.HOST_TUN4)]


def test_bypass_on_keeps_tunnel_flows_in_the_tunnel(lab: Lab, helper: HelperBypass) -> None:
    """Mullvad connected, no bypass: tailscaled's flow runs through the tunnel. `bypass on` (direct) must not
    re-route it out of eth0 with the tunnel address; new flows go direct."""
    with flow(lab) as f:
        assert f.exchange() == [t.RELAY4] * ROUNDS  # born in the tunnel
        helper.enable("direct")
        lab.reset_leaks()
        after = f.exchange()
        assert lab.leaks() == c.NO_LEAKS
        assert _left_directly(after) == [], after
        assert after == [t.RELAY4] * ROUNDS  # it keeps working where it began
        lab.mullvad_block()  # no tunnel any more: main routes it out of eth0, still with the tunnel address
        lab.reset_leaks()
        blocked = f.exchange()
        assert lab.leaks() == c.NO_LEAKS
        assert _left_directly(blocked) == [], blocked
        lab.mullvad_connect()
    assert lab.probe(c.by_name("T8_tailscaled_udp", "T9_tailscaled_tcp")) == dict.fromkeys(
        ("T8_tailscaled_udp", "T9_tailscaled_tcp"), t.HOST_LAN4
    )


def test_private_to_direct_keeps_tunnel_flows_in_the_tunnel(lab: Lab, helper: HelperBypass) -> None:
    helper.enable("private")
    with flow(lab) as f:
        assert f.exchange() == [t.RELAY4] * ROUNDS
        helper.enable("direct")
        lab.reset_leaks()
        after = f.exchange()
        assert lab.leaks() == c.NO_LEAKS
        assert after == [t.RELAY4] * ROUNDS


def test_direct_to_private_then_blocked_drops_direct_flows(lab: Lab, helper: HelperBypass) -> None:
    """A flow born in direct mode (ct mark 0xf41, NAT to the real IP) must not keep leaving eth0 once private
    mode is on and Mullvad blocks: Mullvad's firewall would accept it by its ct mark."""
    helper.enable("direct")
    with flow(lab) as f:
        assert f.exchange() == [t.HOST_LAN4] * ROUNDS  # born direct
        helper.enable("private")
        lab.mullvad_block()
        lab.reset_leaks()
        after = f.exchange()
        assert lab.leaks() == c.NO_LEAKS
        assert after == ["none"] * ROUNDS, after
    # What private mode must still allow: a fresh tailscaled flow leaves directly while Mullvad is disconnected.
    lab.mullvad_disconnect()
    assert lab.probe(c.by_name("T8_tailscaled_udp")) == {"T8_tailscaled_udp": t.HOST_LAN4}
