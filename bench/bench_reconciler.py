#!/usr/bin/env python3
"""The reconciler (`bypass-helper watch`, issue 11): how fast it puts things right, and what it costs idle.
Prints figures (median, p95); asserts nothing about time.

In a private network namespace with a `tailscale0` (tun) and the reconciler running as its unit would
(setpriv: root with CAP_NET_ADMIN only, no new privileges):

* route change -> sets updated: from the kernel's RTM_NEWROUTE/RTM_DELROUTE for table 52 to the first
  nf_tables event of our table (both timestamped by this process's own netlink sockets), N adds and N
  deletes;
* table gone -> back: from the DELTABLE of `inet mullvad-tailscale` (by `nft delete table`, and by
  `nft flush ruleset`) to its NEWTABLE;
* idle: CPU seconds and wake-ups over --idle seconds with the bypass on and nothing happening, and RSS;
* the soak: --cycles enable/disable cycles run by another process and --flaps table-52 route flaps,
  with fds, RSS and CPU before and after (tests/bypass/soak.py).

`bypass on|off` through pkexec is bench/bench_bypass.py.

usage: sudo .venv/bin/python bench/bench_reconciler.py [--runs 100] [--idle 60] [--cycles 1000] [--flaps 10000]
"""

from __future__ import annotations

import argparse
import os
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.bypass.soak import soak, usage  # noqa: E402
from tests.bypass.watcher import Watcher  # noqa: E402
from tests.infra.netns import NetNS  # noqa: E402
from tests.replica.probes import in_netns  # noqa: E402
from tray_app.helper import netlink  # noqa: E402

NFT_NEWTABLE = netlink.NFNL_SUBSYS_NFTABLES << 8 | 0
NFT_DELTABLE = netlink.NFNL_SUBSYS_NFTABLES << 8 | 2


def pct(values: Sequence[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s) + 0.5) - 1))]  # nearest rank


def row(name: str, ms: Sequence[float]) -> None:
    print(
        f"{name:38} {statistics.median(ms):8.1f} {pct(ms, 95):8.1f} {min(ms):8.1f} {max(ms):8.1f}  (n={len(ms)})"
    )


class Clock:
    """This process's own view of the kernel's events in the namespace."""

    def __init__(self, ns: str) -> None:
        with in_netns(ns):
            self.route = netlink.open_route()
            self.nft = netlink.open_nftables()

    def wait(
        self, sub: netlink.Subscription, cond: Callable[[netlink.Events], bool], timeout: float = 10
    ) -> float:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            r, _, _ = select.select([sub], [], [], end - time.monotonic())
            if r:
                ev = netlink.Events()
                sub.read(ev)
                if cond(ev):
                    return time.monotonic()
        raise TimeoutError("no such event")

    def drain(self) -> None:
        time.sleep(0.05)
        for sub in (self.route, self.nft):
            sub.read(netlink.Events())


def route_latency(ns: NetNS, clock: Clock, runs: int) -> tuple[list[float], list[float]]:
    add: list[float] = []
    delete: list[float] = []
    for i in range(runs):
        prefix = f"10.{100 + i // 250}.{i % 250}.0/24"
        for verb, out in (("add", add), ("del", delete)):
            clock.drain()
            ns.run("ip", "route", verb, prefix, "dev", "tailscale0", "table", "52")
            t0 = clock.wait(clock.route, lambda e: e.table52)
            t1 = clock.wait(clock.nft, lambda e: e.ours)
            out.append((t1 - t0) * 1000)
    return add, delete


