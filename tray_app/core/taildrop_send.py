"""Sending a file to a tailnet device with Taildrop (pure: the decisions and the words, no I/O).

tailscaled says per peer in `/localapi/v0/status` whether it can receive files (`TaildropTarget`, an
`ipnstate.TaildropTargetStatus`, the field `tailscale file cp` checks before sending); the file then goes as
`PUT /localapi/v0/file-put/<StableNodeID>/<escaped name>` with its Content-Length (`daemons/taildrop_send.py`).
"""

from __future__ import annotations

from tray_app.core.tailnet import Peer
from tray_app.core.tailscale_parse import http_problem

AVAILABLE = 1
OFFLINE = 5
# Why a device cannot receive, by TaildropTargetStatus (ipn/ipnstate); 0 (unknown, or a daemon older than
# the field) hides the item: the tray cannot know.
_WHY_NOT = {
    2: "Tailscale has no network map yet",
    3: "Tailscale is not connected",
    4: "Taildrop is not enabled for your tailnet",
    OFFLINE: "offline",
    6: "unknown to Tailscale",
    7: "its system cannot receive files",
    8: "it does not accept files",
    9: "Taildrop sends only to your own devices",
}
SEND_LABEL = "Send a file…"
UPLOAD_SILENCE_MS = 60_000  # tailscaled asks the peer first (10 s), then dials it (30 s) before it answers


def send_item(p: Peer) -> tuple[str, bool, bool]:
    """The device's "Send a file…" item: (text, enabled, visible)."""
    if p.taildrop == AVAILABLE:
        return SEND_LABEL, True, True
    why = _WHY_NOT.get(p.taildrop)
    if why is None:
        return SEND_LABEL, False, False
    return f"{SEND_LABEL} ({why})", False, True


def cannot_send(p: Peer | None, name: str) -> str | None:
    """Why the file cannot go to `p` now (the device changed while the file dialog was open), or None."""
    if p is None:
        return f"{name} is no longer in your tailnet."
    if p.taildrop == AVAILABLE:
        return None
    why = _WHY_NOT.get(p.taildrop, "Tailscale cannot say why")
    return f"{p.name} cannot receive files now ({why})."


def send_failed(device: str, file: str, code: int, body: bytes) -> str:
    """tailscaled's refusal of a file-put as a sentence with the fix."""
    if code == 404:  # "node not found": it is no file target any more
        return f"{file} was not sent: {device} no longer accepts files (it left the tailnet, or Taildrop to it is no longer allowed)."
    if code in (502, 504):  # the reverse proxy to the peer's PeerAPI found nobody
        return f"{file} was not sent: {device} did not answer. It is probably offline or asleep; try again when it is online."
    return f"{file} was not sent to {device}: " + http_problem("send a file", code, body)


def sent_text(device: str, names: list[str]) -> str:
    if len(names) == 1:
        return f"Sent {names[0]} to {device}."
    return f"Sent {len(names)} files to {device}: {', '.join(names)}."
