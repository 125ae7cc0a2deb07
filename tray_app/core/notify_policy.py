"""Which desktop notifications a stream of Snapshots deserves (pure: no Qt, no clock of its own).

Rules (issue 4, DESIGN.md "Notifications"):
* debounce: a change is announced only once its state has held for `settle` seconds, so
  connecting -> connected gives one "connected", and a blip that returns to the announced state gives nothing;
* flap suppression: a subject that changed `flap_count` times within `flap_window` must hold still for
  `flap_settle` before anything is said about it; a flap that ends where it began says nothing at all;
* replace-by-id: every notice names a slot ("mullvad", "tailscale", ...); the sender replaces the previous
  notification of that slot instead of stacking a new one;
* the user's own changes: a change the user just asked for (within `user_window`, and only to the outcome
  asked for: "up" expects running, not "needs login") is quieter (low urgency, transient) and never counts
  as flapping, so toggling on -> private -> off, or disconnect then connect, confirms each step promptly;
  what the daemon does on its own meanwhile is announced as usual;
* withdrawn when false: a problem on screen (could not block, blocking, needs login, lost, out of date,
  not available, the suggestion) is closed as soon as the state leaves it, not when the new state settles;
  a leak warning is never delayed by flap suppression;
* categories the user can mute; the Mullvad leak warning is never muted (it is the one thing that must reach
  the user);
* no notification for the state found at start-up, except the tailnet-cut-off suggestion, which is a
  problem the user can fix with one click.

The caller feeds `observe(snapshot, now)`, calls `poll(now)` at `next_deadline()` and sends what it returns.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field, replace
from enum import IntEnum, StrEnum

from tray_app.core.model import BypassState, MullvadState, Snapshot, TailscaleState
from tray_app.core.mullvad_parse import LEAK_WARNING
from tray_app.core.tooltip import bypass_lost, this_device_ip


class Category(StrEnum):
    MULLVAD = "mullvad"
    TAILSCALE = "tailscale"
    BYPASS = "bypass"
    SUGGEST = "suggest"


CATEGORY_LABELS = {
    Category.MULLVAD: "Mullvad connection changes",
    Category.TAILSCALE: "Tailscale changes and exit node",
    Category.BYPASS: "Bypass on, off or lost",
    Category.SUGGEST: "Suggestions (turn on the bypass)",
}


class Urgency(IntEnum):
    """The freedesktop notification urgency hint."""

    LOW = 0
    NORMAL = 1
    CRITICAL = 2


class Subject(StrEnum):
    MULLVAD = "mullvad"
    TAILSCALE = "tailscale"
    EXIT_NODE = "exitnode"
    BYPASS = "bypass"
    SUGGEST = "suggest"


# Action ids the UI understands; the notification sender passes them through unchanged.
ACTION_ENABLE_BYPASS = "enable-bypass"
ACTION_RESTORE_BYPASS = "restore-bypass"
ACTION_REPAIR_BYPASS = "repair-bypass"
ACTION_NEVER_SUGGEST = "never-suggest"
ACTION_LOGIN = "tailscale-login"


@dataclass(frozen=True, slots=True)
class Action:
    id: str
    label: str


@dataclass(frozen=True, slots=True)
class Notice:
    slot: str  # same slot replaces the previous notification
    category: Category
    summary: str
    body: str
    urgency: Urgency = Urgency.NORMAL
    actions: tuple[Action, ...] = ()
    transient: bool = False  # a change the user just made: shown briefly, not kept in history
    # the state it announces, for its icon (the tray's icon of that state); not part of what it says
    snapshot: Snapshot | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Withdraw:
    """Close the notification of a slot: what it said is no longer true."""

    slot: str


@dataclass(frozen=True, slots=True)
class UserIntent:
    """What the user just asked for: a subject and the states that would be its outcome."""

    subject: Subject
    expect: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    settle: float = 1.5
    flap_window: float = 60.0
    flap_count: int = 4
    flap_settle: float = 30.0
    user_window: float = 20.0  # a change within this long after the user's action counts as theirs


@dataclass
class _Track:
    announced: Hashable = None  # None until the first settled value (the start-up baseline)
    baselined: bool = False
    pending: Hashable = None
    pending_since: float = 0.0
    last_seen: Hashable = None  # the last state that landed (in motion is not one)
    changes: deque[float] = field(default_factory=deque)
    user_at: float | None = None
    user_expect: frozenset[str] | None = None  # the outcomes the user asked for; None: any change
    user_arrived: bool = False  # the asked-for outcome was seen: any change after it is the daemon's
    pending_user: bool = False  # `pending` is what the user asked for
    shown: bool = False  # a notice of this slot that says a problem is on screen (withdraw it once false)
    retracted: bool = False  # that notice was withdrawn early: the announced state must be said again
    snapshot: Snapshot | None = None  # the snapshot that produced `pending`, for the notice's text


# announced states whose notice is false, and withdrawn at once, when the state leaves them
_PROBLEMS = frozenset({"leaking", "blocked", "unavailable", "needs_login", "lost", "drifted", True})
LEAKING = ("leaking",)


def sentence(text: str) -> str:
    """A notification body made of a daemon's detail starts like a sentence (details often start
    lowercase); a leading `command` stays as it is."""
    return text[:1].upper() + text[1:] if text[:1].isalpha() else text


def _kind(value: Hashable) -> Hashable:
    return value[0] if isinstance(value, tuple) and value else value


def _mullvad_facet(s: Snapshot) -> Hashable:
    m = s.mullvad
    if m.state in (MullvadState.CONNECTING, MullvadState.DISCONNECTING):
        return None  # in motion: wait for where it lands
    if m.state is MullvadState.ERROR:
        return ("leaking",) if m.block_failure else ("blocked",)
    if m.state is MullvadState.DISCONNECTED:
        return ("blocked",) if m.blocked else ("disconnected",)
    if m.state is MullvadState.CONNECTED:
        return ("connected", m.relay)
    return ("unavailable",)


def _tailscale_facet(s: Snapshot) -> Hashable:
    t = s.tailscale.state
    if t is TailscaleState.STARTING:
        return None
    if t in (TailscaleState.NEEDS_LOGIN, TailscaleState.NEEDS_MACHINE_AUTH, TailscaleState.NO_STATE):
        return ("needs_login",)
    return (t.value,)


def _exit_node_facet(s: Snapshot) -> Hashable:
    t = s.tailscale
    if t.state is not TailscaleState.RUNNING:
        return None  # only meaningful while running; "Tailscale stopped" says the rest
    return ("exit", t.exit_node.name if t.exit_node else None)


def _bypass_facet(s: Snapshot) -> Hashable:
    b = s.bypass
    if b.state is BypassState.UNKNOWN:
        return None
    if bypass_lost(b):
        return ("lost",)
    if b.state is BypassState.ON:
        return ("on", b.mode, b.repairs)  # a repair by the reconciler is news, though the state stays on
    return (b.state.value,)


def _cut_off(s: Snapshot) -> bool:
    return (
        s.mullvad.state is MullvadState.CONNECTED
        and s.tailscale.state is TailscaleState.RUNNING
        and s.bypass.state is BypassState.OFF
    )


class NotifyPolicy:
    def __init__(self, config: PolicyConfig | None = None) -> None:
        self.config = config or PolicyConfig()
        self.enabled = True
        self.muted: frozenset[Category] = frozenset()
        self.bypass_wanted = False  # the user consented to the bypass and has not turned it off
        self._facets: dict[Subject, Callable[[Snapshot], Hashable]] = {
            Subject.MULLVAD: _mullvad_facet,
            Subject.TAILSCALE: _tailscale_facet,
            Subject.EXIT_NODE: _exit_node_facet,
            Subject.BYPASS: _bypass_facet,
        }
        self._tracks = {subject: _Track() for subject in Subject}
        self._last: Snapshot | None = None
        self._withdrawn: list[tuple[float, Withdraw]] = []  # problems that became false, not yet polled

    # -- inputs ---------------------------------------------------------------------------------------

    def user_initiated(self, subject: Subject, now: float, expect: Iterable[str] | None = None) -> None:
        """The user just asked for a change of `subject` (menu, notification action); `expect`: the states
        (facet kinds: "connected", "running", "on", ...) that would be what they asked for."""
        track = self._tracks[subject]
        track.user_at = now
        track.user_expect = frozenset(expect) if expect is not None else None
        track.user_arrived = False

    def _users(self, track: _Track, value: Hashable, now: float) -> bool:
        """Is this value the outcome of what the user just asked for? (In motion counts: on the way.)"""
        if track.user_at is None or now - track.user_at > self.config.user_window:
            return False
        return value is None or track.user_expect is None or _kind(value) in track.user_expect

    def _users_step(self, track: _Track, value: Hashable, now: float) -> bool:
        """A change on the way to what the user asked for, up to its first arrival; after that (or once
        the daemon went elsewhere) it is the daemon's own and counts towards flapping."""
        if track.user_arrived and track.user_expect is not None:
            track.user_at = None  # left the asked-for state again: that was not the user
            return False
        if not self._users(track, value, now):
            return False
        if value is not None and track.user_expect is not None:
            track.user_arrived = True
        return True

    def observe(self, snapshot: Snapshot, now: float) -> None:
        self._last = snapshot
        for subject, facet in self._facets.items():
            self._see(self._tracks[subject], facet(snapshot), snapshot, now)
        suggest = _cut_off(snapshot) and not self.bypass_wanted
        self._see(self._tracks[Subject.SUGGEST], suggest, snapshot, now)

    def baseline(self, snapshot: Snapshot, now: float) -> None:
        """The state found at start-up (the monitor's `ready`): known, so not news. The suggestion is
        left out on purpose: a tailnet cut off at login is a problem worth one notification."""
        self._last = snapshot
        for subject, facet in self._facets.items():
            track = self._tracks[subject]
            value = facet(snapshot)
            self._see(track, value, snapshot, now)
            # Start-up is discovery, not flapping: whatever the parts said while arriving one by one (Mullvad
            # "unavailable" until its CLI answered) counts as one arrival, so the user's first disconnect
            # does not wait `flap_settle`.
            track.changes = deque([now]) if value is not None else deque()
            if value is not None:
                track.announced, track.baselined = value, True
        suggest = _cut_off(snapshot) and not self.bypass_wanted
        track = self._tracks[Subject.SUGGEST]
        self._see(track, suggest, snapshot, now)
        if not suggest:
            track.announced, track.baselined = False, True

    def _see(self, track: _Track, value: Hashable, snapshot: Snapshot, now: float) -> None:
        # a flap is a change between states that landed: connected -> connecting -> connected is none,
        # and a reconnect (connected, connecting, connected elsewhere) is one, not two
        if value is not None and value != track.last_seen:
            if not self._users_step(track, value, now):  # the user's own steps are not flapping
                track.changes.append(now)
            track.last_seen = value
        if track.shown and value != track.announced:
            # the problem on screen is no longer true: close it now, say the new state once it settles
            track.shown, track.retracted = False, True
            self._withdrawn.append((now, Withdraw(self._slot(track))))
        while track.changes and now - track.changes[0] > self.config.flap_window:
            track.changes.popleft()
        if value is None:
            track.pending = None  # transient state: restart the settle clock when it lands
            return
        if value != track.pending:
            track.pending = value
            track.pending_since = now
            # whose change it is is decided when it lands (the user's next click must not re-label it)
            track.pending_user = self._users(track, value, now)
        track.snapshot = snapshot

    # -- outputs --------------------------------------------------------------------------------------

    def _slot(self, track: _Track) -> str:
        return next(subject.value for subject, t in self._tracks.items() if t is track)

    def _settle_for(self, track: _Track) -> float:
        if track.pending == LEAKING:
            return self.config.settle  # a leak is said even while Mullvad flaps
        if len(track.changes) >= self.config.flap_count:
            return self.config.flap_settle
        return self.config.settle

    def next_deadline(self) -> float | None:
        """When `poll` may have something to say; None when nothing is pending."""
        deadlines = [
            t.pending_since + self._settle_for(t)
            for t in self._tracks.values()
            if t.pending is not None and (t.pending != t.announced or not t.baselined or t.retracted)
        ]
        deadlines += [at for at, _w in self._withdrawn]
        return min(deadlines) if deadlines else None

    def poll(self, now: float) -> list[Notice | Withdraw]:
        out: list[Notice | Withdraw] = [w for _at, w in self._withdrawn]
        self._withdrawn.clear()
        for subject, track in self._tracks.items():
            if track.pending is None:
                continue
            if track.baselined and track.pending == track.announced and not track.retracted:
                continue
            if now - track.pending_since < self._settle_for(track) - 1e-9:
                continue
            old, new = track.announced, track.pending
            first = not track.baselined
            track.announced, track.baselined, track.retracted = new, True, False
            if track.snapshot is None:  # cannot happen: a pending value always comes with its snapshot
                continue
            user = track.pending_user
            for item in self._render(subject, old, new, first=first, user=user, s=track.snapshot):
                if isinstance(item, Withdraw):
                    if track.shown or item in out:
                        track.shown = False
                        if item not in out:
                            out.append(item)
                    continue
                if not self._allowed(item):
                    continue
                track.shown = _kind(new) in _PROBLEMS
                out.append(replace(item, snapshot=track.snapshot))
        return out

    def _allowed(self, notice: Notice) -> bool:
        if notice.urgency is Urgency.CRITICAL:
            return True
        return self.enabled and notice.category not in self.muted

    # -- texts ----------------------------------------------------------------------------------------

    def _render(
        self, subject: Subject, old: Hashable, new: Hashable, *, first: bool, user: bool, s: Snapshot
    ) -> list[Notice | Withdraw]:
        if subject is Subject.SUGGEST:
            if new:
                return [_suggestion()]
            return [] if first else [Withdraw(Subject.SUGGEST.value)]
        if first:
            # the state found at start-up is not news, but a leak is always worth saying
            if subject is Subject.MULLVAD and new == ("leaking",):
                return [_mullvad_notice(new, s)]
            return []
        if subject is Subject.MULLVAD:
            notice = _mullvad_notice(new, s)
        elif subject is Subject.TAILSCALE:
            notice = _tailscale_notice(new, s)
        elif subject is Subject.EXIT_NODE:
            notice = _exit_node_notice(new)
        else:
            notice = self._bypass_notice(old, new, user, s)
        if user and notice.urgency is not Urgency.CRITICAL:
            notice = Notice(
                notice.slot,
                notice.category,
                notice.summary,
                notice.body,
                Urgency.LOW,
                notice.actions,
                transient=True,
            )
        return [notice]

    def _bypass_notice(self, old: Hashable, new: Hashable, user: bool, s: Snapshot) -> Notice:
        slot, cat = Subject.BYPASS.value, Category.BYPASS
        lost = Notice(
            slot,
            cat,
            "Bypass lost",
            "The bypass table disappeared, so the tailnet is cut off while Mullvad is connected.",
            Urgency.NORMAL,
            (Action(ACTION_RESTORE_BYPASS, "Restore bypass"),),
        )
        if new == ("lost",):
            return lost  # saved as on, table gone: whoever removed it, the user still wants it
        if new == ("off",):
            # "off" means nothing is saved: someone ran `bypass off` (here, in a terminal, another user).
            # That is a choice, not a loss; a table removed behind our back reads as "lost" instead.
            return Notice(slot, cat, "Bypass off", "Tailnet traffic follows Mullvad's rules again.")
        if new == ("drifted",):
            return Notice(
                slot,
                cat,
                "Bypass out of date",
                sentence(s.bypass.detail or "The bypass rules no longer match Tailscale's routes."),
                Urgency.NORMAL,
                (Action(ACTION_REPAIR_BYPASS, "Repair"),),
            )
        mode = s.bypass.mode or "direct"
        if isinstance(old, tuple) and old[:1] == ("on",) and len(old) == 3 and old[:2] == new[:2]:  # type: ignore[index]
            if new[2] > old[2]:  # type: ignore[index]
                why = s.bypass.last_repair or "its table was changed by something else"
                return Notice(
                    slot,
                    cat,
                    "Bypass lost and restored",
                    f"{why[:1].upper()}{why[1:]}; the bypass was re-applied at once.",
                )
        elif isinstance(old, tuple) and old[:1] == ("on",) and old != new:
            # Only the mode changed (from a terminal, say): what that exposes must never change silently.
            body = (
                "Tailscale, its relays and your peers now see this device's real IP."
                if mode == "direct"
                else "Tailscale and your peers now see only Mullvad's IP; peer connections may be relayed."
            )
            return Notice(slot, cat, f"Bypass mode changed to {mode}", body, Urgency.NORMAL)
        body = (
            "Tailnet traffic goes around Mullvad; peers see this device's real IP."
            if mode == "direct"
            else "Tailnet traffic goes around Mullvad; Tailscale's own traffic stays in the tunnel."
        )
        return Notice(slot, cat, f"Bypass on ({mode})", body)


