"""The one line splitter for the daemons' streams (`mullvad status --json listen`, tailscaled's
`watch-ipn-bus`): bytes in, complete lines out, never holding more than `max_line` bytes of one line."""

from __future__ import annotations


class LineSplitter:
    """Splits a byte stream at b"\\n". An over-long line is dropped whole and counted in `overflows`: the
    caller decides whether that is noise to skip (Mullvad's relay lists) or a broken stream (tailscaled)."""

    def __init__(self, max_line: int) -> None:
        self.max_line = max_line
        self.overflows = 0
        self._buf = bytearray()
        self._skipping = False  # inside an over-long line: drop bytes until its newline

    def reset(self) -> None:
        self._buf.clear()
        self._skipping = False

    def feed(self, data: bytes) -> list[bytes]:
        lines: list[bytes] = []
        start = 0
        while start < len(data):
            end = data.find(b"\n", start)
            if end < 0:
                chunk = data[start:]
                if not self._skipping:
                    self._buf += chunk
                    if len(self._buf) > self.max_line:
                        self._buf.clear()
                        self._skipping = True
                        self.overflows += 1
                break
            if self._skipping:
                self._skipping = False
            else:
                if self._buf:
                    self._buf += data[start:end]
                    line = bytes(self._buf)
                    self._buf.clear()
                else:
                    line = data[start:end]
                if len(line) <= self.max_line:
                    lines.append(line)
                else:
                    self.overflows += 1
            start = end + 1
        return lines
