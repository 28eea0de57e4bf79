#!/usr/bin/env bash
# End-to-end tests of the dfrt command: usage, the shipped model, synthetic models through
# compress -> verify -> decompress, bad input with the exact messages, and Ctrl-C.
# usage: cli_test.sh DFRT MKMODEL MODEL_DIR
set -u
DFRT=$1 MKMODEL=$2 MODEL=$3
T=$(mktemp -d "${TMPDIR:-/tmp}/dfrt-cli-XXXXXX")
trap 'rm -rf "$T"' EXIT
passed=0 failed=0

ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }

# expect CODE FRAGMENT -- command...: runs it, checks exit code and that stdout+stderr contains FRAGMENT
expect() {
    local code=$1 frag=$2
    shift 3
    local out rc
    out=$("$@" 2>&1)
    rc=$?
    if [[ $rc -ne $code ]]; then bad "exit $rc, expected $code: $*"$'\n'"$out"; return; fi
    if [[ -n $frag && $out != *"$frag"* ]]; then bad "missing \"$frag\" in output of: $*"$'\n'"$out"; return; fi
    ok
}

# --- usage --------------------------------------------------------------------------------
expect 0 "dfrt 0." -- "$DFRT" --version
expect 0 "commands:" -- "$DFRT" --help
expect 2 "unknown command \"frobnicate\"" -- "$DFRT" frobnicate
expect 2 "usage: dfrt COMMAND" -- "$DFRT"
for cmd in compress decompress verify inspect bench; do
    expect 0 "usage: dfrt $cmd" -- "$DFRT" $cmd --help
done
expect 2 "unknown option --frob" -- "$DFRT" compress a b --frob
expect 2 "expected BF16_DIR and OUT_DIR" -- "$DFRT" compress a
expect 2 "--threads expects an integer from 1 to 4096, got \"0\"" -- "$DFRT" compress a b --threads 0
expect 2 "option --pattern-dict needs a value" -- "$DFRT" compress a b --pattern-dict
expect 2 "expected DF11_DIR" -- "$DFRT" verify
expect 2 "unexpected argument \"c\"" -- "$DFRT" inspect a c

expect 0 "decode (sequential)" -- "$DFRT" bench codec --weights 100000 --min-time 0 --threads 1,2
expect 2 "--threads expects a list like 1,2,8" -- "$DFRT" bench codec --threads 1,x
expect 2 "unknown benchmark \"frob\"" -- "$DFRT" bench frob

# --- the shipped model ----------------------------------------------------------------------
expect 0 "verified 10 units, 8.39 M weights" -- "$DFRT" verify "$MODEL"
expect 0 "Qwen3ForCausalLM (qwen3)" -- "$DFRT" inspect "$MODEL"
expect 0 "\"longest_code_bits\":" -- "$DFRT" inspect "$MODEL" --json
out=$("$DFRT" inspect "$MODEL")
[[ $out == *"model.layers.7"*"786.4 k"* && $out == *"uncompressed  33 tensors"* ]] && ok || bad "inspect text: $out"

# --- synthetic models: compress -> verify -> decompress -----------------------------------
"$MKMODEL" "$T/llama" --layers 3 --shards 2 || bad "mkmodel"
expect 0 "wrote $T/llama-df11" -- "$DFRT" compress "$T/llama" "$T/llama-df11" --threads 2
expect 0 "every weight and all 7 uncompressed tensors match" -- "$DFRT" verify "$T/llama-df11" "$T/llama"
expect 0 "wrote $T/llama-back" -- "$DFRT" decompress "$T/llama-df11" "$T/llama-back"
expect 0 "verified 5 units" -- "$DFRT" verify "$T/llama-df11" "$T/llama-back"
cmp -s "$T/llama/config.json" "$T/llama-back/config.json" && ok || bad "config.json changed through compress + decompress"
[[ -f $T/llama-df11/model_layers_2.safetensors && -f $T/llama-df11/lm_head.safetensors && -f $T/llama-df11/tokenizer.json ]] \
    && ok || bad "DF11 layout: $(ls "$T/llama-df11")"
