"""`bypass-helper VERB [OPTIONS]`: the root helper (DESIGN.md, "Helper contract"; docs/bypass.md).

Runs as root on behalf of an unprivileged user (pkexec), the boot unit (`restore`), or a test inside a network
namespace. Trust nothing from the caller: argv is a fixed vocabulary (no addresses, paths or free text), the
environment is ignored (children get a fixed one), nft and ip are found at fixed absolute paths, and the
tailnet's addresses are read from routing table 52 here, never passed in.

Exit codes (tray_app.core.protocol.Exit): 0 ok, 1 failed (an ip/nft command failed unexpectedly; nothing half
done), 2 usage, 3 not root, 4 nft or ip missing, 5 nft rejected the batch (nothing changed), 6 precondition
(saved state unusable: nothing changed; or `enable` applied but Mullvad's firewall has no split-tunnel
accept rule, so the bypass cannot take effect yet), 7 busy (another run held the state lock past the bounded
wait: nothing changed).
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from tray_app.core import routes as routes_mod
from tray_app.core import rules, rules_readback
from tray_app.core.protocol import (
    MODES,
    OPTIONS,
    PROTOCOL_VERSION,
    TABLE_FAMILY,
    TABLE_NAME,
    VERBS,
    Exit,
    Verb,
    cli_enable_command,
)
from tray_app.core.rules import Config
from tray_app.core.world import SPLIT_CT_MARK, hex32
from tray_app.helper import facts, hardening, iprules, log, nft, state, tools

PROG = "bypass-helper"
MAX_ARGS = 6

USAGE = f"""usage: {PROG} VERB [OPTIONS]
verbs:
  status                       print the bypass state as one JSON object (changes nothing)
  refresh                      if the bypass is on, re-read routing table 52 and re-apply it
  enable [--mode direct|private] [--[no-]containers] [--[no-]exit-via-mullvad]
                               apply the bypass and save it for boot; what is not given keeps
                               the last choice (direct mode, no options the first time)
  disable                      remove the bypass and its saved state (fine if it is not on)
  restore                      re-apply the saved bypass
  watch                        restore, then keep the bypass right and publish its status (the
                               long-running mullvad-tailscale-bypass.service)
  version                      print the helper protocol version
Normally run through `mullvad-tailscale-tray bypass on|off|status`."""

_ALLOWED = {
    *VERBS,
    "--mode",
    *MODES,
    *(f"--mode={m}" for m in MODES),
    *(f"--{o}" for o in OPTIONS),
    *(f"--no-{o}" for o in OPTIONS),
}
_SHELLISH = set(";|&$`<>(){}*?!~\\\"' \t\n")


class UsageError(Exception):
    pass


class HelperError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class _Parser(argparse.ArgumentParser):
    """argparse that never prints or exits by itself: every problem becomes one clear line from main()."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise UsageError(message or "invalid arguments")

    def _get_formatter(self) -> argparse.HelpFormatter:
        # A fixed width: argparse's default asks the terminal, importing shutil (with bz2 and lzma) for it on
        # every add_argument; help is never printed from here (USAGE is), so the width is never seen.
        return argparse.HelpFormatter(prog=self.prog, width=100)


def _printable(text: str, limit: int) -> str:
    """`text` made safe to echo on a terminal: printable ASCII only, at most `limit` characters."""
    clean = "".join(c if c.isprintable() and c.isascii() else "?" for c in text)
    return clean[:limit] + ("..." if len(clean) > limit else "")


def _shown(token: str) -> str:
    """An argv token made safe to echo on a terminal (no control characters, bounded)."""
    return repr(_printable(token, 40))


def _looks_like_address(token: str) -> bool:
    try:
        ipaddress.ip_network(token, strict=False)
        return True
    except ValueError:
        return any(c.isdigit() for c in token) and ("/" in token or token.count(".") >= 2 or ":" in token)


