/* The executor against transformers' goldens for the shipped model, on the CPU and on every
 * available backend; DF11 against its decompressed BF16 twin (bit-identical logits, one
 * sequence and 8 and 64 at once); the same greedy tokens on every backend; bad input, each
 * with its message. Prints "backend NAME: N passed, N failed, N skipped" per backend. */
#include "test.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>

#define N_PROMPTS 5
#define N_GREEDY 48

typedef struct golden {
    int32_t ids[N_PROMPTS][64];
    int n_ids[N_PROMPTS];
    int32_t greedy[N_PROMPTS][N_GREEDY];
    float *logits[N_PROMPTS]; /* fp32 last-position logits */
} golden;


static void load_golden(golden *g) {
    char path[1024];
    snprintf(path, sizeof path, "%s/kjv-qwen3-golden/golden.json", test_data_dir());
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(2);
    }
    static char text[1 << 20];
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = '\0';
    cJSON *root = cJSON_Parse(text);
    const cJSON *prompts = cJSON_GetObjectItemCaseSensitive(root, "prompts");
    if (cJSON_GetArraySize(prompts) != N_PROMPTS) exit(2);
    for (int p = 0; p < N_PROMPTS; p++) {
        const cJSON *pr = cJSON_GetArrayItem(prompts, p), *e;
        g->n_ids[p] = 0;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(pr, "ids")) g->ids[p][g->n_ids[p]++] = (int32_t)e->valuedouble;
        int k = 0;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(pr, "greedy_fp32")) g->greedy[p][k++] = (int32_t)e->valuedouble;
        snprintf(path, sizeof path, "%s/kjv-qwen3-golden/last_logits_fp32_%d.f32", test_data_dir(), p);
        g->logits[p] = malloc(4096 * sizeof(float));
        f = fopen(path, "rb");
        if (!f || fread(g->logits[p], sizeof(float), 4096, f) != 4096) exit(2);
        fclose(f);
    }
    cJSON_Delete(root);
}

typedef struct result {
    int32_t tokens[N_PROMPTS][N_GREEDY];
    float *logits[N_PROMPTS];
} result;

static bool collect(void *user, int seq, int32_t token) {
    (void)seq;
    int32_t **at = user;
    *(*at)++ = token;
    return true;
}

static dfrt_status run_prompts(dfrt_model *m, const golden *g, result *r) {
    for (int p = 0; p < N_PROMPTS; p++) {
        int32_t *at = r->tokens[p];
        r->logits[p] = malloc(4096 * sizeof(float));
        dfrt_generate_options o = {.max_new_tokens = N_GREEDY, .n_sequences = 1, .ignore_eos = true, .on_token = collect,
                                   .user = &at, .last_logits = r->logits[p]};
        dfrt_status st = dfrt_generate(m, g->ids[p], (size_t)g->n_ids[p], &o, NULL);
        if (st != DFRT_OK) return st;
    }
    return DFRT_OK;
}

static void free_result(result *r) {
    for (int p = 0; p < N_PROMPTS; p++) free(r->logits[p]);
}

typedef struct target {
    char label[128];
    int passed, failed, skipped;
} target;

static target *cur;

#define EXPECT(cond, ...) \
    do { \
        if (cond) cur->passed++; \
        else { \
            cur->failed++; \
            fprintf(stderr, "FAIL [%s] ", cur->label); \
            fprintf(stderr, __VA_ARGS__); \
            fprintf(stderr, "\n"); \
        } \
    } while (0)

/* Goldens: logits within tol x max|logit|, and the first n_tokens greedy tokens equal. */
static void check_golden(const golden *g, const result *r, double tol, int n_tokens) {
    for (int p = 0; p < N_PROMPTS; p++) {
        double max = 0, err = 0;
        for (int i = 0; i < 4096; i++) {
            max = fmax(max, fabs(g->logits[p][i]));
            err = fmax(err, isfinite(r->logits[p][i]) ? fabs((double)g->logits[p][i] - r->logits[p][i]) : INFINITY);
        }
        EXPECT(err <= tol * max, "prompt %d: last-position logits differ from the golden by %.3g x max|logit| (limit %g)",
               p, err / max, tol);
        int same = 0;
        while (same < N_GREEDY && r->tokens[p][same] == g->greedy[p][same]) same++;
        EXPECT(same >= n_tokens, "prompt %d: greedy tokens agree with the golden for %d tokens, expected %d", p, same,
               n_tokens);
    }
}

/* DF11 and its BF16 twin with several sequences at once, on the same backend: a prefill of B
 * sequences of 3 tokens each (their own tokens; matmuls at M = 3B), then one decode step of B
 * rows (M = B), for B = 8 and 64; the logits of every sequence bit-identical at both steps. */
