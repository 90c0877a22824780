#!/bin/sh
# Installs what is missing, builds with --werror and runs every test through `meson test`:
# the default set (unit, fuzz corpus, man pages, data files, translations, one test per protocol
# test file) on the normal build and again under ASan+UBSan, and the once-only stages (a qemu
# guest, the same guest under libvirt, the Debian packages, the hostile-host suite) on the
# normal build, and each fuzz target for a bounded time under libFuzzer. Ends with
# "N passed, N failed", counted per test case (scripts/count-results.py); a skip is a failure.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/scripts/deps.sh"
phx_install_deps $PHX_BUILD_DEPS $PHX_TEST_DEPS $PHX_VM_DEPS $PHX_LIBVIRT_DEPS $PHX_DEB_DEPS

cd "$ROOT"
PY=/usr/bin/python3
RESULTS=$(mktemp -d)
trap 'rm -rf "$RESULTS"' EXIT

build() { # name builddir [meson options...]: set up (or reconfigure: new test files) and build
        name=$1 dir=$2
        shift 2
        if [ -f "$dir/build.ninja" ]; then
                set -- --reconfigure
        fi
        if ! meson setup "$dir" --werror "$@" >"$RESULTS/$name-setup.log" 2>&1; then
                cat "$RESULTS/$name-setup.log"
                echo "0 1" >"$RESULTS/$name-build.count"
                return 1
        fi
        if ! ninja -C "$dir" >"$RESULTS/$name-build.log" 2>&1; then
                cat "$RESULTS/$name-build.log"
                echo "0 1" >"$RESULTS/$name-build.count"
                return 1
        fi
}

suite() { # label builddir [meson test options...]: one `meson test` run, counted per case
        label=$1 dir=$2
        shift 2
        echo "== $label"
        meson test -C "$dir" --print-errorlogs --logbase "$label" "$@" || true
        $PY "$ROOT/scripts/count-results.py" meson "$dir/meson-logs/$label.json" >"$RESULTS/$label.count"
        echo "== $label: $(sed 's/ / passed, /; s/$/ failed/' "$RESULTS/$label.count")"
}

if build plain build; then
        suite plain build
        for attempt in 1 2; do
                # A second boot only after a failure, and said out loud (the first attempt's
                # failures stay in the log above): a guest under TCG on a busy 2-core machine
                # is slow enough to expose timing in the harness itself.
                suite vm build --suite vm
                grep -q '^[0-9]* 0$' "$RESULTS/vm.count" && break
                echo "!! end-to-end tests failed on attempt $attempt"
        done
        # The same guest driven by libvirt 9.0 (tests/libvirt), with the same retry policy: a
        # second domain only after a failure, said out loud.
        for attempt in 1 2; do
                suite libvirt build --suite libvirt
                grep -q '^[0-9]* 0$' "$RESULTS/libvirt.count" && break
                echo "!! libvirt tests failed on attempt $attempt"
        done
        suite package build --suite package
        if meson test -C build --list --suite hostile >/dev/null 2>&1; then
                suite hostile build --suite hostile
        fi
fi
# Each fuzz target under libFuzzer (clang, ASan+UBSan) for a bounded time; a crash, leak or
# hang fails it and prints the reproducer (scripts/fuzz-run.sh).
echo "== fuzz"
passed=0 failed=0
for target in fuzz-request fuzz-agent; do
        if timeout 900 sh "$ROOT/scripts/fuzz-run.sh" -t 45 -b build-fuzz "$target"; then
                passed=$((passed + 1))
        else
                failed=$((failed + 1))
                echo "!! $target failed"
        fi
done
echo "$passed $failed" >"$RESULTS/fuzz.count"
echo "== fuzz: $passed passed, $failed failed"

if build sanitized build-asan -Db_sanitize=address,undefined -Db_lundef=false; then
        suite sanitized build-asan
fi

cat "$RESULTS"/*.count | $PY "$ROOT/scripts/count-results.py" sum