def _screen(argv: Sequence[str]) -> None:
    """Refuse anything outside the fixed vocabulary before argparse sees it."""
    if len(argv) > MAX_ARGS:
        raise UsageError(f"too many arguments ({len(argv)})")
    prev = ""
    for tok in argv:
        after_mode, prev = prev == "--mode", tok
        if after_mode and tok not in MODES:
            raise UsageError(f"unknown mode {_shown(tok)}: use --mode direct or --mode private")
        if tok in _ALLOWED:
            continue
        if _looks_like_address(tok):
            raise UsageError(
                f"refused argument {_shown(tok)}: the helper takes no addresses, it reads Tailscale's routes "
                "from routing table 52 itself"
            )
        if _SHELLISH & set(tok):
            raise UsageError(
                f"refused argument {_shown(tok)}: the helper runs no shell and takes only fixed words"
            )
        if tok.startswith("--mode"):
            raise UsageError(f"unknown mode in {_shown(tok)}: use --mode direct or --mode private")
        if tok.startswith("-"):
            raise UsageError(f"unknown option {_shown(tok)}")
        raise UsageError(f"unknown verb or argument {_shown(tok)}")


def parse(argv: Sequence[str]) -> argparse.Namespace:
    _screen(argv)
    parser = _Parser(prog=PROG, add_help=False, allow_abbrev=False, exit_on_error=False)
    sub = parser.add_subparsers(dest="verb", required=True, parser_class=_Parser)
    for verb in VERBS:
        p = sub.add_parser(verb, add_help=False, allow_abbrev=False, exit_on_error=False)
        if verb is Verb.ENABLE:
            # None = not given: keep the last choice (see enable()).
            p.add_argument("--mode", choices=MODES, default=None)
            for opt in OPTIONS:
                dest = opt.replace("-", "_")
                p.add_argument(f"--{opt}", action="store_const", const=True, default=None, dest=dest)
                p.add_argument(f"--no-{opt}", action="store_const", const=False, dest=dest)
    try:
        args = parser.parse_args(list(argv))
    except argparse.ArgumentError as e:
        raise UsageError(str(e)) from None
    return args


# ---------------------------------------------------------------------------------------------------------
# status


def _reference(fs: routes_mod.RouteFacts) -> tuple[dict[str, rules_readback.TableView], dict[str, Config]]:
    """Every candidate config as this nft lists it, from a scratch namespace."""
    batch, names = rules.render_reference(fs, rules.all_configs())
    tables = rules_readback.parse_tables(nft.scratch_listing(batch))
    missing = [n for n in names if (TABLE_FAMILY, n) not in tables]
    if missing:
        raise tools.ToolFailedError("the scratch namespace listing lacks the reference tables")
    return {n: tables[(TABLE_FAMILY, n)] for n in names}, names