static void batched_twin(dfrt_backend *b, const char *df11_dir, const char *bf16_dir) {
    enum { MAX_B = 64, PROMPT = 3 };
    dfrt_model_options o = {.max_context = 8, .max_batch = MAX_B};
    dfrt_model *m[2] = {NULL, NULL};
    dfrt_status s = dfrt_model_load(b, df11_dir, &o, &m[0]);
    if (s == DFRT_OK) s = dfrt_model_load(b, bf16_dir, &o, &m[1]);
    EXPECT(s == DFRT_OK, "batched DF11 and BF16 models: %s", dfrt_last_error());
    const int64_t vocab = s == DFRT_OK ? dfrt_model_config(m[0])->vocab_size : 0;
    static const int batches[2] = {8, MAX_B};
    for (int bi = 0; bi < 2 && s == DFRT_OK; bi++) {
        const int B = batches[bi];
        int32_t tokens[PROMPT * MAX_B], slots[PROMPT * MAX_B], positions[PROMPT * MAX_B];
        uint32_t logit_rows[MAX_B];
        float *lg[2] = {malloc((size_t)B * vocab * sizeof(float)), malloc((size_t)B * vocab * sizeof(float))};
        for (int step = 0; step < 2 && s == DFRT_OK; step++) {
            const int rows = step == 0 ? PROMPT * B : B;
            for (int r = 0; r < rows; r++) {
                int seq = step == 0 ? r / PROMPT : r;
                tokens[r] = (int32_t)((7 + 131 * seq + 17 * r + 1000 * step) % vocab);
                slots[r] = seq;
                positions[r] = step == 0 ? r % PROMPT : PROMPT;
            }
            for (int q = 0; q < B; q++) logit_rows[q] = step == 0 ? (uint32_t)(PROMPT * q + PROMPT - 1) : (uint32_t)q;
            for (int k = 0; k < 2 && s == DFRT_OK; k++)
                s = dfrt_model_forward(m[k], tokens, slots, positions, (uint32_t)rows, logit_rows, (uint32_t)B, lg[k], NULL);
            EXPECT(s == DFRT_OK, "batch %d %s: %s", B, step ? "decode" : "prefill", dfrt_last_error());
            if (s != DFRT_OK) break;
            size_t first = 0, n = (size_t)B * vocab;
            while (first < n && memcmp(&lg[0][first], &lg[1][first], sizeof(float)) == 0) first++;
            EXPECT(first == n, "batch %d %s: DF11 and BF16 logits differ first at sequence %zu, token %zu (%.9g vs %.9g)", B,
                   step ? "decode" : "prefill", first / vocab, first % vocab, first < n ? lg[0][first] : 0.0,
                   first < n ? lg[1][first] : 0.0);
        }
        free(lg[0]);
        free(lg[1]);
    }
    dfrt_model_free(m[0]);
    dfrt_model_free(m[1]);
}

/* The default BF16 KV cache (the BF16 twin; batched_twin runs DF11 against it with this
 * cache): keys and values rounded to BF16 move the logits by up to ~2e-3 x max|logit| on the
 * CPU (measured: 1.0e-3 .. 2.3e-3 over the prompts) and the greedy tokens after a few dozen;
 * the goldens within 5e-3 (GPUs: 2e-2, as with fp32) and 16 tokens. */
static void bf16_kv_cache(dfrt_backend *b, const char *bf16_dir, const golden *g, bool is_cpu) {
    dfrt_model *m = NULL;
    result r = {0};
    dfrt_status s = dfrt_model_load(b, bf16_dir, NULL, &m);
    EXPECT(s == DFRT_OK && dfrt_model_kv_type(m) == DFRT_KV_BF16, "BF16 KV cache: %s", dfrt_last_error());
    if (s == DFRT_OK) s = run_prompts(m, g, &r);
    EXPECT(s == DFRT_OK, "BF16 KV cache: %s", dfrt_last_error());
    if (s == DFRT_OK) check_golden(g, &r, is_cpu ? 5e-3 : 2e-2, 16);
    free_result(&r);
    dfrt_model_free(m);
}

/* Offloaded layers (units in host memory, copied to a slot before each use) give the logits
 * and tokens of op-by-op passes with every layer on the device, bit for bit (the first prompt,
 * 12 tokens): the last layer, two, every one, and weight budgets from a tenth of the weights
 * to all of them; budgets too
 * small and BF16 layers are refused with their messages. */
