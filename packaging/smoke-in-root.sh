#!/bin/bash
# Run by packaging/ci-debian13.sh INSIDE the Debian 13 root (an overlay, chrooted, in private mount, PID and
# network namespaces): installs the .deb and checks what a user gets there. Not for running on a real system.
# In: /tmp/smoke-checks.sh, /tmp/$DEB (the .deb's file name) and $VERSION (the project version). Exit code:
# the number of failed checks.
set -uo pipefail
. /tmp/smoke-checks.sh

step "apt-get install ./$DEB (its dependencies are in the root already: nothing to download)"
apt-get install -y -qq --no-install-recommends "/tmp/$DEB" >/tmp/apt.log 2>&1 \
    || { tail -n 20 /tmp/apt.log >&2; die "apt-get install of the .deb failed in Debian 13"; }
printf '     Debian %s, %s, PyQt6 %s (Qt %s), %s, polkit %s\n' "$(cat /etc/debian_version)" \
    "$(python3 --version)" \
    "$(python3 -c 'from PyQt6.QtCore import PYQT_VERSION_STR as v; print(v)')" \
    "$(python3 -c 'from PyQt6.QtCore import QT_VERSION_STR as v; print(v)')" \
    "$(nft --version)" "$(dpkg-query -W -f='${Version}' polkitd)"
got=$("${SYS_ENV[@]}" "$PKG" --version 2>&1) || fail "$PKG --version failed: $got"
[ "$got" = "$PKG $VERSION" ] || fail "$PKG --version printed '$got', expected '$PKG $VERSION'"
ok "installed: $got"

step "every module imports; the tray draws every icon state from /usr/share"
check_imports || fail "modules fail to import (above)"
"${SYS_ENV[@]}" QT_QPA_PLATFORM=offscreen /usr/bin/python3 -I - <<'PY' || fail "the installed tray cannot draw its icon (above)"
import sys
from PyQt6.QtGui import QGuiApplication
app = QGuiApplication(sys.argv)
from tray_app.core.icon_choice import all_specs
from tray_app.ui import icon
where = icon.parts_dir()
assert str(where) == "/usr/share/mullvad-tailscale-tray/icons/parts", where
blank = [s.key for s in all_specs() if icon.icon(s).isNull()
         or not any(icon.render(s, 22).pixelColor(x, y).alpha() for x in range(22) for y in range(22))]
assert not blank, blank
print(f"     {len(all_specs())} icon states drawn from {where}")
PY
ok "imports and icons"

step "status and doctor with no daemons"
check_status_no_daemons || fail "status with no daemons (above)"
out=$("${SYS_ENV[@]}" MTT_MULLVAD_CLI=/nonexistent/mullvad MTT_TAILSCALE_CLI=/nonexistent/tailscale \
    MTT_TAILSCALE_SOCKET=/nonexistent/tailscaled.sock timeout 60 "$PKG" doctor --json 2>/tmp/doctor.err) || true
if grep -q Traceback /tmp/doctor.err; then cat /tmp/doctor.err >&2; fail "doctor crashed"; fi
printf '%s' "$out" | python3 -c '
import json, sys
checks = {c["id"]: c for c in json.load(sys.stdin)["checks"]}
for cid in ("install.helper", "install.polkit-policy"):
    assert checks[cid]["status"] == "ok", checks[cid]
print(f"     doctor: {len(checks)} checks; install.helper and install.polkit-policy ok")
' || fail "doctor --json: $out $(cat /tmp/doctor.err)"
ok "status, doctor"

step "the helper's enable / status / disable with Debian 13's nft"
ip link set lo up
"$HELPER" enable >/dev/null 2>/tmp/helper.err || fail "enable failed: $(cat /tmp/helper.err)"
if table=$(nft list table inet mullvad-tailscale 2>&1); then
    # The spelling that broke the tests (tests/infra/nft_text.py): if it changes again, the fixtures must too.
    printf '%s\n' "$table" | grep -q 'type route hook output priority dstnat;' \
        || fail "nft no longer lists our output chain as 'priority dstnat': update tests/fixtures/nft and this check"
else
    fail "no table after enable: $table"
fi
"$HELPER" status | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["state"] == "on" and d["mode"] == "direct" and d["matches_expected"] is True, d
print("     status: on (direct), matching the rules the helper renders")
' || fail "status after enable"
"$HELPER" disable >/dev/null 2>/tmp/helper.err || fail "disable failed: $(cat /tmp/helper.err)"
if nft list table inet mullvad-tailscale >/dev/null 2>&1; then fail "table left after disable"; fi
ok "enable/status/disable"

step "polkit: pkaction, and pkexec as an authorized user"
mkdir -p /run/dbus
dbus-daemon --system --fork || fail "the system bus did not start"
check_pkaction || fail "pkaction (above)"
useradd --no-create-home --shell /usr/sbin/nologin mttsmoke
printf '%s\n' 'polkit.addRule(function(action, subject) {' \
    "    if (action.id.indexOf(\"$ACTION.\") === 0 && subject.user === \"mttsmoke\") { return polkit.Result.YES; }" \
    '});' >/etc/polkit-1/rules.d/00-ci.rules
as_user=(runuser -u mttsmoke -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/ LANG=C.UTF-8)
for _ in 1 2 3 4 5 6 7 8 9 10; do  # polkitd notices the new rules file through inotify
    rc=0; "${as_user[@]}" pkexec "$HELPER" enable </dev/null >/tmp/pk.out 2>&1 || rc=$?
    [ "$rc" -ne 127 ] && break; sleep 0.3
done
[ "$rc" -eq 0 ] || fail "pkexec $HELPER enable as mttsmoke: exit $rc: $(cat /tmp/pk.out)"
"${as_user[@]}" "$PKG" bypass status </dev/null || fail "bypass status as mttsmoke"
"${as_user[@]}" "$PKG" bypass off </dev/null || fail "bypass off as mttsmoke"
if nft list table inet mullvad-tailscale >/dev/null 2>&1; then fail "table left after bypass off"; fi
ok "pkaction and a pkexec round trip"

step "the tray starts (offscreen, private session bus) and keeps running"
check_tray_runs || fail "the tray (above)"
ok "tray ran 4 s with its icon"
exit "$failures"
