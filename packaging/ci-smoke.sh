#!/usr/bin/env bash
# Smoke test of the INSTALLED package, as root, on a Debian 12 / Ubuntu 24.04 machine (CI runs it after the
# test suite): builds the .deb (with lintian), installs it in a Debian 13 root (packaging/ci-debian13.sh) and
# with apt here, checks what a user gets, builds the RPM, and purges the package again. Exits non-zero on
# the first failed check, saying which and why.
#
# Network changes happen only inside private network namespaces (`unshare -n`), never on the host: the
# helper's enable/disable and the package removal (whose prerm turns the bypass off) both run in one.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
    echo "packaging/ci-smoke.sh installs a package and needs polkit test users: run it as root" >&2
    exit 2
fi

. packaging/smoke-checks.sh  # PKG, HELPER, ACTION, SYS_ENV and the checks shared with ci-debian13.sh
# While the package is installed its helper sits where tests/polkit/install.py puts a test launcher: take
# the lock those tests take (fd 9, closed for the system bus, which would otherwise keep it after we end).
LOCK=/run/lock/mullvad-tailscale-tray-polkit-tests.lock
mkdir -p "$(dirname "$LOCK")"
exec 9>"$LOCK"
flock -w 600 9 || { echo "FAIL another polkit test run has held $LOCK for 10 minutes" >&2; exit 1; }
export MTT_POLKIT_LOCK_HELD=1  # for packaging/e2e-new-user.sh
TEST_USER=mttsmoke
RULES=/etc/polkit-1/rules.d/00-$PKG-ci-smoke.rules
created_user=0
cleanup() {
    rm -f "$RULES"
    [ "$created_user" = 1 ] && userdel "$TEST_USER" >/dev/null 2>&1
    if dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null | grep -q "ok installed"; then
        # The prerm turns the bypass off: let it touch a throw-away namespace, not the host.
        unshare -n env DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "$PKG" >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT

step "build the .deb (debhelper + pybuild) and run lintian"
out=$(packaging/build-deb.sh) || die "packaging/build-deb.sh failed"
deb=$(printf '%s\n' "$out" | tail -n 1)
printf '%s\n' "$out" | grep -E '^[EWI]: ' || true
[ -f "$deb" ] || die "build-deb.sh printed no .deb path (last line: $deb)"
ok "built $(basename "$deb"), lintian without errors"

step "the same .deb on Debian 13 (packaging/ci-debian13.sh: a cached debootstrap root, then tests/bypass with its nft)"
packaging/ci-debian13.sh "$deb" 9>&- 2>&1 | sed 's/^/  /' || fail "the .deb on Debian 13 (above)"
ok "Debian 13"

step "install it with apt (pulls the distribution's PyQt6, nftables, polkit)"
if dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null | grep -q "ok installed"; then
    unshare -n env DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "$PKG" >/dev/null
fi
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$deb" >/tmp/$PKG-apt.log 2>&1 \
    || { tail -n 30 /tmp/$PKG-apt.log >&2; die "apt-get install $deb failed"; }
dpkg-query -W -f='${Version}\n' python3-pyqt6 | sed 's/^/     PyQt6: /'
ok "installed"

step "a new user's first run of the installed tray (packaging/e2e-new-user.sh)"
if out=$(packaging/e2e-new-user.sh 2>&1); then
    printf '%s\n' "$out" | sed 's/^/     /'
    ok "new user: icon, tooltip, suggestion -> bypass on via pkexec, off via the menu, autostart, second start, Mullvad disconnect, quit"
else
    printf '%s\n' "$out" | sed 's/^/     /' >&2
    fail "new user end to end (the failed step, the tray's output and dunst's history above)"
fi

step "installed files"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
got=$("${SYS_ENV[@]}" $PKG --version 2>&1) || die "$PKG --version failed: $got"
[ "$got" = "$PKG $version" ] || fail "$PKG --version printed '$got', expected '$PKG $version'"
[ "$(stat -c '%U:%G %a' "$HELPER")" = "root:root 755" ] || fail "$HELPER is $(stat -c '%U:%G %a' "$HELPER"), expected root:root 755"
head -n 1 "$HELPER" | grep -qx '#!/usr/bin/python3 -IS' || fail "$HELPER does not start with '#!/usr/bin/python3 -IS'"
grep -qx 'PACKAGE_DIR = "/usr/lib/python3/dist-packages"  # PYTHONDIR of `make install-data`' "$HELPER" \
    || fail "$HELPER does not import tray_app from /usr/lib/python3/dist-packages alone (PACKAGE_DIR)"
for f in /usr/share/polkit-1/actions/io.github.$PKG.policy /usr/share/applications/$PKG.desktop \
         /etc/xdg/autostart/$PKG.desktop /usr/share/metainfo/io.github.mullvad_tailscale_tray.metainfo.xml \
         /usr/share/icons/hicolor/scalable/apps/$PKG.svg /usr/share/icons/hicolor/48x48/apps/$PKG.png \
         /usr/share/$PKG/icons/parts/main-connected.svg /usr/share/man/man1/$PKG.1.gz; do
    [ -f "$f" ] || fail "missing $f"
done
unit=$(dpkg -L $PKG | grep '/systemd/system/mullvad-tailscale-bypass.service$') || die "the package has no boot unit"
[ -L /etc/systemd/system/multi-user.target.wants/mullvad-tailscale-bypass.service ] \
    || fail "the boot unit is not enabled (no multi-user.target.wants link)"
# WantedBy=nftables.service too: an nftables stop+start re-applies the bypass.
[ -L /etc/systemd/system/nftables.service.wants/mullvad-tailscale-bypass.service ] \
    || fail "the boot unit is not hooked to nftables.service (no nftables.service.wants link)"
ok "version $version, helper root:root 0755 with -IS, files in place, boot unit enabled"

step "every module imports with the system Python and the distribution's Qt"
check_imports || fail "modules fail to import (above)"
ok "imports"

step "status with no daemons at all"
check_status_no_daemons || fail "status with no daemons (above)"
ok "status"

step "the tray starts (offscreen, private session bus) and keeps running"
check_tray_runs || fail "the tray (above)"
ok "tray ran 4 s with its icon"

step "polkit: pkaction shows the three actions with their defaults (refresh has none)"
scripts/start-system-bus 9>&-
check_pkaction || fail "pkaction (above)"
ok "pkaction"

step "the installed helper"
got=$("${SYS_ENV[@]}" "$HELPER" version) || fail "$HELPER version failed"
want=$(/usr/bin/python3 -I -c 'from tray_app.core.protocol import PROTOCOL_VERSION as v; print(v)')
[ "$got" = "$want" ] || fail "$HELPER version printed '$got', expected '$want'"
# -I: a user's PYTHONPATH must not reach the root helper's imports.
evil=$(mktemp -d)
mkdir -p "$evil/tray_app/helper"
printf 'raise SystemExit("INJECTED")\n' > "$evil/tray_app/__init__.py"
got=$(PYTHONPATH=$evil "$HELPER" version 2>&1) || true
rm -rf "$evil"
[ "$got" = "$want" ] || fail "PYTHONPATH changed what the root helper runs: $got"
# -S and PACKAGE_DIR: a tray_app copy and a .pth file where Debian's python3 looks first (the admin's
# /usr/local, filled by pip or make install) must not reach it either. Planted in a private mount namespace.
plant='v=$(/usr/bin/python3 -c "import sys; print(f\"python3.{sys.version_info.minor}\")")
mount -t tmpfs -o mode=0755 tmpfs /usr/local/lib && d=/usr/local/lib/$v/dist-packages && mkdir -p "$d/tray_app"
echo "raise SystemExit(\"PLANTED tray_app\")" > "$d/tray_app/__init__.py"
echo "import sys; print(\"PLANTED .pth\", file=sys.stderr)" > "$d/zz-planted.pth"
exec "$@"'
got=$(unshare -m sh -c "$plant" sh /usr/bin/python3 -I -c 'import tray_app' 2>&1) || true
case $got in *"PLANTED .pth"*"PLANTED tray_app"*) ;; *) fail "the planted copy did not take with python3 -I: $got" ;; esac
got=$(unshare -m sh -c "$plant" sh "$HELPER" version 2>&1) || true
[ "$got" = "$want" ] || fail "a tray_app or .pth in /usr/local reached the root helper: $got"
ok "helper answers version $got, ignores PYTHONPATH, site directories and .pth files"