static void offloaded(dfrt_backend *b, const char *df11_dir, const char *bf16_dir, const golden *g, const result *ref) {
    dfrt_checkpoint *cp = NULL;
    uint64_t weights = 0;
    if (dfrt_checkpoint_open(df11_dir, &cp) == DFRT_OK) {
        for (size_t i = 0; i < dfrt_checkpoint_unit_count(cp); i++)
            weights += dfrt_df11_device_bytes(dfrt_checkpoint_unit(cp, i), dfrt_backend_df11_layout(b));
        dfrt_checkpoint_close(cp);
    }
    int n_layers = 0, partial = 0, last_off = 1 << 30;
    enum { LIGHT = 12 }; /* prompt 0 and 12 tokens: the whole suite would take minutes here */
    for (int k = 0; k < 9; k++) {
        dfrt_model_options o = {.eager = 1, .kv_f32 = 1};
        char what[64];
        if (k < 3) {
            o.offload_layers = k == 0 ? 1 : k == 1 ? 2 : -1;
            snprintf(what, sizeof what, "offload_layers %d", o.offload_layers);
        } else {
            o.weight_budget = weights * (uint64_t)(2 * k - 5) / 10; /* 0.1, 0.3 .. 1.1 of the weights */
            snprintf(what, sizeof what, "weight_budget %.1f x the weights", (2 * k - 5) / 10.0);
        }
        dfrt_model *m = NULL;
        int32_t tokens[LIGHT], *at = tokens;
        float *logits = malloc(4096 * sizeof *logits);
        dfrt_status s = dfrt_model_load(b, df11_dir, &o, &m);
        if (s == DFRT_OUT_OF_MEMORY && o.weight_budget) { /* less than the tables and the slots */
            EXPECT(strstr(dfrt_last_error(), "a weight budget of") != NULL, "%s: refused with: %s", what,
                   dfrt_last_error());
            free(logits);
            continue;
        }
        dfrt_generate_options go = {.max_new_tokens = LIGHT, .n_sequences = 1, .ignore_eos = true, .on_token = collect,
                                    .user = &at, .last_logits = logits};
        if (s == DFRT_OK) s = dfrt_generate(m, g->ids[0], (size_t)g->n_ids[0], &go, NULL);
        EXPECT(s == DFRT_OK, "%s: %s", what, dfrt_last_error());
        if (s == DFRT_OK) {
            n_layers = (int)dfrt_model_config(m)->n_layers;
            uint64_t copies = 0;
            int off = dfrt_model_offloaded_layers(m, &copies, NULL);
            int want = k == 0 ? 1 : k == 1 ? 2 : k == 2 ? n_layers : off;
            EXPECT(off == want && (off == 0 || copies > 0), "%s: %d layers offloaded (%llu copies), expected %d", what,
                   off, (unsigned long long)copies, want);
            if (k >= 3) {
                EXPECT(off <= last_off, "%s: %d layers offloaded, more than with a smaller budget (%d)", what, off, last_off);
                last_off = off;
                partial += off > 0 && off < n_layers;
            }
            if (k == 8) EXPECT(off == 0, "%s: %d layers offloaded with room for all", what, off);
            EXPECT(memcmp(ref->logits[0], logits, 4096 * sizeof(float)) == 0 &&
                       memcmp(ref->tokens[0], tokens, sizeof tokens) == 0,
                   "%s: logits or tokens differ from the resident model's", what);
        }
        free(logits);
        dfrt_model_free(m);
    }
    EXPECT(partial > 0, "no weight budget offloaded some layers but not all");
    dfrt_model *m = NULL;
    CHECK_ERROR(dfrt_model_load(b, df11_dir, &(dfrt_model_options){.weight_budget = 1}, &m), DFRT_OUT_OF_MEMORY,
                "a weight budget of");
    dfrt_model_free(m);
    m = NULL;
    CHECK_ERROR(dfrt_model_load(b, bf16_dir, &(dfrt_model_options){.offload_layers = 1}, &m), DFRT_UNSUPPORTED,
                "is BF16; offloading keeps DF11 layer units in host memory");
    dfrt_model_free(m);
    m = NULL;
    CHECK_ERROR(dfrt_model_load(b, df11_dir, &(dfrt_model_options){.offload_layers = 1, .weight_budget = 1 << 30}, &m),
                DFRT_INVALID_ARGUMENT, "not both");
    dfrt_model_free(m);
    m = NULL;
    CHECK_ERROR(dfrt_model_load(b, df11_dir, &(dfrt_model_options){.offload_layers = 1000}, &m), DFRT_INVALID_ARGUMENT,
                "offload_layers 1000");
    dfrt_model_free(m);
}

/* Layer split over logical devices of the backend (the same device opened again, which runs
 * the hand-off between devices as two GPUs would, through dfrt_buffer_copy): the DF11 and BF16
 * models over two and three devices give the single device's logits and tokens bit for bit
 * (ref: DF11 recorded passes, ref_bf16: the BF16 twin's, when given), recorded and op by op;
 * the parts cover the layers in order, the first with the embedding, the last with lm_head;
 * shares move layers; bad splits are refused with their messages. */
