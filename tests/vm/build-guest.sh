#!/bin/sh
# Builds the test guest from Debian packages: a 6.1 kernel (apt-get download), a busybox
# initramfs with the agent, its shared libraries, the modules for virtio, ext4, loop and
# device-mapper, dmsetup and mkfs.ext4 (for stacked-device freeze tests), and an ext4 data disk. Usage: build-guest.sh OUTDIR AGENT_BINARY
# The kernel .deb is cached in OUTDIR/cache; everything else is rebuilt each time (~2 s).
# An AGENT_BINARY named qemu-ga (Debian's /usr/sbin/qemu-ga) goes in as /bin/qemu-ga, for a
# guest booted with phx.agent=qemu-ga (guest-init.sh); any other is /bin/phoenix-ga.
# PHX_GUEST_OVERLAY=DIR: files copied over the initramfs root (a guest's /etc, say).
# Modules that are copied but loaded only when asked (phx.modules=): virtio_net and its deps.
set -eu
OUT=$1
AGENT=$2
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT/cache"
OUT=$(cd "$OUT" && pwd)

deb=$(ls "$OUT"/cache/linux-image-*-amd64-unsigned_*.deb 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$deb" ]; then
        pkg=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64-unsigned$' | sort -V | tail -n 1 | cut -d' ' -f1)
        if [ -z "$pkg" ]; then
                apt-get update -q >/dev/null
                pkg=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64-unsigned$' | sort -V | tail -n 1 | cut -d' ' -f1)
        fi
        [ -n "$pkg" ] || { echo "no linux-image-6.1.0-*-amd64-unsigned package found" >&2; exit 1; }
        (cd "$OUT/cache" && apt-get download -q "$pkg" 2>/dev/null)
        deb=$(ls "$OUT"/cache/linux-image-*-amd64-unsigned_*.deb | sort -V | tail -n 1)
fi

rm -rf "$OUT/kernel" "$OUT/root"
dpkg-deb -x "$deb" "$OUT/kernel"
kver=$(ls "$OUT/kernel/lib/modules" | head -n 1)
cp "$OUT/kernel/boot/vmlinuz-$kver" "$OUT/vmlinuz"

R=$OUT/root
mkdir -p "$R/bin" "$R/lib/modules" "$R/proc" "$R/sys" "$R/dev" "$R/run" "$R/tmp" "$R/data"
cp /bin/busybox "$R/bin/busybox"
# The order in which they load (no modprobe in the guest); see ../shared/vm-notes.md.
# loop and dm-mod (dm-linear is part of it) depend on nothing else.
MODULES="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_console virtio_blk crc32c-intel crc32c_generic jbd2 mbcache crc16 ext4 loop dm-mod"
for m in $MODULES; do
        f=$(find "$OUT/kernel/lib/modules/$kver" -name "$m.ko" -o -name "$m.ko.xz" | head -n 1)
        [ -n "$f" ] || { echo "module $m not found in $deb" >&2; exit 1; }
        cp "$f" "$R/lib/modules/"
done
echo "$MODULES" >"$R/lib/modules/order"
for m in failover net_failover virtio_net; do
        f=$(find "$OUT/kernel/lib/modules/$kver" -name "$m.ko" -o -name "$m.ko.xz" | head -n 1)
        [ -n "$f" ] || { echo "module $m not found in $deb" >&2; exit 1; }
        cp "$f" "$R/lib/modules/"
done
# vsock through the loopback transport: a client in the guest reaches the agent at CID 1
# (tests/vm/test_vm_vsock.py; this host has no vhost-vsock). Loaded after the others.
for m in vsock vmw_vsock_virtio_transport_common vsock_loopback; do
        f=$(find "$OUT/kernel/lib/modules/$kver" -name "$m.ko" -o -name "$m.ko.xz" | head -n 1)
        [ -n "$f" ] || { echo "module $m not found in $deb" >&2; exit 1; }
        cp "$f" "$R/lib/modules/"
        echo "$m" >>"$R/lib/modules/order"
done

# A program and every shared library it needs (ASan builds included), plus the loader.
install_with_libs() { # program name-in-guest
        cp "$1" "$R/bin/$2"
        for lib in $(ldd "$1" | grep -o '/[^ ]*'); do
                mkdir -p "$R$(dirname "$lib")"
                cp -L "$lib" "$R$lib"
        done
}
if [ "$(basename "$AGENT")" = qemu-ga ]; then
        install_with_libs "$AGENT" qemu-ga
else
        install_with_libs "$AGENT" phoenix-ga
fi
# the client, built next to the agent, talks to it over vsock from inside the guest
if [ -x "$(dirname "$AGENT")/phoenix-ga-client" ]; then
        install_with_libs "$(dirname "$AGENT")/phoenix-ga-client" phoenix-ga-client
fi
# udevadm and our rule only: the rule's test runs `udevadm test` on the real port
install_with_libs /usr/bin/udevadm udevadm
# a device-mapper stack to freeze (tests/vm/test_vm_freeze_dm.py); busybox has losetup
# but neither dmsetup nor ext4's mkfs and fsck (mke2fs picks ext4 from its name)
for tool in dmsetup mke2fs e2fsck; do
        path=$(command -v $tool || true)
        [ -n "$path" ] || { echo "$tool not found: apt-get install dmsetup e2fsprogs" >&2; exit 1; }
        install_with_libs "$path" $tool
done
ln -sf mke2fs "$R/bin/mkfs.ext4"
mkdir -p "$R/etc/udev/rules.d"
cp "$HERE/../../data/60-phoenix-ga.rules" "$R/etc/udev/rules.d/"
cp "$HERE/guest-init.sh" "$R/init"
cp "$HERE/guest-hook.sh" "$R/bin/freeze-hook"
chmod 755 "$R/init" "$R/bin/freeze-hook"
if [ -n "${PHX_GUEST_OVERLAY-}" ]; then
        cp -a "$PHX_GUEST_OVERLAY/." "$R/"
fi
(cd "$R" && find . | cpio -o -H newc --quiet | gzip -1 >"$OUT/initramfs.gz")

rm -f "$OUT/data.img"
truncate -s 64M "$OUT/data.img"
mkfs.ext4 -q -F "$OUT/data.img"
echo "$OUT/vmlinuz $OUT/initramfs.gz $OUT/data.img"
