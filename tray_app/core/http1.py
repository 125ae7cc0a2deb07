"""HTTP/1.1 as tailscaled's LocalAPI speaks it: the request bytes and an incremental response parser.

Pure (no sockets): `daemons/localapi.py` (blocking) and `daemons/localapi_call.py` (Qt) feed it what they
read. tailscaled accepts a request only with `Host: local-tailscaled.sock` (or none) and without `Origin` or
`Referer` (ipn/localapi: `validHost`), so exactly that is sent, with `Connection: close`.
"""

from __future__ import annotations

HOST = "local-tailscaled.sock"
USER_AGENT = "mullvad-tailscale-tray"
MAX_HEAD = 64 * 1024
MAX_BODY = 64 * 1024 * 1024  # a tailnet with hundreds of Mullvad exit nodes gives a status of a few MB


def build_request(method: str, target: str, body: bytes | None = None, *, upload: int | None = None) -> bytes:
    """`upload`: only the head of a request whose body of that many bytes the caller streams after it
    (a Taildrop file, application/octet-stream)."""
    lines = [
        f"{method} {target} HTTP/1.1",
        f"Host: {HOST}",
        f"User-Agent: {USER_AGENT}",
        "Accept: */*",
        "Connection: close",
    ]
    if upload is not None:
        lines += ["Content-Type: application/octet-stream", f"Content-Length: {upload}"]
    elif body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + (body or b"")


class ResponseParser:
    """Incremental HTTP/1.1 response parser: head, then a Content-Length, chunked or close-delimited body.

    `feed()` returns the decoded body bytes that arrived; `done` is set at the end of the response;
    `error` (a short reason) is set on a protocol error, after which the connection must be dropped.
    """

    def __init__(self, max_body: int | None = MAX_BODY) -> None:
        self._max_body = max_body  # None: the caller streams the body somewhere (a Taildrop file)
        self._buf = bytearray()
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.done = False
        self.error: str | None = None
        self._mode = "head"  # head | length | chunk-size | chunk-data | chunk-crlf | trailer | close
        self._remaining = 0

    def feed(self, data: bytes) -> bytes:
        if self.done or self.error:
            return b""
        self._buf += data
        out = bytearray()
        try:
            self._run(out)
        except ValueError as exc:
            self.error = str(exc)
        return bytes(out)

    def feed_eof(self) -> bool:
        """The peer closed: fine for a close-delimited body, a truncation otherwise. Returns `done`."""
        if self.done or self.error:
            return self.done
        if self._mode == "close":
            self.done = True
        elif self.status is None:
            self.error = "connection closed before a response" if not self._buf else "truncated response head"
        else:
            self.error = "connection closed in the middle of the response"
        return self.done

    def _run(self, out: bytearray) -> None:
        while not self.done:
            if self._mode == "head":
                end = self._buf.find(b"\r\n\r\n")
                if end < 0:
                    if len(self._buf) > MAX_HEAD:
                        raise ValueError("response head too large")
                    return
                self._parse_head(bytes(self._buf[:end]).decode("latin-1"))
                del self._buf[: end + 4]
            elif self._mode == "length":
                take = min(self._remaining, len(self._buf))
                out += self._buf[:take]
                del self._buf[:take]
                self._remaining -= take
                if self._remaining == 0:
                    self.done = True
                return
            elif self._mode == "close":
                out += self._buf
                self._buf.clear()
                return
            elif self._mode == "chunk-size":
                end = self._buf.find(b"\r\n")
                if end < 0:
                    if len(self._buf) > 1024:
                        raise ValueError("bad chunk size line")
                    return
                size_text = bytes(self._buf[:end]).split(b";", 1)[0].strip()
                del self._buf[: end + 2]
                try:
                    self._remaining = int(size_text, 16)
                except ValueError:
                    raise ValueError(f"bad chunk size {size_text[:20]!r}") from None
                if self._remaining < 0:
                    raise ValueError("bad chunk size")
                self._mode = "chunk-data" if self._remaining else "trailer"
            elif self._mode == "chunk-data":
                take = min(self._remaining, len(self._buf))
                out += self._buf[:take]
                del self._buf[:take]
                self._remaining -= take
                if self._remaining:
                    return
                self._mode = "chunk-crlf"
            elif self._mode == "chunk-crlf":
                if len(self._buf) < 2:
                    return
                if self._buf[:2] != b"\r\n":
                    raise ValueError("missing CRLF after chunk")
                del self._buf[:2]
                self._mode = "chunk-size"
            elif self._mode == "trailer":
                end = self._buf.find(b"\r\n")
                if end < 0:
                    return
                line = self._buf[:end]
                del self._buf[: end + 2]
                if not line:
                    self.done = True

    def _parse_head(self, head: str) -> None:
        lines = head.split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise ValueError(f"not an HTTP response: {lines[0][:60]!r}")
        self.status = int(parts[1])
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                self.headers[name.strip().lower()] = value.strip()
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            self._mode = "chunk-size"
        elif "content-length" in self.headers:
            try:
                self._remaining = int(self.headers["content-length"])
            except ValueError:
                raise ValueError("bad Content-Length") from None
            if self._remaining < 0 or (self._max_body is not None and self._remaining > self._max_body):
                raise ValueError("bad Content-Length")
            self._mode = "length"
            if self._remaining == 0:
                self.done = True
        elif self.status in (204, 304) or 100 <= self.status < 200:
            self.done = True
        else:
            self._mode = "close"
