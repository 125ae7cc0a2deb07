"""Runs the product's NetlinkWatcher in its own process (inside the test's network namespace) and prints
every signal as one JSON line: `{"signal": name, "args": [...]}`. Exits when stdin closes.

A child process because a network namespace is per thread and pytest's process must stay in the host's.
Usage: python -m tests.status.netlink_child [RCVBUF | lazy]
With `lazy` the ready line does not ask for the links (as the tray does not): it says instead whether
pyroute2's decoder is loaded yet.
"""

from __future__ import annotations

import json
import sys

from PyQt6.QtCore import QCoreApplication, QSocketNotifier

from tray_app.daemons import netlink
from tray_app.daemons.netlink import RCVBUF, NetlinkWatcher

SIGNALS = (
    "link_changed",
    "address_changed",
    "route_changed",
    "mullvad_hint",
    "tailscale_hint",
    "table52_changed",
    "rules_changed",
    "resynced",
)


def main() -> int:
    app = QCoreApplication(sys.argv)
    lazy = sys.argv[1:] == ["lazy"]
    watcher = NetlinkWatcher(rcvbuf=int(sys.argv[1]) if len(sys.argv) > 1 and not lazy else RCVBUF)
    for name in SIGNALS:
        getattr(watcher, name).connect(
            lambda *args, _n=name: print(json.dumps({"signal": _n, "args": list(args)}), flush=True)
        )
    watcher.start()
    state = netlink._pyroute2 is not None if lazy else watcher.links()
    print(json.dumps({"signal": "ready", "args": [watcher.available, state]}), flush=True)
    stdin = QSocketNotifier(0, QSocketNotifier.Type.Read)

    def on_stdin(*_: object) -> None:
        if not sys.stdin.buffer.read1(4096):
            app.quit()

    stdin.activated.connect(on_stdin)
    rc = app.exec()
    watcher.stop()
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
