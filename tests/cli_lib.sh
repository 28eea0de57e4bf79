# Shared by the dfrt command's test scripts (sourced): a temporary directory removed on exit,
# pass/fail counters and `expect`. usage: source cli_lib.sh NAME
set -u
T=$(mktemp -d "${TMPDIR:-/tmp}/dfrt-$1-XXXXXX")
trap 'rm -rf "$T"' EXIT
passed=0 failed=0
out= last_out=

ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }

# expect CODE FRAGMENT... -- command...: runs it, checks its exit code and that stdout+stderr
# contains each FRAGMENT; the output is left in $out (and $last_out). With EXPECT_TIMEOUT=S the
# command gets at most S seconds, and running past them fails as a hang.
expect() {
    local code=$1 frags=()
    shift
    while [[ $1 != -- ]]; do
        frags+=("$1")
        shift
    done
    shift
    local rc frag
    if [[ -n ${EXPECT_TIMEOUT:-} ]]; then
        out=$(timeout "$EXPECT_TIMEOUT" "$@" 2>&1)
        rc=$?
        if [[ $rc -eq 124 ]]; then bad "timed out (a hang): $*"$'\n'"$out"; return; fi
    else
        out=$("$@" 2>&1)
        rc=$?
    fi
    last_out=$out
    if [[ $rc -ne $code ]]; then bad "exit $rc, expected $code: $*"$'\n'"$out"; return; fi
    for frag in "${frags[@]}"; do
        if [[ -n $frag && $out != *"$frag"* ]]; then bad "missing \"$frag\" in output of: $*"$'\n'"$out"; return; fi
    done
    ok
}

# The closing line every test script prints, and its exit status.
finish() {
    echo "$passed passed, $failed failed"
    [[ $failed -eq 0 ]]
}