def _suggestion() -> Notice:
    return Notice(
        Subject.SUGGEST.value,
        Category.SUGGEST,
        "Tailnet cut off",
        "Mullvad connected and your tailnet is cut off: turn on the bypass?",
        Urgency.NORMAL,
        (Action(ACTION_ENABLE_BYPASS, "Turn on bypass"), Action(ACTION_NEVER_SUGGEST, "Don't ask again")),
    )


def _mullvad_notice(new: Hashable, s: Snapshot) -> Notice:
    m = s.mullvad
    slot, cat = Subject.MULLVAD.value, Category.MULLVAD
    kind = new[0]  # type: ignore[index]
    if kind == "connected":
        city = m.location.split(",")[0].strip() if m.location else None
        body = ", ".join(p for p in (m.relay, city) if p) or "Your traffic goes through Mullvad."
        return Notice(slot, cat, "Mullvad connected", body)
    if kind == "disconnected":
        return Notice(slot, cat, "Mullvad disconnected", "Your traffic no longer goes through Mullvad.")
    if kind == "blocked":
        if m.state is MullvadState.DISCONNECTED:
            body = "Lockdown mode blocks all traffic until Mullvad connects."
        else:
            body = (
                sentence(m.detail) + ". " if m.detail else ""
            ) + "Traffic is blocked until Mullvad connects."
        return Notice(slot, cat, "Mullvad is blocking traffic", body)
    if kind == "leaking":
        # one statement, one fix: the parser's detail already ends with the leak warning and its fix,
        # and a cause in "Mullvad blocks traffic (…)" words contradicts the summary
        cause = (m.detail or "").split("; " + LEAK_WARNING)[0].split(": ")[0].strip()
        known = cause and cause != LEAK_WARNING and not cause.startswith("Mullvad blocks traffic")
        body = (
            "Traffic may leave this device unprotected"
            + (f" ({cause})" if known else "")
            + ". Restart the daemon: `sudo systemctl restart mullvad-daemon`, then check "
            "`journalctl -u mullvad-daemon`."
        )
        return Notice(slot, cat, "Mullvad could not block traffic", body, Urgency.CRITICAL)
    return Notice(
        slot,
        cat,
        "Mullvad not available",
        sentence(m.detail or "The Mullvad daemon is not running: `sudo systemctl start mullvad-daemon`."),
        Urgency.LOW,
    )


