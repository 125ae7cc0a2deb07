"""`make install` into a temporary DESTDIR, once per module, for the packaging tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.infra.require import require_tools

ROOT = Path(__file__).resolve().parents[2]
# Fixed so that the expected paths do not depend on the machine running the tests.
UNITDIR = "/usr/lib/systemd/system"
PYTHONDIR = "/usr/lib/python3/dist-packages"


@dataclass(frozen=True)
class Install:
    destdir: Path
    builddir: Path
    python: str

    def make(self, *targets: str, check: bool = True, **overrides: str) -> subprocess.CompletedProcess[str]:
        return run_make(
            *targets,
            check=check,
            DESTDIR=str(self.destdir),
            BUILDDIR=str(self.builddir),
            PYTHON=self.python,
            **overrides,
        )

    def files(self) -> set[str]:
        """Every regular file and symlink under DESTDIR, as absolute install paths."""
        out = set()
        for dirpath, _dirs, names in os.walk(self.destdir):
            for n in names:
                p = Path(dirpath) / n
                out.add("/" + str(p.relative_to(self.destdir)))
        return out


def run_make(*targets: str, check: bool = True, **variables: str) -> subprocess.CompletedProcess[str]:
    args = ["make", "-s", "-C", str(ROOT), *targets]
    args += [f"{k}={v}" for k, v in {"UNITDIR": UNITDIR, "PYTHONDIR": PYTHONDIR, **variables}.items()]
    p = subprocess.run(args, capture_output=True, text=True, timeout=120)
    if check and p.returncode != 0:
        pytest.fail(f"{' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}", pytrace=False)
    return p


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Install]:
    require_tools("make", "rsvg-convert")
    tmp = tmp_path_factory.mktemp("install")
    inst = Install(destdir=tmp / "root", builddir=tmp / "build", python=sys.executable)
    inst.make("install")
    yield inst