def status(applied: tuple[rules_readback.TableView | None, Config] | None = None) -> dict[str, Any]:
    """The bypass state. `applied`: the rules of our table as this process just applied them for a config
    (None: the live table itself, right after a successful all-or-nothing batch); they replace the scratch
    namespace comparison, which is the slow half of a status (the reconciler and `enable` know their rules)."""
    warnings: list[str] = []
    try:
        saved = state.load()
    except state.StateError as e:
        saved = None
        warnings.append(str(e))
    with facts.Others(ours=True) as others:  # the three listings run side by side
        live_text = nft.list_table(TABLE_FAMILY, TABLE_NAME, others.ours)
        live = rules_readback.parse_table(live_text) if live_text is not None else None
        try:
            fs: routes_mod.RouteFacts | None = facts.routes()
        except routes_mod.RouteError as e:
            fs = None
            warnings.append(f"{e}: the sets cannot be checked")
        mv = others.mullvad()
        connmark = others.connmark()
    prules = iprules.present()
    private_rules = all(n >= 1 for n in prules.values())
    any_private = any(n >= 1 for n in prules.values())

    # What table 52 holds only matters for a bypass that is, or should be, on.
    if fs is not None and (live is not None or saved is not None):
        warnings.extend(fs.warnings)
    if mv.table and not mv.split_tunnel_accept:
        warnings.append(MULLVAD_NO_ACCEPT)

    config: Config | None = None
    matches = False
    if live is not None:
        if fs is not None:
            ref: dict[str, rules_readback.TableView] | None
            names: dict[str, Config] | None
            if applied is not None:
                ref, names = {"applied": applied[0] or live}, {"applied": applied[1]}
            else:
                try:
                    ref, names = _reference(fs)
                except (tools.ToolFailedError, rules_readback.NftJsonError) as e:
                    ref, names = None, None
                    warnings.append(f"cannot compare the rules exactly: {e}")
            verdict = rules_readback.compare(live, fs, ref, names, saved)
            config = verdict.config or rules_readback.guess_config(live)
            matches = verdict.matches
            warnings.extend(verdict.differences)
        else:
            config = rules_readback.guess_config(live)
        if config is not None:
            want_private = config.mode == "private"
            if want_private and not private_rules:
                matches = False
                warnings.append(
                    f"private mode's ip rule ({' '.join(rules.PRIVATE_RULE_ARGS)}) is missing, so "
                    "tailscaled's traffic may leave outside Mullvad"
                )
            if not want_private and any_private:
                matches = False
                warnings.append("a private-mode ip rule (pref 5200) is left over in direct mode")
        if saved is None:
            warnings.append(
                "the bypass is loaded but not saved, so it will not come back after a reboot: run "
                f"`{cli_enable_command(config.mode if config else None, config.options if config else ())}`"
            )
    else:
        matches = saved is None and not any_private
        if saved is not None:
            warnings.append(
                "the bypass is saved as on but its table is not loaded (an nftables reload or "
                "`nft flush ruleset` removes it)"
            )
        if any_private:
            warnings.append("a private-mode ip rule (pref 5200) is left over without the bypass")

    st = ("off" if matches else "drifted") if live is None else ("on" if matches else "drifted")
    if st == "drifted":  # one fix for whatever drifted, and one the user can run
        fix = cli_enable_command(saved.mode, saved.options) if saved else "mullvad-tailscale-tray bypass off"
        warnings.append(f"to put it right, run `{fix}`")
    return {
        "enabled": live is not None,
        "state": st,
        "mode": config.mode if live is not None and config else None,
        "options": config.option_list if live is not None and config else [],
        "tailnet4": rules_readback.set_networks(live.sets["tailnet4"])
        if live and "tailnet4" in live.sets
        else [],
        "tailnet6": rules_readback.set_networks(live.sets["tailnet6"])
        if live and "tailnet6" in live.sets
        else [],
        "matches_expected": matches,
        "mullvad": {"table": mv.table, "split_tunnel_accept": mv.split_tunnel_accept},
        "warnings": warnings,
        "protocol": PROTOCOL_VERSION,
        "tailscale_connmark": connmark,
        "private_rules": private_rules,
        "table52_default_route": bool(fs and fs.default_route),
        "excluded_routes": list(fs.excluded) if fs else [],
        "saved": {"mode": saved.mode, "options": saved.option_list} if saved else None,
    }


MULLVAD_NO_ACCEPT = (
    f"Mullvad's firewall has no split-tunnel accept rule (`ct mark {hex32(SPLIT_CT_MARK)} accept` in `inet mullvad` output), "
    "so the bypass cannot take effect: Mullvad's split tunnelling is unavailable (no net_cls cgroup) or the "
    "daemon is still in early-boot blocking; check `mullvad split-tunnel list` and restart mullvad-daemon"
)


# ---------------------------------------------------------------------------------------------------------
# changing verbs


def _read_routes() -> routes_mod.RouteFacts:
    try:
        return facts.routes()
    except routes_mod.RouteError as e:
        raise HelperError(Exit.FAILED, f"{e}; nothing was changed") from None


def _tools_present() -> None:
    # Both before any change: finding one missing halfway would leave half a bypass.
    tools.find("nft")
    tools.find("ip")


