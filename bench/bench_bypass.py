#!/usr/bin/env python3
"""Bypass helper cost (issue 2, "Benchmark"). Prints figures (median, p95); asserts nothing about time.

For each of apply (`enable`, from off), `refresh` (re-apply while on), remove (`disable`, from on) and
`status`, N runs each:
* the installed helper run directly as root (what the boot unit and `sudo ... bypass on` do);
* the same through pkexec as an authorized test user (`pkexec helper VERB` exec'd by a child that took the
  user's uid and gids, what the tray and the CLI do), and the same under `runuser -u mtt-allow --` (how
  this bench measured until the figures of docs/bypass.md's "Measured"; runuser opens a PAM session a user's
  toggle does not pay), with `runuser -u mtt-allow -- /bin/true` alongside to show runuser's share;
* the bare `nft -f` of the very batch the helper applies, and of its removal, for comparison.

Runs as root. It installs the polkit test fixtures of tests/polkit/install.py (policy, rules, test users,
a launcher at the helper's installed path running this checkout), then re-executes itself inside a private
network namespace with a private mount namespace over the helper's state directory, so neither the host's
ruleset nor its saved bypass is touched (pkexec clears the environment, so the helper's MTT_STATE_DIR
override cannot be used: a bind mount it is; the run refuses to start without it and checks afterwards that
the machine's state directory is unchanged); everything is removed when it ends. The namespace gets a dummy
veth `tailscale0` with a few table-52 routes so the sets are not trivially empty.

usage: sudo .venv/bin/python bench/bench_bypass.py [--runs 50]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

USER = "mtt-allow"
TABLE52 = (
    ("-4", "100.101.102.103"),  # a peer
    ("-4", "192.168.50.0/24"),  # subnet routes
    ("-4", "10.20.0.0/16"),
    ("-6", "fd7a:115c:a1e0::/48"),
    ("-6", "fd00:50::/64"),
)


def pct(values: Sequence[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s) + 0.5) - 1))]  # nearest rank


def timed(argv: Sequence[str], *, expect: int = 0, user: str | None = None) -> float:
    # user: the child takes that user's uid and gids before exec (no PAM session), as a user's shell would be
    as_user: dict[str, object] = {"user": user, "group": user, "extra_groups": []} if user else {}
    t0 = time.perf_counter()
    out = subprocess.run(list(argv), capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False, **as_user)  # type: ignore[call-overload]  # fmt: skip
    dt = (time.perf_counter() - t0) * 1000
    if out.returncode != expect:
        raise SystemExit(f"{' '.join(argv)} exited {out.returncode}:\n{out.stderr}")
    return dt


Step = Callable[[], float]


def cycles(runs: int, paths: dict[str, tuple[Step, Step, Step, Step]]) -> list[tuple[str, str, list[float]]]:
    """Per run and path: off -> apply -> refresh -> remove -> status (off), each verb measured from the state
    it meets in use. Paths take turns within each run so load drift on a shared machine hits all alike."""
    ops = ("apply", "refresh", "remove", "status (off)")
    out: dict[tuple[str, str], list[float]] = {(op, label): [] for label in paths for op in ops}
    for _ in range(runs):
        for label, steps in paths.items():
            for op, step in zip(ops, steps, strict=True):
                out[(op, label)].append(step())
    return [(op, label, values) for (op, label), values in out.items()]


def state_fingerprint(path: str) -> list[tuple[str, int, int, int]]:
    """What the machine's saved bypass state is: every file under `path` with its size, mode and mtime."""
    out = []
    for dirpath, _dirs, files in os.walk(path):
        for name in [".", *files]:
            st = os.lstat(os.path.join(dirpath, name))
            out.append((os.path.join(dirpath, name), st.st_size, st.st_mode, st.st_mtime_ns))
    return sorted(out)


