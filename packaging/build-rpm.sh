#!/usr/bin/env bash
# Build the Fedora package into dist/ from Debian or Ubuntu with Debian's `rpm` (rpmbuild):
# `sudo packaging/build-rpm.sh`. On Fedora itself, `rpmbuild -ba packaging/rpm/mullvad-tailscale-tray.spec`
# with the source tarball in SOURCES is the usual way; this script works there too.
#
# FEDORA_PYTHON is the target Fedora's Python (3.13 on Fedora 41 and 42, 3.14 on 43): the package installs
# into its site-packages and requires python(abi) = that version. Outside Fedora the spec's BuildRequires
# name Fedora packages that dpkg cannot see, so rpmbuild runs with --nodeps there; the tools the build
# really uses (make, rsvg-convert, desktop-file-validate, appstreamcli) are installed with apt instead.
set -euo pipefail
cd "$(dirname "$0")/.."
. packaging/source-files.sh
top=$PWD
FEDORA_PYTHON=${FEDORA_PYTHON:-3.13}

nodeps=()
if [ -r /etc/debian_version ]; then
    . scripts/deps.sh
    apt_ensure rpm make librsvg2-bin desktop-file-utils appstream pkg-config
    nodeps=(--nodeps)
fi

spec=packaging/rpm/mullvad-tailscale-tray.spec
version=$(sed -n 's/^Version: *//p' "$spec")
py_version=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
if [ "$version" != "$py_version" ]; then
    echo "error: $spec says Version $version but pyproject.toml says $py_version: update the spec (Version and %changelog)" >&2
    exit 1
fi

# Every file the package installs must be in the tree; say which one is missing before building anything.
make -s check-inputs
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work"/{BUILD,BUILDROOT,RPMS,SOURCES,SPECS,SRPMS}
# The release tarball, under name-version/.
project_files | tar --null -T - --transform "s,^,mullvad-tailscale-tray-$version/," \
    -czf "$work/SOURCES/mullvad-tailscale-tray-$version.tar.gz"

defines=(--define "_topdir $work")
if ! rpm --eval '%{?python3_version}' | grep -q .; then
    defines+=(--define "python3_version $FEDORA_PYTHON")
fi
env -u PYTHONPATH -u VIRTUAL_ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    rpmbuild -bb "${nodeps[@]}" "${defines[@]}" "$spec" > "$work/build.log" 2>&1 || {
    tail -n 60 "$work/build.log" >&2
    echo "error: rpmbuild failed (last 60 lines of its log above)" >&2
    exit 1
}
grep -i 'warning' "$work/build.log" >&2 || true
mkdir -p dist
rpm_file=$(find "$work/RPMS" -name "mullvad-tailscale-tray-$version-*.noarch.rpm" | head -n 1)
cp "$rpm_file" dist/
echo "$top/dist/$(basename "$rpm_file")"
