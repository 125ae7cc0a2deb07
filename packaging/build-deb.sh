#!/usr/bin/env bash
# Build the Debian package into dist/: `sudo packaging/build-deb.sh` on Debian 12 or Ubuntu 24.04.
# Installs the build dependencies it lacks (apt), builds with debhelper + pybuild from a clean copy of the
# source tree, then runs lintian and fails on any error. Prints the path of the .deb last.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

BUILD_PKGS="build-essential debhelper dh-python python3-all python3-setuptools pybuild-plugin-pyproject
 python3-build python3-installer python3-wheel librsvg2-bin pkg-config lintian"
# systemd.pc (the unit directory) moved from systemd to systemd-dev after Debian 12.
if apt-cache show systemd-dev >/dev/null 2>&1; then BUILD_PKGS="$BUILD_PKGS systemd-dev"; else BUILD_PKGS="$BUILD_PKGS systemd"; fi
. scripts/deps.sh
. packaging/source-files.sh
# shellcheck disable=SC2086
apt_ensure $BUILD_PKGS

version=$(sed -n '1s/^mullvad-tailscale-tray (\([^)]*\)).*/\1/p' packaging/debian/changelog)
py_version=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
if [ "$version" != "$py_version" ]; then
    echo "error: packaging/debian/changelog says $version but pyproject.toml says $py_version: add a changelog entry (dch -v $py_version)" >&2
    exit 1
fi

# Every file the package installs must be in the tree; say which one is missing before building anything.
make -s check-inputs
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
src="$work/mullvad-tailscale-tray-$version"
mkdir -p "$src"
project_files | tar --null -T - -cf - | tar -C "$src" -xf -
rm -rf "$src/debian"
cp -a packaging/debian "$src/debian"

# The system PATH: a pyenv, a venv or /usr/local python first on PATH would build against the wrong Python.
(cd "$src" && env -u PYTHONPATH -u VIRTUAL_ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin dpkg-buildpackage -us -uc -b 2>&1) > "$work/build.log" || {
    tail -n 60 "$work/build.log" >&2
    echo "error: dpkg-buildpackage failed (full log above, last 60 lines)" >&2
    exit 1
}

deb="$work/mullvad-tailscale-tray_${version}_all.deb"
mkdir -p dist
cp "$deb" dist/
echo "== lintian"
# --fail-on error: warnings stay visible; each one we keep is justified in debian/*.lintian-overrides.
lintian --fail-on error --info --display-info --allow-root "dist/$(basename "$deb")"
echo "$top/dist/$(basename "$deb")"
