#!/bin/sh
# Installs what is missing, builds with --werror, and runs every test twice: once on the
# normal build and once under ASan+UBSan. Ends with "N passed, N failed".
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/scripts/deps.sh"
phx_install_deps $PHX_BUILD_DEPS $PHX_TEST_DEPS $PHX_VM_DEPS $PHX_DEB_DEPS

cd "$ROOT"
PY=/usr/bin/python3
RESULTS=$(mktemp -d)
trap 'rm -rf "$RESULTS"' EXIT

run_suite() { # name builddir [meson options...]
        name=$1 dir=$2
        shift 2
        if [ ! -f "$dir/build.ninja" ]; then
                meson setup "$dir" --werror "$@" >"$RESULTS/$name-setup.log" 2>&1 ||
                        { cat "$RESULTS/$name-setup.log"; echo "1 0" >"$RESULTS/$name-meson.count"; return; }
        fi
        if ! ninja -C "$dir" >"$RESULTS/$name-build.log" 2>&1; then
                cat "$RESULTS/$name-build.log"
                echo "0 1" >"$RESULTS/$name-meson.count"
                return
        fi
        echo "== $name: unit and fuzz-corpus tests"
        meson test -C "$dir" --print-errorlogs || true
        $PY "$ROOT/scripts/count-results.py" meson "$dir/meson-logs/testlog.json" >"$RESULTS/$name-meson.count"
        echo "== $name: protocol tests"
        # a hung test fails alone (pytest-timeout) instead of hanging CI
        PHX_AGENT="$ROOT/$dir/src/phoenix-ga" timeout 1800 $PY -m pytest -q -p no:cacheprovider \
                --timeout=300 --junitxml="$RESULTS/$name-pytest.xml" "$ROOT/tests/protocol" || true
        $PY "$ROOT/scripts/count-results.py" junit "$RESULTS/$name-pytest.xml" >"$RESULTS/$name-pytest.count"
}

run_vm() { # builddir: the agent of that build in a real guest (the kernel .deb is cached in builddir/vm)
        dir=$1
        for attempt in 1 2; do
                echo "== end-to-end tests in a qemu guest (attempt $attempt)"
                # bounded as a whole: a guest that hangs must not hang CI
                PHX_AGENT="$ROOT/$dir/src/phoenix-ga" PHX_VM_DIR="$ROOT/$dir/vm" timeout 300 $PY -m pytest -q \
                        -p no:cacheprovider --junitxml="$RESULTS/vm.xml" "$ROOT/tests/vm" || true
                $PY "$ROOT/scripts/count-results.py" junit "$RESULTS/vm.xml" >"$RESULTS/vm-pytest.count"
                # A second boot only after a failure, and said out loud (the first attempt's
                # failures stay in the log above): a guest under TCG on a busy 2-core machine
                # is slow enough to expose timing in the harness itself.
                grep -q '^[0-9]* 0$' "$RESULTS/vm-pytest.count" && break
                echo "!! end-to-end tests failed on attempt $attempt"
        done
}

run_package() { # the .debs from a copy of the tracked tree, then tests/package on them
        pkg=$RESULTS/pkg
        echo "== Debian packages (dpkg-buildpackage -us -uc -b)"
        mkdir -p "$pkg/src"
        git ls-files -co --exclude-standard | tar -cf - -T - | tar -xf - -C "$pkg/src"
        (cd "$pkg/src" && dpkg-buildpackage -us -uc -b) >"$pkg/build.log" 2>&1 ||
                { tail -n 60 "$pkg/build.log"; echo "!! dpkg-buildpackage failed"; }
        PHX_DEB_DIR="$pkg" timeout 1200 $PY -m pytest -q -p no:cacheprovider --timeout=600 \
                --junitxml="$RESULTS/package.xml" "$ROOT/tests/package" || true
        $PY "$ROOT/scripts/count-results.py" junit "$RESULTS/package.xml" >"$RESULTS/package-pytest.count"
}

run_suite plain build
run_vm build
run_package
# Leak checking stays off: GLib's type system keeps its registrations for the process.
ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        run_suite sanitized build-asan -Db_sanitize=address,undefined -Db_lundef=false

cat "$RESULTS"/*.count | $PY "$ROOT/scripts/count-results.py" sum
