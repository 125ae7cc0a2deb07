#!/usr/bin/env bash
# `sudo packaging/ci-debian13.sh DIST/mullvad-tailscale-tray_VERSION_all.deb`: install the .deb in a Debian 13
# "trixie" root and run the installed-package checks there (packaging/smoke-in-root.sh); then run
# tests/bypass with that root's nft (nftables 1.1). CI runs it from packaging/ci-smoke.sh, whose own checks run
# on the Debian 12 host.
#
# The root is made once with debootstrap from Debian's mirror and kept OUTSIDE the work tree, in
# $MTT_DEBIAN13_CACHE (default /var/cache/mullvad-tailscale-tray/debian13), with the .deb's dependencies
# installed (`apt-get satisfy` downloads only what is missing). Each run installs the .deb into a throw-away
# overlay on that root, so runs never change it. The checks run in private mount, PID and network
# namespaces: the host's mounts, processes and ruleset are never touched, and whatever the checks start
# (dbus-daemon, polkitd) dies with them. Delete the cache directory to start again from debootstrap.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ] || [ $# -ne 1 ] || [ ! -f "${1:-}" ]; then
    echo "usage: sudo packaging/ci-debian13.sh DIST/mullvad-tailscale-tray_VERSION_all.deb (as root)" >&2
    exit 2
fi
deb=$(realpath "$1")
CACHE=${MTT_DEBIAN13_CACHE:-/var/cache/mullvad-tailscale-tray/debian13}
ROOT=$CACHE/root
MIRROR=${MTT_DEBIAN_MIRROR:-http://deb.debian.org/debian}
. scripts/deps.sh
. packaging/smoke-checks.sh
version=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)

in_root() {  # a command in the cached root itself, with /proc, in a private mount namespace
    unshare -m --propagation private sh -c 'mount -t proc proc "$0/proc" && exec chroot "$0" "$@"' "$ROOT" \
        env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}

step "Debian 13 root in $ROOT"
mkdir -p "$CACHE"
# Two runs on one machine (worktrees, parallel CI jobs) share the cache: one makes or updates it at a time.
exec 8>"$CACHE/.lock"
flock -w 900 8 || die "another run has held $CACHE/.lock for 15 minutes"
if [ ! -f "$ROOT/.mtt-complete" ]; then
    apt_ensure debootstrap
    rm -rf "$ROOT" "$ROOT.new"
    echo "     debootstrap --variant=minbase trixie from $MIRROR (cold cache)"
    debootstrap --variant=minbase trixie "$ROOT.new" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 || {
        tail -n 20 "$CACHE/debootstrap.log" >&2
        die "debootstrap trixie from $MIRROR failed (log: $CACHE/debootstrap.log; MTT_DEBIAN_MIRROR picks another mirror)"
    }
    mv "$ROOT.new" "$ROOT"
    touch "$ROOT/.mtt-complete"
fi
# The built .deb's Depends (${misc:Depends} resolved), plus dbus for the polkit checks.
needs="$(dpkg-deb -f "$deb" Depends), dbus"
if ! in_root apt-get satisfy -y -qq --no-install-recommends "$needs" >"$CACHE/apt.log" 2>&1; then
    in_root apt-get update -qq >>"$CACHE/apt.log" 2>&1 || true  # lists too old for a new dependency
    in_root apt-get satisfy -y -qq --no-install-recommends "$needs" >>"$CACHE/apt.log" 2>&1 || {
        tail -n 20 "$CACHE/apt.log" >&2
        die "apt-get satisfy '$needs' failed in the Debian 13 root (log: $CACHE/apt.log)"
    }
fi
in_root apt-get clean
ok "Debian $(cat "$ROOT/etc/debian_version") root with the dependencies of $(basename "$deb")"

work=$(mktemp -d /tmp/mtt-debian13.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/upper" "$work/work" "$work/merged"
rc=0
# shellcheck disable=SC2016  # expanded by the namespace's shell
unshare -m -n -p --fork --propagation private bash -c '
    set -e
    m=$0/merged
    mount -t overlay overlay -o "lowerdir=$1,upperdir=$0/upper,workdir=$0/work" "$m"
    mount -t proc proc "$m/proc"
    mount -t tmpfs tmpfs "$m/run"
    mount -t tmpfs tmpfs "$m/tmp"
    mount --rbind /dev "$m/dev"
    cp "$2" packaging/smoke-checks.sh packaging/smoke-in-root.sh "$m/tmp/"
    exec chroot "$m" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
        DEB="$(basename "$2")" VERSION="$3" /bin/bash /tmp/smoke-in-root.sh
' "$work" "$ROOT" "$deb" "$version" 2>&1 | sed 's/^/  /' || rc=$?
step "Debian 13 checks of the installed package"
[ "$rc" -eq 0 ] || fail "$rc check(s) failed inside Debian 13 (above)"
ok "the .deb on Debian 13"

step "tests/bypass with Debian 13's nft ($(scripts/with-nft "$ROOT" nft --version))"
if [ -x .venv/bin/python ]; then
    scripts/with-nft "$ROOT" .venv/bin/python -m pytest tests/bypass -q -p no:cacheprovider 2>&1 | tail -n 15 \
        || fail "tests/bypass failed with Debian 13's nft (above)"
elif [ "${CI:-}" = true ]; then
    fail "no .venv: run this from scripts/test, which sets it up"
else
    printf '\n!!!!! NOT CHECKED: no .venv here, so tests/bypass did not run with Debian 13 nft !!!!!\n\n'
fi
ok "tests/bypass with nft 1.1"

t_end=$(date +%s)
if [ "$failures" -ne 0 ]; then
    echo "ci-debian13: $failures check(s) FAILED ($((t_end - t_start))s)" >&2
    exit 1
fi
echo "ci-debian13: all checks passed ($((t_end - t_start))s)"
