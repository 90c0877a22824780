#!/bin/sh
# systemd-analyze verify on a built unit. ExecStart points at the built agent (the
# installed path does not exist here) and man pages are not looked up (they are not
# installed here); the .deb stage of scripts/run-tests.sh verifies the installed unit whole.
# Any warning fails: systemd-analyze exits 0 on unknown keys.
#     check-unit.sh UNIT AGENT [SAME_AS_UNIT [WITH_UNIT...]]
# With SAME_AS_UNIT, the two units must also run the agent alike: the same service type,
# restart policy, runtime directory, writable paths and sandbox (only the port differs).
# WITH_UNITs are verified together with UNIT (the vsock socket that starts its service).
set -eu
unit=$1 agent=$(realpath "$2") other=${3:-}
shift 2
[ $# -gt 0 ] && shift
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
name=$(basename "$unit")
sed "s|^ExecStart=[^ ]*|ExecStart=$agent|" "$unit" >"$dir/$name"
units="$dir/$name"
for with in "$@"; do
        cp "$with" "$dir/$(basename "$with")"
        units="$units $dir/$(basename "$with")"
done
# shellcheck disable=SC2086 # one word per unit
out=$(systemd-analyze verify --man=no $units 2>&1) || { echo "$out"; exit 1; }
if [ -n "$out" ]; then
        printf 'systemd-analyze verify warned:\n%s\n' "$out"
        exit 1
fi
echo "systemd-analyze verify $name: clean"
if [ -n "$other" ]; then
        keys='^(Type|Restart|RestartSec|Runtime[A-Za-z]*|ReadWritePaths|NoNewPrivileges|Protect[A-Za-z]*|Restrict[A-Za-z]*|LockPersonality|MemoryDenyWriteExecute|SystemCallArchitectures|CapabilityBoundingSet|Wants|After)='
        grep -E "$keys" "$unit" | grep -v '^After=dev-' >"$dir/a"
        grep -E "$keys" "$other" | grep -v '^After=dev-' >"$dir/b"
        if ! diff -u "$dir/b" "$dir/a"; then
                echo "$name runs the agent differently from $(basename "$other")"
                exit 1
        fi
        echo "$name runs the agent as $(basename "$other") does"
fi
