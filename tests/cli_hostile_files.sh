#!/usr/bin/env bash
# End-to-end tests of the dfrt command on hostile and careless files (issue 11): FIFOs and
# directories where files are expected, duplicate JSON keys, symbolic links and permissions in
# what compress copies, a stray consolidated.safetensors beside an index, files that are not
# safetensors, a shard of 200,000 tensors, JSON too large for memory or for the caps, and the
# argument checks made before any work. Time limits are generous bounds that catch a hang.
# usage: cli_hostile_files.sh DFRT MKMODEL MODEL_DIR
set -u
DFRT=$(realpath "$1") MKMODEL=$(realpath "$2") MODEL=$3
source "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh" hostile
EXPECT_TIMEOUT=20 # every command: a generous bound that catches a hang
# refute FRAGMENT -- command...: the output must not contain FRAGMENT (exit status not checked)
refute() {
    local frag=$1 out
    shift 2
    out=$(timeout 20 "$@" 2>&1)
    if [[ $out == *"$frag"* ]]; then bad "\"$frag\" in output of: $*"$'\n'"$out"; else ok; fi
}
nothing_left() {
    if compgen -G "$1*" >/dev/null; then bad "left behind: $(ls -d "$1"*)"; else ok; fi
}

"$MKMODEL" "$T/base" --layers 2 || bad "mkmodel"
"$MKMODEL" "$T/sharded" --layers 2 --shards 2 || bad "mkmodel"
"$DFRT" compress "$T/base" "$T/base-df11" >/dev/null 2>&1 || bad "compress base"
fresh() { rm -rf "$T/$1" && cp -r "$T/${2:-base}" "$T/$1"; }

# --- FIFOs, directories and devices where a file is expected -------------------------------
fresh fifo && rm "$T/fifo/config.json" && mkfifo "$T/fifo/config.json"
expect 1 "$T/fifo/config.json: is a FIFO, not a regular file" -- "$DFRT" inspect "$T/fifo"
expect 1 "$T/fifo/config.json: is a FIFO, not a regular file" -- "$DFRT" compress "$T/fifo" "$T/out"
nothing_left "$T/out"
fresh fifo-tok && rm "$T/fifo-tok/tokenizer.json" && mkfifo "$T/fifo-tok/tokenizer.json"
expect 1 "$T/fifo-tok/tokenizer.json: is a FIFO, not a regular file" -- "$DFRT" tokenize "$T/fifo-tok" hello
expect 1 "$T/fifo-tok/tokenizer.json: is a FIFO, not a regular file" -- "$DFRT" run "$T/fifo-tok" --prompt hi -n 1 --backend cpu
fresh fifo-shard && rm "$T/fifo-shard/model.safetensors" && mkfifo "$T/fifo-shard/model.safetensors"
expect 1 "$T/fifo-shard/model.safetensors: is a FIFO, not a regular file" -- "$DFRT" inspect "$T/fifo-shard"
fresh dir-shard && rm "$T/dir-shard/model.safetensors" && mkdir "$T/dir-shard/model.safetensors"
expect 1 "$T/dir-shard/model.safetensors: is a directory, not a regular file" -- "$DFRT" inspect "$T/dir-shard"
fresh dev-shard && ln -s /dev/zero "$T/dev-shard/extra.safetensors"
expect 1 "$T/dev-shard/extra.safetensors: is a character device, not a regular file" -- "$DFRT" inspect "$T/dev-shard"
fresh fifo-index sharded && rm "$T/fifo-index/model.safetensors.index.json" && mkfifo "$T/fifo-index/model.safetensors.index.json"
expect 1 "$T/fifo-index/model.safetensors.index.json: is a FIFO, not a regular file" -- "$DFRT" inspect "$T/fifo-index"
fresh fifo-gen && rm "$T/fifo-gen/generation_config.json" && mkfifo "$T/fifo-gen/generation_config.json"
out=$(timeout 20 "$DFRT" run "$T/fifo-gen" --tokens 1 -n 1 --backend cpu 2>&1)
[[ $? -ne 124 ]] && ok || bad "run with a FIFO generation_config.json hung"
mkfifo "$T/pattern.fifo"
expect 1 "--pattern-dict: $T/pattern.fifo: is a FIFO, not a regular file" -- \
    "$DFRT" compress "$T/base" "$T/out" --pattern-dict "$T/pattern.fifo"