static void split(dfrt_backend *b, const char *df11_dir, const char *bf16_dir, const golden *g, const result *ref) {
    const int dev = dfrt_backend_info(b)->index;
    struct {
        const char *what, *dir;
        int n, eager;
        double shares[3];
    } cases[] = {
        {"DF11 on 2 devices", df11_dir, 2, 0, {0}},
        {"DF11 on 2 devices, op by op", df11_dir, 2, 1, {0}},
        {"DF11 on 3 devices, shares 1:2:1", df11_dir, 3, 0, {1, 2, 1}},
        {"BF16 on 2 devices, shares 3:1", bf16_dir, 2, 0, {3, 1}},
    };
    result bf16_ref = {0};
    dfrt_model *twin = NULL;
    dfrt_status s = dfrt_model_load(b, bf16_dir, &(dfrt_model_options){.kv_f32 = 1}, &twin);
    if (s == DFRT_OK) s = run_prompts(twin, g, &bf16_ref);
    EXPECT(s == DFRT_OK, "split: the BF16 twin on one device: %s", dfrt_last_error());
    dfrt_model_free(twin);
    for (size_t c = 0; c < sizeof cases / sizeof *cases && s == DFRT_OK; c++) {
        dfrt_model_options o = {.kv_f32 = 1, .eager = cases[c].eager, .n_devices = cases[c].n};
        for (int i = 0; i < cases[c].n; i++) {
            o.devices[i] = dev;
            o.device_shares[i] = cases[c].shares[i];
        }
        dfrt_model *m = NULL;
        result r = {0};
        dfrt_status st = dfrt_model_load(b, cases[c].dir, &o, &m);
        if (st == DFRT_OK) st = run_prompts(m, g, &r);
        EXPECT(st == DFRT_OK, "%s: %s", cases[c].what, dfrt_last_error());
        if (st == DFRT_OK) {
            const result *want = cases[c].dir == df11_dir ? ref : &bf16_ref;
            for (int p = 0; p < N_PROMPTS; p++)
                EXPECT(memcmp(want->logits[p], r.logits[p], 4096 * sizeof(float)) == 0 &&
                           memcmp(want->tokens[p], r.tokens[p], sizeof r.tokens[p]) == 0,
                       "%s: prompt %d: logits or tokens differ from one device's", cases[c].what, p);
            dfrt_model_device parts[4];
            int n = dfrt_model_devices(m, parts, 4);
            uint32_t next = 0, n_layers = (uint32_t)dfrt_model_config(m)->n_layers;
            uint64_t bytes = 0;
            bool ok = n == cases[c].n && parts[0].backend == b;
            for (int i = 0; ok && i < n; i++) {
                ok = parts[i].first_layer == next && parts[i].n_layers > 0 && parts[i].embedding == (i == 0) &&
                     parts[i].lm_head == (i == n - 1) && parts[i].device_bytes > 0 &&
                     dfrt_backend_info(parts[i].backend)->index == dev && (i == 0 || parts[i].backend != b);
                next += parts[i].n_layers;
                bytes += parts[i].device_bytes;
            }
            EXPECT(ok && next == n_layers && bytes == dfrt_model_device_bytes(m),
                   "%s: %d parts that do not cover the %u layers in order, embedding first, lm_head last", cases[c].what,
                   n, n_layers);
            if (ok && cases[c].shares[0] == 3) /* 3:1: the first device runs the most */
                EXPECT(parts[0].n_layers > parts[1].n_layers, "%s: %u and %u layers", cases[c].what, parts[0].n_layers,
                       parts[1].n_layers);
            if (ok && cases[c].n == 3) /* 1:2:1: the middle one, with no table, the most */
                EXPECT(parts[1].n_layers > parts[0].n_layers && parts[1].n_layers > parts[2].n_layers,
                       "%s: %u, %u and %u layers", cases[c].what, parts[0].n_layers, parts[1].n_layers,
                       parts[2].n_layers);
        }
        free_result(&r);
        dfrt_model_free(m);
    }
    /* tensor parallelism over two ranks: every layer on each, the first with the tables; DF11
     * and BF16 bit for bit alike (each rank's DF11 share decodes to its BF16 share); against one
     * device, fp32 rounding of the summed shares only */
    result tp[2];
    memset(tp, 0, sizeof tp);
    for (int f = 0; f < 2 && s == DFRT_OK; f++) {
        dfrt_model_options o = {.kv_f32 = 1, .n_devices = 2, .devices = {dev, dev}, .tensor_parallel = 1};
        dfrt_model *m = NULL;
        dfrt_status st = dfrt_model_load(b, f ? bf16_dir : df11_dir, &o, &m);
        if (st == DFRT_OK) st = run_prompts(m, g, &tp[f]);
        EXPECT(st == DFRT_OK, "tensor parallel %s: %s", f ? "BF16" : "DF11", dfrt_last_error());
        if (st != DFRT_OK) {
            dfrt_model_free(m);
            break;
        }
        dfrt_model_device parts[4];
        int n = dfrt_model_devices(m, parts, 4);
        uint32_t n_layers = (uint32_t)dfrt_model_config(m)->n_layers;
        EXPECT(n == 2 && parts[0].n_layers == n_layers && parts[1].n_layers == n_layers && parts[0].embedding &&
                   parts[0].lm_head && !parts[1].embedding && !parts[1].lm_head &&
                   parts[1].device_bytes < parts[0].device_bytes,
               "tensor parallel: %d ranks, not two of %u layers each with the tables on the first", n, n_layers);
        dfrt_model_free(m);
    }
    for (int p = 0; p < N_PROMPTS && tp[1].logits[p]; p++) {
        EXPECT(memcmp(tp[0].logits[p], tp[1].logits[p], 4096 * sizeof(float)) == 0 &&
                   memcmp(tp[0].tokens[p], tp[1].tokens[p], sizeof tp[0].tokens[p]) == 0,
               "tensor parallel: prompt %d: DF11 and BF16 logits or tokens are not bit-identical", p);
        double max = 0, err = 0;
        for (int i = 0; i < 4096; i++) {
            max = fmax(max, fabs(ref->logits[p][i]));
            err = fmax(err, isfinite(tp[0].logits[p][i]) ? fabs((double)ref->logits[p][i] - tp[0].logits[p][i]) : INFINITY);
        }
        int same = 0;
        while (same < N_GREEDY && tp[0].tokens[p][same] == ref->tokens[p][same]) same++;
        /* the CPU sums as one device would but for the shares' order; GPU matmuls (split-K) order
         * their sums differently for a rank's shorter rows: measured 1.8e-3 on the H200 */
        const double tol = strcmp(dfrt_backend_info(b)->backend, "cpu") == 0 ? 1e-3 : 1e-2;
        EXPECT(err <= tol * max && same >= 16,
               "tensor parallel: prompt %d: logits %.3g x max|logit| from one device's, greedy tokens agree for %d", p,
               err / max, same);
    }
    free_result(&tp[0]);
    free_result(&tp[1]);
    free_result(&bf16_ref);
    /* bad splits */
    dfrt_model *m = NULL;
    dfrt_model_options o = {.n_devices = 2, .devices = {dev + 1, dev}};
    CHECK_ERROR(dfrt_model_load(b, df11_dir, &o, &m), DFRT_INVALID_ARGUMENT, "first device is");
    o = (dfrt_model_options){.n_devices = 2, .devices = {dev, dev}, .offload_layers = 1};
    CHECK_ERROR(dfrt_model_load(b, df11_dir, &o, &m), DFRT_UNSUPPORTED, "do not go together");
    o = (dfrt_model_options){.n_devices = 9, .devices = {dev, dev, dev, dev, dev, dev, dev, dev, dev}};
    CHECK_ERROR(dfrt_model_load(b, df11_dir, &o, &m), DFRT_INVALID_ARGUMENT, "over 9 devices", "has 8 layers");
    o = (dfrt_model_options){.n_devices = 2, .devices = {dev, dev}, .device_shares = {1, -1}};
    CHECK_ERROR(dfrt_model_load(b, df11_dir, &o, &m), DFRT_INVALID_ARGUMENT, "share of the split is -1");
    o = (dfrt_model_options){.n_devices = 2, .devices = {dev, dev}, .device_shares = {1, 0}};
    CHECK_ERROR(dfrt_model_load(b, df11_dir, &o, &m), DFRT_INVALID_ARGUMENT, "give every device a share");
    o = (dfrt_model_options){.n_devices = 2, .devices = {dev, 1 << 20}};
    EXPECT(dfrt_model_load(b, df11_dir, &o, &m) != DFRT_OK && m == NULL, "a device that does not exist was accepted");
    o = (dfrt_model_options){.n_devices = 4, .devices = {dev, dev, dev, dev}, .tensor_parallel = 1};
    CHECK_ERROR(dfrt_model_load(b, df11_dir, &o, &m), DFRT_INVALID_ARGUMENT, "2 KV heads", "must each divide by 4");
    o = (dfrt_model_options){.n_devices = 2, .devices = {dev, dev}, .tensor_parallel = 1, .device_shares = {1, 2}};
    CHECK_ERROR(dfrt_model_load(b, df11_dir, &o, &m), DFRT_INVALID_ARGUMENT, "equal share");
    o = (dfrt_model_options){.n_devices = DFRT_MAX_DEVICES + 1};
    CHECK_ERROR(dfrt_model_load(b, df11_dir, &o, &m), DFRT_INVALID_ARGUMENT, "at most");
    dfrt_model_free(m);
}

