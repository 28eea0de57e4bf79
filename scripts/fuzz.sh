#!/usr/bin/env bash
# Runs dfrt's libFuzzer targets on top of their committed corpora for a bounded time each.
#   scripts/fuzz.sh BUILD_DIR SECONDS [TARGET...]      (BUILD_DIR configured with -Dfuzzing=true)
# New inputs go to a scratch directory, not into the repository. A crash, leak, sanitizer
# report or timeout stops that target: the input is kept under $FUZZ_OUT (default a temporary
# directory, removed when nothing was found) and the script fails after running the others.
# Prints each target's executions, coverage and corpus size; $FUZZ_STATS, if set, names a file
# that receives "target execs" lines.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$1 SECONDS_EACH=$2
shift 2
targets=("$@")
[[ ${#targets[@]} -eq 0 ]] && targets=(safetensors df11 config tokenizer encode)
OUT=${FUZZ_OUT:-}
keep=1
[[ -z $OUT ]] && OUT=$(mktemp -d "${TMPDIR:-/tmp}/dfrt-fuzz-XXXXXX") && keep=0
mkdir -p "$OUT"

max_len() {
    case $1 in
        df11) echo 65536 ;; tokenizer) echo 16384 ;; safetensors) echo 8192 ;; *) echo 4096 ;;
    esac
}

failed=0
for t in "${targets[@]}"; do
    exe=$BUILD/tests/fuzz/fuzz_$t
    if [[ ! -x $exe ]]; then
        echo "fuzz: $exe is missing (configure $BUILD with -Dfuzzing=true)" >&2
        exit 2
    fi
    work=$OUT/$t
    rm -rf "$work" && mkdir -p "$work/corpus" "$work/artifacts"
    dict=()
    [[ -f $ROOT/tests/fuzz/$t.dict ]] && dict=(-dict="$ROOT/tests/fuzz/$t.dict")
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        "$exe" "$work/corpus" "$ROOT/tests/fuzz/corpus/$t" "${dict[@]}" -max_total_time="$SECONDS_EACH" \
        -max_len="$(max_len "$t")" -timeout=10 -rss_limit_mb=2560 -print_final_stats=1 \
        -artifact_prefix="$work/artifacts/" >"$work/log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
    # libFuzzer's INITED and DONE lines: edges covered, features, corpus size, before and after
    field() { grep -E "^#[0-9]+[[:space:]]+$1" "$work/log" | tail -1 | grep -oE "$2: [0-9]+" | grep -oE "[0-9]+"; }
    printf 'fuzz_%-12s %10s executions in %ss; edges %s -> %s, features %s -> %s, corpus %s -> %s inputs\n' "$t" \
        "${execs:-?}" "$SECONDS_EACH" "$(field INITED cov)" "$(field DONE cov)" "$(field INITED ft)" \
        "$(field DONE ft)" "$(field INITED corp)" "$(field DONE corp)"
    [[ -n ${FUZZ_STATS:-} ]] && echo "$t ${execs:-0}" >>"$FUZZ_STATS"
    if [[ $rc -ne 0 ]] || compgen -G "$work/artifacts/*" >/dev/null; then
        failed=1
        echo "fuzz_$t FAILED (exit $rc); inputs kept in $work/artifacts:" >&2
        ls "$work/artifacts" >&2
        grep -E "ERROR|broken promise|runtime error|SUMMARY" "$work/log" | head -20 >&2
    fi
done
[[ $failed -eq 0 && $keep -eq 0 ]] && rm -rf "$OUT"
exit $failed
