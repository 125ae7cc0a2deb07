"""The contract between the unprivileged app and the root helper (DESIGN.md, "Helper contract").

Stdlib only: the helper imports this module.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum, StrEnum

# Bump when verbs, options or the status JSON change incompatibly; doctor compares it with the app's.
PROTOCOL_VERSION = 1

TABLE_FAMILY = "inet"
TABLE_NAME = "mullvad-tailscale"


class Verb(StrEnum):
    """The helper's fixed verbs: its argparse allowlist, the tray, the CLI and doctor all name them from here."""

    STATUS = "status"
    REFRESH = "refresh"
    ENABLE = "enable"
    DISABLE = "disable"
    RESTORE = "restore"
    WATCH = "watch"
    VERSION = "version"


VERBS = tuple(Verb)
CHANGES = frozenset({Verb.ENABLE, Verb.DISABLE})  # the user's toggle: each prints the status after the change
MODES = ("direct", "private")
OPTIONS = ("containers", "exit-via-mullvad")

ACTION_PREFIX = "io.github.mullvad-tailscale-tray.bypass."
# `refresh` has no action since the root reconciler keeps the bypass right (docs/security-review.md): root
# and scripts run it directly; through pkexec it needs the administrator, like `restore` and `watch`.
ACTIONS: dict[str, str] = {verb: ACTION_PREFIX + verb for verb in (Verb.STATUS, Verb.ENABLE, Verb.DISABLE)}


class Exit(IntEnum):
    """Helper exit codes. pkexec adds 126 (dialog dismissed) and 127 (not authorized / no agent)."""

    OK = 0
    FAILED = 1  # an ip/nft command failed unexpectedly (the message names it); nothing left half done
    USAGE = 2
    NOT_ROOT = 3
    NFT_MISSING = 4
    NFT_REJECTED = 5
    PRECONDITION = 6
    BUSY = 7  # another run of the helper kept the state lock past the bounded wait; nothing was changed
    PKEXEC_DISMISSED = 126
    PKEXEC_NOT_AUTHORIZED = 127


def cli_enable_command(mode: str | None, options: Iterable[str] = ()) -> str:
    """The CLI command that turns the bypass on with exactly this choice (the one fix for a drifted bypass)."""
    words = ["mullvad-tailscale-tray", "bypass", "on", "--mode", mode if mode in MODES else "direct"]
    words += [f"--{o}" for o in OPTIONS if o in set(options)]
    return " ".join(words)
