#!/usr/bin/env bash
# End-to-end tests of the dfrt command: usage, the shipped model, synthetic models through
# compress -> verify -> decompress, bad input with the exact messages, and Ctrl-C.
# usage: cli_test.sh DFRT MKMODEL MODEL_DIR FAULT_INJECT_SO
set -u
DFRT=$1 MKMODEL=$2 MODEL=$3 FAULT=$4
source "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh" cli

# --- usage --------------------------------------------------------------------------------
expect 0 "dfrt 0." -- "$DFRT" --version
expect 0 "commands:" -- "$DFRT" --help
expect 2 "unknown command \"frobnicate\"" -- "$DFRT" frobnicate
expect 2 "usage: dfrt COMMAND" -- "$DFRT"
for cmd in run tokenize compress decompress verify inspect devices bench; do
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
expect 2 "give a MODEL_DIR or --synthetic NAME (one of them)" -- "$DFRT" bench model
expect 2 "give a MODEL_DIR or --synthetic NAME (one of them)" -- "$DFRT" bench model "$MODEL" --synthetic tiny
expect 2 "--batch expects a list of up to 16 integers from 1 to 4096, like 1,8,64; got \"1,0\"" -- \
    "$DFRT" bench model --synthetic tiny --batch 1,0
expect 2 "--formats expects df11, bf16 or df11,bf16; got \"fp8\"" -- "$DFRT" bench model --synthetic tiny --formats fp8
expect 2 "--gen expects an integer from 2 to" -- "$DFRT" bench model --synthetic tiny --gen 1
expect 1 "unknown synthetic model \"llama-9\"" -- "$DFRT" bench model --synthetic llama-9 --cache "$T/cache"
expect 2 "--m expects a list of up to 16 integers from 1 to 65536" -- "$DFRT" bench ops --m 1,x
expect 2 "--ops expects a list of copy, decode, matmul, layer; got \"copy,frob\"" -- "$DFRT" bench ops --ops copy,frob
expect 1 "unknown synthetic model \"frob\"" -- "$DFRT" bench ops --shapes frob
expect 1 "$T/none/config.json" -- "$DFRT" bench ops --shapes "$T/none"
expect 2 "--plot" -- "$DFRT" bench model --synthetic tiny --plot
expect 2 "--in-memory and --host-memory build a --synthetic model" -- "$DFRT" bench model "$MODEL" --in-memory
expect 2 "--host-memory goes with --in-memory" -- "$DFRT" bench model --synthetic tiny --host-memory 100
expect 2 "--host-memory expects a positive number of gigabytes (1e9 bytes), got \"-1\"" -- \
    "$DFRT" bench model --synthetic tiny --in-memory --host-memory -1

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
# an unreadable directory (root reads everything, so as nobody)
as_other_user() {
    if [[ $(id -u) -eq 0 ]]; then setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; else "$@"; fi
}
chmod 755 "$T"
mkdir -p "$T/locked" && chmod 000 "$T/locked"
expect 1 "$T/locked: cannot read directory: Permission denied" -- as_other_user "$DFRT" inspect "$T/locked"
chmod 700 "$T/locked"
mkdir -p "$T/old" && touch "$T/old/layer_0.pkl" && echo '{}' > "$T/old/config.json"
expect 1 "old pickle format" -- "$DFRT" inspect "$T/old"
expect 1 "old pickle format" -- "$DFRT" verify "$T/old"

# --- faults ---------------------------------------------------------------------------------
# Nothing named like the output may be left: no directory, no temporary.
nothing_left() {
    if compgen -G "$1*" >/dev/null; then bad "left behind: $(ls -d "$1"*)"; else ok; fi
}
# Runs a command with fault_inject.so, which fails or interrupts writes to files under $T.
faulty() {
    env LD_PRELOAD="$FAULT" ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" DFRT_FAULT_DIR="$T" "$@"
}
# the disk is full from the start, or fills up part-way through a file
for space in 0 100000; do
    for cmd in "compress $T/llama" "decompress $T/llama-df11"; do
        expect 1 "dfrt ${cmd%% *}: I/O error: $T/full: not written: $T/full.dfrt-tmp-" \
            ".safetensors: write failed: No space left on device" -- faulty DFRT_FAULT_SPACE=$space "$DFRT" $cmd "$T/full"
        nothing_left "$T/full"
    done
done
# Ctrl-C in the middle of writing a file
expect 130 "interrupted; nothing was written" -- faulty DFRT_FAULT_SIGINT_AT=100000 "$DFRT" compress "$T/llama" "$T/int"
nothing_left "$T/int"
expect 130 "interrupted; nothing was written" -- faulty DFRT_FAULT_SIGINT_AT=100000 "$DFRT" decompress "$T/llama-df11" "$T/int"
nothing_left "$T/int"
# an output directory the user cannot write to (as nobody when root)
mkdir -p "$T/ro" && chmod 555 "$T/ro"
expect 1 "dfrt compress: I/O error: $T/ro/out: cannot create output directory: Permission denied" -- \
    as_other_user "$DFRT" compress "$T/llama" "$T/ro/out"
