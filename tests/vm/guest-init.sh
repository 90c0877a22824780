#!/bin/busybox sh
# /init of the test guest: mounts, modules, the agent's port, the data disk, the agent under
# a supervisor loop (so tests can kill it and see it restart), and a control shell on ttyS1.
# `/init --agent-loop` is the supervisor alone: a test that stopped it (touch /run/stop-agent)
# starts it again with `rm /run/stop-agent; setsid /init --agent-loop &`.
if [ "${1-}" = --agent-loop ]; then
        while :; do
                /bin/phoenix-ga --debug --freeze-timeout 8 --fsfreeze-hook /bin/freeze-hook \
                        --runtime-dir /run/phoenix-ga >>/run/agent.log 2>&1
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

for m in $(cat /lib/modules/order); do
        insmod "/lib/modules/$m.ko" 2>/dev/null
done

# No udev here: make /dev/virtio-ports/NAME from sysfs once the port shows up.
mkdir -p /dev/virtio-ports
i=0
while [ ! -e /dev/virtio-ports/org.guest-agent.0 ] && [ $i -lt 200 ]; do
        for p in /sys/class/virtio-ports/*; do
                [ -f "$p/name" ] || continue
                if [ "$(cat "$p/name")" = org.guest-agent.0 ]; then
                        dev=$(cat "$p/dev")
                        mknod /dev/virtio-ports/org.guest-agent.0 c "${dev%%:*}" "${dev##*:}"
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

/init --agent-loop &

stty -F /dev/ttyS1 raw -echo 2>/dev/null
echo "GUEST READY"
while :; do
        # Input that reaches a tty nobody holds open is lost, so the host waits for this
        # shell to say it holds ttyS1. An empty prompt; the banner is discarded by the host.
        setsid sh -c 'echo CTL-READY; export PS1=; exec sh' </dev/ttyS1 >/dev/ttyS1 2>&1
done