def inner(runs: int, sandbox: str) -> None:
    from tray_app.core.rules import Config, render_apply, render_remove
    from tray_app.helper import facts
    from tray_app.paths import HELPER_PATH, STATE_DIR

    # pkexec clears the environment, so the helper always writes STATE_DIR: measure only over the bind mount
    try:
        bound = os.path.samestat(os.stat(STATE_DIR), os.stat(sandbox))
    except OSError:
        bound = False
    if not bound:
        raise SystemExit(f"{STATE_DIR} is not the bench's bind mount: refusing to change the machine's state")

    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["ip", "link", "add", "tailscale0", "type", "veth", "peer", "name", "ts-peer"], check=True)
    for link in ("tailscale0", "ts-peer"):
        subprocess.run(["ip", "link", "set", link, "up"], check=True)
    for fam, dst in TABLE52:
        subprocess.run(["ip", fam, "route", "add", dst, "dev", "tailscale0", "table", "52"], check=True)

    pkexec = ["/usr/bin/pkexec", HELPER_PATH]
    runuser = ["runuser", "-u", USER, "--", *pkexec]
    direct = [HELPER_PATH]

    def helper(prefix: list[str], user: str | None = None) -> tuple[Step, Step, Step, Step]:
        # `refresh` has no polkit action any more (the reconciler keeps the bypass right): root only.
        verbs = ("enable", "refresh" if prefix == direct else None, "disable", "status")
        return tuple(lambda v=v: timed([*prefix, v], user=user) if v else -1.0 for v in verbs)  # type: ignore[return-value]

    timed([*direct, "status"])  # warm the page cache and polkitd before measuring
    timed([*pkexec, "status"], user=USER)
    batch = render_apply(Config(), facts.routes())
    remove = render_remove()
    with tempfile.NamedTemporaryFile("w", suffix=".nft", delete=False) as f:
        f.write(batch)
    with tempfile.NamedTemporaryFile("w", suffix=".nft", delete=False) as g:
        g.write(remove)
    bare_apply = lambda: timed(["nft", "-f", f.name])  # noqa: E731
    bare: tuple[Step, Step, Step, Step] = (
        bare_apply,
        bare_apply,
        lambda: timed(["nft", "-f", g.name]),
        lambda: 0.0,
    )
    paths = {"helper, direct as root": helper(direct), "helper via pkexec (user)": helper(pkexec, USER),
             "runuser + pkexec (old bench)": helper(runuser), "bare nft -f (same batch)": bare}  # fmt: skip
    try:
        rows = [r for r in cycles(runs, paths) if not (r[0] == "status (off)" and r[1].startswith("bare"))]
        rows = [r for r in rows if min(r[2]) >= 0]  # steps a path does not have
    finally:
        os.unlink(f.name)
        os.unlink(g.name)
    rows.append(("baseline", "runuser -u USER -- /bin/true", [timed(["runuser", "-u", USER, "--", "/bin/true"]) for _ in range(runs)]))  # fmt: skip
    rows.append(("baseline", "/usr/bin/python3 -I -c pass", [timed(["/usr/bin/python3", "-I", "-c", "pass"]) for _ in range(runs)]))  # fmt: skip

    order = {"apply": 0, "refresh": 1, "remove": 2, "status (off)": 3, "baseline": 4}
    rows.sort(key=lambda r: order[r[0]])
    print(f"bypass helper timings, {runs} runs each, milliseconds (batch: {len(batch.splitlines())} lines)")
    print(f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'operation':<14} {'path':<30} {'median':>8} {'p95':>8} {'min':>8} {'max':>8}")
    for op, label, v in rows:
        print(
            f"{op:<14} {label:<30} {statistics.median(v):8.1f} {pct(v, 95):8.1f} {min(v):8.1f} {max(v):8.1f}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--inner", metavar="SANDBOX", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        inner(args.runs, args.inner)
        return 0
    if os.geteuid() != 0:
        print(
            "bench_bypass needs root (namespaces, test users, polkit files): run it with sudo",
            file=sys.stderr,
        )
        return 2
    from tests.polkit.install import installed
    from tray_app.paths import STATE_DIR

    with installed(), tempfile.TemporaryDirectory(prefix="mtt-bench-state-") as state:
        os.chmod(state, 0o755)  # noqa: S103 - root-owned; the helper refuses group/other-writable dirs
        before = state_fingerprint(STATE_DIR)
        script = 'mount --bind "$0" "$1" && shift && exec "$@"'
        cmd = ["unshare", "-n", "-m", "--propagation", "private", "sh", "-c", script, state, STATE_DIR,
               sys.executable, str(Path(__file__).resolve()), "--inner", state, "--runs", str(args.runs)]  # fmt: skip
        code = subprocess.run(cmd, check=False, start_new_session=True, stdin=subprocess.DEVNULL).returncode
        if state_fingerprint(STATE_DIR) != before:
            print(f"bench_bypass: the machine's {STATE_DIR} changed during the run", file=sys.stderr)
            return 1
        print(f"{STATE_DIR} of the machine: unchanged (the helper wrote to {state}, bind-mounted over it)")
        return code


if __name__ == "__main__":
    sys.exit(main())