def _apply_table(cfg: Config, fs: routes_mod.RouteFacts, ours: tools.Job | None = None) -> None:
    """Replace our table's contents in place when its layout is ours, else delete and re-create it. `ours`:
    the listing of our table, started earlier (nft.list_job) to run alongside other work."""
    live = nft.list_table(TABLE_FAMILY, TABLE_NAME, ours)
    view = None
    if live is not None:
        with contextlib.suppress(rules_readback.NftJsonError):
            view = rules_readback.parse_table(live)
    if live is None or (view is not None and rules_readback.same_layout(view)):
        try:
            nft.apply(rules.render_apply(cfg, fs))
            return
        except nft.NftRejectedError:
            pass  # e.g. a chain of ours with another priority (an older version): replace the table whole
    nft.apply(rules.render_replace(cfg, fs))


def _apply(
    cfg: Config, verb: str, ours: tools.Job | None = None, fs: routes_mod.RouteFacts | None = None
) -> routes_mod.RouteFacts:
    """Make the kernel match `cfg`: ip rules and one nft batch, rolled back together on failure. `fs`: the
    routes when the caller has just read them (the reconciler), else read here."""
    _tools_present()
    if fs is None:
        fs = _read_routes()
    added: list[str] = []
    if cfg.mode == "private":
        added = iprules.add()
    try:
        _apply_table(cfg, fs, ours)
    except BaseException:
        if added:  # nothing half done: the rules we just added go again (a failure here must not mask nft's)
            with contextlib.suppress(tools.ToolFailedError, tools.ToolMissingError):
                iprules.remove(added)
        raise
    removed = iprules.remove() if cfg.mode == "direct" else []
    log.change(
        f"{verb}: bypass table applied (mode {cfg.mode}, options {cfg.option_list or 'none'}, "
        f"{len(fs.tailnet4)} IPv4 and {len(fs.tailnet6)} IPv6 prefixes)"
        + (f"; added ip rule pref 5200 ({', '.join(added)})" if added else "")
        + (f"; removed ip rule pref 5200 ({', '.join(removed)})" if removed else "")
    )
    return fs


def _remembered() -> Config | None:
    """The last choice: choice.json, else (saved by a version without it) bypass.json; None the first time."""
    choice = state.load(state.CHOICE_NAME)
    return choice if choice is not None else state.load()


def _choice(mode: str | None, flags: dict[str, bool | None]) -> tuple[Config, Config | None]:
    """What `enable` applies: each part not given (None) keeps the last choice, so `enable` alone never turns
    private mode (or --exit-via-mullvad) into direct mode behind the user's back. Also returns that last
    choice, for the caller to say what changed."""
    try:
        last = _remembered()
    except state.StateError as e:
        if mode is None or None in flags.values():
            raise HelperError(
                Exit.PRECONDITION,
                f"{e}; so the last choice is unknown and nothing was changed: choose every part once, e.g. "
                "`mullvad-tailscale-tray bypass on --mode private --no-containers --no-exit-via-mullvad`",
            ) from None
        last = None
    base = last or Config("direct", frozenset())
    options = frozenset(o for o in OPTIONS if (o in base.options if flags[o] is None else flags[o]))
    return Config(mode or base.mode, options), last


def _as_json(cfg: Config | None) -> dict[str, Any] | None:
    return {"mode": cfg.mode, "options": cfg.option_list} if cfg else None


def enable(mode: str | None, flags: dict[str, bool | None]) -> int:
    """Apply and save the bypass; prints the status JSON plus `previous`, the choice before this run."""
    with state.locked():
        _tools_present()
        state.check_writable()
        # Our table, Mullvad's and Tailscale's are listed by nft children running while the choice is read and
        # the state written (fsynced); the latter two also while the batch is applied.
        with facts.Others(ours=True) as others:
            cfg, last = _choice(mode, flags)
            mv = others.mullvad()  # before any change: a failing listing fails with nothing changed
            # Written (and fsynced) before the kernel changes, renamed into place after: a full disk fails
            # here with nothing changed, instead of leaving a bypass that is on but not saved for boot.
            pending = state.prepare(cfg)
            try:
                choice = state.prepare(cfg, state.CHOICE_NAME)
            except BaseException:
                pending.discard()
                raise
            try:
                fs = _apply(cfg, Verb.ENABLE, others.ours)
            except BaseException:
                pending.discard()
                choice.discard()
                raise
            pending.commit()
            choice.commit()
            connmark = others.connmark()
    _emit({**_reply_after_apply(cfg, fs, mv, connmark), "previous": _as_json(last)})
    if mv.table and not mv.split_tunnel_accept:
        raise HelperError(Exit.PRECONDITION, "the bypass is on, but " + MULLVAD_NO_ACCEPT)
    return Exit.OK


