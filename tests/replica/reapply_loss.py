"""Measure echoes lost while the bypass table is re-applied over and over, per re-apply strategy (root only).

    sudo .venv/bin/python -m tests.replica.reapply_loss [--applies 800] [--interval 0.005]

Strategies, each applied with one `nft -f` per re-apply in the replica's host namespace while ICMP echoes run
to four tailnet targets:

* `replace`: `table {}` + `delete table` + full definition (one transaction that re-creates the base chains);
* `flush`:   declare (idempotent) + `flush table` + `flush set`s + full definition (base chains kept);
* `helper`:  `python -m tray_app.helper refresh` (whatever the product does).

Prints sent/lost per target and when the losses happened. See docs/testing-replica.md, "Re-apply and packet
loss", for what was measured and why it matters.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from tests.replica import reference_rules
from tests.replica import topology as t
from tests.replica.bypass_drivers import HelperBypass, ReferenceBypass
from tests.replica.lab import Lab
from tests.replica.probes import ContinuousPing

TARGETS = (t.PEER4, t.PEER6, t.SUBNET_HOST, t.MAGICDNS4)
TABLE = f"inet {reference_rules.TABLE}"


def batches(lab: Lab) -> dict[str, str]:
    ref = ReferenceBypass(lab)
    v4, v6 = ref._table52()
    full = reference_rules.reference("direct", v4, v6)
    body = full.split(f"delete table {TABLE}\n", 1)[1]
    flush = (
        f"flush table {TABLE}\n"
        + "".join(f"flush set {TABLE} {name}\n" for name in ("tailnet4", "tailnet6", "mullvad_dns4"))
        + body
    )
    return {"replace": full, "flush": body + flush}


def measure(strategy: str, applies: int, interval: float) -> None:
    with Lab.build(rp_filter=2, connmark="none") as lab:
        state = Path(tempfile.mkdtemp(prefix="mtt-reapply-"))
        helper = HelperBypass(lab, state)
        helper.enable("direct")
        batch = lab.workdir / "batch.nft"
        if strategy != "helper":
            batch.write_text(batches(lab)[strategy])
        host = lab.name("host")
        pinger = ContinuousPing({d: (host, d) for d in TARGETS}, interval=interval)
        pinger.start()
        t0 = time.monotonic()
        try:
            for _ in range(applies):
                if strategy == "helper":
                    helper.refresh()
                else:
                    lab.run("host", "nft", "-f", str(batch))
        finally:
            counts = pinger.stop()
        took = time.monotonic() - t0
        helper.disable()
        shutil.rmtree(state, ignore_errors=True)
        lost = {d: counts[d][0] - counts[d][1] for d in TARGETS}
        print(f"{strategy:8} {applies} re-applies in {took:.1f} s: lost {sum(lost.values())} echoes  {lost}")
        for d in TARGETS:
            if pinger.lost(d):
                print(f"         {d}: lost at {[round(x, 3) for x in pinger.lost(d)]} s")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--applies", type=int, default=800)
    ap.add_argument("--interval", type=float, default=0.005)
    ap.add_argument("--strategy", choices=("replace", "flush", "helper"), action="append")
    args = ap.parse_args()
    for strategy in args.strategy or ("replace", "flush", "helper"):
        measure(strategy, args.applies, args.interval)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
