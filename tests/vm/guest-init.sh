#!/bin/busybox sh
# /init of the test guest: mounts, modules, the agent's port, the data disk, the agent under
# a supervisor loop (so tests can kill it and see it restart), and a control shell on ttyS1.
# `/init --agent-loop` is the supervisor alone: a test that stopped it (touch /run/stop-agent)
# starts it again with `rm /run/stop-agent; setsid /init --agent-loop &`.
# The kernel command line may choose (the defaults are what tests/vm expects):
#   phx.port=NAME       the virtio-serial port to serve (org.guest-agent.0); libvirt's is
#                       org.qemu.guest_agent.0
#   phx.agent=qemu-ga   Debian's qemu-ga (build-guest.sh with a qemu-ga binary) instead of
#                       phoenix-ga, to check a harness against the original
#   phx.modules=A,B     more modules to load after the usual ones (e.g. a NIC's)
# They are read from /proc/cmdline: the kernel keeps dotted words for itself.
phx_opt() { # name default
        for w in $(cat /proc/cmdline); do
                case $w in "phx.$1="*) echo "${w#*=}"; return ;; esac
        done
        echo "$2"
}
if [ "${1-}" = --agent-loop ]; then
        PORT=$(phx_opt port "")
        AGENT=$(phx_opt agent phoenix-ga)
        while :; do
                if [ "$AGENT" = qemu-ga ]; then
                        /bin/qemu-ga -m virtio-serial -p "/dev/virtio-ports/${PORT:-org.guest-agent.0}" \
                                -t /run/qga -f /run/qemu-ga.pid -v >>/run/agent.log 2>&1
                else
                        # shellcheck disable=SC2086 # no -p at all unless asked: phoenix-ga's default
                        /bin/phoenix-ga --debug --freeze-timeout 8 --fsfreeze-hook /bin/freeze-hook \
                                --runtime-dir /run/phoenix-ga ${PORT:+-p /dev/virtio-ports/$PORT} >>/run/agent.log 2>&1
                fi
                echo $? >>/run/agent-exits
                [ -e /run/stop-agent ] && break
                sleep 0.2
        done
        exit 0
fi
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs run /run
mount -t tmpfs tmp /tmp
exec 0</dev/console 1>/dev/console 2>&1
PORT=$(phx_opt port org.guest-agent.0)
AGENT=$(phx_opt agent phoenix-ga)

for m in $(cat /lib/modules/order) $(phx_opt modules "" | tr , ' '); do
        insmod "/lib/modules/$m.ko" 2>/dev/null
done

# No udev here: make /dev/virtio-ports/NAME from sysfs once the port shows up.
mkdir -p /dev/virtio-ports
i=0
while [ ! -e "/dev/virtio-ports/$PORT" ] && [ $i -lt 200 ]; do
        for p in /sys/class/virtio-ports/*; do
                [ -f "$p/name" ] || continue
                if [ "$(cat "$p/name")" = "$PORT" ]; then
                        dev=$(cat "$p/dev")
                        mknod "/dev/virtio-ports/$PORT" c "${dev%%:*}" "${dev##*:}"
                fi
        done
        i=$((i + 1))
        sleep 0.05
done
mount -t ext4 /dev/vda /data || echo "GUEST: data disk mount failed"
# no udev: dmsetup makes /dev/mapper nodes itself; mke2fs looks for mounts in /etc/mtab
export DM_DISABLE_UDEV=1
mkdir -p /etc
ln -sf /proc/self/mounts /etc/mtab
# a host name if the initramfs brings one (build-guest.sh's overlay)
[ -f /etc/hostname ] && hostname "$(cat /etc/hostname)"
# qemu-ga's guest-set-time runs /sbin/hwclock (phoenix-ga needs none)
if [ "$AGENT" = qemu-ga ]; then
        mkdir -p /sbin /run/qga
        ln -sf /bin/busybox /sbin/hwclock
fi

/init --agent-loop &

stty -F /dev/ttyS1 raw -echo 2>/dev/null
# busybox's poweroff, halt and reboot ask PID 1 with USR2, USR1 and TERM, as they ask
# busybox's init: this init answers as that one would (sync, then the system call), so an
# agent's guest-shutdown through them works here as on a busybox system.
trap 'sync; poweroff -f' USR2
trap 'sync; halt -f' USR1
trap 'sync; reboot -f' TERM
echo "GUEST READY"
while :; do
        # Input that reaches a tty nobody holds open is lost, so the host waits for this
        # shell to say it holds ttyS1. An empty prompt; the banner is discarded by the host.
        # In the background with a wait, so that a trap runs at once.
        setsid sh -c 'echo CTL-READY; export PS1=; exec sh' </dev/ttyS1 >/dev/ttyS1 2>&1 &
        wait $!
done