nothing_left "$T/out"
# --pattern-dict FILE works (a file that is not '{...}' text)
echo '{"lm_head": []}' > "$T/pattern.json"
expect 0 "wrote $T/pd-out" -- "$DFRT" compress "$T/base" "$T/pd-out" --pattern-dict "$T/pattern.json"
# compress skips, and names, what it does not copy
fresh odd && mkfifo "$T/odd/notes.fifo" && mkdir "$T/odd/original"
expect 0 "warning: $T/odd/notes.fifo: a FIFO, not copied" "warning: $T/odd/original: a directory, not copied" -- \
    "$DFRT" compress "$T/odd" "$T/odd-df11"

# --- duplicate JSON keys ----------------------------------------------------------------------
fresh dupcfg && sed -i 's/"hidden_size": 64,/"hidden_size": 64, "hidden_size": 128,/' "$T/dupcfg/config.json"
expect 1 "$T/dupcfg/config.json: duplicate key \"hidden_size\"" -- "$DFRT" inspect "$T/dupcfg"
fresh duprope && sed -i 's/"rope_theta": 10000.0,/"rope_scaling": {"rope_type": "default", "factor": 1.0, "rope_type": "llama3"},/' \
    "$T/duprope/config.json"
expect 1 "$T/duprope/config.json: duplicate key \"rope_type\" in rope_scaling" -- "$DFRT" inspect "$T/duprope"
fresh duptok && printf '{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "a": 2}, "merges": []}}' > "$T/duptok/tokenizer.json"
expect 1 "$T/duptok/tokenizer.json: duplicate key \"a\" in model.vocab" -- "$DFRT" tokenize "$T/duptok" a
fresh dupidx sharded && sed -i '0,/"weight_map": {/s//"weight_map": {"lm_head.weight": "model-00001-of-00002.safetensors",/' \
    "$T/dupidx/model.safetensors.index.json"
expect 1 "model.safetensors.index.json: duplicate key \"lm_head.weight\" in weight_map" -- "$DFRT" inspect "$T/dupidx"
expect 1 "--pattern-dict: duplicate key \"lm_head\"" -- \
    "$DFRT" compress "$T/base" "$T/out" --pattern-dict '{"lm_head": [], "lm_head": []}'

# --- symbolic links and permissions in what compress and decompress copy -----------------------
echo "the secret" > "$T/secret.txt" && chmod 600 "$T/secret.txt"
fresh links && ln -s "$T/secret.txt" "$T/links/notes.txt" && ln -s tokenizer.json "$T/links/tok-link.json" \
    && ln -s "$T/nowhere" "$T/links/dangling.txt"
echo "private" > "$T/links/private.txt" && chmod 600 "$T/links/private.txt"
chmod 640 "$T/links/generation_config.json"
expect 0 "warning: $T/links/notes.txt: a symbolic link to a file outside $T/links, not copied" \
    "warning: $T/links/dangling.txt: a symbolic link that leads nowhere, not copied" -- \
    "$DFRT" compress "$T/links" "$T/links-df11"
[[ ! -e $T/links-df11/notes.txt && ! -e $T/links-df11/dangling.txt ]] && ok || bad "a link out of the directory was copied"
[[ -f $T/links-df11/tok-link.json && ! -L $T/links-df11/tok-link.json ]] && ok || bad "a link inside the directory was not copied"
[[ $(stat -c %a "$T/links-df11/private.txt") == 600 ]] && ok || bad "private.txt: $(stat -c %a "$T/links-df11/private.txt")"
[[ $(stat -c %a "$T/links-df11/generation_config.json") == 640 ]] && ok \
    || bad "generation_config.json: $(stat -c %a "$T/links-df11/generation_config.json")"
