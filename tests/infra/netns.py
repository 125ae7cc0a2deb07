"""Private network namespaces for tests: real nft and ip, never the host's ruleset.

`NetNS` wraps `ip netns add/exec/del`. Every nft or helper call in the test-suite goes through
`ns.run(...)`, so nothing a test does can reach the host's firewall or routing.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import Sequence


class NetNS:
    def __init__(self, prefix: str = "mtt") -> None:
        self.name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        self.run("ip", "link", "set", "lo", "up")

    def argv(self, *cmd: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *cmd]

    def run(
        self,
        *cmd: str,
        check: bool = True,
        input: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 30,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*cmd),
            check=check,
            input=input,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def popen(self, cmd: Sequence[str], **kw: object) -> subprocess.Popen[str]:
        return subprocess.Popen(self.argv(*cmd), text=True, **kw)  # type: ignore[call-overload,no-any-return]

    def delete(self) -> None:
        subprocess.run(["ip", "netns", "pids", self.name], capture_output=True)
        pids = subprocess.run(
            ["ip", "netns", "pids", self.name], capture_output=True, text=True
        ).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), 9)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)
