#!/bin/sh
# fuzz-smoke.sh - builds the fuzz targets of fuzz/ with clang and libFuzzer
# and replays each seed corpus once (deterministic, a few seconds: fit for
# CI).  With FUZZ_SECONDS=N each target is instead fuzzed for N seconds,
# new inputs going to a scratch directory and crashes to fuzz/crashes/.
# See docs/fuzzing.md.
#
#   scripts/fuzz-smoke.sh                  # replay the corpora
#   FUZZ_SECONDS=60 scripts/fuzz-smoke.sh  # fuzz each target for a minute
#   scripts/fuzz-smoke.sh jid scram        # only these targets
#
# BUILD (default build-fuzz) is configured on first use.  clang is
# installed from Debian (clang-14, libclang-rt-14-dev) when missing.
set -eu

cd "$(dirname "$0")/.."
BUILD=${BUILD:-build-fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-0}
TARGETS="xml_stream jid base64 scram conf sm_queue fast mam_query roster_sub"
[ $# -gt 0 ] && TARGETS="$*"

if ! command -v clang >/dev/null 2>&1; then
    echo "fuzz-smoke: installing clang" >&2
    SUDO=; [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get install -y clang-14 libclang-rt-14-dev >&2
    CLANG=clang-14
else
    CLANG=clang
fi

if [ ! -f "$BUILD/build.ninja" ]; then
    # -fsanitize=fuzzer-no-link: the libraries under test get coverage
    # instrumentation too, not only the harnesses.
    CC=$CLANG meson setup "$BUILD" --buildtype=debug -Db_sanitize=address,undefined \
        -Db_lundef=false -Dtests=disabled -Dfuzz=enabled \
        -Dc_args=-fsanitize=fuzzer-no-link >&2
fi
ninja -C "$BUILD" $(for t in $TARGETS; do printf 'fuzz/fuzz_%s ' "$t"; done) >&2

fail=0
for t in $TARGETS; do
    exe=$BUILD/fuzz/fuzz_$t
    dict=
    [ -f "fuzz/dict/$t.dict" ] && dict=-dict=fuzz/dict/$t.dict
    log=$(mktemp)
    start=$(date +%s)
    if [ "$FUZZ_SECONDS" -gt 0 ]; then
        work=$(mktemp -d)
        mkdir -p fuzz/crashes
        set -- -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
            -max_len=4096 -artifact_prefix="fuzz/crashes/$t-" $dict "$work" "fuzz/corpus/$t"
    else
        work=
        set -- -runs=0 "fuzz/corpus/$t"
    fi
    if "$exe" "$@" >"$log" 2>&1; then
        runs=$(grep -Eo '^(Done|#)[0-9]* *[0-9]+ runs|Done [0-9]+ runs' "$log" | tail -1)
        echo "ok   $t ($(($(date +%s) - start)) s${runs:+, $runs})"
    else
        echo "FAIL $t: see below"
        grep -E 'ERROR|SUMMARY|invariant|Test unit written|runtime error' "$log" | head -20
        fail=1
    fi
    rm -f "$log"
    [ -n "$work" ] && rm -rf "$work"
done
exit $fail