def _reply_after_apply(
    cfg: Config, fs: routes_mod.RouteFacts, mv: facts.Mullvad, connmark: str
) -> dict[str, Any]:
    """`status` right after a successful `enable`, from what enable read anyway: the batch was all or
    nothing (our table is cfg's rules with fs's sets), the ip rules were just made right and the state saved.
    Re-reading all of it would cost six more nft/ip runs on the toggle's hot path; the reconciler, when it
    runs, publishes the re-read status a moment later (tests/bypass/test_helper.py compares the two)."""
    warnings = list(fs.warnings)
    if mv.table and not mv.split_tunnel_accept:
        warnings.append(MULLVAD_NO_ACCEPT)
    want = rules_readback.expected_sets(fs)
    return {
        "enabled": True,
        "state": "on",
        "mode": cfg.mode,
        "options": cfg.option_list,
        "tailnet4": rules_readback.set_networks(rules_readback.SetView("ipv4_addr", (), want["tailnet4"])),
        "tailnet6": rules_readback.set_networks(rules_readback.SetView("ipv6_addr", (), want["tailnet6"])),
        "matches_expected": True,
        "mullvad": {"table": mv.table, "split_tunnel_accept": mv.split_tunnel_accept},
        "warnings": warnings,
        "protocol": PROTOCOL_VERSION,
        "tailscale_connmark": connmark,
        "private_rules": cfg.mode == "private",
        "table52_default_route": fs.default_route,
        "excluded_routes": list(fs.excluded),
        "saved": {"mode": cfg.mode, "options": cfg.option_list},
    }


def disable() -> int:
    with state.locked():
        _tools_present()
        state.check_writable()
        # Three listings side by side; Mullvad's and Tailscale's (for the answer only) while the bypass goes.
        with facts.Others(ours=True) as others:
            had_table = nft.list_table(TABLE_FAMILY, TABLE_NAME, others.ours) is not None
            # Forget the saved choice first: if a later step fails, an automatic `refresh` (no password) or
            # the boot unit must not bring back a bypass the user turned off.
            had_state = state.clear()
            nft.apply(rules.render_remove())
            removed = iprules.remove()
            reply = _reply_after_disable(others)
    if had_table or removed or had_state:
        log.change(
            "disable: bypass removed"
            + (" (table)" if had_table else "")
            + (f" (ip rule pref 5200 {', '.join(removed)})" if removed else "")
            + (" (saved state)" if had_state else "")
        )
    _emit(reply)
    return Exit.OK


def _reply_after_disable(others: facts.Others) -> dict[str, Any]:
    """`status` right after `disable`: table, ip rules and saved state are gone (each step checked), so only
    the facts about other tables are read (see _reply_after_apply)."""
    try:
        fs: routes_mod.RouteFacts | None = facts.routes()
    except routes_mod.RouteError:
        fs = None
    mv = others.mullvad()
    return {
        "enabled": False,
        "state": "off",
        "mode": None,
        "options": [],
        "tailnet4": [],
        "tailnet6": [],
        "matches_expected": True,
        "mullvad": {"table": mv.table, "split_tunnel_accept": mv.split_tunnel_accept},
        "warnings": [MULLVAD_NO_ACCEPT] if mv.table and not mv.split_tunnel_accept else [],
        "protocol": PROTOCOL_VERSION,
        "tailscale_connmark": others.connmark(),
        "private_rules": False,
        "table52_default_route": bool(fs and fs.default_route),
        "excluded_routes": list(fs.excluded) if fs else [],
        "saved": None,
    }


