"""Ways to put a bypass into the lab's host namespace.

* `HelperBypass` runs the product's root helper, `python -m tray_app.helper VERB ...`, inside the host
  namespace from this checkout (the repository root is derived from this file's path), with its state file in
  a test directory (MTT_STATE_DIR). This is what the traffic tests judge.
* `ReferenceBypass` loads coexistence.md's published table (or the "blog" control) with nft directly. It
  validates the lab itself: the replica must reproduce the published lab results before it can judge the helper.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.replica import reference_rules
from tests.replica import topology as t
from tests.replica.lab import Lab
from tray_app.core.protocol import OPTIONS

REPO = Path(__file__).resolve().parents[2]
HELPER_TIMEOUT = 30.0


class HelperError(AssertionError):
    pass


class HelperBypass:
    def __init__(self, lab: Lab, state_dir: Path) -> None:
        self.lab = lab
        self.state_dir = state_dir

    def argv(self, *args: str) -> list[str]:
        return ["ip", "netns", "exec", self.lab.name("host"), sys.executable, "-m", "tray_app.helper", *args]

    def call(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            self.argv(*args),
            cwd=REPO,
            env=self.lab.env_for_helper(self.state_dir),
            capture_output=True,
            text=True,
            timeout=HELPER_TIMEOUT,
            check=False,
        )
        if check and proc.returncode != 0:
            raise HelperError(f"helper {' '.join(args)} -> exit {proc.returncode}: {proc.stderr.strip()}")
        return proc

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.argv(*args),
            cwd=REPO,
            env=self.lab.env_for_helper(self.state_dir),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def enable(self, mode: str = "direct", *options: str) -> None:
        # Every option said, on or off: the helper keeps the last choice for any not given.
        self.call("enable", "--mode", mode, *(f"--{o}" if o in options else f"--no-{o}" for o in OPTIONS))

    def refresh(self) -> None:
        self.call("refresh")

    def disable(self) -> None:
        self.call("disable")

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(self.call("status").stdout)
        return out


class ReferenceBypass:
    """The published table, loaded by the test itself (never by the product)."""

    def __init__(self, lab: Lab, ruleset: str = "reference") -> None:
        self.lab = lab
        self.ruleset = ruleset
        self.mode: str | None = None

    def _table52(self) -> tuple[list[str], list[str]]:
        v4: list[str] = []
        v6: list[str] = []
        for fam, out in (("-4", v4), ("-6", v6)):
            routes = json.loads(self.lab.run("host", "ip", "-j", fam, "route", "show", "table", "52").stdout)
            for r in routes:
                if r.get("dev") == t.TS_IF and r.get("dst") not in (None, "default"):
                    out.append(r["dst"])
        return v4, v6

    def enable(self, mode: str = "direct") -> None:
        self.mode = mode
        if self.ruleset == "blog":
            self.lab.nft("host", reference_rules.blog())
            return
        v4, v6 = self._table52()
        self.lab.nft("host", reference_rules.reference(mode, v4, v6))
        if mode == "private":
            self.lab.ip_batch("host", reference_rules.PRIVATE_RULES_ADD)

    def refresh(self) -> None:
        if self.mode is not None:
            self.enable(self.mode)

    def disable(self) -> None:
        self.lab.nft("host", reference_rules.DELETE_TABLE)
        self.lab.ip_batch("host", reference_rules.PRIVATE_RULES_DEL, check=False)
        self.mode = None
