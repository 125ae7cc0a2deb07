# Sourced by packaging/ci-smoke.sh (Debian 12, the host) and packaging/ci-debian13.sh (inside a Debian 13
# root): checks of the INSTALLED package that must hold on every release. Each prints what it saw and returns
# non-zero with the reason on stderr. The caller starts the system bus (polkitd is D-Bus-activated).
PKG=mullvad-tailscale-tray
HELPER=/usr/libexec/$PKG/bypass-helper
ACTION=io.github.$PKG.bypass

# Steps: `step TITLE`, any number of `fail REASON`, then `ok SUMMARY` prints ok or FAIL with the time taken.
t_start=$(date +%s)
step_t=$t_start
failures=0
step_failures=0
step() { printf '\n== %s\n' "$*"; step_failures=$failures; }
ok() {  # the step's summary: "ok" only when none of its checks failed
    local now; now=$(date +%s)
    if [ "$failures" -eq "$step_failures" ]; then printf 'ok   %s (%ss)\n' "$*" "$((now - step_t))"
    else printf 'FAIL %s: %s check(s) failed above (%ss)\n' "$*" "$((failures - step_failures))" "$((now - step_t))"; fi
    step_t=$now
}
fail() { printf 'FAIL %s\n' "$*" >&2; failures=$((failures + 1)); }
die() { printf 'FAIL %s\n' "$*" >&2; exit 1; }

# The installed program must run with the system Python and nothing from a checkout or a venv.
SYS_ENV=(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8)

check_imports() {  # every module imports with /usr/bin/python3 and the distribution's Qt
    "${SYS_ENV[@]}" QT_QPA_PLATFORM=offscreen /usr/bin/python3 -I - <<'PY'
import importlib, pkgutil, sys, traceback
import tray_app
bad = 0
for m in pkgutil.walk_packages(tray_app.__path__, "tray_app."):
    if m.name.endswith("__main__"):
        continue
    try:
        importlib.import_module(m.name)
    except Exception:
        bad += 1
        print(f"     {m.name}: {traceback.format_exc().strip().splitlines()[-1]}", file=sys.stderr)
print(f"     imported from {tray_app.__file__}")
sys.exit(1 if bad else 0)
PY
}

check_status_no_daemons() {  # `status --json` with no daemons: both unavailable, no traceback
    local err json
    err=$(mktemp)
    json=$("${SYS_ENV[@]}" MTT_MULLVAD_CLI=/nonexistent/mullvad MTT_TAILSCALE_CLI=/nonexistent/tailscale \
        MTT_TAILSCALE_SOCKET=/nonexistent/tailscaled.sock timeout 20 $PKG status --json 2>"$err") || true
    if grep -q Traceback "$err"; then cat "$err" >&2; rm -f "$err"; echo "status --json crashed" >&2; return 1; fi
    printf '%s' "$json" | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["mullvad"]["state"] == "unavailable", d["mullvad"]
assert d["tailscale"]["state"] == "unavailable", d["tailscale"]
print("     mullvad:", d["mullvad"]["state"], "| tailscale:", d["tailscale"]["state"], "| bypass:", d["bypass"]["state"])
' || { echo "status --json did not report both daemons unavailable: $json $(cat "$err")" >&2; rm -f "$err"; return 1; }
    rm -f "$err"
}

check_pkaction() {  # the three actions with their defaults, exec.path and exec.argv1; refresh has none
    local verb info want pair key val bad=0
    if pkaction --action-id "$ACTION.refresh" >/dev/null 2>&1; then
        echo "$ACTION.refresh still exists: the reconciler keeps the bypass right, refresh is root-only" >&2
        bad=1
    fi
    for verb in status enable disable; do
        info=$(pkaction --verbose --action-id "$ACTION.$verb" 2>&1) \
            || { echo "pkaction does not know $ACTION.$verb: $info" >&2; bad=1; continue; }
        want=yes; case $verb in enable|disable) want=auth_admin_keep ;; esac
        for pair in "implicit any:no" "implicit inactive:no" "implicit active:$want" \
                    "org.freedesktop.policykit.exec.path -> $HELPER:" "org.freedesktop.policykit.exec.argv1 -> $verb:"; do
            key=${pair%:*}; val=${pair##*:}
            if [ -z "$val" ]; then
                printf '%s\n' "$info" | grep -qF "$key" || { echo "$ACTION.$verb: no '$key'" >&2; bad=1; }
            else
                printf '%s\n' "$info" | grep -qE "^ *$key: +$val\$" || { echo "$ACTION.$verb: '$key' is not $val" >&2; bad=1; }
            fi
        done
    done
    return "$bad"
}

check_tray_runs() {  # the tray offscreen on a private session bus for 4 s: still running, with its icon
    local rc=0 runtime log
    runtime=$(mktemp -d); log=$(mktemp)
    "${SYS_ENV[@]}" QT_QPA_PLATFORM=offscreen XDG_RUNTIME_DIR="$runtime" MTT_MULLVAD_CLI=/nonexistent/mullvad \
        MTT_TAILSCALE_SOCKET=/nonexistent/tailscaled.sock MTT_TAILSCALE_CLI=/nonexistent/tailscale \
        dbus-run-session -- timeout 4 "$PKG" --hidden >"$log" 2>&1 || rc=$?
    rm -rf "$runtime"
    # "icon sources not found" / Qt's "No Icon set": the install lacks the icons the tray draws.
    if [ "$rc" -ne 124 ] || grep -qE 'Traceback|No Icon set|icon sources not found' "$log"; then
        cat "$log" >&2; rm -f "$log"
        echo "the tray exited with $rc within 4 s (124 = still running when stopped, expected) or had no icon" >&2
        return 1
    fi
    rm -f "$log"
}
