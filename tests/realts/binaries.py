"""The real Tailscale binaries the lab runs, as scripts/build-tailscale leaves them (docs/testing-replica.md).

`<cache>/<version>/{tailscaled,tailscale}` per version and `<cache>/control-HASH/tailscale-control`, the lab's
control server built from the sources of tests/tailscale-control with that hash; the cache is MTT_TAILSCALE_CACHE or /var/cache/mullvad-tailscale-tray/tailscale.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

CACHE = Path(os.environ.get("MTT_TAILSCALE_CACHE", "/var/cache/mullvad-tailscale-tray/tailscale"))
MAIN = "v1.102.5"  # the version every test runs on; the others get the reduced matrix
FIX = "run `sudo scripts/build-tailscale` (scripts/test runs it) to build the real tailscaled"


@dataclass(frozen=True, order=True)
class Build:
    key: tuple[int, ...]
    version: str  # "v1.102.5"
    dir: Path

    @property
    def tailscaled(self) -> str:
        return str(self.dir / "tailscaled")

    @property
    def tailscale(self) -> str:
        return str(self.dir / "tailscale")

    @property
    def short(self) -> str:
        return self.version.lstrip("v")

    @property
    def connmark(self) -> str:
        """Tailscale's connmark generation (coexistence.md §2.4): none before 1.96, the first one in 1.96/1.98,
        the masked one from 1.100."""
        minor = self.key[1]
        return "none" if minor < 96 else "first" if minor < 100 else "masked"


def builds() -> list[Build]:
    """Every complete build in the cache, newest first."""
    found = []
    if CACHE.is_dir():
        for d in CACHE.iterdir():
            m = re.fullmatch(r"v(\d+)\.(\d+)\.(\d+)", d.name)
            if m and (d / "tailscaled").is_file() and (d / "tailscale").is_file():
                found.append(Build(tuple(int(x) for x in m.groups()), d.name, d))
    return sorted(found, reverse=True)


def main_build() -> Build | None:
    return next((b for b in builds() if b.version == MAIN), None)


CONTROL_SRC = Path(__file__).resolve().parents[1] / "tailscale-control"


def control_binary() -> Path:
    """The control server built from this checkout's sources: scripts/build-tailscale keeps one build per
    hash of them (`control-HASH`), so a checkout never runs another one's (the `control` link is the last
    one built, by whichever checkout)."""
    src = CONTROL_SRC
    files = [src / "go.mod", src / "go.sum", *sorted(src.glob("*.go"))]
    digest = hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()[:16]
    return CACHE / f"control-{digest}" / "tailscale-control"
