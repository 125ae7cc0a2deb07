#!/usr/bin/env bash
# Print .SRCINFO for packaging/arch/PKGBUILD the way `makepkg --printsrcinfo` does, for machines without
# makepkg (the fields and their order follow makepkg's srcinfo.sh; this PKGBUILD has one package and no
# per-architecture arrays). Usage: packaging/arch/gen-srcinfo.sh > packaging/arch/.SRCINFO
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck disable=SC1091
source ./PKGBUILD

emit() {  # emit KEY VALUE...: one "\tKEY = VALUE" line per non-empty value
    local key=$1; shift
    local v
    for v in "$@"; do [ -n "$v" ] && printf '\t%s = %s\n' "$key" "$v"; done
    return 0
}
printf 'pkgbase = %s\n' "${pkgbase:-$pkgname}"
for key in pkgdesc pkgver pkgrel epoch url install changelog; do
    emit "$key" "${!key:-}"
done
for key in arch groups license checkdepends makedepends depends optdepends provides conflicts replaces \
           noextract options backup source validpgpkeys \
           cksums md5sums sha1sums sha224sums sha256sums sha384sums sha512sums b2sums; do
    declare -n arr="$key" 2>/dev/null || continue
    if declare -p "$key" >/dev/null 2>&1; then emit "$key" "${arr[@]}"; fi
    unset -n arr
done
printf '\npkgname = %s\n' "$pkgname"
