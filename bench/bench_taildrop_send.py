#!/usr/bin/env python3
"""Send a file… through the real tailscaled: the tray's FileSender sends a file of SIZE MB from this host of
the real-Tailscale lab (tests/realts/lab.py, tailscaled 1.102.5) to its peer, RUNS times. Prints the time per
send (median, p95), the throughput, and what the sender's process grew by (peak RSS), which shows the file is
streamed, not read into memory; the peer's `tailscale file get` checks the bytes once. Asserts nothing else.

Usage (root, after scripts/build-tailscale): .venv/bin/python bench/bench_taildrop_send.py [--size 64] [--runs 5]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PyQt6.QtCore import QCoreApplication  # noqa: E402

from tests.realts import binaries  # noqa: E402
from tests.realts.lab import RealLab  # noqa: E402
from tray_app.daemons.taildrop_send import FileSender  # noqa: E402


def sha256(path: Path) -> str:
    """In pieces: reading the file whole here would hide what the sender holds (peak RSS)."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1024 * 1024):
            h.update(chunk)
    return h.hexdigest()


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=64, help="MB")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    build = binaries.main_build()
    if build is None:
        print(f"no tailscaled {binaries.MAIN}: {binaries.FIX}", file=sys.stderr)
        return 1
    app = QCoreApplication([])
    with RealLab.build(build=build, mullvad_state="disconnected") as lab:
        src = lab.workdir / "bench.bin"
        with src.open("wb") as f:
            for _ in range(args.size):
                f.write(os.urandom(1024 * 1024))
        want = sha256(src)
        peer = str(lab.status("peer")["Self"]["ID"])  # type: ignore[index]
        sender = FileSender(lab.nodes["host"].socket)
        told: list[str] = []
        sender.sent.connect(told.append)
        sender.failed.connect(told.append)
        before = peak_mb()
        times: list[float] = []
        for i in range(args.runs):
            told.clear()
            t0 = time.perf_counter()
            sender.send(peer, "peer", [src])
            while not told:
                app.processEvents()
                time.sleep(0.001)
            times.append(time.perf_counter() - t0)
            if not told[0].startswith("Sent"):
                print(told[0], file=sys.stderr)
                return 1
            inbox = lab.workdir / f"inbox-{i}"
            inbox.mkdir()
            lab.ts("peer", "file", "get", str(inbox))
            if i == 0 and sha256(inbox / src.name) != want:
                print("the peer received other bytes", file=sys.stderr)
                return 1
        grew = peak_mb() - before
    times.sort()
    med = statistics.median(times)
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    print(f"send {args.size} MB to the peer, {args.runs} runs: median {med:.2f} s, p95 {p95:.2f} s, "
          f"{args.size / med:.0f} MB/s; the sender's peak RSS grew by {grew:.1f} MB (from {before:.0f} MB)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