static void run_backend(const char *backend, int device, const char *df11_dir, const char *bf16_dir, const golden *g,
                        result *cpu_result) {
    target t = {0};
    snprintf(t.label, sizeof t.label, "%s", backend);
    cur = &t;
    dfrt_backend *b = NULL;
    dfrt_model *m = NULL, *twin = NULL;
    result r = {0}, rt = {0};
    dfrt_status s = dfrt_backend_open(backend, device, &b);
    if (s != DFRT_OK) {
        printf("backend %s: 0 passed, 0 failed, 1 skipped (%s)\n", backend, dfrt_last_error());
        return;
    }
    snprintf(t.label, sizeof t.label, "%.15s (%.100s)", backend, dfrt_backend_info(b)->name);
    bool is_cpu = strcmp(backend, "cpu") == 0;
    /* The goldens, the other backends' tokens against the CPU's, recorded against op-by-op
     * passes and the twins run with the fp32 KV cache; the default BF16 one after these. */
    const dfrt_model_options f32 = {.kv_f32 = 1};
    s = dfrt_model_load(b, df11_dir, &f32, &m);
    if (s == DFRT_OK) s = run_prompts(m, g, &r);
    if (s == DFRT_UNSUPPORTED) { /* an op this backend does not have yet */
        printf("backend %s: 0 passed, 0 failed, 1 skipped (%s)\n", t.label, dfrt_last_error());
        goto done;
    }
    EXPECT(s == DFRT_OK, "DF11 model: %s", dfrt_last_error());
    if (s != DFRT_OK) goto report;
    /* the CPU must match the fp32 golden closely and for all 48 tokens; GPUs within 2e-2 and 16 */
    check_golden(g, &r, is_cpu ? 1e-3 : 2e-2, is_cpu ? N_GREEDY : 16);
    if (is_cpu) *cpu_result = r, memset(&r, 0, sizeof r);
    else
        for (int p = 0; p < N_PROMPTS; p++)
            EXPECT(memcmp(r.tokens[p], cpu_result->tokens[p], sizeof r.tokens[p]) == 0,
                   "prompt %d: greedy tokens differ from the CPU backend's", p);
    /* decode passes recorded once and replayed (CUDA graphs) give what op-by-op passes give */
    {
        dfrt_model *eager = NULL;
        result re = {0};
        dfrt_model_options eo = {.eager = 1, .kv_f32 = 1};
        s = dfrt_model_load(b, df11_dir, &eo, &eager);
        if (s == DFRT_OK) s = run_prompts(eager, g, &re);
        EXPECT(s == DFRT_OK, "DF11 model op by op: %s", dfrt_last_error());
        const result *rec = is_cpu ? cpu_result : &r;
        for (int p = 0; s == DFRT_OK && p < N_PROMPTS; p++)
            EXPECT(memcmp(rec->logits[p], re.logits[p], 4096 * sizeof(float)) == 0 &&
                       memcmp(rec->tokens[p], re.tokens[p], sizeof re.tokens[p]) == 0,
                   "prompt %d: recorded passes and op-by-op passes give different logits or tokens", p);
        if (s == DFRT_OK) offloaded(b, df11_dir, bf16_dir, g, &re);
        free_result(&re);
        dfrt_model_free(eager);
    }
    /* the decompressed BF16 twin gives bit-identical logits on the same backend */
    s = dfrt_model_load(b, bf16_dir, &f32, &twin);
    if (s == DFRT_OK) s = run_prompts(twin, g, &rt);
    EXPECT(s == DFRT_OK, "BF16 twin: %s", dfrt_last_error());
    if (s == DFRT_OK) {
        const result *df = is_cpu ? cpu_result : &r;
        for (int p = 0; p < N_PROMPTS; p++) {
            EXPECT(memcmp(df->logits[p], rt.logits[p], 4096 * sizeof(float)) == 0,
                   "prompt %d: DF11 and BF16 logits are not bit-identical", p);
            EXPECT(memcmp(df->tokens[p], rt.tokens[p], sizeof rt.tokens[p]) == 0, "prompt %d: DF11 and BF16 tokens differ", p);
        }
    }
    bf16_kv_cache(b, bf16_dir, g, is_cpu);
    batched_twin(b, df11_dir, bf16_dir);
report:
    printf("backend %s: %d passed, %d failed, %d skipped\n", t.label, t.passed, t.failed, t.skipped);
done:
    free_result(&r);
    free_result(&rt);
    dfrt_model_free(twin);
    dfrt_model_free(m);
    dfrt_backend_close(b);
    test_failed += t.failed;
    test_passed += t.passed;
}