rm -f "$T/links-df11/tok-link.json" # (a copy now; the round trip below does not care)
ln -s "$T/secret.txt" "$T/links-df11/notes.txt"
expect 0 "warning: $T/links-df11/notes.txt: a symbolic link to a file outside $T/links-df11, not copied" -- \
    "$DFRT" decompress "$T/links-df11" "$T/links-back"
[[ ! -e $T/links-back/notes.txt && $(stat -c %a "$T/links-back/private.txt") == 600 ]] && ok || bad "decompress copied a link or widened a mode"
# a Hugging Face cache snapshot: every file a link into ../../blobs, which must keep working
mkdir -p "$T/hub/models--x/blobs" "$T/hub/models--x/snapshots/abc"
for f in "$T/base"/*; do
    cp "$f" "$T/hub/models--x/blobs/$(basename "$f").blob"
    ln -s "../../blobs/$(basename "$f").blob" "$T/hub/models--x/snapshots/abc/$(basename "$f")"
done
expect 0 "wrote $T/hub-df11" -- "$DFRT" compress "$T/hub/models--x/snapshots/abc" "$T/hub-df11"
[[ -f $T/hub-df11/tokenizer.json && -f $T/hub-df11/generation_config.json ]] && ok || bad "HF cache: $(ls "$T/hub-df11")"

# --- an index with a consolidated.safetensors beside it --------------------------------------
fresh mistral sharded && "$MKMODEL" "$T/cons" --layers 2 --seed 9 && cp "$T/cons/model.safetensors" "$T/mistral/consolidated.safetensors"
expect 0 "warning: $T/mistral/consolidated.safetensors: not listed in model.safetensors.index.json; not read as weights" -- \
    "$DFRT" inspect "$T/mistral"
expect 0 "wrote $T/mistral-df11" -- "$DFRT" compress "$T/mistral" "$T/mistral-df11"
size=$(du -sb "$T/mistral-df11" | cut -f1) base=$(du -sb "$T/base-df11" | cut -f1)
((size < base + base / 2)) && ok || bad "compress stored consolidated.safetensors: $size bytes against $base"
[[ ! -e $T/mistral-df11/consolidated.safetensors ]] && ok || bad "consolidated.safetensors copied"
# an index naming a file outside the directory
fresh escape sharded && sed -i 's|"model-00001-of-00002.safetensors"|"../base/model.safetensors"|' "$T/escape/model.safetensors.index.json"
expect 1 "is not the name of a file in the directory" -- "$DFRT" inspect "$T/escape"

# --- files that are not safetensors ----------------------------------------------------------
fresh passwd && printf 'root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n' > "$T/passwd/model.safetensors"
expect 1 "$T/passwd/model.safetensors: not a safetensors file" -- "$DFRT" inspect "$T/passwd"
out=$("$DFRT" inspect "$T/passwd" 2>&1)
[[ $out != *"root:x"* && ! $out =~ [0-9]{10} ]] && ok || bad "the file's bytes are in the message: $out"
# a duplicate tensor name is named as such (not as an overlap), in one file and across shards
fresh dupname sharded
cp "$T/dupname/model-00001-of-00002.safetensors" "$T/dupname/copy.safetensors" && rm "$T/dupname/model.safetensors.index.json"
expect 1 "duplicate tensor name" -- "$DFRT" inspect "$T/dupname"

# --- a shard of 200,000 empty tensors named like unit tensors -----------------------------------
fresh many && rm "$T/many/model.safetensors"
seq 0 199999 | awk 'BEGIN { printf "{" } { printf "%s\"model.layers.%d.encoded_exponent\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}", (NR > 1 ? "," : ""), $1 } END { printf "}" }' > "$T/many.json"
len=$(stat -c %s "$T/many.json")
{
    for i in 0 1 2 3 4 5 6 7; do printf "\\x$(printf %02x $(((len >> (8 * i)) & 255)))"; done
    cat "$T/many.json"
} > "$T/many/model.safetensors"
start=$(date +%s)
out=$(timeout 20 "$DFRT" inspect "$T/many" 2>&1)
rc=$?
[[ $rc -ne 124 && $rc -ne 0 && $out == *"model.layers."* ]] && ok || bad "inspect on 200,000 tensors: exit $rc after $(($(date +%s) - start)) s: $out"
rm -f "$T/many.json"

# --- caps and memory ------------------------------------------------------------------------------
fresh bigcfg && truncate -s $(((1 << 20) + 1)) "$T/bigcfg/config.json"
expect 1 "$T/bigcfg/config.json: too large: 1048577 bytes, more than the 1 MiB dfrt reads for this file" -- "$DFRT" inspect "$T/bigcfg"
truncate -s $(((64 << 20) + 1)) "$T/big-tokenizer.json"
expect 1 "$T/big-tokenizer.json: too large: 67108865 bytes, more than the 64 MiB" -- "$DFRT" tokenize "$T/big-tokenizer.json" a
rm -f "$T/big-tokenizer.json"
# a valid 40 MB tokenizer.json under a 1 GB address-space limit: out of memory, said so
if ldd "$DFRT" 2>/dev/null | grep -q 'libasan\|libtsan'; then
    echo "skipped: the memory-limit test (sanitizers reserve more address space than the limit)"
else
    block=$(printf '0,%.0s' $(seq 512))
    {
        printf '{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "padding": ['
        for _ in $(seq 40000); do printf '%s' "$block"; done
        printf '0]}'
    } > "$T/huge-tokenizer.json"
    expect 1 "$T/huge-tokenizer.json: out of memory while parsing JSON (41.0 MB)" -- \
        bash -c 'ulimit -v 1000000 && exec "$0" tokenize "$1" a' "$DFRT" "$T/huge-tokenizer.json"
    rm -f "$T/huge-tokenizer.json"
fi

# --- argument checks made before any work ------------------------------------------------------
expect 2 "OUT_DIR is an empty string" -- "$DFRT" compress "$T/base" ''
expect 2 "BF16_DIR is an empty string" -- "$DFRT" compress '' "$T/out"
expect 2 "OUT_DIR is an empty string" -- "$DFRT" decompress "$T/base-df11" ''
mkdir -p "$T/work" && cd "$T/work" || exit 1
expect 1 ".: not usable as the output directory" -- "$DFRT" compress "$T/base" .
expect 1 "..: not usable as the output directory" -- "$DFRT" compress "$T/base" ..
expect 1 "$T/base/..: not usable as the output directory" -- "$DFRT" decompress "$T/base-df11" "$T/base/.."
cd "$T" || exit 1
mkdir -p "$T/empty-target" && ln -s "$T/empty-target" "$T/link-out"
expect 1 "$T/link-out: is a symbolic link" -- "$DFRT" compress "$T/base" "$T/link-out"
expect 1 "$T/base/: is the input directory" -- "$DFRT" compress "$T/base" "$T/base/"
expect 1 "$T/base/sub: is inside the input directory $T/base" -- "$DFRT" compress "$T/base" "$T/base/sub"
expect 1 "$T/base-df11/sub: is inside the input directory" -- "$DFRT" decompress "$T/base-df11" "$T/base-df11/sub"
expect 1 "$T/no/such/out: cannot create output directory: $T/no/such: No such file or directory" -- \
    "$DFRT" compress "$T/base" "$T/no/such/out"
# refused before the model is read: a broken model gives the output's error, not the model's
fresh broken && echo '{' > "$T/broken/config.json"
expect 1 "$T/link-out: is a symbolic link" -- "$DFRT" compress "$T/broken" "$T/link-out"
refute "config.json" -- "$DFRT" compress "$T/broken" "$T/no/such/out"
expect 1 "--pattern-dict: not valid JSON" -- "$DFRT" compress "$T/broken" "$T/out" --pattern-dict '{x'
nothing_left "$T/out"

# A unit's file may not be the uncompressed tensors' model.safetensors, nor leave the directory.
expect 1 "pattern_dict: unit model would be written to model.safetensors" -- \
    "$DFRT" compress "$T/base" "$T/out" --pattern-dict '{"model": ["embed_tokens"]}'
nothing_left "$T/out"

finish
