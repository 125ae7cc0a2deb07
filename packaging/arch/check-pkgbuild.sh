#!/usr/bin/env bash
# Run the PKGBUILD's build() and package() here, without makepkg or pacman: Debian's python3-build and
# python3-installer stand in for Arch's python-build and python-installer, and the source tarball is the
# working tree. Then compare the staged package with what the PKGBUILD promises. Prints the file count.
# Needs: python3-build python3-installer python3-setuptools python3-wheel librsvg2-bin make (build-deb.sh
# installs all of them).
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# shellcheck disable=SC1091
source packaging/arch/PKGBUILD
srcdir=$work/src
pkgdir=$work/pkg
mkdir -p "$srcdir/$pkgname-$pkgver" "$pkgdir" "$work/bin"
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
    [ -e "$f" ] && printf '%s\0' "$f"
done | tar --null -T - -cf - | tar -C "$srcdir/$pkgname-$pkgver" -xf -
# Arch's `python` is Python 3; its scheme puts packages in /usr/lib/python3.X/site-packages and scripts
# in /usr/bin. Debian's deb_system layout is the closest: /usr/lib/python3/dist-packages and /usr/bin.
ln -s /usr/bin/python3 "$work/bin/python"
export PATH="$work/bin:/usr/sbin:/usr/bin:/sbin:/bin" DEB_PYTHON_INSTALL_LAYOUT=deb_system
unset PYTHONPATH VIRTUAL_ENV
export srcdir pkgdir
(cd "$srcdir" && build) > "$work/build.log" 2>&1 || { tail -n 40 "$work/build.log" >&2; echo "error: PKGBUILD build() failed" >&2; exit 1; }
(cd "$srcdir" && package) > "$work/package.log" 2>&1 || { tail -n 40 "$work/package.log" >&2; echo "error: PKGBUILD package() failed" >&2; exit 1; }

fail=0
check() { [ -e "$pkgdir$1" ] || [ -L "$pkgdir$1" ] || { echo "error: the Arch package lacks $1" >&2; fail=1; }; }
check /usr/bin/$pkgname
check /usr/libexec/$pkgname/bypass-helper
check /usr/share/polkit-1/actions/io.github.$pkgname.policy
check /usr/lib/systemd/system/mullvad-tailscale-bypass.service
check /usr/share/applications/$pkgname.desktop
check /usr/share/metainfo/io.github.mullvad_tailscale_tray.metainfo.xml
check /usr/share/icons/hicolor/256x256/apps/$pkgname.png
check /usr/lib/python3/dist-packages/tray_app/helper/main.py
check /usr/share/$pkgname/icons/parts/main-connected.svg
[ ! -e "$pkgdir/usr/lib/python3/dist-packages/tray_app/resources" ] || { echo "error: the icons are in the Python package too (PKGBUILD removes that copy)" >&2; fail=1; }
for b in "${backup[@]}"; do check "/$b"; done
[ "$(stat -c %a "$pkgdir/usr/libexec/$pkgname/bypass-helper")" = 755 ] || { echo "error: helper mode is not 0755" >&2; fail=1; }
# The root helper: Python with -IS, tray_app imported only from where installer put it.
head -n 1 "$pkgdir/usr/libexec/$pkgname/bypass-helper" | grep -qx '#!/usr/bin/python3 -IS' || { echo "error: the helper does not run python3 -IS" >&2; fail=1; }
grep -qx 'PACKAGE_DIR = "/usr/lib/python3/dist-packages"  # PYTHONDIR of `make install-data`' "$pkgdir/usr/libexec/$pkgname/bypass-helper" \
    || { echo "error: the helper's PACKAGE_DIR is not where installer put tray_app" >&2; fail=1; }
# The console script installer writes must run the package's CLI.
grep -q "from tray_app.cli import main" "$pkgdir/usr/bin/$pkgname" || { echo "error: /usr/bin/$pkgname is not the tray_app.cli entry point" >&2; fail=1; }
[ "$fail" -eq 0 ] || exit 1
echo "PKGBUILD build() and package() staged $(find "$pkgdir" -type f -o -type l | wc -l) files"