def _tailscale_notice(new: Hashable, s: Snapshot) -> Notice:
    t = s.tailscale
    slot, cat = Subject.TAILSCALE.value, Category.TAILSCALE
    kind = new[0]  # type: ignore[index]
    if kind == "running":
        ip = this_device_ip(t)
        body = ", ".join(p for p in (t.tailnet, f"this device {ip}" if ip else None) if p)
        return Notice(slot, cat, "Tailscale running", body or "This device is on the tailnet.")
    if kind == "stopped":
        return Notice(slot, cat, "Tailscale stopped", "This device is off the tailnet.")
    if kind == "needs_login":
        actions = (Action(ACTION_LOGIN, "Log in"),) if t.auth_url else ()
        body = "Log in to put this device back on the tailnet" + (
            "." if t.auth_url else ": run `tailscale login`."
        )
        return Notice(slot, cat, "Tailscale needs login", body, Urgency.NORMAL, actions)
    return Notice(
        slot,
        cat,
        "Tailscale not available",
        sentence(t.detail or "tailscaled is not running: `sudo systemctl start tailscaled`."),
        Urgency.LOW,
    )


def _exit_node_notice(new: Hashable) -> Notice:
    name = new[1]  # type: ignore[index]
    slot, cat = Subject.EXIT_NODE.value, Category.TAILSCALE
    if name:
        return Notice(slot, cat, f"Exit node: {name}", "Internet traffic leaves through this exit node.")
    return Notice(slot, cat, "Exit node off", "Internet traffic no longer uses a Tailscale exit node.")