nothing_left "$T/ro/out"
# a model directory with a shard missing
"$MKMODEL" "$T/sharded" --layers 2 --shards 2 || bad "mkmodel"
rm "$T/sharded/model-00002-of-00002.safetensors"
missing="$T/sharded: shard model-00002-of-00002.safetensors is missing"
expect 1 "$missing" -- "$DFRT" compress "$T/sharded" "$T/out"
expect 1 "$missing" -- "$DFRT" run "$T/sharded" --tokens 1 --backend cpu
expect 1 "$missing" -- "$DFRT" inspect "$T/sharded"
# more memory than the device has (a KV cache of 4096 sequences of 4096 tokens: 275 GB in fp32,
# half that in BF16)
"$MKMODEL" "$T/wide" --layers 2 --hidden 1024 --heads 8 --kv-heads 8 --inter 64 --vocab 64 || bad "mkmodel"
rm "$T/wide/tokenizer.json" # mkmodel's is a stub, and the tokenizer is checked before the device
expect 1 "out of memory: the model needs 275.02 GB on" -- "$DFRT" run "$T/wide" --tokens 1 --context 4096 --batch 4096 --backend cpu -n 1 --kv-cache f32
expect 1 "KV cache 137.44 GB (4096 sequences x 4096 tokens, bf16)" -- "$DFRT" run "$T/wide" --tokens 1 --context 4096 --batch 4096 --backend cpu -n 1
expect 2 "dfrt run: --kv-cache expects bf16 or f32, got \"fp16\"" -- "$DFRT" run --tokens 1 --kv-cache fp16

# --- dfrt run on the shipped model (CPU) ----------------------------------------------------------
# transformers' greedy tokens (fp32): all 48 with the fp32 KV cache; with the default BF16 one,
# the first 16 (test_model measures how far it moves the logits)
golden_ids="261 591 271 261 1182 14 270 261 1182 1882 1050 323 340 14 270 337 2071 1996 281 299 261 818 338 347 292 340 382 1015 261 2208 28 444 261 396 271 390 422 347 290 340 281 499 261 1673 271 390 338 321"
out=$("$DFRT" run "$MODEL" --tokens 1150,261,2087,390,3344 -n 48 --ignore-eos --ids --backend cpu --kv-cache f32 --logits-out "$T/l.f32" 2>"$T/run.err")
[[ $out == "$golden_ids" ]] && ok || bad "run --ids: $out (stderr: $(cat "$T/run.err"))"
out=$("$DFRT" run "$MODEL" --tokens 1150,261,2087,390,3344 -n 48 --ignore-eos --ids --backend cpu 2>/dev/null)
[[ $(cut -d' ' -f1-16 <<<"$out") == $(cut -d' ' -f1-16 <<<"$golden_ids") ]] && ok || bad "run --ids, BF16 KV cache: $out"
[[ $(stat -c %s "$T/l.f32" 2>/dev/null) == 16384 ]] && ok || bad "--logits-out wrote $(stat -c %s "$T/l.f32" 2>/dev/null) bytes"
grep -q "^backend: cpu device 0" "$T/run.err" && grep -q "^decode: 48 tokens" "$T/run.err" && grep -q "^peak device memory" "$T/run.err" \
    && ok || bad "run stderr: $(cat "$T/run.err")"
expect 0 " the things of the world, and the world giveth light unto them" -- \
    "$DFRT" run --prompt 'In the beginning God created' -n 14 --backend cpu
out=$("$DFRT" run "$MODEL" --tokens 1150,261,2087 -n 5 --batch 3 --ids --backend cpu 2>/dev/null)
[[ $(echo "$out" | wc -l) == 3 && $(echo "$out" | sed -n 1p) == $(echo "$out" | sed -n 3p) ]] && ok || bad "run --batch 3: $out"
expect 0 "[sequence 1]" -- "$DFRT" run --prompt 'Blessed are the' -n 8 --batch 2 --temperature 0.8 --top-k 40 --seed 7 --backend cpu
expect 0 "<|im_start|>" -- "$DFRT" tokenize "$MODEL" --decode 1,2
expect 2 "give exactly one of --prompt TEXT, --prompt-file FILE and --tokens LIST" -- "$DFRT" run --prompt a --tokens 1
expect 2 "--tokens expects non-negative integers" -- "$DFRT" run --tokens 1,x
expect 2 "--tokens: id 4096 is outside the vocabulary (0 to 4095)" -- "$DFRT" run --tokens 4096 --backend cpu -n 1
expect 2 "--tokens: 5 tokens do not fit the context of 4" -- "$DFRT" run --tokens 1,2,3,4,5 --context 4 --backend cpu
expect 1 "unknown backend \"tpu\"" -- "$DFRT" run --tokens 1 --backend tpu
expect 1 "$T/nope: cannot open model directory" -- "$DFRT" run "$T/nope" --tokens 1 --backend cpu

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

finish
