#!/bin/sh
# systemd-analyze verify on the built unit. ExecStart points at the built agent (the
# installed path does not exist here) and man pages are not looked up (they are not
# installed here); the .deb stage of scripts/run-tests.sh verifies the installed unit whole.
# Any warning fails: systemd-analyze exits 0 on unknown keys.
set -eu
# Usage: check-unit.sh SERVICE AGENT [UNIT...]: more units (the vsock socket and its service)
# are verified together, under their own names.
unit=$1 agent=$(realpath "$2")
shift 2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
sed "s|^ExecStart=[^ ]*|ExecStart=$agent|" "$unit" >"$dir/phoenix-ga.service"
units="$dir/phoenix-ga.service"
for more in "$@"; do
        name=$(basename "$more" .in)
        sed "s|^ExecStart=[^ ]*|ExecStart=$agent|" "$more" >"$dir/$name"
        units="$units $dir/$name"
done
# shellcheck disable=SC2086 # one word per unit
out=$(systemd-analyze verify --man=no $units 2>&1) || { echo "$out"; exit 1; }
if [ -n "$out" ]; then
        printf 'systemd-analyze verify warned:\n%s\n' "$out"
        exit 1
fi
echo "systemd-analyze verify: clean"
