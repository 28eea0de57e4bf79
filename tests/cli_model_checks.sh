#!/usr/bin/env bash
# The dfrt command on models that are incomplete or whose config.json disagrees with their
# weights: verify, decompress, run and inspect refuse them naming what is wrong, compress warns
# when it writes a model dfrt run refuses, names with control characters never reach the
# terminal raw, and tokenizers that do not fit the model are refused.
# usage: cli_model_checks.sh DFRT MKMODEL MODEL_DIR
set -u
DFRT=$1 MKMODEL=$2 MODEL=$3
source "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh" cli-model
# refute FRAGMENT: the last expect's output does not contain FRAGMENT
refute() {
    if [[ $out == *"$1"* ]]; then bad "unexpected \"$1\" in:"$'\n'"$out"; else ok; fi
}

# a fresh copy of the shipped model (Qwen3, DF11, 8 layers, vocab 4096)
fresh() {
    rm -rf "$T/m"
    cp -r "$MODEL" "$T/m"
}
config() { sed -i "$1" "$T/m/config.json"; }
RUN=(run --backend cpu --tokens 1,2 -n 1)

# st_file FILE NAME: a safetensors file holding one F32 tensor of shape [1] named NAME (NAME as
# JSON string text: \u001b is an ESC)
st_file() {
    local header="{\"$2\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}"
    while ((${#header} % 8)); do header+=" "; done
    local n=${#header}
    {
        printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x\\x00\\x00\\x00\\x00' $((n & 255)) $((n >> 8 & 255)) \
            $((n >> 16 & 255)) $((n >> 24 & 255)))"
        printf '%s' "$header"
        printf '\x00\x00\x80\x3f'
    } >"$1"
}

# --- the shipped model is complete and consistent --------------------------------------------
expect 0 "dfrt run      can run it" -- "$DFRT" inspect "$MODEL"
expect 0 '"can_run":'$'\t''true' '"reason":'$'\t''null' '"warnings":'$'\t''[]' -- "$DFRT" inspect "$MODEL" --json
expect 0 "verified 10 units" -- "$DFRT" verify "$MODEL"
refute "warning"

# --- a layer file missing: the whole weight set is checked ------------------------------------
fresh
rm "$T/m/model_layers_3.safetensors"
missing="11 of the weights Qwen3ForCausalLM with num_hidden_layers 8 needs are missing: model.layers.3 (all 11 of its weights)"
expect 1 "verification FAILED: $T/m: $missing" -- "$DFRT" verify "$T/m"
expect 1 "dfrt decompress: format error: $T/m: $missing" -- "$DFRT" decompress "$T/m" "$T/out"
if compgen -G "$T/out*" >/dev/null; then bad "a refused decompress left $(ls -d "$T/out"*)"; else ok; fi
expect 1 "$missing" -- "$DFRT" "${RUN[@]}" "$T/m"
expect 0 "dfrt run      cannot run it: $T/m: $missing" -- "$DFRT" inspect "$T/m"
# the BF16 twin: one shard per DF11 file; drop layer 3's and the index
"$DFRT" decompress "$MODEL" "$T/bf16" >/dev/null 2>&1 || bad "decompress the shipped model"
rm -rf "$T/b" && cp -r "$T/bf16" "$T/b"
shard=$(grep -o '"model.layers.3.mlp.up_proj.weight": "[^"]*"' "$T/b/model.safetensors.index.json" | sed 's/.*: "//; s/"//')
rm "$T/b/$shard" "$T/b/model.safetensors.index.json"
expect 1 "11 of the weights Qwen3ForCausalLM with num_hidden_layers 8 needs are missing: model.layers.3 (all 11" -- \
    "$DFRT" "${RUN[@]}" "$T/b"
# single weights missing are named one by one: a Llama model labelled Qwen3 has no q/k norms
"$MKMODEL" "$T/l2" --layers 2 || bad "mkmodel"
sed -i 's/LlamaForCausalLM/Qwen3ForCausalLM/' "$T/l2/config.json"
expect 1 "4 of the weights Qwen3ForCausalLM with num_hidden_layers 2 needs are missing: model.layers.0.self_attn.q_norm.weight, model.layers.0.self_attn.k_norm.weight, model.layers.1.self_attn.q_norm.weight, model.layers.1.self_attn.k_norm.weight" -- \
    "$DFRT" "${RUN[@]}" "$T/l2"
# more layers in config.json than in the weights
fresh
config 's/"num_hidden_layers": 8/"num_hidden_layers": 10/'
expect 1 "22 of the weights Qwen3ForCausalLM with num_hidden_layers 10 needs are missing: model.layers.8 .. model.layers.9 (all their weights) (the weights stop at model.layers.7: is num_hidden_layers right?)" -- \
    "$DFRT" verify "$T/m"

# --- config.json that disagrees with the weights -------------------------------------------------
# fewer layers than the weights hold
fresh
config 's/"num_hidden_layers": 8/"num_hidden_layers": 4/'
beyond="config.json says num_hidden_layers is 4, but the weights go up to model.layers.7: a model of 4 layers would run and 44 tensors would be left unused (model.layers.4."
expect 1 "dfrt run: format error: $T/m: $beyond" -- "$DFRT" "${RUN[@]}" "$T/m"
expect 0 "dfrt run      cannot run it: $T/m: $beyond" -- "$DFRT" inspect "$T/m"
expect 0 '"can_run":'$'\t''false' "\"reason\":"$'\t'"\"$T/m: config.json says num_hidden_layers is 4" -- "$DFRT" inspect "$T/m" --json
expect 1 "verification FAILED: $T/m: $beyond" -- "$DFRT" verify "$T/m"
# decompress carries every tensor over as it is, and warns
expect 0 "dfrt: warning: $T/m: $beyond" -- "$DFRT" decompress "$T/m" "$T/out"
rm -rf "$T/out"
# a Qwen3 model labelled Llama: its q/k norms would be dropped
fresh
config 's/Qwen3ForCausalLM/LlamaForCausalLM/'
qk="config.json says LlamaForCausalLM, which has no q_norm/k_norm, but the weights hold 16 of them (model.layers.0.self_attn.k_norm.weight, "
expect 1 "$T/m: $qk" "and 12 more), which would be left unused: is it a Qwen3ForCausalLM model?" -- "$DFRT" "${RUN[@]}" "$T/m"
expect 0 "dfrt run      cannot run it: $T/m: $qk" -- "$DFRT" inspect "$T/m"
expect 1 "verification FAILED: $T/m: $qk" -- "$DFRT" verify "$T/m"
# tied embeddings, but an lm_head present: it would be dropped
fresh
config 's/"tie_word_embeddings": false/"tie_word_embeddings": true/'
tied="config.json sets tie_word_embeddings, which makes model.embed_tokens.weight the output layer, but the weights hold their own lm_head.weight, which would be left unused"
expect 1 "$T/m: $tied" -- "$DFRT" "${RUN[@]}" "$T/m"
expect 0 "dfrt run      cannot run it: $T/m: $tied" -- "$DFRT" inspect "$T/m"
expect 1 "$tied" -- "$DFRT" verify "$T/m"
# the same on BF16 models made by mkmodel (no tokenizer: mkmodel's is a stub)
"$MKMODEL" "$T/q3" --arch Qwen3ForCausalLM --layers 2 || bad "mkmodel"
rm "$T/q3/tokenizer.json"
expect 0 "dfrt run      can run it" -- "$DFRT" inspect "$T/q3"
sed -i 's/Qwen3ForCausalLM/MistralForCausalLM/' "$T/q3/config.json"
expect 1 "config.json says MistralForCausalLM, which has no q_norm/k_norm, but the weights hold 4 of them" -- \
    "$DFRT" "${RUN[@]}" "$T/q3"
"$MKMODEL" "$T/l" --layers 3 || bad "mkmodel"
rm "$T/l/tokenizer.json"
sed -i 's/"tie_word_embeddings": false/"tie_word_embeddings": true/' "$T/l/config.json"
expect 1 "$T/l: $tied" -- "$DFRT" "${RUN[@]}" "$T/l"
sed -i 's/"tie_word_embeddings": true/"tie_word_embeddings": false/; s/"num_hidden_layers": 3/"num_hidden_layers": 2/' "$T/l/config.json"
expect 1 "config.json says num_hidden_layers is 2, but the weights go up to model.layers.2: a model of 2 layers would run and 9 tensors" -- \
    "$DFRT" "${RUN[@]}" "$T/l"

# --- tensors nothing uses -------------------------------------------------------------------------
# RoPE's inverse frequencies (old Llama checkpoints store them): accepted without a word
"$MKMODEL" "$T/rope" --layers 2 || bad "mkmodel"
rm "$T/rope/tokenizer.json"
st_file "$T/rope/extra.safetensors" "model.layers.0.self_attn.rotary_emb.inv_freq"
expect 0 "dfrt run      can run it" -- "$DFRT" inspect "$T/rope"
expect 0 "" -- "$DFRT" "${RUN[@]}" "$T/rope"
refute "warning"
# anything else: a warning naming it (transformers warns too), and the model runs
st_file "$T/rope/extra.safetensors" "model.vision_tower.weight"
expect 0 "dfrt: warning: $T/rope: dfrt run leaves 1 tensor unused: model.vision_tower.weight" -- "$DFRT" "${RUN[@]}" "$T/rope"
expect 0 "dfrt run      can run it" "warning: $T/rope: dfrt run leaves 1 tensor unused: model.vision_tower.weight" -- \
    "$DFRT" inspect "$T/rope"
expect 0 '"warnings":'$'\t''["' "dfrt run leaves 1 tensor unused: model.vision_tower.weight" -- "$DFRT" inspect "$T/rope" --json
# biases dfrt would not apply (o_proj has none in the executor)
st_file "$T/rope/extra.safetensors" "model.layers.1.self_attn.o_proj.bias"
expect 1 "1 bias tensor would be left unused (model.layers.1.self_attn.o_proj.bias)" -- "$DFRT" "${RUN[@]}" "$T/rope"

# --- an architecture dfrt does not know: what can be checked is, and a warning says so -----------
fresh
config 's/Qwen3ForCausalLM/FooForCausalLM/'
expect 0 "dfrt: warning: $T/m: dfrt does not know architecture \"FooForCausalLM\", so it cannot tell whether a weight is missing: it checked that each of the 8 layers (num_hidden_layers) has weights" -- \
    "$DFRT" verify "$T/m"
expect 0 "dfrt run      cannot run it: $T/m: architecture \"FooForCausalLM\" is not supported" -- "$DFRT" inspect "$T/m"
rm "$T/m/model_layers_3.safetensors"
expect 1 "verification FAILED: $T/m: config.json says num_hidden_layers is 8, but 1 layer has no weights: model.layers.3" -- \
    "$DFRT" verify "$T/m"

# --- compress warns when dfrt run would refuse what it wrote ---------------------------------------
"$MKMODEL" "$T/src" --layers 2 || bad "mkmodel"
rm "$T/src/tokenizer.json"
expect 0 "wrote $T/src-df11" -- "$DFRT" compress "$T/src" "$T/src-df11"
refute "warning"
expect 0 "dfrt: warning: $T/src-up: dfrt run will refuse this model: layer 0: dfrt runs DF11 layers whose unit holds the 7 projections in the order q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj (pattern_dict" \
    "wrote $T/src-up" -- "$DFRT" compress "$T/src" "$T/src-up" --pattern-dict '{"model\\.layers\\.\\d+": ["mlp.up_proj", "mlp.down_proj"]}'
expect 0 "dfrt run      cannot run it: $T/src-up: layer 0: dfrt runs DF11 layers" -- "$DFRT" inspect "$T/src-up"
expect 0 "dfrt run will refuse this model: model.norm.weight is compressed in DF11 unit model.norm; dfrt runs models whose norms and biases are stored uncompressed" -- \
    "$DFRT" compress "$T/src" "$T/src-norm" --pattern-dict '{"lm_head": [], "model\\.norm": []}'

# --- control characters in names and config strings never reach the terminal raw ----------------
has_esc() { LC_ALL=C grep -q $'[\x1b\x07]' <<<"$1"; }
fresh
st_file "$T/m/evil.safetensors" 'model.evil\u001b[2J\u0007.weight'
config 's/"model_type": "qwen3"/"model_type": "qwen3\\u001b]0;pwned\\u0007"/'
for args in "inspect $T/m" "inspect $T/m --json" "verify $T/m" "${RUN[*]} $T/m"; do
    expect 0 "" -- "$DFRT" $args
    has_esc "$out" && bad "ESC or BEL reached the output of dfrt $args: $(od -c <<<"$out" | head)" || ok
done
expect 0 'model.evil\x1B[2J\x07.weight' 'qwen3\x1B]0;pwned\x07' -- "$DFRT" inspect "$T/m"
expect 0 '"model.evil\u001b[2J\u0007.weight"' -- "$DFRT" inspect "$T/m" --json
config 's/"architectures": \[/"architectures": ["Qwen3\\u001bForCausalLM", /'
expect 0 'cannot run it: ' 'architecture "Qwen3\x1BForCausalLM" is not supported' -- "$DFRT" inspect "$T/m"
has_esc "$out" && bad "ESC reached inspect's output" || ok

# --- tokenizers that do not fit the model ----------------------------------------------------------
# tok_keep N: the shipped tokenizer.json cut to its first N ids (no merges)
tok_keep() {
    awk -v keep="$1" '
        /^    "vocab": \{/ { print; invocab = 1; next }
        invocab && /^    \},/ { invocab = 0; sub(/,$/, "", last); if (last != "") print last; print "    },"; print "    \"merges\": []"; print "  }"; print "}"; exit }
        invocab { id = $NF; sub(/,$/, "", id); if (id + 0 < keep) { if (last != "") print last ","; last = $0; sub(/,$/, "", last) } next }
        { print }' "$MODEL/tokenizer.json" >"$T/m/tokenizer.json"
}
fresh
tok_keep 4000 # 96 padding ids: normal
expect 0 "dfrt run      can run it" -- "$DFRT" inspect "$T/m"
expect 0 "" -- "$DFRT" "${RUN[@]}" "$T/m"
tok_keep 1000 # another model's tokenizer
expect 1 "$T/m/tokenizer.json has 1000 ids, fewer than half of the model's vocab_size 4096 (config.json): a tokenizer of another model?" -- \
    "$DFRT" "${RUN[@]}" "$T/m"
expect 0 "cannot run it: $T/m/tokenizer.json has 1000 ids" -- "$DFRT" inspect "$T/m"
tok_keep 3000
config 's/"eos_token_id": 0/"eos_token_id": 3500/'
expect 1 "$T/m/tokenizer.json has 3000 ids, but the end-of-sequence id 3500 (config.json, generation_config.json) is beyond them (vocab_size 4096)" -- \
    "$DFRT" "${RUN[@]}" "$T/m"
config 's/"eos_token_id": 3500/"eos_token_id": 0/; s/"bos_token_id": 0/"bos_token_id": 3999/'
expect 1 "$T/m/tokenizer.json has 3000 ids, but config.json's bos_token_id is 3999 (vocab_size 4096)" -- "$DFRT" "${RUN[@]}" "$T/m"
# ids outside the vocabulary
fresh
config 's/"eos_token_id": 0/"eos_token_id": 4294967310/'
expect 1 "config.json" "eos_token_id" "4294967310" -- "$DFRT" "${RUN[@]}" "$T/m"
fresh
echo '{"eos_token_id": [0, 4096]}' >"$T/m/generation_config.json"
expect 1 "$T/m/generation_config.json: eos_token_id 4096 is not an id of the vocabulary (vocab_size 4096)" -- "$DFRT" "${RUN[@]}" "$T/m"
echo '{"eos_token_id": "</s>"}' >"$T/m/generation_config.json"
expect 1 "$T/m/generation_config.json: eos_token_id must be an integer or a list of integers" -- "$DFRT" "${RUN[@]}" "$T/m"
echo '{"eos_token_id": [0,' >"$T/m/generation_config.json"
expect 1 "$T/m/generation_config.json" -- "$DFRT" "${RUN[@]}" "$T/m"

# --- DF11 on the CPU backend: one warning pointing to decompress -----------------------------------
expect 0 "dfrt: warning: $MODEL: DF11 on the CPU backend decodes every weight again for each token, which makes generating about 4x (small models) to 10x (4B parameters) slower than BF16; dfrt decompress makes a BF16 copy" -- \
    "$DFRT" "${RUN[@]}" "$MODEL"
[[ $(grep -c "slower than BF16" <<<"$out") == 1 ]] && ok || bad "the CPU warning is not given once: $out"
expect 0 "" -- "$DFRT" "${RUN[@]}" "$T/bf16"
refute "slower than BF16"

finish