def reapply(verb: str) -> int:
    """`refresh` and `restore`: re-apply the saved choice; nothing saved is nothing to do."""
    with state.locked():
        try:
            cfg = state.load()
        except state.StateError as e:
            raise HelperError(Exit.PRECONDITION, f"{e}; nothing was changed") from None
        if cfg is None:
            return Exit.OK
        _apply(cfg, verb)
    return Exit.OK


# ---------------------------------------------------------------------------------------------------------


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _first_error(nft_output: str) -> str:
    for line in nft_output.splitlines():
        if "Error:" in line:
            return line[line.index("Error:") :].strip()[:160]
    return nft_output.strip().splitlines()[0][:160] if nft_output.strip() else "no message"


def _err(message: str) -> None:
    sys.stderr.write(f"{PROG}: {message}\n")


def run(argv: Sequence[str]) -> int:
    if any(a in ("-h", "--help") for a in argv) or not argv:
        (sys.stdout if argv else sys.stderr).write(USAGE + "\n")
        return Exit.OK if argv else Exit.USAGE
    try:
        args = parse(argv)
    except UsageError as e:
        _err(f"error: {e} (usage: {PROG} {'|'.join(Verb)}; see {PROG} --help)")
        return Exit.USAGE
    verb = Verb(args.verb)
    if verb is Verb.VERSION:
        sys.stdout.write(f"{PROTOCOL_VERSION}\n")
        return Exit.OK
    if os.geteuid() != 0:
        _err(
            f"error: `{verb}` must run as root. Use `mullvad-tailscale-tray bypass on|off|status`, which asks "
            "for authorisation through pkexec, or run the helper with sudo"
        )
        return Exit.NOT_ROOT
    os.umask(0o022)
    hardening.harden()
    try:
        if verb is Verb.STATUS:
            _emit(status())
            return Exit.OK
        if verb is Verb.WATCH:
            from tray_app.helper import watch  # noqa: PLC0415  (only the daemon needs it)

            return watch.run()
        if verb is Verb.ENABLE:  # prints its own answer (see _reply_after_apply)
            return enable(args.mode, {o: getattr(args, o.replace("-", "_")) for o in OPTIONS})
        if verb is Verb.DISABLE:
            return disable()  # prints its own answer
        code = reapply(verb)
        # The boot unit needs no report (and its sandbox forbids the scratch namespace).
        if verb is not Verb.RESTORE:
            _emit(status())
        return code
    except HelperError as e:
        _err(f"error: {e}")
        return e.code
    except tools.ToolMissingError as e:
        _err(f"error: {e}")
        return Exit.NFT_MISSING
    except nft.NftRejectedError as e:
        # nft's own words first, the one-line verdict last (callers show the last line).
        for line in str(e).splitlines():
            _err(f"nft: {line}")
        _err(f"error: nft rejected the bypass rules, nothing was changed ({_first_error(str(e))})")
        return Exit.NFT_REJECTED
    except state.StateError as e:
        _err(f"error: {e}")
        return Exit.PRECONDITION
    except state.LockBusyError as e:
        _err(f"error: {e}")
        return Exit.BUSY
    except (tools.ToolFailedError, rules_readback.NftJsonError) as e:
        _err(f"error: {e}")
        return Exit.FAILED


def _unexpected(e: BaseException) -> int:
    """Last resort: one line instead of a Python traceback (which would leak internals and break the contract
    that the error is the last line of stderr). Failures inside a change roll back where they are caught."""
    if isinstance(e, BrokenPipeError):
        # The caller closed our stdout: nothing to tell it; keep the interpreter's final flush quiet too.
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
    with contextlib.suppress(Exception):
        _err(
            f"error: the helper failed unexpectedly ({type(e).__name__}: {_printable(str(e), 200)}); "
            "`mullvad-tailscale-tray doctor` shows what is in place"
        )
    return Exit.FAILED


def main(argv: Sequence[str] | None = None) -> int:
    try:
        hardening.standard_streams()
        return run(sys.argv[1:] if argv is None else argv)
    except (Exception, KeyboardInterrupt) as e:  # see _unexpected
        return _unexpected(e)
