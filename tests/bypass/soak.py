"""Soak the reconciler: enable/disable cycles run elsewhere and bursts of table-52 route flaps, then check that
it kept up (final state right) without growing (fds, RSS) and say what it cost (CPU seconds).

Used by tests/bypass/test_watch_soak.py (short, in CI) and bench/bench_reconciler.py (the full 1,000 cycles
and 10,000 flaps)."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.bypass.watcher import Watcher, wait_for
from tests.infra.netns import NetNS

CLK_TCK = os.sysconf("SC_CLK_TCK")
FLAP_BURST = 50  # routes added (then removed) per `ip -batch` burst


@dataclass(frozen=True)
class Usage:
    fds: int
    rss_kib: int
    cpu_s: float


def usage(pid: int, samples: int = 20) -> Usage:
    # The fewest fds over half a second: a check in progress holds a few more for a moment (the state lock,
    # nft's pipes); a leak raises the floor.
    counts = []
    for _ in range(samples):
        counts.append(len(os.listdir(f"/proc/{pid}/fd")))
        time.sleep(0.025)
    fds = min(counts)
    rss = next(
        int(ln.split()[1])
        for ln in Path(f"/proc/{pid}/status").read_text().splitlines()
        if ln.startswith("VmRSS:")
    )
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime
    return Usage(fds, rss, cpu)


# One process runs the helper's own enable/disable N times (what N `bypass on|off` would do, without N
# interpreter start-ups): the reconciler sees each as nft events touching our table.
_CYCLES = """
import contextlib, io, sys
from tray_app.helper import main
for i in range(int(sys.argv[1])):
    with contextlib.redirect_stdout(io.StringIO()):
        assert main.run(["enable"]) == 0
        assert main.run(["disable"]) == 0
with contextlib.redirect_stdout(io.StringIO()):
    assert main.run(["enable"]) == 0
"""


def cycles(ns: NetNS, env: dict[str, str], n: int) -> float:
    t0 = time.monotonic()
    r = ns.run(sys.executable, "-c", _CYCLES, str(n), env=env, timeout=3600)
    assert r.returncode == 0, r.stderr[-2000:]
    return time.monotonic() - t0


def flaps(ns: NetNS, n: int) -> float:
    """`n` route flaps (add + remove of a /32 in table 52) in bursts; ends with 10.200.0.0/16 added."""
    t0 = time.monotonic()
    done = 0
    while done < n:
        k = min(FLAP_BURST, n - done)
        adds = [f"route add 10.201.{i // 250}.{i % 250 + 1}/32 dev tailscale0 table 52" for i in range(k)]
        dels = [a.replace("route add", "route del") for a in adds]
        ns.run("ip", "-batch", "-", input="\n".join(adds + dels) + "\n")
        done += k
    ns.run("ip", "route", "add", "10.200.0.0/16", "dev", "tailscale0", "table", "52")
    return time.monotonic() - t0


def soak(ns: NetNS, env: dict[str, str], w: Watcher, n_cycles: int, n_flaps: int) -> dict[str, object]:
    pid = w.proc.pid
    before = usage(pid)
    t_cycles = cycles(ns, env, n_cycles)
    wait_for("published on after the cycles", lambda: (w.published() or {}).get("state") == "on", timeout=30)
    mid = usage(pid)
    t_flaps = flaps(ns, n_flaps)
    wait_for(
        "the final route in the set",
        lambda: "10.200.0.0/16" in (w.published() or {}).get("tailnet4", []),
        timeout=30,
    )
    listing = ns.run("nft", "list", "set", "inet", "mullvad-tailscale", "tailnet4").stdout
    after = usage(pid)
    return {
        "before": before,
        "after_cycles": mid,
        "after": after,
        "cycles_s": t_cycles,
        "flaps_s": t_flaps,
        "final_set_ok": "10.200.0.0/16" in listing and "10.201." not in listing,
    }
