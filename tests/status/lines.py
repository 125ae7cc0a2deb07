"""Read a child's JSON lines with a deadline (the child is the product code under test)."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable
from typing import IO, Any

Event = dict[str, Any]


class LineReader:
    def __init__(self, stream: IO[str]) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def next_line(self, timeout: float = 10.0) -> str:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no line within {timeout} s; seen so far: {self.seen[-20:]}") from None
        if line is None:
            raise AssertionError(f"the child closed its output; seen: {self.seen[-20:]}")
        self.seen.append(line)
        return line

    def next_event(self, timeout: float = 10.0) -> Event:
        return dict(json.loads(self.next_line(timeout)))

    def until(self, pred: Callable[[Event], bool], timeout: float = 10.0) -> list[Event]:
        """Events up to and including the first that matches `pred`."""
        out: list[Event] = []
        while True:
            ev = self.next_event(timeout)
            out.append(ev)
            if pred(ev):
                return out


def sig(name: str, *args: object) -> Callable[[Event], bool]:
    return lambda ev: ev["signal"] == name and tuple(ev["args"][: len(args)]) == args
