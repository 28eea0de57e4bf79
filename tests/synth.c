#include "synth.h"
#include "tensor_desc.h"

#include <math.h>

static uint16_t *alloc_bf16(uint64_t n) {
    uint16_t *p = malloc((n ? n : 1) * sizeof *p);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

uint16_t *synth_normal(test_rng *r, uint64_t n, double std) {
    uint16_t *p = alloc_bf16(n);
    for (uint64_t i = 0; i < n; i++) p[i] = test_bf16((float)(std * test_normal(r)));
    return p;
}

/* Random sign and mantissa around a given exponent. */
static uint16_t with_exponent(test_rng *r, unsigned e) {
    uint64_t x = test_rand(r);
    return (uint16_t)((x & 0x8000) | (e << 7) | (x & 0x7F));
}

static uint16_t *exponent_sequence(test_rng *r, uint64_t n, const uint8_t *exps, int n_exps) {
    uint16_t *p = alloc_bf16(n);
    for (uint64_t i = 0; i < n; i++) p[i] = with_exponent(r, exps[test_rand(r) % (uint64_t)n_exps]);
    return p;
}

static void shuffle(test_rng *r, uint16_t *p, uint64_t n) {
    for (uint64_t i = n; i > 1; i--) {
        uint64_t j = test_rand(r) % i;
        uint16_t t = p[i - 1];
        p[i - 1] = p[j];
        p[j] = t;
    }
}

static synth_case *add(synth_case **cases, int *n, int *cap, const char *label) {
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 32;
        *cases = realloc(*cases, (size_t)*cap * sizeof **cases);
        if (!*cases) exit(2);
    }
    synth_case *c = &(*cases)[(*n)++];
    memset(c, 0, sizeof *c);
    snprintf(c->label, sizeof c->label, "%s", label);
    c->n_parts = 1;
    return c;
}

/* A 1-bit-per-weight stream: one exponent value (EOF takes the other 1-bit code). */
static void one_bit_case(synth_case **cases, int *n, int *cap, test_rng *r, uint64_t weights, uint64_t bytes) {
    char label[96];
    snprintf(label, sizeof label, "one exponent, %llu weights (%llu stream bytes)", (unsigned long long)weights,
             (unsigned long long)bytes);
    synth_case *c = add(cases, n, cap, label);
    uint8_t e = 120;
    c->counts[0] = weights;
    c->parts[0] = exponent_sequence(r, weights, &e, 1);
    c->expect_bytes = bytes;
}

/* The stream ends on a byte boundary and its last code starts in chunk 0 but ends in chunk 1,
 * so chunk 1 has no output position of its own. A dominant 1-bit exponent, rare exponents
 * with long codes, and one long code last; the dominant count is searched for the layout. */
static void spill_case(synth_case **cases, int *n, int *cap, test_rng *r) {
    static const unsigned rare_counts[] = {1, 1, 2, 3, 5, 8, 13, 21, 34, 55};
    const int n_rare = (int)(sizeof rare_counts / sizeof *rare_counts);
    uint64_t n_rare_total = 0;
    for (int i = 0; i < n_rare; i++) n_rare_total += rare_counts[i];
    for (uint64_t k = 32000; k < 33000; k++) {
        uint64_t total = n_rare_total + k;
        uint16_t *p = alloc_bf16(total);
        uint64_t at = 0;
        for (int i = 0; i < n_rare; i++)
            for (unsigned j = 0; j < rare_counts[i] - (i == 0); j++) p[at++] = with_exponent(r, 60 + (unsigned)i);
        shuffle(r, p, at);
        for (uint64_t j = 0; j < k; j++) p[at++] = with_exponent(r, 126);
        p[at++] = with_exponent(r, 60); /* the rarest exponent: the longest code, last */
        dfrt_df11_encoded e;
        const uint16_t *parts[1] = {p};
        if (dfrt_df11_encode("spill", 1, parts, &total, NULL, NULL, &e) != DFRT_OK) {
            fprintf(stderr, "spill search: %s\n", dfrt_last_error());
            exit(2);
        }
        uint64_t n_chunks = (e.n_bytes + 4095) / 4096;
        int spill = e.n_positions == n_chunks;
        dfrt_df11_encoded_free(&e);
        if (spill) {
            synth_case *c = add(cases, n, cap, "byte-aligned end, last code spills into a new chunk");
            c->counts[0] = total;
            c->parts[0] = p;
            c->expect_spill = 1;
            return;
        }
        free(p);
    }
    fprintf(stderr, "spill search found no layout\n");
    exit(2);
}

