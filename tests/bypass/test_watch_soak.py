"""A short soak of the reconciler in CI (100 enable/disable cycles, 1,000 route flaps); the full one (1,000 and
10,000) is bench/bench_reconciler.py. Whatever the order of events, it ends right, and it does not grow."""

from __future__ import annotations

from tests.bypass.conftest import Lab
from tests.bypass.soak import soak
from tests.bypass.watcher import watching
from tests.infra.require import require_tools

CYCLES = 100
FLAPS = 1000
RSS_SLACK_KIB = 2048  # allocator noise; a leak per event would be far more over 1,100 rounds


def test_soak_ends_right_and_does_not_grow(lab: Lab) -> None:
    require_tools("setpriv")
    lab.route("100.64.0.0/10", "dev", "tailscale0")
    lab.ok("enable")
    with watching(lab.ns, lab.env) as w:
        fig = soak(lab.ns, lab.env, w, CYCLES, FLAPS)
        print(f"\nsoak {CYCLES} cycles + {FLAPS} flaps: {fig}")
        before, mid, after = fig["before"], fig["after_cycles"], fig["after"]
        assert fig["final_set_ok"], fig
        assert after.fds == before.fds, fig  # type: ignore[attr-defined]
        # RSS is compared from after the first round of work (imports and caches are warm by then)
        assert after.rss_kib - mid.rss_kib < RSS_SLACK_KIB, fig  # type: ignore[attr-defined]
        assert w.stop() == 0
    assert w.summary is not None, w.stderr
    events, checks, applies, _repairs, _forged = w.summary
    # debounced: far fewer transactions than route changes
    assert applies < FLAPS // 2, w.summary
    print(f"reconciler: {events} event batches, {checks} checks, {applies} applies")
