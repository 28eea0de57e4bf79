/* Synthetic BF16 data and DF11 units for tests: the edge cases of the format. */
#ifndef DFRT_SYNTH_H
#define DFRT_SYNTH_H

#include "test.h"

#define SYNTH_MAX_PARTS 8

/* One unit's worth of BF16 arrays. */
typedef struct synth_case {
    char label[96];
    int n_parts;
    uint64_t counts[SYNTH_MAX_PARTS];
    uint16_t *parts[SYNTH_MAX_PARTS];
    /* What the encoder must produce, when the case pins it (0 = not pinned). */
    uint64_t expect_bytes;
    int expect_spill;   /* stream ends byte-aligned and the last code opens a new chunk */
    int expect_limited; /* the 32-bit limit must kick in */
} synth_case;

/* The table of edge cases (normal weights of several std, one and two exponent values, all
 * 240 values, Fibonacci counts, stream sizes around 1/7/4096 bytes, weight counts around
 * 32768, the chunk-spill case, several parts of odd sizes). Returns the count. */
int synth_cases(synth_case **out);
void synth_cases_free(synth_case *cases, int n);

/* Normal weights with the given standard deviation. */
uint16_t *synth_normal(test_rng *r, uint64_t n, double std);

/* A DF11 unit held in memory: six tensors over an encoder's output. */
typedef struct mem_unit {
    dfrt_tensor t[6];
    dfrt_df11_tensors ts;
} mem_unit;
void mem_unit_wrap(mem_unit *m, const char *name, const dfrt_df11_encoded *e);

#endif

/* A synthetic Hugging Face BF16 model directory. */
typedef struct synth_model_opts {
    const char *arch;     /* default "LlamaForCausalLM" */
    int layers, hidden, heads, kv_heads, inter, vocab;
    int tied;             /* tie_word_embeddings: no lm_head.weight */
    int shards;           /* safetensors files (with an index when > 1) */
    double std;           /* weight std (default 0.02) */
    uint64_t seed;
    const char *inf_tensor; /* put +inf into this tensor's element 5 */
    const char *f32_tensor; /* store this tensor as F32 */
    int bias;             /* q/k/v biases (Qwen2 style) */
    /* Phi3ForCausalLM: the same weights as the Llama model of the same seed, q|k|v and gate|up
     * fused into qkv_proj and gate_up_proj; partial_rotary_factor and sliding_window in
     * config.json when non-zero */
    double partial_rotary;
    int sliding_window;
} synth_model_opts;

/* Writes config.json, weights, generation_config.json and a small tokenizer.json. Returns 0
 * on success. */
int synth_model(const char *dir, const synth_model_opts *o);