int synth_cases(synth_case **out) {
    synth_case *cases = NULL;
    int n = 0, cap = 0;
    test_rng r = {12345};
    static const double stds[] = {0.02, 1.0, 1e-3, 60.0};
    for (size_t i = 0; i < sizeof stds / sizeof *stds; i++) {
        char label[96];
        snprintf(label, sizeof label, "normal weights, std %g", stds[i]);
        synth_case *c = add(&cases, &n, &cap, label);
        c->counts[0] = 300000;
        c->parts[0] = synth_normal(&r, c->counts[0], stds[i]);
    }
    {
        synth_case *c = add(&cases, &n, &cap, "one exponent value");
        uint8_t e = 121;
        c->counts[0] = 100000;
        c->parts[0] = exponent_sequence(&r, c->counts[0], &e, 1);
    }
    {
        synth_case *c = add(&cases, &n, &cap, "two exponent values");
        uint8_t e[2] = {3, 200};
        c->counts[0] = 100001;
        c->parts[0] = exponent_sequence(&r, c->counts[0], e, 2);
    }
    {
        synth_case *c = add(&cases, &n, &cap, "every exponent 0..239");
        uint8_t e[240];
        for (int i = 0; i < 240; i++) e[i] = (uint8_t)i;
        c->counts[0] = 240 * 1000 + 17;
        c->parts[0] = exponent_sequence(&r, c->counts[0], e, 240);
    }
    {
        /* Fibonacci counts make the most skewed tree: 36 symbols need 35-bit codes, so the
         * 32-bit limit must kick in. */
        synth_case *c = add(&cases, &n, &cap, "Fibonacci counts (codes over 32 bits before the limit)");
        uint64_t fib[36], total = 0;
        fib[0] = fib[1] = 1;
        for (int i = 2; i < 36; i++) fib[i] = fib[i - 1] + fib[i - 2];
        for (int i = 0; i < 36; i++) total += fib[i];
        uint16_t *p = alloc_bf16(total);
        uint64_t at = 0;
        for (int i = 0; i < 36; i++)
            for (uint64_t j = 0; j < fib[i]; j++) p[at++] = with_exponent(&r, 90 + (unsigned)i);
        shuffle(&r, p, total);
        c->counts[0] = total;
        c->parts[0] = p;
        c->expect_limited = 1;
    }
    /* Stream sizes: with one exponent every code is 1 bit; a bit count that is not a multiple
     * of 8 gets EOF's leading bits and one more byte. */
    one_bit_case(&cases, &n, &cap, &r, 1, 1);
    one_bit_case(&cases, &n, &cap, &r, 7, 1);
    one_bit_case(&cases, &n, &cap, &r, 56, 7);
    one_bit_case(&cases, &n, &cap, &r, 32760, 4095);
    one_bit_case(&cases, &n, &cap, &r, 32767, 4096);
    one_bit_case(&cases, &n, &cap, &r, 32768, 4096);
    one_bit_case(&cases, &n, &cap, &r, 32769, 4097);
    one_bit_case(&cases, &n, &cap, &r, 32776, 4097);
    spill_case(&cases, &n, &cap, &r);
    {
        synth_case *c = add(&cases, &n, &cap, "seven parts of odd sizes");
        static const uint64_t sizes[7] = {1, 3, 1001, 77777, 5, 4097, 32769};
        c->n_parts = 7;
        for (int i = 0; i < 7; i++) {
            c->counts[i] = sizes[i];
            c->parts[i] = synth_normal(&r, sizes[i], 0.02 * (i + 1));
        }
    }
    {
        synth_case *c = add(&cases, &n, &cap, "many chunks (3M weights, std 0.02)");
        c->counts[0] = 3000000;
        c->parts[0] = synth_normal(&r, c->counts[0], 0.02);
    }
    *out = cases;
    return n;
}