step "enable / status / disable through real pkexec as an authorized test user, in a private netns"
id "$TEST_USER" >/dev/null 2>&1 || { useradd --no-create-home --shell /usr/sbin/nologin "$TEST_USER"; created_user=1; }
cat > "$RULES" <<EOF
// Temporary, written by packaging/ci-smoke.sh and removed when it ends.
polkit.addRule(function(action, subject) {
    if (action.id.indexOf("$ACTION.") === 0 && subject.user === "$TEST_USER") {
        return polkit.Result.YES;
    }
});
EOF
as_user=(runuser -u "$TEST_USER" -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/ LANG=C.UTF-8)
# One namespace for the whole sequence; the host ruleset is never read or written.
netns_script=$(cat <<EOF
set -e
ip link set lo up
# polkitd notices the new rules file through inotify; give it a moment on the first call only.
for i in 1 2 3 4 5 6 7 8 9 10; do
    rc=0; ${as_user[*]} pkexec $HELPER enable </dev/null >/tmp/$PKG-enable.out 2>&1 || rc=\$?
    [ "\$rc" -ne 127 ] && break; sleep 0.3
done
echo "enable rc=\$rc"; cat /tmp/$PKG-enable.out
[ "\$rc" -eq 0 ] || exit 10
nft list table inet mullvad-tailscale >/dev/null || { echo "no table after enable"; exit 11; }
[ -f /var/lib/$PKG/bypass.json ] || { echo "enable saved no state"; exit 12; }
${as_user[*]} pkexec $HELPER status </dev/null | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["enabled"] and d["mode"]=="direct", d' || exit 13
${as_user[*]} $PKG bypass status || exit 14
${as_user[*]} pkexec $HELPER disable </dev/null >/dev/null || exit 15
if nft list table inet mullvad-tailscale >/dev/null 2>&1; then echo "table left after disable"; exit 16; fi
[ ! -e /var/lib/$PKG/bypass.json ] || { echo "state left after disable"; exit 17; }
echo "through the app:"
${as_user[*]} $PKG bypass on </dev/null || exit 18
nft list table inet mullvad-tailscale >/dev/null || { echo "no table after bypass on"; exit 19; }
${as_user[*]} $PKG bypass off </dev/null || exit 20
if nft list table inet mullvad-tailscale >/dev/null 2>&1; then echo "table left after bypass off"; exit 21; fi
EOF
)
if out=$(unshare -n bash -c "$netns_script" 2>&1); then
    printf '%s\n' "$out" | sed 's/^/     /' | head -n 12
    ok "pkexec enable/status/disable and the app's bypass on/status/off"