/* Bad input on the CPU, each with its message. */
static void bad_input(const char *df11_dir, const char *bf16_dir) {
    test_current = "bad input";
    dfrt_backend *b;
    if (dfrt_backend_open("cpu", 0, &b) != DFRT_OK) exit(2);
    dfrt_model *m = NULL;
    char d[600];
    snprintf(d, sizeof d, "%s", test_path("bad-model"));

    test_sh("rm -rf '%s' && cp -r '%s' '%s' && sed -i 's/Qwen3ForCausalLM/GPT2LMHeadModel/' '%s/config.json'", d, bf16_dir, d, d);
    CHECK_ERROR(dfrt_model_load(b, d, NULL, &m), DFRT_UNSUPPORTED, "architecture \"GPT2LMHeadModel\" is not supported",
                "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM");
    test_sh("rm -rf '%s' && cp -r '%s' '%s' && sed -i 's/\"intermediate_size\": 768/\"intermediate_size\": 700/' '%s/config.json'",
       d, bf16_dir, d, d);
    CHECK_ERROR(dfrt_model_load(b, d, NULL, &m), DFRT_FORMAT_ERROR, "tensor model.layers.0.mlp.gate_proj.weight",
                "[768, 256], expected [700, 256]");
    /* a missing tensor: model.norm.weight is the only tensor of the BF16 twin's first shard */
    test_sh("rm -rf '%s' && cp -r '%s' '%s' && rm '%s/model.safetensors.index.json' '%s/model-00002-of-00011.safetensors'", d,
       bf16_dir, d, d, d);
    CHECK_ERROR(dfrt_model_load(b, d, NULL, &m), DFRT_FORMAT_ERROR,
                "1 of the weights Qwen3ForCausalLM with num_hidden_layers 8 needs is missing: model.norm.weight");
    test_sh("rm -rf '%s' && cp -r '%s' '%s' && echo '{' > '%s/tokenizer.json'", d, df11_dir, d, d);
    CHECK_ERROR(dfrt_model_load(b, d, NULL, &m), DFRT_FORMAT_ERROR, "tokenizer.json");
    /* a KV cache no machine holds (36 PB), whatever memory this one has */
    test_sh("rm -rf '%s' && cp -r '%s' '%s' && sed -i 's/\"max_position_embeddings\": 2048/\"max_position_embeddings\": 1048576/' "
            "'%s/config.json'",
            d, df11_dir, d, d);
    dfrt_model_options huge = {.max_context = 1048576, .max_batch = 4096};
    CHECK_ERROR(dfrt_model_load(b, d, &huge, &m), DFRT_OUT_OF_MEMORY, "the model needs", "KV cache",
                "(4096 sequences x 1048576 tokens, bf16)");
    dfrt_model_options small = {.max_context = 4};
    CHECK_OK(dfrt_model_load(b, df11_dir, &small, &m));
    if (m) {
        int32_t prompt[5] = {1150, 261, 2087, 390, 3344};
        dfrt_generate_options o = {.max_new_tokens = 4, .n_sequences = 1};
        CHECK_ERROR(dfrt_generate(m, prompt, 5, &o, NULL), DFRT_INVALID_ARGUMENT,
                    "the prompt has 5 tokens, more than the context of 4");
        prompt[1] = 4096;
        CHECK_ERROR(dfrt_generate(m, prompt, 3, &o, NULL), DFRT_INVALID_ARGUMENT,
                    "prompt token 1 is 4096, outside the vocabulary (0 .. 4095)");
        o.n_sequences = 2;
        CHECK_ERROR(dfrt_generate(m, prompt, 1, &o, NULL), DFRT_INVALID_ARGUMENT, "2 sequences",
                    "loaded for at most 1");
        /* the context fills: generation stops there, without an error */
        prompt[1] = 261;
        o.n_sequences = 1;
        o.max_new_tokens = 100;
        o.ignore_eos = true;
        dfrt_generate_stats st;
        CHECK_OK(dfrt_generate(m, prompt, 2, &o, &st));
        CHECK(st.generated_tokens == 3); /* positions 2 and 3, plus the token after the last */
        dfrt_model_free(m);
        m = NULL;
    }
    CHECK_ERROR(dfrt_model_load(b, test_path("no-such-model"), NULL, &m), DFRT_IO_ERROR, "cannot open model directory");
    dfrt_backend_close(b);
}