expect 0 "DF11 units    5 units" -- "$DFRT" inspect "$T/llama-df11"
expect 0 "safetensors (no DF11 units)" -- "$DFRT" inspect "$T/llama"

# a BF16 directory that differs: verify names the weight and fails
"$MKMODEL" "$T/other" --layers 3 --seed 7 || bad "mkmodel"
expect 1 "FAIL  lm_head" -- "$DFRT" verify "$T/llama-df11" "$T/other"
expect 1 "verification FAILED" -- "$DFRT" verify "$T/llama-df11" "$T/other"

# --- bad input ------------------------------------------------------------------------------
expect 1 "$T/nope: cannot open model directory" -- "$DFRT" compress "$T/nope" "$T/out"
expect 1 "not a DF11 model" -- "$DFRT" decompress "$T/llama" "$T/out"
expect 1 "output directory exists and is not empty" -- "$DFRT" compress "$T/llama" "$T/llama-df11"
expect 1 "--pattern-dict: not valid JSON" -- "$DFRT" compress "$T/llama" "$T/out" --pattern-dict '{x'
expect 1 "pattern \"lm_heads\" matches no module" -- "$DFRT" compress "$T/llama" "$T/out" --pattern-dict '{"lm_heads": []}'
touch "$T/a-file"
expect 1 "cannot create output directory" -- "$DFRT" compress "$T/llama" "$T/a-file/out"
"$MKMODEL" "$T/inf" --inf model.layers.0.mlp.down_proj.weight || bad "mkmodel"
expect 1 "model.layers.0.mlp.down_proj.weight element 5 is 0x7f80, exponent 255 (infinity)" -- "$DFRT" compress "$T/inf" "$T/out"
[[ ! -e $T/out ]] && ok || bad "a failed compress left $T/out"
mkdir -p "$T/empty" && echo '{}' > "$T/empty/config.json"
expect 1 "$T/empty: no *.safetensors files" -- "$DFRT" inspect "$T/empty"
mkdir -p "$T/noconfig"
expect 1 "$T/noconfig/config.json: cannot open" -- "$DFRT" inspect "$T/noconfig"
# an unreadable directory (root reads everything, so only as another user)
if [[ $(id -u) -ne 0 ]]; then
    mkdir -p "$T/locked" && chmod 000 "$T/locked"
    expect 1 "$T/locked: cannot read directory: Permission denied" -- "$DFRT" inspect "$T/locked"
    chmod 700 "$T/locked"
else
    echo "skipped: unreadable-directory case (running as root)"
fi
mkdir -p "$T/old" && touch "$T/old/layer_0.pkl" && echo '{}' > "$T/old/config.json"
expect 1 "old pickle format" -- "$DFRT" inspect "$T/old"
expect 1 "old pickle format" -- "$DFRT" verify "$T/old"

# --- Ctrl-C during compress: exit 130, no output, no temporaries --------------------------------
"$MKMODEL" "$T/big" --layers 8 --hidden 512 --inter 2048 --heads 8 --kv-heads 8 --vocab 32000 || bad "mkmodel"
"$DFRT" compress "$T/big" "$T/big-df11" --threads 1 >"$T/int.log" 2>&1 &
pid=$!
for _ in $(seq 1000); do
    compgen -G "$T/big-df11.dfrt-tmp-*" >/dev/null && break
    sleep 0.005
done
kill -STOP $pid 2>/dev/null; kill -INT $pid 2>/dev/null; kill -CONT $pid 2>/dev/null
wait $pid
rc=$?
if [[ $rc -eq 130 ]]; then
    ok
    grep -q "interrupted; nothing was written" "$T/int.log" && ok || bad "interrupt message: $(cat "$T/int.log")"
    [[ ! -e $T/big-df11 ]] && ! compgen -G "$T/big-df11.dfrt-tmp-*" >/dev/null && ok || bad "interrupted compress left files: $(ls "$T")"
else
    bad "interrupted compress exited $rc: $(cat "$T/int.log")"
fi

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