def table_back(ns: NetNS, clock: Clock, runs: int, argv: Sequence[str]) -> list[float]:
    out = []
    for _ in range(runs):
        clock.drain()
        subprocess.Popen(ns.argv(*argv), stdout=subprocess.DEVNULL).wait()
        # the removal's DELTABLE, then the NEWTABLE of the reconciler's batch (only our table lives here);
        # both may come in one read when the repair beat this process's wake-up: then it took no longer
        t0 = t1 = None
        end = time.monotonic() + 10
        while t1 is None and time.monotonic() < end:
            select.select([clock.nft], [], [], end - time.monotonic())
            ev = netlink.Events()
            clock.nft.read(ev)
            now = time.monotonic()
            if t0 is None and NFT_DELTABLE in ev.seen:
                t0 = now
                ev.seen = ev.seen[ev.seen.index(NFT_DELTABLE) :]
            if t0 is not None and NFT_NEWTABLE in ev.seen:
                t1 = now
        if t0 is None or t1 is None:
            raise TimeoutError("the table did not come back within 10 s")
        out.append((t1 - t0) * 1000)
        time.sleep(0.05)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--idle", type=float, default=60)
    ap.add_argument("--cycles", type=int, default=1000)
    ap.add_argument("--flaps", type=int, default=10000)
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_reconciler needs root (network namespaces, nft)", file=sys.stderr)
        return 2
    ns = NetNS("mtt-bench")
    tmp = Path(tempfile.mkdtemp(prefix="mtt-bench-rec-"))
    tmp.chmod(0o755)
    (tmp / "state").mkdir(mode=0o755)
    (tmp / "run").mkdir(mode=0o755)
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "PYTHONPATH": str(ROOT),
        "MTT_STATE_DIR": str(tmp / "state"),
    }
    w: Watcher | None = None
    try:
        ns.run("ip", "tuntap", "add", "tailscale0", "mode", "tun")
        ns.run("ip", "link", "set", "tailscale0", "up")
        for route in ("100.64.0.0/10", "192.168.50.0/24"):
            ns.run("ip", "route", "add", route, "dev", "tailscale0", "table", "52")
        r = ns.run(sys.executable, "-m", "tray_app.helper", "enable", env=env, check=False)
        assert r.returncode == 0, r.stderr
        w = Watcher(ns, env, tmp / "run")
        w.ready()
        clock = Clock(ns.name)
        print(f"reconciler timings, milliseconds (load average {os.getloadavg()[0]:.1f})")
        print(f"{'event':38} {'median':>8} {'p95':>8} {'min':>8} {'max':>8}")
        add, delete = route_latency(ns, clock, a.runs)
        row("table-52 route added -> sets updated", add)
        row("table-52 route removed -> sets updated", delete)
        row(
            "table deleted -> back",
            table_back(ns, clock, a.runs, ("nft", "delete", "table", "inet", "mullvad-tailscale")),
        )
        row("ruleset flushed -> back", table_back(ns, clock, a.runs, ("nft", "flush", "ruleset")))

        time.sleep(1)
        u0 = usage(w.proc.pid)
        sw0 = _switches(w.proc.pid)
        time.sleep(a.idle)
        u1 = usage(w.proc.pid)
        sw1 = _switches(w.proc.pid)
        print(
            f"idle {a.idle:.0f} s with the bypass on: {u1.cpu_s - u0.cpu_s:.2f} CPU seconds, "
            f"{sw1 - sw0} wake-ups, RSS {u1.rss_kib / 1024:.1f} MiB, {u1.fds} fds"
        )
        fig = soak(ns, env, w, a.cycles, a.flaps)
        b, m, e = fig["before"], fig["after_cycles"], fig["after"]
        print(
            f"soak: {a.cycles} enable/disable cycles in {fig['cycles_s']:.1f} s, then {a.flaps} route flaps in "
            f"{fig['flaps_s']:.1f} s; final set right: {fig['final_set_ok']}"
        )
        for name, u in (("before", b), ("after the cycles", m), ("after the flaps", e)):
            print(f"  {name:18} fds {u.fds:3}  RSS {u.rss_kib / 1024:6.1f} MiB  CPU {u.cpu_s:7.2f} s")  # type: ignore[attr-defined]
        w.stop()
        print(f"  reconciler: {w.stderr.strip().splitlines()[-1]}")
    finally:
        if w is not None:
            w.kill()
        ns.delete()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def _switches(pid: int) -> int:
    total = 0
    for ln in Path(f"/proc/{pid}/status").read_text().splitlines():
        if ln.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
            total += int(ln.split()[1])
    return total


if __name__ == "__main__":
    sys.exit(main())
