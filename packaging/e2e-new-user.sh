#!/usr/bin/env bash
# A new user's first run of the INSTALLED package, end to end (root; CI runs it from packaging/ci-smoke.sh
# right after installing the .deb): a fresh account starts /usr/bin/mullvad-tailscale-tray in a private
# desktop session (Xvfb, a private session bus, a StatusNotifierItem host, dunst), with the project's fake
# Mullvad CLI and fake tailscaled LocalAPI, gets the "turn on the bypass?" notification, clicks its action
# (real pkexec, the installed helper, nft), turns the bypass off and "Start on login" off and on through the
# exported menu, and quits. The steps are in packaging/e2e_new_user.py, which runs with /usr/bin/python3.
#
# Everything runs inside one private network + mount namespace: the session bus and X use abstract sockets
# (per network namespace), the bypass's nft table stays there, and the helper's state directory is a
# throw-away directory mounted over /var/lib/mullvad-tailscale-tray. The test user, a temporary polkit
# rules file that authorizes it (there is no logind for allow_active to apply) and the work directory are
# removed afterwards, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
    echo "packaging/e2e-new-user.sh creates a user and a polkit rule: run it as root" >&2
    exit 2
fi

PKG=mullvad-tailscale-tray
TEST_USER=mtt-newuser
USER_MARK="$PKG e2e new user"
RULES=/etc/polkit-1/rules.d/00-$PKG-e2e-new-user.rules
ACTION=io.github.$PKG.bypass
STATE_DIR=/var/lib/$PKG
# The lock tests/polkit/install.py takes: its test launcher lives at the installed helper's path.
LOCK=/run/lock/mullvad-tailscale-tray-polkit-tests.lock

dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null | grep -q "ok installed" \
    || { echo "FAIL $PKG is not installed (apt-get install ./dist/${PKG}_*_all.deb first)" >&2; exit 1; }
missing=()
for tool in Xvfb dbus-daemon dbus-monitor busctl dunst dunstctl gtk-sni-tray-standalone pkexec nft ip \
            unshare setpriv desktop-file-validate; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ "${#missing[@]}" -ne 0 ]; then
    # busctl comes with the systemd package (installed, not running), gtk-sni-tray-standalone with
    # haskell-gtk-sni-tray-utils: scripts/deps.sh's TEST_PKGS has them all.
    echo "FAIL missing tools: ${missing[*]} (apt-get install xvfb dbus dunst haskell-gtk-sni-tray-utils" \
         "systemd nftables iproute2 util-linux desktop-file-utils)" >&2
    exit 1
fi

if [ "${MTT_POLKIT_LOCK_HELD:-}" != 1 ]; then
    mkdir -p "$(dirname "$LOCK")"
    exec 9>"$LOCK"
    flock -w 300 9 || { echo "FAIL another polkit test run holds $LOCK" >&2; exit 1; }
fi

work=""
made_state_dir=0
created_user=0
cleanup() {
    set +e
    rm -f "$RULES"
    if [ "$created_user" = 1 ]; then
        # Only what this script started as the user can still run: end those by pid, then remove the user.
        for pid in $(pgrep -u "$TEST_USER"); do kill -TERM "$pid" 2>/dev/null; done
        sleep 0.2
        for pid in $(pgrep -u "$TEST_USER"); do kill -KILL "$pid" 2>/dev/null; done
        userdel -r "$TEST_USER" >/dev/null 2>&1
    fi
    [ -n "$work" ] && rm -rf "$work"
    [ "$made_state_dir" = 1 ] && rmdir "$STATE_DIR" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

if id "$TEST_USER" >/dev/null 2>&1; then
    # A leftover of a killed run is ours to replace; anyone else's account is not.
    [ "$(getent passwd "$TEST_USER" | cut -d: -f5)" = "$USER_MARK" ] \
        || { echo "FAIL user $TEST_USER exists and is not this script's: remove it" >&2; exit 1; }
    userdel -r "$TEST_USER" >/dev/null 2>&1 || true
fi
useradd --create-home --shell /bin/sh --comment "$USER_MARK" "$TEST_USER"
created_user=1

cat > "$RULES" <<EOF
// Temporary, written by packaging/e2e-new-user.sh and removed when it ends.
polkit.addRule(function(action, subject) {
    if (action.id.indexOf("$ACTION.") === 0 && subject.user === "$TEST_USER") {
        return polkit.Result.YES;
    }
});
EOF
scripts/start-system-bus 9>&-  # the bus daemon must not inherit the lock
# polkitd reads rules.d through inotify, asynchronously: wait until it grants the user (bounded).
granted=0
for _ in $(seq 1 100); do
    if runuser -u "$TEST_USER" -- sh -c "exec pkcheck --action-id $ACTION.enable --process \$\$" >/dev/null 2>&1; then
        granted=1; break
    fi
    sleep 0.1
done
[ "$granted" = 1 ] || { echo "FAIL polkitd did not apply $RULES within 10 s (is polkitd running?)" >&2; exit 1; }

# The mount point for the private state directory (the helper creates it on first use; so may we).
if [ ! -d "$STATE_DIR" ]; then mkdir -m 0755 "$STATE_DIR"; made_state_dir=1; fi

work=$(mktemp -d /tmp/mtt-e2e.XXXXXX)
chmod 0755 "$work"
mkdir -p "$work/fakes" "$work/fixtures" "$work/state"
cp tests/fakes/fake_mullvad.py tests/fakes/fake_localapi.py "$work/fakes/"
cp -r tests/fixtures/tailscale "$work/fixtures/tailscale"
cp tests/infra/test-session-bus.conf "$work/session-bus.conf"
cp packaging/e2e_new_user.py "$work/"
chmod -R a+rX "$work"
install -d -m 0700 -o "$TEST_USER" -g "$TEST_USER" "$work/run"

rc=0
timeout 120 unshare -m -n --propagation private /usr/bin/python3 -I "$work/e2e_new_user.py" \
    --work "$work" --user "$TEST_USER" || rc=$?
if [ "$rc" -eq 124 ]; then echo "FAIL the scenario did not finish within 120 s" >&2; fi
exit "$rc"