void synth_cases_free(synth_case *cases, int n) {
    for (int i = 0; i < n; i++)
        for (int p = 0; p < cases[i].n_parts; p++) free(cases[i].parts[p]);
    free(cases);
}

static void set_tensor(dfrt_tensor *t, const char *name, dfrt_dtype dtype, int n_dims, int64_t d0, int64_t d1,
                       const void *data) {
    tensor_describe(t, name, "memory", dtype, n_dims, d0, d1);
    t->data = data;
}

void mem_unit_wrap(mem_unit *m, const char *name, const dfrt_df11_encoded *e) {
    (void)name;
    set_tensor(&m->t[0], "unit.luts", DFRT_DTYPE_U8, 2, (int64_t)e->n_tables + 1, 256, e->luts);
    set_tensor(&m->t[1], "unit.encoded_exponent", DFRT_DTYPE_U8, 1, (int64_t)e->n_bytes, 0, e->stream);
    set_tensor(&m->t[2], "unit.sign_mantissa", DFRT_DTYPE_U8, 1, (int64_t)e->n, 0, e->sign_mantissa);
    set_tensor(&m->t[3], "unit.output_positions", DFRT_DTYPE_U8, 1, 4 * (int64_t)e->n_positions, 0,
               e->output_positions);
    set_tensor(&m->t[4], "unit.gaps", DFRT_DTYPE_U8, 1, (int64_t)e->gaps_bytes, 0, e->gaps);
    set_tensor(&m->t[5], "unit.split_positions", DFRT_DTYPE_I64, 1, (int64_t)e->n_splits, 0, e->split_positions);
    m->ts = (dfrt_df11_tensors){&m->t[0], &m->t[1], &m->t[2], &m->t[3], &m->t[4], &m->t[5]};
}

typedef struct named_tensor {
    char name[160];
    int n_dims;
    int64_t shape[2];
    uint16_t *bf16;
    float *f32;
} named_tensor;