else
    printf '%s\n' "$out" | sed 's/^/     /' >&2
    fail "pkexec round trip in a private netns (exit code of the failed check in the script above)"
fi
rm -f "$RULES"

step "desktop files and AppStream metadata"
desktop-file-validate /usr/share/applications/$PKG.desktop || fail "desktop-file-validate: applications entry"
desktop-file-validate /etc/xdg/autostart/$PKG.desktop || fail "desktop-file-validate: autostart entry"
appstreamcli validate --no-net /usr/share/metainfo/io.github.mullvad_tailscale_tray.metainfo.xml \
    || fail "appstreamcli validate"
ok "desktop-file-validate x2, appstreamcli validate"

step "systemd unit"
if command -v systemd-analyze >/dev/null; then
    # Without a running systemd, verify still loads the unit and its references from disk.
    if out=$(SYSTEMD_LOG_LEVEL=warning systemd-analyze verify "$unit" 2>&1); then
        [ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/     /'
        ok "systemd-analyze verify $unit"
    else
        printf '%s\n' "$out" >&2; fail "systemd-analyze verify $unit"
    fi
else
    printf '\n!!!!! NOT CHECKED: systemd-analyze is not installed here, so %s was not verified !!!!!\n\n' "$unit"
fi

step "an upgrade keeps a bypass that is on (inside a private netns)"
# The same package under a higher version is enough to run the upgrade maintainer scripts.
next=$(mktemp -d)
dpkg-deb -R "$deb" "$next/pkg"
sed -i 's/^Version: .*/&+smoke1/' "$next/pkg/DEBIAN/control"
dpkg-deb -b "$next/pkg" "$next/next.deb" >/dev/null
up_script=$(cat <<EOF
set -e
ip link set lo up
$HELPER enable >/dev/null 2>&1
DEBIAN_FRONTEND=noninteractive dpkg -i $next/next.deb >/dev/null 2>&1
dpkg-query -W -f='\${Version}' $PKG | grep -q 'smoke1\$' || { echo "not upgraded"; exit 1; }
nft list table inet mullvad-tailscale >/dev/null 2>&1 || { echo "the upgrade removed the bypass table"; exit 1; }
[ -f /var/lib/$PKG/bypass.json ] || { echo "the upgrade removed the saved state"; exit 1; }
$HELPER disable >/dev/null 2>&1
EOF
)
unshare -n bash -c "$up_script" || fail "upgrade with the bypass on"
rm -rf "$next"
ok "upgraded to $(dpkg-query -W -f='${Version}' $PKG); table and saved state kept"

step "removal takes the bypass down (prerm, inside a private netns)"
rm_script=$(cat <<EOF
set -e
ip link set lo up
$HELPER enable >/dev/null
nft list table inet mullvad-tailscale >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq $PKG >/dev/null 2>&1
if nft list table inet mullvad-tailscale >/dev/null 2>&1; then echo "table left after purge"; exit 1; fi
EOF
)
unshare -n bash -c "$rm_script" || fail "purging the package left the bypass table behind"
for f in "$HELPER" /usr/bin/$PKG /var/lib/$PKG /etc/xdg/autostart/$PKG.desktop; do
    if [ -e "$f" ]; then fail "left after purge: $f"; fi
done
[ ! -e /etc/systemd/system/multi-user.target.wants/mullvad-tailscale-bypass.service ] \
    || fail "the boot unit is still enabled after purge"
[ ! -e /etc/systemd/system/nftables.service.wants/mullvad-tailscale-bypass.service ] \
    || fail "the boot unit is still hooked to nftables.service after purge"
ok "purged: table, helper, state and enablement gone"

step "Arch: .SRCINFO and the PKGBUILD's build()/package() (no makepkg here)"
bash -n packaging/arch/PKGBUILD || fail "PKGBUILD does not parse"
diff -u packaging/arch/.SRCINFO <(packaging/arch/gen-srcinfo.sh) || fail ".SRCINFO is stale: packaging/arch/gen-srcinfo.sh > packaging/arch/.SRCINFO"
out=$(packaging/arch/check-pkgbuild.sh) || fail "PKGBUILD build()/package() failed"
printf '     %s\n' "$out"
ok "PKGBUILD"

step "build the RPM"
out=$(packaging/build-rpm.sh) || die "packaging/build-rpm.sh failed"
rpm_file=$(printf '%s\n' "$out" | tail -n 1)
files=$(rpm -qpl "$rpm_file")
for f in /usr/bin/$PKG "$HELPER" /usr/share/polkit-1/actions/io.github.$PKG.policy \
         /usr/lib/systemd/system/mullvad-tailscale-bypass.service /etc/xdg/autostart/$PKG.desktop; do
    printf '%s\n' "$files" | grep -qx "$f" || fail "the RPM lacks $f"
done
[ "$(rpm -qp --qf '%{ARCH}' "$rpm_file")" = noarch ] || fail "the RPM is not noarch"
ok "built $(basename "$rpm_file")"

t_end=$(date +%s)
echo
if [ "$failures" -ne 0 ]; then
    echo "ci-smoke: $failures check(s) FAILED ($((t_end - t_start))s)" >&2
    exit 1
fi
echo "ci-smoke: all checks passed ($((t_end - t_start))s)"
