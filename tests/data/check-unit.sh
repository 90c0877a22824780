#!/bin/sh
# systemd-analyze verify on the built unit. ExecStart points at the built agent (the
# installed path does not exist here) and man pages are not looked up (they are not
# installed here); the .deb stage of scripts/run-tests.sh verifies the installed unit whole.
# Any warning fails: systemd-analyze exits 0 on unknown keys.
set -eu
unit=$1 agent=$(realpath "$2")
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
sed "s|^ExecStart=[^ ]*|ExecStart=$agent|" "$unit" >"$dir/phoenix-ga.service"
out=$(systemd-analyze verify --man=no "$dir/phoenix-ga.service" 2>&1) || { echo "$out"; exit 1; }
if [ -n "$out" ]; then
        printf 'systemd-analyze verify warned:\n%s\n' "$out"
        exit 1
fi
echo "systemd-analyze verify: clean"
