# Sourced by scripts/run and scripts/test: install Debian packages only when something is missing.
# Package lists are the single source of truth for what a fresh Debian 12 / Ubuntu 24.04 machine needs.

# Qt's xcb platform plugin and PyQt6's runtime libraries (reference: test-infra.md §1).
RUN_PKGS="python3 python3-venv libegl1 libgl1 libfontconfig1 libxkbcommon0 libglib2.0-0 libdbus-1-3 libx11-6
 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxkbcommon-x11-0 iproute2 nftables pkexec polkitd"

# Real infrastructure for the tests: X server, tray hosts, a notification daemon, D-Bus, nft, ping, validators.
TEST_PKGS="$RUN_PKGS dbus xvfb xdotool trayer dunst haskell-gtk-sni-tray-utils iputils-ping
 desktop-file-utils appstream socat procps libxml2-utils librsvg2-bin make systemd xdg-utils
 python3-pyqt6"  # Debian's own PyQt6 (6.4): tests check the code on the version the .deb runs on

# The real Tailscale lab (tests/realts): tailscaled's iptables firewall mode, and a real WireGuard wg0-mullvad
# in userspace (the kernel module may be missing).
TEST_PKGS="$TEST_PKGS iptables wireguard-go wireguard-tools"

apt_ensure() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing Debian packages: ${missing[*]}"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

venv_ensure() {
    # $1: requirements to install into .venv (the project itself is always installed editable).
    local py=${PYTHON:-python3}
    if [ ! -x .venv/bin/python ]; then
        "$py" -m venv .venv
    fi
    .venv/bin/python -m pip install -q --disable-pip-version-check "$@" -e . 2>&1 | grep -v "^WARNING: Location" || true
}
