#!/bin/sh
# Parses the udev rule with the real udev: in a private mount namespace a tmpfs over
# /etc/udev/rules.d holds only our rule, and `udevadm test` on the loopback device reads
# it. udev reports a bad rule as "FILE:LINE <problem>" and carries on, so any line about
# our file other than "Reading rules file" fails. (That the rule matches the agent's port
# is tested in the VM, tests/vm: it needs a real virtio-ports device.)
set -eu
rule=$1
if [ "${PHX_IN_NS:-}" != 1 ]; then
        exec env PHX_IN_NS=1 unshare -m --propagation private sh "$0" "$rule"
fi
mount -t tmpfs phx-rules /etc/udev/rules.d
cp "$rule" /etc/udev/rules.d/60-phoenix-ga.rules
out=$(SYSTEMD_LOG_LEVEL=debug udevadm test --action=add /sys/class/net/lo 2>&1 | grep -F 60-phoenix-ga.rules || true)
case "$out" in
"Reading rules file: /etc/udev/rules.d/60-phoenix-ga.rules")
        echo "udev read the rule without a complaint" ;;
*)
        printf 'udev on the rule:\n%s\n' "$out"
        exit 1 ;;
esac
