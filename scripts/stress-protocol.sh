#!/bin/sh
# Runs the protocol suite N times in a row (`meson test --suite protocol`, counted per case)
# while two busy loops keep both cores of a 2-core machine saturated, so that a test resting
# on timing shows itself. Prints each run's result and a final tally; exits non-zero if any
# run had a failure.
#     sh scripts/stress-protocol.sh N [BUILDDIR]     (BUILDDIR: build, set up if missing)
# Each run is bounded (PHX_STRESS_RUN_TIMEOUT seconds, default 900); the burners die with
# the script.
set -eu
N=${1:?usage: stress-protocol.sh N [BUILDDIR]}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${2:-build}
PY=/usr/bin/python3
cd "$ROOT"

if [ ! -f "$DIR/build.ninja" ]; then
        meson setup "$DIR" --werror >/dev/null
fi
ninja -C "$DIR" >/dev/null

burners=""
stop_burners() {
        for pid in $burners; do
                kill "$pid" 2>/dev/null || true
        done
}
trap stop_burners EXIT
trap 'exit 130' INT TERM
for _ in 1 2; do
        nice -n 0 sh -c 'while :; do :; done' &
        burners="$burners $!"
done
echo "== $N runs of the protocol suite; CPU burners:$burners"

runs_failed=0 total_passed=0 total_failed=0
i=1
while [ "$i" -le "$N" ]; do
        start=$(date +%s)
        timeout "${PHX_STRESS_RUN_TIMEOUT:-900}" meson test -C "$DIR" --suite protocol --no-rebuild \
                --logbase "stress-$i" >"$DIR/meson-logs/stress-$i.out" 2>&1 || true
        counts=$($PY scripts/count-results.py meson "$DIR/meson-logs/stress-$i.json" 2>"$DIR/meson-logs/stress-$i.failed")
        set -- $counts
        total_passed=$((total_passed + $1)) total_failed=$((total_failed + $2))
        echo "run $i: $1 passed, $2 failed ($(($(date +%s) - start)) s)"
        if [ "$2" -ne 0 ]; then
                runs_failed=$((runs_failed + 1))
                sed 's/^/    /' "$DIR/meson-logs/stress-$i.failed"
        fi
        i=$((i + 1))
done
echo "== $((N - runs_failed)) of $N runs clean; $total_passed passed, $total_failed failed in all"
[ "$runs_failed" -eq 0 ]