int synth_model(const char *dir, const synth_model_opts *in) {
    synth_model_opts o = *in;
    if (!o.arch) o.arch = "LlamaForCausalLM";
    if (!o.layers) o.layers = 2;
    if (!o.hidden) o.hidden = 64;
    if (!o.heads) o.heads = 4;
    if (!o.kv_heads) o.kv_heads = 2;
    if (!o.inter) o.inter = 96;
    if (!o.vocab) o.vocab = 300;
    if (!o.shards) o.shards = 1;
    if (o.std == 0) o.std = 0.02;
    int head_dim = o.hidden / o.heads;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    if (system(cmd) != 0) return 1;
    int cap = 16 + o.layers * 16, n = 0;
    named_tensor *t = calloc((size_t)cap, sizeof *t);
    test_rng r = {o.seed ? o.seed : 1};
#define ADD2(nm, rows, cols) \
    do { \
        named_tensor *x = &t[n++]; \
        snprintf(x->name, sizeof x->name, "%s", nm); \
        x->n_dims = 2; \
        x->shape[0] = rows; \
        x->shape[1] = cols; \
    } while (0)
#define ADD1(nm, len) \
    do { \
        named_tensor *x = &t[n++]; \
        snprintf(x->name, sizeof x->name, "%s", nm); \
        x->n_dims = 1; \
        x->shape[0] = len; \
    } while (0)
    ADD2("model.embed_tokens.weight", o.vocab, o.hidden);
    if (!o.tied) ADD2("lm_head.weight", o.vocab, o.hidden);
    ADD1("model.norm.weight", o.hidden);
    for (int l = 0; l < o.layers; l++) {
        char nm[160];
#define LAYER(suffix) (snprintf(nm, sizeof nm, "model.layers.%d.%s", l, suffix), nm)
        ADD2(LAYER("self_attn.q_proj.weight"), o.heads * head_dim, o.hidden);
        ADD2(LAYER("self_attn.k_proj.weight"), o.kv_heads * head_dim, o.hidden);
        ADD2(LAYER("self_attn.v_proj.weight"), o.kv_heads * head_dim, o.hidden);
        ADD2(LAYER("self_attn.o_proj.weight"), o.hidden, o.heads * head_dim);
        ADD2(LAYER("mlp.gate_proj.weight"), o.inter, o.hidden);
        ADD2(LAYER("mlp.up_proj.weight"), o.inter, o.hidden);
        ADD2(LAYER("mlp.down_proj.weight"), o.hidden, o.inter);
        ADD1(LAYER("input_layernorm.weight"), o.hidden);
        ADD1(LAYER("post_attention_layernorm.weight"), o.hidden);
        if (o.bias) {
            ADD1(LAYER("self_attn.q_proj.bias"), o.heads * head_dim);
            ADD1(LAYER("self_attn.k_proj.bias"), o.kv_heads * head_dim);
            ADD1(LAYER("self_attn.v_proj.bias"), o.kv_heads * head_dim);
        }
        if (strcmp(o.arch, "Qwen3ForCausalLM") == 0) {
            ADD1(LAYER("self_attn.q_norm.weight"), head_dim);
            ADD1(LAYER("self_attn.k_norm.weight"), head_dim);
        }
#undef LAYER
    }
    for (int i = 0; i < n; i++) {
        uint64_t count = (uint64_t)t[i].shape[0] * (uint64_t)(t[i].n_dims == 2 ? t[i].shape[1] : 1);
        int is_norm = strstr(t[i].name, "norm") != NULL;
        if (o.f32_tensor && strcmp(t[i].name, o.f32_tensor) == 0) {
            t[i].f32 = malloc(count * 4);
            for (uint64_t k = 0; k < count; k++) t[i].f32[k] = (float)(o.std * test_normal(&r));
            continue;
        }
        t[i].bf16 = malloc(count * 2);
        for (uint64_t k = 0; k < count; k++)
            t[i].bf16[k] = test_bf16(is_norm ? (float)(1.0 + 0.1 * test_normal(&r)) : (float)(o.std * test_normal(&r)));
        if (o.inf_tensor && strcmp(t[i].name, o.inf_tensor) == 0 && count > 5) t[i].bf16[5] = 0x7F80;
    }
    /* Phi-3: q, k, v (gate, up) joined row-wise into one tensor, under the first's entry */
    if (strcmp(o.arch, "Phi3ForCausalLM") == 0) {
        int w = 0;
        for (int i = 0; i < n; i++) {
            named_tensor *x = &t[i];
            int join = strstr(x->name, "q_proj.weight") ? 3 : strstr(x->name, "gate_proj.weight") ? 2 : 0;
            if (join) {
                uint64_t rows = 0, cols = (uint64_t)x->shape[1];
                for (int k = 0; k < join; k++) rows += (uint64_t)x[k].shape[0];
                uint16_t *d = malloc(rows * cols * 2);
                uint64_t at = 0;
                for (int k = 0; k < join; k++) {
                    memcpy(d + at, x[k].bf16, (uint64_t)x[k].shape[0] * cols * 2);
                    at += (uint64_t)x[k].shape[0] * cols;
                    if (k) free(x[k].bf16);
                }
                free(x->bf16);
                x->bf16 = d;
                x->shape[0] = (int64_t)rows;
                char *dot = strstr(x->name, join == 3 ? "q_proj" : "gate_proj");
                snprintf(dot, sizeof x->name - (size_t)(dot - x->name), "%s", join == 3 ? "qkv_proj.weight" : "gate_up_proj.weight");
                t[w++] = *x;
                i += join - 1;
                continue;
            }
            t[w++] = *x;
        }
        n = w;
    }
    /* Shards: tensors dealt round-robin. */
    char path[1024];
    FILE *index = NULL;
    if (o.shards > 1) {
        snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
        index = fopen(path, "w");
        fprintf(index, "{\"metadata\": {}, \"weight_map\": {");
    }
    int rc = 0;
    for (int s = 0; s < o.shards; s++) {
        if (o.shards == 1) snprintf(path, sizeof path, "%s/model.safetensors", dir);
        else snprintf(path, sizeof path, "%s/model-%05d-of-%05d.safetensors", dir, s + 1, o.shards);
        dfrt_st_writer *w;
        if (dfrt_st_writer_create(path, &w) != DFRT_OK) return 1;
        dfrt_st_writer_set_metadata(w, "format", "pt");
        for (int i = s; i < n; i += o.shards) {
            dfrt_status st = t[i].f32 ? dfrt_st_writer_add(w, t[i].name, DFRT_DTYPE_F32, t[i].n_dims, t[i].shape, t[i].f32)
                                      : dfrt_st_writer_add(w, t[i].name, DFRT_DTYPE_BF16, t[i].n_dims, t[i].shape, t[i].bf16);
            if (st != DFRT_OK) rc = 1;
            if (index) fprintf(index, "%s\"%s\": \"model-%05d-of-%05d.safetensors\"", i ? ", " : "", t[i].name, s + 1, o.shards);
        }
        if (dfrt_st_writer_finish(w) != DFRT_OK) rc = 1;
    }
    if (index) {
        fprintf(index, "}}\n");
        fclose(index);
    }
    snprintf(path, sizeof path, "%s/config.json", dir);
    char window[16] = "null";
    if (o.sliding_window) snprintf(window, sizeof window, "%d", o.sliding_window);
    FILE *f = fopen(path, "w");
    fprintf(f,
            "{\n  \"architectures\": [\n    \"%s\"\n  ],\n  \"hidden_size\": %d,\n  \"intermediate_size\": %d,\n"
            "  \"num_hidden_layers\": %d,\n  \"num_attention_heads\": %d,\n  \"num_key_value_heads\": %d,\n"
            "  \"head_dim\": %d,\n  \"vocab_size\": %d,\n  \"rms_norm_eps\": 1e-05,\n  \"rope_theta\": 10000.0,\n"
            "  \"tie_word_embeddings\": %s,\n  \"torch_dtype\": \"bfloat16\",\n  \"bos_token_id\": 1,\n"
            "  \"partial_rotary_factor\": %g,\n  \"sliding_window\": %s,\n  \"eos_token_id\": 2\n}\n",
            o.arch, o.hidden, o.inter, o.layers, o.heads, o.kv_heads, head_dim, o.vocab, o.tied ? "true" : "false",
            o.partial_rotary ? o.partial_rotary : 1.0, window);
    fclose(f);
    snprintf(path, sizeof path, "%s/generation_config.json", dir);
    f = fopen(path, "w");
    fprintf(f, "{\"bos_token_id\": 1, \"eos_token_id\": 2}\n");
    fclose(f);
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    f = fopen(path, "w");
    fprintf(f, "{\"version\": \"1.0\", \"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}\n");
    fclose(f);
    for (int i = 0; i < n; i++) {
        free(t[i].bf16);
        free(t[i].f32);
    }
    free(t);
    return rc;
#undef ADD1
#undef ADD2
}
