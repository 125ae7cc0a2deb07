#!/usr/bin/python3
"""The inside of packaging/e2e-new-user.sh: a new user's first run of the INSTALLED tray (stdlib only).

Runs as root inside a private network + mount namespace made by the shell script (`unshare -m -n`), with
Debian's /usr/bin/python3 and nothing from the checkout on sys.path except the copied fakes in WORK. It
prepares the namespace (loopback, a `tailscale0` tun device with Tailscale's table-52 route, a throw-away
directory bind-mounted over the helper's state directory), then starts, as the test user: Xvfb, a private
session bus without service activation, a StatusNotifierItem host (gtk-sni-tray-standalone --watcher),
dunst, the fake tailscaled LocalAPI and finally `/usr/bin/mullvad-tailscale-tray`, with the fake `mullvad`
CLI. It then checks, step by step, what the user sees and what their clicks do: the icon and tooltip, the
"turn on the bypass?" notification and its action through dunst (real pkexec, real installed helper, nft
in this namespace), the bypass off, the autostart toggle through the exported DBusMenu, and Quit.

Prints one `ok`/`FAIL` line per step with its time; stops at the first failure and prints the tray's
output, the Notify calls seen on the bus and dunst's history. Every wait is bounded. Exit 0 when all passed.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

PKG = "mullvad-tailscale-tray"
APP = f"/usr/bin/{PKG}"
STATE_DIR = f"/var/lib/{PKG}"
TABLE = ["inet", "mullvad-tailscale"]
WAIT = 20.0  # every wait is bounded by this
SUGGESTION = "Mullvad connected and your tailnet is cut off: turn on the bypass?"
RELAY = "se-got-wg-001"
TS_IP = "100.101.102.103"  # Self.TailscaleIPs[0] of the fake's "running" fixture
WATCHER = "org.kde.StatusNotifierWatcher"
SNI = "org.kde.StatusNotifierItem"
DBUSMENU = "com.canonical.dbusmenu"


class StepError(Exception):
    pass


def wait_for(pred: Callable[[], Any], what: str | Callable[[], str], timeout: float = WAIT) -> Any:
    """Poll `pred` until it returns something truthy; StepError with `what` (or what it returns, computed
    at the time of the failure) after `timeout` seconds."""
    end = time.monotonic() + timeout
    while True:
        got = pred()
        if got:
            return got
        if time.monotonic() > end:
            raise StepError(f"{what() if callable(what) else what} (waited {timeout:.0f} s)")
        time.sleep(0.05)


def root_run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=WAIT, check=False)


def must(*argv: str) -> str:
    r = root_run(*argv)
    if r.returncode != 0:
        raise StepError(f"`{' '.join(argv)}` failed ({r.returncode}): {r.stderr.strip()}")
    return r.stdout


class Desktop:
    """The test user's processes and how to talk to them."""

    def __init__(self, work: Path, user: str) -> None:
        self.work = work
        pw = pwd.getpwnam(user)
        self.uid, self.gid, self.home, self.user = pw.pw_uid, pw.pw_gid, pw.pw_dir, user
        self.runtime = work / "run"
        self.env: dict[str, str] = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": self.home,
            "USER": user,
            "LOGNAME": user,
            "SHELL": "/bin/sh",
            "LANG": "C.UTF-8",
            "XDG_RUNTIME_DIR": str(self.runtime),
        }
        self.procs: dict[str, subprocess.Popen[Any]] = {}
        self.logs: dict[str, Path] = {}

    def argv(self, cmd: list[str], extra: dict[str, str] | None = None) -> list[str]:
        # setpriv execs (no fork, unlike runuser), so each Popen's pid is the user's program itself.
        env = [f"{k}={v}" for k, v in {**self.env, **(extra or {})}.items()]
        ids = [f"--reuid={self.uid}", f"--regid={self.gid}", "--init-groups"]
        return ["setpriv", *ids, "--", "env", "-i", *env, *cmd]

    def start(self, name: str, cmd: list[str], extra: dict[str, str] | None = None, **kw: Any) -> Any:
        log = self.work / f"{name}.log"
        self.logs[name] = log
        if "stdout" not in kw:
            kw["stdout"] = log.open("w")
            kw.setdefault("stderr", subprocess.STDOUT)
        p = subprocess.Popen(self.argv(cmd, extra), stdin=kw.pop("stdin", subprocess.DEVNULL), **kw)
        self.procs[name] = p
        return p

    def run(self, *cmd: str, extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        argv = self.argv(list(cmd), extra)
        return subprocess.run(argv, capture_output=True, text=True, timeout=WAIT, check=False)

    def alive(self, name: str) -> bool:
        return name in self.procs and self.procs[name].poll() is None

    def stop_all(self) -> None:
        for p in reversed(list(self.procs.values())):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        end = time.monotonic() + 5
        for p in self.procs.values():
            try:
                p.wait(max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    # -- D-Bus through busctl, as the user ------------------------------------------------------------

    def busctl(self, *args: str) -> Any:
        r = self.run("busctl", "--user", "--json=short", "--", *args)
        if r.returncode != 0:
            raise StepError(f"busctl {' '.join(args)}: {r.stderr.strip()}")
        return json.loads(r.stdout) if r.stdout.strip() else None

    def has_name(self, name: str) -> bool:
        r = self.run("busctl", "--user", "status", name)
        return r.returncode == 0

    def get_prop(self, service: str, path: str, iface: str, prop: str) -> Any:
        return self.busctl("get-property", service, path, iface, prop)["data"]


def variant(v: Any) -> Any:
    """busctl --json renders a variant as {"type": ..., "data": ...}."""
    return v["data"] if isinstance(v, dict) and set(v) == {"type", "data"} else v


def menu_items(layout: Any) -> Iterator[dict[str, Any]]:
    """Flatten a DBusMenu layout (ia{sv}av) into {id, label, enabled, visible, toggle} dicts."""
    ident, props, children = layout
    props = {k: variant(v) for k, v in props.items()}
    label = str(props.get("label", "")).replace("&&", "\0").replace("&", "").replace("\0", "&")
    yield {
        "id": ident,
        "label": label,
        "enabled": props.get("enabled", True),
        "visible": props.get("visible", True),
        "toggle": props.get("toggle-state"),
    }
    for child in children:
        yield from menu_items(variant(child))


def notify_calls(log: Path) -> list[dict[str, Any]]:
    """Notify method calls as dbus-monitor printed them: summary, body, actions."""
    out = []
    for block in log.read_text(errors="replace").split("method call")[1:]:
        if "member=Notify" not in block:
            continue
        strings = re.findall(r'^\s*string "(.*)"$', block, re.M)
        actions = block.split("array [", 1)[1].split("]", 1)[0] if "array [" in block else ""
        if len(strings) >= 4:
            out.append(
                {"summary": strings[2], "body": strings[3], "actions": re.findall(r'string "(.*)"', actions)}
            )
    return out


class Scenario:
    def __init__(self, work: Path, user: str) -> None:
        self.work = work
        self.d = Desktop(work, user)
        self.t_start = time.monotonic()
        self.service = ""
        self.item_path = "/StatusNotifierItem"
        self.menu_path = ""
        self.tray_env: dict[str, str] = {}

    def step(self, name: str, fn: Callable[[], str | None]) -> None:
        t = time.monotonic()
        try:
            detail = fn()
        except (StepError, subprocess.TimeoutExpired, OSError, KeyError, ValueError) as e:
            print(f"FAIL {name}: {e} ({time.monotonic() - t:.1f}s)", flush=True)
            raise StepError(name) from e
        print(f"ok   {name}{': ' + detail if detail else ''} ({time.monotonic() - t:.1f}s)", flush=True)

    # -- the namespace ---------------------------------------------------------------------------------

    def namespace(self) -> str:
        must("mount", "--bind", str(self.work / "state"), STATE_DIR)
        must("ip", "link", "set", "lo", "up")
        # What tailscaled sets up: its tun device, table 52 with the tailnet route, the rule to it.
        must("ip", "tuntap", "add", "dev", "tailscale0", "mode", "tun")
        must("ip", "addr", "add", f"{TS_IP}/32", "dev", "tailscale0")
        must("ip", "link", "set", "tailscale0", "up")
        must("ip", "route", "add", "100.64.0.0/10", "dev", "tailscale0", "table", "52")
        must("ip", "rule", "add", "pref", "5270", "table", "52")
        if root_run("nft", "list", "table", *TABLE).returncode == 0:
            raise StepError("our nft table exists before the user did anything")
        return "tailscale0 + table 52 route, helper state on a throw-away directory"

    # -- the desktop -----------------------------------------------------------------------------------

    def desktop(self) -> str:
        d = self.d
        r, w = os.pipe()
        os.set_inheritable(w, True)
        d.start("xvfb", ["Xvfb", "-displayfd", str(w), "-screen", "0", "1024x768x24", "-nolisten", "tcp",
                         "-noreset"], pass_fds=(w,))  # fmt: skip
        os.close(w)
        num = b""
        end = time.monotonic() + WAIT
        while not num.endswith(b"\n") and time.monotonic() < end:
            chunk = os.read(r, 16)
            if not chunk:
                break
            num += chunk
        os.close(r)
        if not num.endswith(b"\n"):
            raise StepError(f"Xvfb did not start: {d.logs['xvfb'].read_text()[-500:]}")
        d.env["DISPLAY"] = ":" + num.decode().strip()
        bus = d.start("bus", ["dbus-daemon", f"--config-file={self.work / 'session-bus.conf'}", "--nofork",
                              "--nopidfile", "--print-address=1"], stdout=subprocess.PIPE,
                  stderr=subprocess.DEVNULL, text=True)  # fmt: skip
        address = bus.stdout.readline().strip()
        if not address:
            raise StepError("the session bus did not start")
        d.env["DBUS_SESSION_BUS_ADDRESS"] = address
        d.start("monitor", ["dbus-monitor", "--session",
                            "type='method_call',interface='org.freedesktop.Notifications',member='Notify'"])  # fmt: skip
        d.start("sni-host", ["gtk-sni-tray-standalone", "--top", "--end", "--watcher", "--size", "32"])
        d.start("dunst", ["dunst"])
        wait_for(lambda: d.has_name(WATCHER), "the StatusNotifierWatcher never appeared on the bus")
        wait_for(
            lambda: d.has_name("org.freedesktop.Notifications"),
            "dunst never owned org.freedesktop.Notifications",
        )
        return f"Xvfb {d.env['DISPLAY']}, private session bus, gtk-sni-tray-standalone, dunst"

    def daemons(self) -> str:
        d = self.d
        sys.path.insert(0, str(self.work))
        # The copy in WORK (readable by the user), known only at run time.
        from fakes.fake_mullvad import FakeMullvad  # type: ignore[import-not-found]  # noqa: PLC0415

        mullvad = FakeMullvad(self.work / "mullvad", state="connected")
        for p in [mullvad.dir, *mullvad.dir.iterdir()]:
            os.chown(p, d.uid, d.gid)
        self.mullvad_cli = str(mullvad.cli)
        self.ts_sock = str(d.runtime / "tailscaled.sock")
        lapi = d.start("localapi", ["/usr/bin/python3", str(self.work / "fakes" / "fake_localapi.py"),
                                    self.ts_sock, "--status", "running", "--quiet"],
                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None, text=True)  # fmt: skip
        line = lapi.stdout.readline().strip()
        if line != "ready":
            raise StepError(f"the fake LocalAPI did not start: {line!r}")
        return f"fake mullvad (connected to {RELAY}), fake tailscaled (running) at {self.ts_sock}"

    # -- the user's run --------------------------------------------------------------------------------

    def start_tray(self) -> str:
        d = self.d
        extra = {"MTT_MULLVAD_CLI": self.mullvad_cli, "MTT_TAILSCALE_SOCKET": self.ts_sock,
                 "MTT_TAILSCALE_CLI": "/nonexistent/tailscale", "QT_QPA_PLATFORM": "xcb"}  # fmt: skip
        self.tray_env = extra
        t = time.monotonic()
        d.start("tray", [APP], extra)

        def registered() -> list[str] | None:
            if not d.alive("tray"):
                raise StepError(f"{APP} exited with {d.procs['tray'].returncode}")
            items = d.get_prop(WATCHER, "/StatusNotifierWatcher", WATCHER, "RegisteredStatusNotifierItems")
            return items or None

        items = wait_for(registered, "the icon never registered with the StatusNotifierItem host")
        item = items[0]
        if "/" in item:
            self.service, rest = item.split("/", 1)
            self.item_path = "/" + rest
        else:
            self.service = item
        self.menu_path = d.get_prop(self.service, self.item_path, SNI, "Menu")
        return f"icon registered as {item} after {time.monotonic() - t:.1f} s"

    def tooltip(self) -> str:
        def text() -> str | None:
            tip = self.d.get_prop(self.service, self.item_path, SNI, "ToolTip")
            s = f"{tip[2]}\n{tip[3]}"
            want = (f"Mullvad: connected to {RELAY}", "Tailscale: running", TS_IP, "Bypass: off")
            return s if all(w in s for w in want) else None

        s = wait_for(text, f"the tooltip never said {RELAY}, Tailscale running, {TS_IP} and 'Bypass: off'")
        return " | ".join(line for line in s.splitlines() if line.strip())

    def calls(self) -> list[dict[str, Any]]:
        return notify_calls(self.d.logs["monitor"])

    def wait_notice(self, summary: str, after: int = 0) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            return next((c for c in self.calls()[after:] if c["summary"] == summary), None)

        got: dict[str, Any] = wait_for(
            found,
            lambda: f"no notification {summary!r} reached dunst; got {[c['summary'] for c in self.calls()]}",
        )
        return got

    def suggestion(self) -> str:
        n = self.wait_notice("Tailnet cut off")
        if n["body"] != SUGGESTION:
            raise StepError(f"the suggestion reads {n['body']!r}, expected {SUGGESTION!r}")
        if "enable-bypass" not in n["actions"] or "default" not in n["actions"]:
            raise StepError(f"the suggestion has no 'Turn on bypass' action: {n['actions']}")
        wait_for(lambda: self.displayed() >= 1, "dunst shows no notification")
        others = [c["summary"] for c in self.calls() if c["summary"] != "Tailnet cut off"]
        if others:
            raise StepError(f"start-up was not quiet: also {others}")
        return f"{n['body']!r} with actions {n['actions'][1::2]}"

    def displayed(self) -> int:
        r = self.d.run("dunstctl", "count", "displayed")
        return int(r.stdout.strip() or 0)

    def table(self) -> bool:
        return root_run("nft", "list", "table", *TABLE).returncode == 0

    def bypass_on_by_notification(self) -> str:
        before = len(self.calls())
        # dunst invokes the notification's default action, which the tray maps to "Turn on bypass".
        r = self.d.run("dunstctl", "action", "0")
        if r.returncode != 0:
            raise StepError(f"dunstctl action 0: {r.stderr.strip()}")
        wait_for(self.table, "no nft table inet mullvad-tailscale after the action (pkexec + helper)")
        n = self.wait_notice("Bypass on (direct)", before)
        # dunst closed the suggestion when its action ran, and shows the new notice
        wait_for(lambda: self.displayed() == 1, f"dunst does not show {n['summary']!r} alone")
        state = json.loads((self.work / "state" / "bypass.json").read_text())
        return (
            f"pkexec ran the helper: table present, saved {state.get('mode', state)!s}, then {n['summary']!r}"
        )

    def layout(self) -> dict[str, dict[str, Any]]:
        reply = self.d.busctl(
            "call", self.service, self.menu_path, DBUSMENU, "GetLayout", "iias", "0", "-1", "0"
        )
        _rev, root = reply["data"]
        return {i["label"]: i for i in menu_items(root)}

    def click(self, label: str) -> dict[str, Any]:
        items = self.layout()
        if label not in items:
            raise StepError(f"no menu item {label!r}; the menu has {sorted(k for k in items if k)}")
        item = items[label]
        if not item["enabled"] or not item["visible"]:
            raise StepError(f"menu item {label!r} is not clickable: {item}")
        self.d.busctl("call", self.service, self.menu_path, DBUSMENU, "Event", "isvu",
                      str(item["id"]), "clicked", "i", "0", "0")  # fmt: skip
        return item

    def bypass_off_by_menu(self) -> str:
        before = len(self.calls())
        self.wait_item("Tailnet bypass", lambda i: i["toggle"] == 1, "checked")
        self.click("Tailnet bypass")
        wait_for(lambda: not self.table(), "the nft table is still there after clicking 'Tailnet bypass'")
        n = self.wait_notice("Bypass off", before)
        # same slot: it replaces "Bypass on" on screen instead of stacking
        wait_for(
            lambda: self.displayed() == 1,
            lambda: f"dunst shows {self.displayed()} notifications, not 1 (it should replace, not stack)",
        )
        self.wait_item("Tailnet bypass", lambda i: i["toggle"] == 0, "unchecked")
        if (self.work / "state" / "bypass.json").exists():
            raise StepError("the helper's saved state is still there after turning the bypass off")
        return f"table gone, state removed, {n['summary']!r} replaced 'Bypass on', menu item unchecked"

    def wait_item(self, label: str, pred: Callable[[dict[str, Any]], bool], what: str) -> None:
        wait_for(lambda: label in (m := self.layout()) and pred(m[label]),
                 lambda: f"menu item {label!r} never became {what}: {self.layout().get(label)}")  # fmt: skip

    def autostart(self) -> str:
        user_file = Path(self.d.home) / ".config" / "autostart" / f"{PKG}.desktop"
        if user_file.exists():
            raise StepError(f"{user_file} exists before the user touched the toggle")
        self.wait_item("Start on login", lambda i: i["toggle"] == 1, "checked (the packaged /etc/xdg entry)")
        self.click("Start on login")

        def hidden() -> bool:
            return user_file.is_file() and "Hidden=true" in user_file.read_text()

        wait_for(hidden, f"off: {user_file} with Hidden=true was never written")
        self.wait_item("Start on login", lambda i: i["toggle"] == 0, "unchecked")
        self.click("Start on login")

        def shown() -> bool:
            return (
                user_file.is_file()
                and "Hidden=true" not in (t := user_file.read_text())
                and f"Exec={APP} --hidden" in t
            )

        wait_for(
            shown,
            lambda: f"on: {user_file} was not rewritten to start {APP} --hidden: {user_file.read_text()}",
        )
        self.wait_item("Start on login", lambda i: i["toggle"] == 1, "checked")
        st = os.stat(user_file)
        if (st.st_uid, st.st_gid) != (self.d.uid, self.d.gid):
            raise StepError(f"{user_file} is not owned by the user")
        r = root_run("desktop-file-validate", str(user_file))
        if r.returncode != 0:
            raise StepError(f"desktop-file-validate {user_file}: {r.stdout}{r.stderr}")
        return f"off: Hidden=true override in {user_file}; on: Exec={APP} --hidden, valid"

    def second_start(self) -> str:
        r = self.d.run(APP, extra=self.tray_env)
        if r.returncode != 0 or "already running" not in r.stdout:
            raise StepError(
                f"a second {APP} exited with {r.returncode}: {r.stdout.strip()} {r.stderr.strip()}"
            )
        if not self.d.alive("tray"):
            raise StepError("the first tray ended when the second one started")
        return r.stdout.strip()

    def mullvad_disconnect(self) -> str:
        before = len(self.calls())
        self.click("Mullvad: disconnect")
        n = self.wait_notice("Mullvad disconnected", before)

        def tip() -> bool:
            t = self.d.get_prop(self.service, self.item_path, SNI, "ToolTip")
            return "Mullvad: disconnected" in f"{t[2]}\n{t[3]}"

        wait_for(tip, "the tooltip never said 'Mullvad: disconnected'")
        self.wait_item("Mullvad: connect", lambda i: bool(i["enabled"]), "enabled")
        return f"the fake daemon disconnected, {n['summary']!r}, tooltip and menu updated"

    def quit(self) -> str:
        self.click("Quit")
        p = self.d.procs["tray"]
        try:
            rc = p.wait(WAIT)
        except subprocess.TimeoutExpired:
            raise StepError(f"the tray still runs {WAIT:.0f} s after Quit") from None
        if rc != 0:
            raise StepError(f"the tray exited with {rc}")
        wait_for(lambda: not self.d.get_prop(WATCHER, "/StatusNotifierWatcher", WATCHER,
                                             "RegisteredStatusNotifierItems"),
                 "the icon is still registered after Quit")  # fmt: skip
        errors = [ln for ln in self.d.logs["tray"].read_text().splitlines() if "Traceback" in ln]
        if errors:
            raise StepError("the tray printed a traceback (below)")
        return "exit code 0, icon unregistered"

    def history(self) -> list[str]:
        self.d.run("dunstctl", "close-all")
        time.sleep(0.2)
        r = self.d.run("dunstctl", "history")
        try:
            items = json.loads(r.stdout)["data"][0]
        except (ValueError, KeyError, IndexError):
            return [f"(dunstctl history: {r.stdout.strip()} {r.stderr.strip()})"]
        rows = sorted(items, key=lambda n: int(n["id"]["data"]))
        return [f"{n['summary']['data']}: {n['body']['data']}" for n in rows]

    def dunst_saw(self) -> str:
        seen = self.history()
        # Transient notices (the user's own changes) may time out without a history entry; the one the
        # user acted on must be there.
        if not any(s == f"Tailnet cut off: {SUGGESTION}" for s in seen):
            raise StepError(f"dunst's history lacks the suggestion: {seen}")
        return "; ".join(s.split(":")[0] for s in seen)

    def diagnostics(self) -> None:
        d = self.d
        for name in ("tray", "dunst", "sni-host"):
            if name in d.logs and d.logs[name].exists():
                text = d.logs[name].read_text(errors="replace").strip()
                print(f"----- {name} output (last 60 lines)\n" + "\n".join(text.splitlines()[-60:]))
        if "monitor" in d.logs:
            print("----- Notify calls on the session bus")
            for c in self.calls():
                print(f"  {c['summary']}: {c['body']} {c['actions']}")
        if self.service and d.alive("tray"):
            try:
                tip = d.get_prop(self.service, self.item_path, SNI, "ToolTip")
                print("----- tooltip now\n" + f"{tip[2]}\n{tip[3]}")
            except StepError as e:
                print(f"----- tooltip: {e}")
        if getattr(self, "mullvad_cli", None):
            r = d.run(self.mullvad_cli, "status")
            print(f"----- the fake `mullvad status` now (exit {r.returncode})\n{r.stdout}{r.stderr}")
        if d.alive("dunst"):
            print("----- dunst history\n  " + "\n  ".join(self.history()))
        print("----- nft ruleset in the namespace\n" + root_run("nft", "list", "ruleset").stdout)

    def run(self) -> int:
        try:
            self.step("namespace: tailscale0, table 52, private helper state", self.namespace)
            self.step("desktop: Xvfb, session bus, SNI host, dunst", self.desktop)
            self.step("daemons: fake mullvad CLI + fake tailscaled LocalAPI", self.daemons)
            self.step(f"start {APP} as the new user", self.start_tray)
            self.step("tooltip names the relay and Tailscale's state", self.tooltip)
            self.step("suggestion notification with its action", self.suggestion)
            self.step("its action through dunst turns the bypass on", self.bypass_on_by_notification)
            self.step("'Tailnet bypass' in the DBusMenu turns it off", self.bypass_off_by_menu)
            self.step("'Start on login' off and on again", self.autostart)
            self.step("a second start shows the running tray and exits", self.second_start)
            self.step("'Mullvad: disconnect' in the menu", self.mullvad_disconnect)
            self.step("'Quit' ends the tray", self.quit)
            self.step("dunst's history", self.dunst_saw)
        except StepError:
            self.diagnostics()
            return 1
        finally:
            self.d.stop_all()
        print(f"all steps passed ({time.monotonic() - self.t_start:.1f}s)")
        return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", required=True, type=Path, help="the prepared work directory")
    ap.add_argument("--user", required=True, help="the test user")
    args = ap.parse_args()
    if os.getuid() != 0:
        print("run by packaging/e2e-new-user.sh, as root, inside unshare -m -n", file=sys.stderr)
        return 2
    # `timeout` and CI cancel with SIGTERM: turn it into an exception so `run` still stops what it started.
    signal.signal(signal.SIGTERM, lambda _sig, _frame: sys.exit(143))
    return Scenario(args.work, args.user).run()


if __name__ == "__main__":
    sys.exit(main())
