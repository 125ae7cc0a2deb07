#!/usr/bin/env python3
"""What pyroute2 costs the tray: the netlink watcher's import of pyroute2's decoder, as it does it (only the
decoder's modules, without the package's __init__) and the ordinary way (the whole package), each in fresh
processes, with PyQt6.QtCore already loaded as in the tray. Prints time and RSS added; asserts nothing.

Usage: .venv/bin/python bench/bench_netlink_import.py [--runs 5] [--python /usr/bin/python3 ...]
(the default Pythons: this one, PyPI's pyroute2, and /usr/bin/python3, Debian's python3-pyroute2 0.7).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import json, sys, time
from PyQt6.QtCore import QObject  # the tray has Qt loaded before the watcher starts
from tray_app.daemons import netlink

def rss():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024

r0, t0 = rss(), time.perf_counter()
p = netlink._import_submodules() if sys.argv[1] == "submodules" else netlink._import_package()
t1, r1 = time.perf_counter(), rss()
print(json.dumps({"loaded": p.loaded, "ms": (t1 - t0) * 1000, "mb": r1 - r0}))
"""


def version(python: str) -> str:
    code = "from importlib.metadata import version; print(version('pyroute2'))"
    out = subprocess.run([python, "-c", code], check=False, capture_output=True, text=True)
    return out.stdout.strip() or "?"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--python", action="append", help="a Python to measure (repeatable)")
    args = ap.parse_args()
    pythons = args.python or [sys.executable, "/usr/bin/python3"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for python in pythons:
        if not os.access(python, os.X_OK):
            print(f"{python}: missing")
            continue
        for how in ("submodules", "package"):
            got = [
                json.loads(subprocess.run([python, "-c", PROBE, how], env=env, capture_output=True, text=True,
                                          check=True).stdout)
                for _ in range(args.runs)
            ]  # fmt: skip
            loaded = {g["loaded"] for g in got}
            ms = sorted(g["ms"] for g in got)
            mb = statistics.median(g["mb"] for g in got)
            print(
                f"{python} (pyroute2 {version(python)}), {how:10s} (loaded: {'/'.join(loaded)}): "
                f"{args.runs} runs, median {statistics.median(ms):6.1f} ms (min {ms[0]:.1f}, max {ms[-1]:.1f}), "
                f"+{mb:.1f} MB RSS",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
