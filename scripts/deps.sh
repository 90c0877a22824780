#!/bin/sh
# Installs what phoenix-ga needs to build and test on Debian 12, skipping what is present.
# Sourced by run-agent.sh and run-tests.sh; safe to run again.
set -eu

PHX_BUILD_DEPS="meson ninja-build gcc pkg-config libglib2.0-dev libjson-glib-dev libnl-3-dev libnl-route-3-dev libedit-dev scdoc gettext systemd udev"
PHX_TEST_DEPS="python3 python3-pytest python3-pytest-timeout socat util-linux iproute2 dbus-daemon systemd groff-base locales gettext qemu-guest-agent"
# the package stage builds, lints, installs and removes the .debs (tests/package)
PHX_DEB_DEPS="debhelper dpkg-dev lintian git man-db"
# the end-to-end stage boots a real guest (tests/vm)
PHX_VM_DEPS="qemu-system-x86 busybox-static cpio kmod e2fsprogs udev dmsetup"
# the libvirt stage drives the same guest through Debian's libvirt 9.0 (tests/libvirt);
# qemu-utils for the qcow2 disk of the quiesced snapshot
PHX_LIBVIRT_DEPS="libvirt-daemon-system libvirt-clients libvirt-daemon-driver-qemu qemu-utils"

phx_install_deps() {
        missing=""
        for pkg in "$@"; do
                dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
                        missing="$missing $pkg"
        done
        [ -z "$missing" ] && return 0
        if [ "$(id -u)" -ne 0 ]; then
                echo "missing packages:$missing (run as root, or install them first)" >&2
                exit 1
        fi
        echo "installing:$missing"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q >/dev/null
        # shellcheck disable=SC2086
        apt-get install -y -q --no-install-recommends $missing >/dev/null
}
