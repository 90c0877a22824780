#!/bin/sh
# Builds the fuzz targets with clang, libFuzzer, ASan and UBSan in their own build directory
# and runs each for a bounded time from its corpus in the tree. Prints executions and edges
# covered per target; exits non-zero if any target crashed, leaked or hung, printing the
# reproducer. New inputs stay in the build directory unless -m merges them into the tree.
#
#   scripts/fuzz-run.sh [-t SECONDS] [-m] [-b BUILDDIR] [TARGET...]
#     -t SECONDS  how long each target runs (default 60)
#     -m          merge inputs that add coverage into tests/fuzz/corpus*/, and keep a
#                 crash's reproducer there too (a fix lands with the input that failed)
#     -b BUILDDIR where to build (default build-fuzz)
#     TARGET      fuzz-request, fuzz-agent (default both)
#
# Needs clang and libclang-rt-14-dev (Debian 12), and root or user namespaces for fuzz-agent
# (its jail: see tests/fuzz/fuzz-agent.c).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SECONDS_EACH=60
MERGE=0
BUILD=build-fuzz
while getopts "t:mb:" opt; do
        case $opt in
        t) SECONDS_EACH=$OPTARG ;;
        m) MERGE=1 ;;
        b) BUILD=$OPTARG ;;
        *) sed -n '7,12p' "$0" >&2; exit 2 ;;
        esac
done
shift $((OPTIND - 1))
TARGETS=${*:-fuzz-request fuzz-agent}
case $SECONDS_EACH in
''|*[!0-9]*) echo "fuzz-run: -t wants a number of seconds" >&2; exit 2 ;;
esac

. "$ROOT/scripts/deps.sh"
phx_install_deps $PHX_BUILD_DEPS clang libclang-rt-14-dev

cd "$ROOT"
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
if [ ! -f "$BUILD/build.ninja" ]; then
        # no --werror: clang warns where gcc (the build that gates) does not
        CC=clang meson setup "$BUILD" -Dfuzzing=true -Db_sanitize=address,undefined -Db_lundef=false \
                >"$ROOT/fuzz-setup.log" 2>&1 || { cat "$ROOT/fuzz-setup.log"; exit 1; }
        rm -f "$ROOT/fuzz-setup.log"
fi
# shellcheck disable=SC2086
ninja -C "$BUILD" $(for t in $TARGETS; do printf 'tests/%s ' "$t"; done) >/dev/null

corpus_of() {
        case $1 in
        fuzz-request) echo "$ROOT/tests/fuzz/corpus" ;;
        fuzz-agent) echo "$ROOT/tests/fuzz/corpus-agent" ;;
        *) echo "fuzz-run: unknown target $1" >&2; exit 2 ;;
        esac
}

# UBSan findings are failures, not notes; leaks are checked (LSan) after every input, with
# whole stacks (GLib has no frame pointers: a fast unwind stops at its first frame, and a
# suppression could only name g_malloc0), against tests/fuzz/lsan.supp. GLib's slice
# allocator is off, as the agent runs (main.c): its per-thread magazines would otherwise be
# allocated by whichever input first uses a new worker thread.
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:fast_unwind_on_malloc=0
export LSAN_OPTIONS=suppressions=$ROOT/tests/fuzz/lsan.supp
export G_SLICE=always-malloc

failed=0
summary=""
for t in $TARGETS; do
        seeds=$(corpus_of "$t")
        work=$BUILD/fuzz-work/$t
        mkdir -p "$work/corpus" "$work/artifacts"
        rm -f "$work/artifacts/"*
        echo "== $t: $SECONDS_EACH s from $(ls "$seeds" | wc -l) seeds"
        # Run from the work directory with relative paths for what libFuzzer writes: the
        # agent target chroots while a script runs, and only the working directory (left
        # outside the chroot) reaches the real tree then. The seeds are only read, before.
        status=0
        # the outer bound only catches a target that hangs outside libFuzzer's own clock
        (cd "$work" && exec timeout -k 10 $((SECONDS_EACH * 2 + 120)) "$BUILD/tests/$t" \
                -max_total_time="$SECONDS_EACH" -timeout=60 \
                -print_final_stats=1 -artifact_prefix=artifacts/ corpus "$seeds") >"$work/log" 2>&1 ||
                status=$?
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
        rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log" | tail -1)
        cov=$(grep -o 'cov: [0-9]*' "$work/log" | tail -1 | cut -d' ' -f2)
        ft=$(grep -o 'ft: [0-9]*' "$work/log" | tail -1 | cut -d' ' -f2)
        corp=$(grep -o 'corp: [0-9]*' "$work/log" | tail -1 | cut -d' ' -f2)
        line="$t: ${execs:-?} executions (${rate:-?}/s), ${cov:-?} edges, ${ft:-?} features, ${corp:-?} inputs"
        if [ "$status" -ne 0 ]; then
                failed=1
                line="$line: FAILED (exit $status)"
                # the sanitizer's or the target's own report, then the reproducer
                grep -E -m1 -A40 '^==[0-9]+==ERROR|^fuzz-agent: |runtime error|ERROR: libFuzzer' "$work/log" || tail -40 "$work/log"
                for a in "$work/artifacts/"*; do
                        [ -f "$a" ] || continue
                        echo "reproducer: $a"
                        echo "  replay:   $BUILD/tests/$t $a"
                        echo "  content (first 600 bytes, cat -v):"
                        head -c 600 "$a" | cat -v | sed 's/^/    /'
                        echo
                        if [ "$MERGE" = 1 ]; then
                                cp "$a" "$seeds/"
                                echo "  kept as:  $seeds/$(basename "$a")"
                        fi
                done
        elif [ "$MERGE" = 1 ]; then
                before=$(ls "$seeds" | wc -l)
                (cd "$work" && "$BUILD/tests/$t" -merge=1 -timeout=60 "$seeds" corpus) \
                        >"$work/merge.log" 2>&1 || { tail -20 "$work/merge.log"; failed=1; }
                line="$line; merged $(($(ls "$seeds" | wc -l) - before)) new inputs into ${seeds#"$ROOT"/}"
        fi
        echo "$line"
        summary="$summary$line
"
done
echo "== fuzz summary"
printf '%s' "$summary"
exit $failed