/* Warnings the library gives, collected. */
typedef struct warnings {
    int n;
    char text[8][1024];
} warnings;

static void collect_warning(void *user, const char *message) {
    warnings *w = user;
    if (w->n < 8) snprintf(w->text[w->n], sizeof w->text[0], "%s", message);
    w->n++;
}

static bool warned(const warnings *w, const char *fragment) {
    for (int i = 0; i < w->n && i < 8; i++)
        if (strstr(w->text[i], fragment)) return true;
    return false;
}

/* dfrt_model_check and dfrt_model_load agree (one function does both): a model whose
 * config.json disagrees with its weights is refused by both, naming what would be dropped. */
static void check_agrees_with_load(const char *bf16_dir) {
    test_current = "model check";
    dfrt_backend *b;
    if (dfrt_backend_open("cpu", 0, &b) != DFRT_OK) exit(2);
    char d[600];
    snprintf(d, sizeof d, "%s", test_path("check-model"));
    const struct {
        const char *sed, *fragment;
    } cases[] = {
        {"s/\"num_hidden_layers\": 8/\"num_hidden_layers\": 7/",
         "config.json says num_hidden_layers is 7, but the weights go up to model.layers.7: a model of 7 layers would "
         "run and 11 tensors would be left unused"},
        {"s/Qwen3ForCausalLM/MistralForCausalLM/", "config.json says MistralForCausalLM, which has no q_norm/k_norm"},
        {"s/\"tie_word_embeddings\": false/\"tie_word_embeddings\": true/",
         "config.json sets tie_word_embeddings, which makes model.embed_tokens.weight the output layer, but the weights "
         "hold their own lm_head.weight"},
        {"s/\"num_hidden_layers\": 8/\"num_hidden_layers\": 9/",
         "11 of the weights Qwen3ForCausalLM with num_hidden_layers 9 needs are missing: model.layers.8 (all 11 of its "
         "weights) (the weights stop at model.layers.7: is num_hidden_layers right?)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        test_sh("rm -rf '%s' && cp -r '%s' '%s' && sed -i '%s' '%s/config.json'", d, bf16_dir, d, cases[i].sed, d);
        dfrt_model *m = NULL;
        dfrt_checkpoint *cp = NULL;
        CHECK_ERROR(dfrt_model_load(b, d, NULL, &m), DFRT_FORMAT_ERROR, cases[i].fragment);
        CHECK(m == NULL);
        CHECK_OK(dfrt_checkpoint_open(d, &cp));
        if (cp) CHECK_ERROR(dfrt_model_check(cp), DFRT_FORMAT_ERROR, cases[i].fragment);
        dfrt_checkpoint_close(cp);
    }
    /* an unused tensor that is not a config mismatch: a warning naming it, and the model loads;
     * RoPE's stored inverse frequencies: nothing at all */
    warnings w = {0};
    dfrt_set_warning_handler(collect_warning, &w);
    const char *extra[2] = {"model.layers.0.self_attn.rotary_emb.inv_freq", "model.mtp.weight"};
    for (int i = 0; i < 2; i++) {
        test_sh("rm -rf '%s' && cp -r '%s' '%s'", d, bf16_dir, d);
        char path[700];
        snprintf(path, sizeof path, "%s/extra.safetensors", d);
        dfrt_st_writer *sw;
        float one = 1;
        CHECK_OK(dfrt_st_writer_create(path, &sw));
        CHECK_OK(dfrt_st_writer_add(sw, extra[i], DFRT_DTYPE_F32, 1, (int64_t[]){1}, &one));
        CHECK_OK(dfrt_st_writer_finish(sw));
        /* the twin has an index: list the new file there too */
        test_sh("sed -i 's/\"weight_map\": {/\"weight_map\": {\"%s\": \"extra.safetensors\", /' '%s/model.safetensors.index.json'",
                extra[i], d);
        dfrt_model *m = NULL;
        w.n = 0;
        CHECK_OK(dfrt_model_load(b, d, NULL, &m));
        dfrt_model_free(m);
        if (i == 0) CHECK(w.n == 0);
        else CHECK(w.n == 1 && warned(&w, "dfrt run leaves 1 tensor unused: model.mtp.weight"));
    }
    /* DF11 on the CPU backend: said once per process, whatever the loads */
    dfrt_model *m = NULL;
    w.n = 0;
    CHECK_OK(dfrt_model_load(b, test_model_dir(), NULL, &m));
    dfrt_model_free(m);
    CHECK_OK(dfrt_model_load(b, test_model_dir(), NULL, &m));
    dfrt_model_free(m);
    CHECK(w.n == 0); /* run_backend("cpu") loaded it before: said then */
    dfrt_set_warning_handler(NULL, NULL);
    dfrt_backend_close(b);
}

/* Only the offload checks on one backend (test_model BACKEND offload), or only the layer
 * split's (test_model BACKEND split): against its own op-by-op run. */
static void offload_only(const char *backend, const char *df11_dir, const char *bf16_dir, const golden *g,
                         bool split_checks) {
    target t = {0};
    snprintf(t.label, sizeof t.label, "%s, %s only", backend, split_checks ? "split" : "offload");
    cur = &t;
    dfrt_backend *b = NULL;
    dfrt_model *eager = NULL;
    result re = {0};
    dfrt_model_options eo = {.eager = 1, .kv_f32 = 1};
    dfrt_status s = dfrt_backend_open(backend, 0, &b);
    if (s == DFRT_OK) s = dfrt_model_load(b, df11_dir, &eo, &eager);
    if (s == DFRT_OK) s = run_prompts(eager, g, &re);
    EXPECT(s == DFRT_OK, "DF11 model op by op: %s", dfrt_last_error());
    if (s == DFRT_OK && split_checks) split(b, df11_dir, bf16_dir, g, &re);
    else if (s == DFRT_OK) offloaded(b, df11_dir, bf16_dir, g, &re);
    printf("backend %s: %d passed, %d failed, %d skipped\n", t.label, t.passed, t.failed, t.skipped);
    free_result(&re);
    dfrt_model_free(eager);
    dfrt_backend_close(b);
    test_failed += t.failed;
    test_passed += t.passed;
}

/* usage: test_model [BACKEND [offload | split]] */
int main(int argc, char **argv) {
    const char *only = argc > 1 ? argv[1] : NULL;
    golden g;
    load_golden(&g);
    const char *df11 = test_model_dir();
    char bf16[600];
    snprintf(bf16, sizeof bf16, "%s", test_path("kjv-bf16"));
    if (dfrt_decompress_dir(df11, bf16, NULL) != DFRT_OK) {
        fprintf(stderr, "decompress: %s\n", dfrt_last_error());
        return 2;
    }
    if (only && argc > 2 && (strcmp(argv[2], "offload") == 0 || strcmp(argv[2], "split") == 0)) {
        offload_only(only, df11, bf16, &g, strcmp(argv[2], "split") == 0);
        for (int p = 0; p < N_PROMPTS; p++) free(g.logits[p]);
        return test_finish();
    }
    result cpu = {0};
    run_backend("cpu", 0, df11, bf16, &g, &cpu); /* the reference for the others */
    dfrt_device_info *devs;
    size_t n;
    if (dfrt_device_list(&devs, &n) != DFRT_OK) return 2;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(devs[i].backend, "cpu") == 0 || (only && strcmp(only, devs[i].backend) != 0)) continue;
        if (!devs[i].available) {
            if (devs[i].index < 0) /* the backend has no devices */
                printf("backend %s: 0 passed, 0 failed, 1 skipped (unavailable: %s)\n", devs[i].backend,
                       devs[i].unavailable_reason);
            else
                printf("backend %s %d: 0 passed, 0 failed, 1 skipped (unavailable: %s)\n", devs[i].backend,
                       devs[i].index, devs[i].unavailable_reason);
            continue;
        }
        run_backend(devs[i].backend, devs[i].index, df11, bf16, &g, &cpu);
    }
    free(devs);
    free_result(&cpu);
    bad_input(df11, bf16);
    check_agrees_with_load(bf16);
    for (int p = 0; p < N_PROMPTS; p++) free(g.logits[p]);
    return test_finish();
}
