"""/proc/PID/stat's start time: which process a pid means (a pid is reused, its start time is not)."""

from __future__ import annotations


def start_ticks(stat_text: str) -> int | None:
    """Field 22 (starttime, clock ticks since boot) of a /proc/PID/stat text, None if it is not one."""
    try:
        return int(stat_text.rsplit(")", 1)[1].split()[19])  # after comm, which may hold spaces and ')'
    except (IndexError, ValueError):
        return None
