"""Exit nodes, devices, accounts, Mullvad locations and the middle click (issue 12), wired into the tray.

`TailnetFeatures` is a second controller next to `Controller`, for the menus of `ui/menu_sections`: it
owns the LocalAPI client for exit nodes, suggestions and profiles and the Mullvad location client, keeps
what they read (the tailnet's peers come from the Tailscale source's `tailnet_changed`, read from the same
`/status` as the Snapshot), renders the sections, and runs the user's choices, the internet route as the
plan of `core/internet_route.py`: steps one after the other, each waiting for the daemon to confirm, and a
message with what happened (or the refusal with its fix).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from PyQt6.QtCore import QObject, QStandardPaths, QTimer, QUrl
from PyQt6.QtGui import QAction, QDesktopServices
from PyQt6.QtWidgets import QFileDialog, QMessageBox

from tray_app.controller import Controller
from tray_app.core.account_actions import (
    ADD_TITLE,
    LOGOUT_TITLE,
    add_failed,
    add_refused,
    add_started,
    logged_out,
    login_command,
    logout_question,
)
from tray_app.core.exit_node_host import plan_advertise
from tray_app.core.internet_route import (
    Plan,
    Step,
    allow_lan_patch,
    exit_node_patch,
    plan_allow_lan,
    plan_best_available,
    plan_direct,
    plan_exit_node,
    plan_last_used,
    plan_mullvad,
)
from tray_app.core.model import MullvadState, Snapshot, TailscaleState
from tray_app.core.mullvad_relays import LocationChoice
from tray_app.core.notify_policy import PolicyConfig, Subject, UserIntent
from tray_app.core.taildrop_send import cannot_send
from tray_app.core.tailnet import Profile, Tailnet, now_utc
from tray_app.core.tailnet_notify import (
    ACTION_REAUTH,
    ACTION_SAVE_FILES,
    KIND_LABELS,
    TailnetFacts,
    TailnetKind,
    TailnetNotifyPolicy,
)
from tray_app.core.tailscale_parse import OPERATOR_HINT
from tray_app.daemons.account_client import ADD, LOGOUT, READ_CONTROL, AccountClient, may_add_account
from tray_app.daemons.mullvad_locations import MullvadLocations
from tray_app.daemons.taildrop_send import FileSender
from tray_app.daemons.tailnet_client import (
    BACKGROUND,
    CHECK_FORWARDING,
    LIST_FILES,
    READ_PROFILES,
    REAUTH,
    TailnetClient,
)
from tray_app.ui.menu import _set
from tray_app.ui.menu_sections.accounts import AccountsSection
from tray_app.ui.menu_sections.devices import DevicesSection
from tray_app.ui.menu_sections.keyed import title_action
from tray_app.ui.menu_sections.mullvad_location import LOCKDOWN_TIP, MullvadLocationSection
from tray_app.ui.menu_sections.route import RouteSection

REAUTH_WINDOW_S = 60.0  # the login URL of a re-authentication the user asked for opens within this
STEP_TIMEOUT_MS = 20_000  # `mullvad disconnect` normally takes well under a second
TITLE = "Internet traffic"
ADVERTISE = "change whether this device is an exit node"


class TailnetFeatures(QObject):
    def __init__(self, ui: Any, controller: Controller, monitor: Any, *, mullvad_cli: str | None = None,
                 tailscale_socket: str | None = None, policy_config: PolicyConfig | None = None,
                 open_url: Callable[[str], None] | None = None, parent: QObject | None = None) -> None:  # fmt: skip
        super().__init__(parent)
        self.ui = ui
        self.controller = controller
        controller.start_login = self.start_login  # "Tailscale: log in…" with no URL yet
        self.settings = controller.settings
        self.snapshot = Snapshot()
        self.tailnet = Tailnet()
        self.suggestion: tuple[str, str] | None = None
        self.profiles: tuple[Profile, ...] = ()
        self.current_profile = ""
        self.profile_problem: str | None = None
        self.location_problem: str | None = None
        tailscale = getattr(monitor, "tailscale", None)
        mullvad = getattr(monitor, "mullvad", None)
        socket_path = tailscale_socket or getattr(tailscale, "socket_path", None)
        self.client = TailnetClient(socket_path, self)
        self.locations = MullvadLocations(mullvad_cli or str(getattr(mullvad, "cli", "mullvad")), self)
        self._plan: Plan | None = None
        self._steps: list[Step] = []
        self._waiting: Step | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(STEP_TIMEOUT_MS)
        self._timer.timeout.connect(self._step_timeout)
        self.confirm: QMessageBox | None = None
        self.open_url = open_url  # web links (the app's opener: it shows the link when no browser opens)
        self.open_folder: Callable[[str], object] = lambda path: QDesktopServices.openUrl(
            QUrl.fromLocalFile(path)
        )
        self.notifier: Any = None  # the app's Notifier (desktop/notifications.py), attached after start
        self.npolicy = TailnetNotifyPolicy(policy_config)
        self.files: tuple[str, ...] = ()
        self._files_refusal_said = False
        self._tailnet_seen = False
        self._reauth_at: float | None = None
        self._ntimer = QTimer(self)
        self._ntimer.setSingleShot(True)
        self._ntimer.timeout.connect(self._notify_poll)
        self._devices_key: object = None
        self._advertise_said = ""  # what to say once tailscaled took the advertise change
        self._advertise_on = False
        self._logging_out = ""

        menu = ui.menus.menu
        self.route = RouteSection(self.pick_route, self)
        self.devices = DevicesSection(self._copy, self._watch_device, self, on_send=self.ask_send_file)
        self.file_sender = FileSender(socket_path, self)
        self.file_sender.sent.connect(lambda text: self._say("Taildrop", text))
        self.file_sender.failed.connect(lambda text: self._say("Taildrop", text))
        self.file_dialog: QFileDialog | None = None
        self.accounts = AccountsSection(
            self.switch_profile,
            self.client.fetch_profiles,
            self,
            on_add=self.add_account,
            on_logout=self.ask_logout,
        )
        self.account_client = AccountClient(socket_path, self)
        self.account_client.done.connect(self._account_done)
        self.account_client.failed.connect(self._account_failed)
        self._socket_path = socket_path
        self.location = MullvadLocationSection(
            self.set_location, self.ask_lockdown, self._open_locations, self
        )
        before = ui.menus.autostart
        for sub in (self.route.menu, self.location.menu, self.devices.menu, self.accounts.menu):
            menu.insertMenu(before, sub)
        menu.insertAction(before, self.location.lockdown)
        menu.insertSeparator(before)
        self.middle = QAction("Middle click on the icon toggles the bypass", self)
        self.middle.setCheckable(True)
        self.middle.setToolTip(
            "Where the panel passes middle clicks on to the icon (most SNI and XEmbed trays)"
        )
        self.middle.triggered.connect(self._set_middle)
        menu.insertAction(before, self.middle)
        cats = ui.menus.categories_menu
        cats.addSeparator()
        self.kind_actions: dict[TailnetKind, QAction] = {}
        for kind, label in KIND_LABELS.items():
            a = QAction(label, cats)
            a.setCheckable(True)
            a.triggered.connect(lambda checked, k=kind: self._set_kind(k, bool(checked)))
            cats.addAction(a)
            self.kind_actions[kind] = a
        # "last seen 5 min ago" is computed when the submenu opens, not by a timer
        self.devices.menu.aboutToShow.connect(lambda: self.devices.render(self.tailnet, self.watched))
        self.route.menu.aboutToShow.connect(self._on_route_open)

        if tailscale is not None and hasattr(tailscale, "tailnet_changed"):
            tailscale.tailnet_changed.connect(self.on_tailnet)
        if tailscale is not None and hasattr(tailscale, "files_waiting"):
            tailscale.files_waiting.connect(self.client.list_files)
            tailscale.browse_to_url.connect(self._on_browse_to)
        if mullvad is not None and hasattr(mullvad, "action_failed"):
            mullvad.action_failed.connect(self._mullvad_failed)
        self.client.done.connect(self._client_done)
        self.client.failed.connect(self._client_failed)
        self.client.suggestion.connect(self._on_suggestion)
        self.client.forwarding.connect(self._said_advertise)
        self.client.profiles.connect(self._on_profiles)
        self.client.files.connect(self._on_files)
        self.client.saved.connect(self._on_saved)
        self.locations.changed.connect(self.render)
        self.locations.failed.connect(self._locations_failed)
        self.locations.done.connect(self._locations_done)
        ui.middle_clicked.connect(self.middle_click)
        ui.settings_changed.connect(self.render)  # notifications on/off greys the opt-in kinds
        self.render()

    # -- state in ---------------------------------------------------------------------------------------

    @property
    def watched(self) -> frozenset[str]:
        return self.settings.watched_devices

    def on_snapshot(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.render()
        self._observe()
        m = snapshot.mullvad.state
        if (self._waiting is Step.MULLVAD_DISCONNECT and m is MullvadState.DISCONNECTED) or (
            self._waiting is Step.MULLVAD_CONNECT and m is MullvadState.CONNECTED
        ):
            self._next_step()
        elif self._waiting is Step.MULLVAD_CONNECT and m is MullvadState.ERROR:
            self._abort(f"Mullvad could not connect: {snapshot.mullvad.detail or 'it is blocking traffic'}")

    def on_tailnet(self, tailnet: Tailnet) -> None:
        self.tailnet = tailnet
        if tailnet.exit_node_id and tailnet.exit_node_id != self.settings.last_exit_node:
            self.settings.last_exit_node = tailnet.exit_node_id  # "Last used" where tailscaled keeps none
        self._tailnet_seen = True
        self.render()
        self._observe()

    def render(self, now: datetime | None = None) -> None:
        s = self.snapshot
        self.route.render(s, self.tailnet, self.suggestion, self.settings.last_exit_node)
        devices_key = (self.tailnet, self.watched)
        if devices_key != self._devices_key or now is not None:  # the list depends on nothing else
            self._devices_key = devices_key
            self.devices.render(self.tailnet, self.watched, now)
        self.accounts.render(self.profiles, self.current_profile, self.profile_problem)
        # a stopped daemon's last peers would look live: grey the tailnet's submenus out until it is back
        up = s.tailscale.state is not TailscaleState.UNAVAILABLE
        for sub in (self.devices.menu, self.accounts.menu):
            _set(title_action(sub), enabled=up)
        loc = self.locations
        self.location.render(s.mullvad, loc.countries, loc.constraint, loc.loaded, self.location_problem)
        _set(self.middle, checked=self.settings.middle_click == "bypass")
        enabled = self.settings.tailnet_notify
        for kind, a in self.kind_actions.items():
            _set(a, checked=kind.value in enabled, enabled=self.settings.notifications)

    def start(self) -> None:
        """First reads (profiles, Taildrop files; the relay list waits for the menu)."""
        self.client.fetch_profiles()
        self.client.list_files()

    def stop(self) -> None:
        self._timer.stop()
        self._ntimer.stop()
        self.client.stop()
        self.file_sender.stop()
        self.account_client.stop()
        self.locations.stop()

    # -- internet route ---------------------------------------------------------------------------------

    def _on_route_open(self) -> None:
        if self.tailnet.exit_nodes or self.tailnet.mullvad_exit_nodes:
            self.client.fetch_suggestion()
        elif self.suggestion is not None:
            self.suggestion = None  # the exit nodes are gone: so is the recommendation
            self.render()

    def pick_route(self, kind: str, key: str) -> None:
        s, t = self.snapshot, self.tailnet
        if kind == "mullvad":
            plan = plan_mullvad(s, t)
        elif kind == "direct":
            plan = plan_direct(s, t)
        elif kind == "allow-lan":
            plan = plan_allow_lan(s, t, bool(key))
        elif kind == "best":
            plan = plan_best_available(s, t, key, t.allow_lan)
        elif kind == "last-used":
            plan = plan_last_used(s, t, self.settings.last_exit_node)
        elif kind in ("advertise", "exit-via-mullvad"):
            self._host(kind, bool(key))
            self.render()
            return
        else:
            plan = plan_exit_node(s, t, key, t.allow_lan)
        self.run_plan(plan)
        self.render()  # a radio item the user clicked shows the real route again until the daemons answer

    def _host(self, kind: str, on: bool) -> None:
        """This device as an exit node (core/exit_node_host.py), and the bypass option for its clients."""
        if kind == "exit-via-mullvad":
            self.controller.enable_exit_via_mullvad()
            return
        plan = plan_advertise(self.snapshot, self.tailnet, on)
        if plan.patch is None:
            self._say(TITLE, plan.refusal or "")
            return
        self._advertise_said, self._advertise_on = plan.explanation, on
        self.client.patch_prefs(plan.patch, ADVERTISE)

    def run_plan(self, plan: Plan) -> None:
        if plan.refused:
            self._say(TITLE, plan.refusal or "")
            return
        if self._steps or self._waiting is not None:
            self._say(TITLE, "The previous change is still running: try again in a moment.")
            return
        self._plan = plan
        self._steps = list(plan.steps)
        self._next_step()

    def _next_step(self) -> None:
        self._timer.stop()
        self._waiting = None
        plan = self._plan
        if plan is None:
            return
        if not self._steps:
            self._plan = None
            if plan.steps:
                self._say(TITLE, " ".join((plan.explanation, *plan.notes)))
            return
        step = self._steps.pop(0)
        self._waiting = step
        self._timer.start()
        if step is Step.MULLVAD_DISCONNECT:
            self.controller.user_action.emit(Subject.MULLVAD)
            self.controller.mullvad_disconnect()
            if self.snapshot.mullvad.state is MullvadState.DISCONNECTED:
                self._next_step()
        elif step is Step.MULLVAD_CONNECT:
            self.controller.mullvad_connect()
            if self.snapshot.mullvad.state is MullvadState.CONNECTED:
                self._next_step()
        elif step is Step.SET_EXIT_NODE:
            self.controller.user_action.emit(Subject.EXIT_NODE)
            self.client.patch_prefs(exit_node_patch(plan.exit_node, plan.allow_lan))
        elif step in (Step.CLEAR_EXIT_NODE, Step.RESTORE_EXIT_NODE):
            # tailscaled's own toggle: turning it off keeps it as the prior for "Last used"
            self.controller.user_action.emit(Subject.EXIT_NODE)
            self.client.use_exit_node(step is Step.RESTORE_EXIT_NODE)
        else:  # SET_ALLOW_LAN
            self.client.patch_prefs(allow_lan_patch(bool(plan.allow_lan)), "change local network access")

    def _client_done(self, what: str) -> None:
        if what == "switch":
            self.client.fetch_profiles()
            return
        if what == ADVERTISE:
            if self._advertise_on:
                self.client.check_ip_forwarding()  # the message waits for tailscaled's forwarding check
            else:
                self._said_advertise("")
            return
        if self._waiting in (
            Step.SET_EXIT_NODE,
            Step.CLEAR_EXIT_NODE,
            Step.RESTORE_EXIT_NODE,
            Step.SET_ALLOW_LAN,
        ):
            self._next_step()

    def _abort(self, text: str) -> None:
        self._mullvad_failed(text)
        self._steps.clear()
        self._waiting = None
        self._plan = None
        self._say(TITLE, text)

    def _said_advertise(self, warning: str) -> None:
        said, self._advertise_said = self._advertise_said, ""
        if said:
            self._say(TITLE, f"{said} {warning}" if warning else said)

    def _client_failed(self, what: str, text: str) -> None:
        if what == CHECK_FORWARDING:
            self._said_advertise("")  # the check is a courtesy: without it, say what was done
            return
        if what in READ_PROFILES:
            self.profile_problem = text  # reading the list failed: the submenu says why
            self.render()
            return
        if what == LIST_FILES and OPERATOR_HINT in text:
            self._files_refused(text)
            return
        if what in BACKGROUND:
            return  # no suggestion or file list is no error the user has to hear about
        if self._waiting is not None:
            self._abort(text)
            return
        if what == REAUTH:
            self._reauth_at = None
            self._say("Tailscale login", text)
            return
        self._say(TITLE, text)

    def _mullvad_failed(self, _text: str) -> None:
        """The controller already shows Mullvad's failure with its fix: only stop the plan here."""
        if self._waiting in (Step.MULLVAD_DISCONNECT, Step.MULLVAD_CONNECT):
            self._timer.stop()
            self._steps.clear()
            self._waiting = None
            self._plan = None

    def _step_timeout(self) -> None:
        step = self._waiting
        self._abort(
            f"Nothing changed: the daemon did not confirm `{step}` within {STEP_TIMEOUT_MS // 1000} s."
        )

    def _on_suggestion(self, node_id: str, name: str) -> None:
        if not node_id:  # the daemon suggests none now (e.g. the exit node went offline)
            self.suggestion = None
            self.render()
            return
        peer = self.tailnet.peer(node_id)
        self.suggestion = (node_id, peer.name if peer else name.split(".", 1)[0])
        self.render()

    # -- accounts ---------------------------------------------------------------------------------------

    def _on_profiles(self, profiles: tuple[Profile, ...], current: str) -> None:
        self.profiles, self.current_profile, self.profile_problem = profiles, current, None
        self.render()

    def switch_profile(self, profile_id: str) -> None:
        if profile_id == self.current_profile:
            self.render()
            return
        self.controller.user_action.emit(Subject.TAILSCALE)
        self.client.switch_profile(profile_id)

    def add_account(self) -> None:
        """Accounts ▸ Add another account…: `tailscale login`'s calls, or the command when they would lock
        the user out (core/account_actions.py)."""
        if self.account_client.busy():
            return
        if not may_add_account(self._socket_path):
            self.account_client.with_control_url(self._refuse_add)
            return
        self._reauth_at = time.monotonic()  # its login URL comes on the bus: open it
        self.controller.user_action.emit(Subject.TAILSCALE)
        self.account_client.add_account()

    def _refuse_add(self, control_url: str) -> None:
        self.controller.copy_text(login_command(control_url))
        self._say(ADD_TITLE, add_refused(control_url))

    def ask_logout(self) -> None:
        cur = next((p for p in self.profiles if p.id == self.current_profile), None)
        if cur is None:
            return

        def log_out() -> None:
            self._logging_out = cur.name
            self.controller.user_action.emit(UserIntent(Subject.TAILSCALE, frozenset({"needs_login"})))
            self.account_client.logout()

        text = logout_question(cur.name, cur.tailnet, not may_add_account(self._socket_path))
        self._ask(LOGOUT_TITLE, text, "Log out", "logout-confirm", log_out)

    def _ask(self, title: str, text: str, yes_text: str, name: str, on_yes: Callable[[], None]) -> None:
        """A question with its action button and Cancel: a non-modal box the menu can leave."""
        box = QMessageBox(QMessageBox.Icon.Question, title, text)
        yes = box.addButton(yes_text, QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setObjectName(name)

        def answered() -> None:
            if box.clickedButton() is yes:
                on_yes()
            box.deleteLater()
            self.confirm = None

        box.finished.connect(answered)
        self.confirm = box
        box.open()

    def _account_done(self, what: str) -> None:
        self.client.fetch_profiles()
        if what == ADD:
            self._say(ADD_TITLE, add_started())
        elif what == LOGOUT:
            self._say(LOGOUT_TITLE, logged_out(self._logging_out))

    def _account_failed(self, what: str, text: str) -> None:
        if what == ADD:
            self._reauth_at = None
            self.client.fetch_profiles()
            self._say(ADD_TITLE, add_failed(text, self.account_client.switched))
        elif what == LOGOUT:
            self._say(LOGOUT_TITLE, text)
        elif what == READ_CONTROL:  # the prefs could not be read: the command without --login-server
            self._refuse_add("")

    # -- Mullvad location and lockdown ------------------------------------------------------------------

    def _open_locations(self) -> None:
        if not self.locations.loaded and not self.locations.busy():
            self.location_problem = None
            self.locations.load()

    def set_location(self, choice: LocationChoice) -> None:
        self.controller.user_action.emit(Subject.MULLVAD)
        self.locations.set_location(choice)
        self.render()

    def _locations_done(self, what: str) -> None:
        self.location_problem = None
        self.render()

    def _locations_failed(self, text: str) -> None:
        if "relay list" in text and not self.locations.loaded:
            self.location_problem = text  # the submenu says why it is empty (it was only opened)
            self.render()
            return
        self._say("Mullvad", text)

    def ask_lockdown(self, on: bool) -> None:
        """Lockdown changes what happens to all traffic: ask first (a non-modal box the menu can leave)."""
        self.render()  # the item shows the real setting until the user confirmed and Mullvad changed it
        text = (("Turn on lockdown mode?" if on else "Turn off lockdown mode?") + "\n\n" + LOCKDOWN_TIP
                + ("" if on else "\n\nWith it off, traffic leaves unprotected while Mullvad is disconnected."))  # fmt: skip

        def change() -> None:
            self.controller.user_action.emit(Subject.MULLVAD)
            self.locations.set_lockdown(on)

        self._ask("Mullvad lockdown mode", text, "Turn on" if on else "Turn off", "lockdown-confirm", change)

    # -- devices, middle click --------------------------------------------------------------------------

    def ask_send_file(self, node_id: str) -> None:
        """Devices ▸ device ▸ Send a file…: pick files (a dialog the menu can leave), then Taildrop them."""
        peer = self.tailnet.peer(node_id)
        why = cannot_send(peer, node_id)
        if why is not None or peer is None:
            self._say("Taildrop", why or "")
            return
        if self.file_sender.busy():
            self._say("Taildrop", "Still sending the previous files: try again when they have gone.")
            return
        if self.file_dialog is not None:
            self.file_dialog.close()
        dialog = QFileDialog(None, f"Send files to {peer.name}", str(Path.home()))
        dialog.setFileMode(QFileDialog.FileMode.ExistingFiles)
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptOpen)
        dialog.setLabelText(QFileDialog.DialogLabel.Accept, "Send")
        dialog.setObjectName("taildrop-send")

        def chosen(paths: list[str]) -> None:
            self.send_files(node_id, [Path(p) for p in paths])

        dialog.filesSelected.connect(chosen)
        dialog.finished.connect(dialog.deleteLater)
        dialog.destroyed.connect(lambda: setattr(self, "file_dialog", None))
        self.file_dialog = dialog
        dialog.open()  # not exec(): no nested event loop, the tray keeps running while it is open

    def send_files(self, node_id: str, paths: list[Path]) -> None:
        peer = self.tailnet.peer(node_id)
        why = cannot_send(peer, node_id)  # it may have gone offline while the dialog was open
        if why is not None or peer is None or not paths:
            if why:
                self._say("Taildrop", why)
            return
        self.file_sender.send(node_id, peer.name, paths)

    def _copy(self, text: str) -> None:
        if text:
            self.controller.copy_text(text)

    def _watch_device(self, node_id: str, on: bool) -> None:
        watched = set(self.watched)
        (watched.add if on else watched.discard)(node_id)
        self.settings.watched_devices = frozenset(watched)
        self.render()

    def _set_middle(self, checked: bool) -> None:
        self.settings.middle_click = "bypass" if checked else "none"
        self.render()

    def middle_click(self) -> None:
        if self.settings.middle_click == "bypass":
            self.controller.set_bypass(not self.ui.menus.bypass.isChecked())

    # -- opt-in tailnet notifications (core/tailnet_notify.py) -------------------------------------------

    def _set_kind(self, kind: TailnetKind, on: bool) -> None:
        kinds = set(self.settings.tailnet_notify)
        (kinds.add if on else kinds.discard)(kind.value)
        self.settings.tailnet_notify = frozenset(kinds)
        self.render()
        if kind is TailnetKind.TAILDROP and on:
            self._files_refusal_said = False
            self.client.list_files()  # a refusal (not the operator) is said now, not when a file arrives

    def _files_refused(self, text: str) -> None:
        """tailscaled lists Taildrop files only to root and its operator: a user who asked for Taildrop
        notifications would otherwise never hear of a file. Said once, until a listing works again."""
        if TailnetKind.TAILDROP.value not in self.settings.tailnet_notify or not self.settings.notifications:
            return
        if not self._files_refusal_said:
            self._files_refusal_said = True
            self._say("Taildrop", text)

    def _observe(self) -> None:
        if not self._tailnet_seen:
            return  # the peers come with the first status read: nothing before it is a change
        p = self.npolicy
        p.enabled = frozenset(TailnetKind(k) for k in self.settings.tailnet_notify if k in set(TailnetKind))
        if not self.settings.notifications:
            p.enabled = frozenset()
        p.watched = self.watched
        facts = TailnetFacts(self.tailnet, self.snapshot.tailscale.health, self.files, now_utc())
        p.observe(facts, time.monotonic())
        self._notify_poll()

    def _notify_poll(self) -> None:
        now = time.monotonic()
        for notice in self.npolicy.poll(now):
            if self.notifier is not None:
                self.notifier.send(notice)
        deadline = self.npolicy.next_deadline()
        if deadline is None:
            self._ntimer.stop()  # nothing pending: no timer
        else:
            self._ntimer.start(max(0, int((deadline - now) * 1000) + 1))

    def _on_files(self, names: tuple[str, ...]) -> None:
        self.files = names
        self._files_refusal_said = False
        self._observe()

    def on_action(self, action_id: str) -> None:
        if action_id == ACTION_SAVE_FILES:
            self.client.save_files(self.files, downloads_dir())
        elif action_id == ACTION_REAUTH:
            self._reauth_at = time.monotonic()
            self.client.reauth()

    def start_login(self) -> None:
        """Log in from NeedsLogin, as `tailscale up` does: the control server's URL comes on the bus and opens."""
        self._reauth_at = time.monotonic()
        self.client.login()

    def _on_saved(self, folder: str, names: tuple[str, ...]) -> None:
        self.client.list_files()
        if names:
            self._say("Taildrop", f"Saved {', '.join(names)} in {folder}.")
            self.open_folder(folder)

    def _on_browse_to(self, url: str) -> None:
        # only a re-authentication the user asked for opens the browser (a login has its own notice)
        if self._reauth_at is not None and time.monotonic() - self._reauth_at < REAUTH_WINDOW_S:
            self._reauth_at = None
            # http:// too: a self-hosted control server (and the real-daemon lab's) hands out http URLs;
            # the opener refuses every other scheme
            if self.open_url is not None and url.startswith(("https://", "http://")):
                self.open_url(url)

    def _say(self, title: str, text: str) -> None:
        self.controller.message.emit(title, text)


def downloads_dir() -> Path:
    """Where Taildrop files are saved: the desktop's Downloads folder (XDG user dirs), else ~/Downloads."""
    path = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DownloadLocation)
    return Path(path) if path else Path.home() / "Downloads"
