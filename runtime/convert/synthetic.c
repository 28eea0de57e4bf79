/* Synthetic models: the shapes and config.json of real releases with random weights, built
 * once into a cache directory as a BF16 Hugging Face directory and its DF11 compression. */
#include "base/dtype.h"
#include "base/internal.h"
#include "convert/convert_internal.h"
#include "format/safetensors.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

/* Part of the directory name: bump it whenever the bytes a model is built from change. */
#define SYNTH_VERSION "v1"
/* Each chunk of a tensor has its own random stream, so the bytes do not depend on threads. */
#define CHUNK_WEIGHTS ((uint64_t)1 << 16)
/* Shards hold at most this much (one tensor alone may exceed it); one is in memory at a time. */
#define SHARD_MAX_BYTES ((uint64_t)2 << 30)
#define WEIGHT_STD 0.02f
/* What DF11 takes per compressed weight, with a margin (normal weights come to about 1.36). */
#define DF11_BYTES_PER_WEIGHT 1.4
#define BF16_ONE 0x3F80

typedef struct model_spec {
    const char *name, *architecture;
    bool llama; /* LlamaForCausalLM (rope_scaling llama3); otherwise Qwen3ForCausalLM (q/k norms) */
    int64_t hidden, inter, layers, heads, kv_heads, head_dim, vocab, max_position;
    bool tied;
    const char *rms_norm_eps, *rope_theta; /* as the release's config.json writes them */
    int64_t bos, eos;
    const char *generation_eos; /* generation_config.json's eos_token_id, JSON */
} model_spec;

static const model_spec specs[] = {
    {.name = "llama-3.1-8b", .architecture = "LlamaForCausalLM", .llama = true, .hidden = 4096, .inter = 14336,
     .layers = 32, .heads = 32, .kv_heads = 8, .head_dim = 128, .vocab = 128256, .max_position = 131072,
     .rms_norm_eps = "1e-05", .rope_theta = "500000.0", .bos = 128000, .eos = 128001,
     .generation_eos = "[\n    128001,\n    128008,\n    128009\n  ]"},
    {.name = "qwen3-8b", .architecture = "Qwen3ForCausalLM", .hidden = 4096, .inter = 12288, .layers = 36,
     .heads = 32, .kv_heads = 8, .head_dim = 128, .vocab = 151936, .max_position = 40960, .rms_norm_eps = "1e-06",
     .rope_theta = "1000000", .bos = 151643, .eos = 151645, .generation_eos = "[\n    151645,\n    151643\n  ]"},
    {.name = "qwen3-4b", .architecture = "Qwen3ForCausalLM", .hidden = 2560, .inter = 9728, .layers = 36,
     .heads = 32, .kv_heads = 8, .head_dim = 128, .vocab = 151936, .max_position = 40960, .tied = true,
     .rms_norm_eps = "1e-06", .rope_theta = "1000000", .bos = 151643, .eos = 151645,
     .generation_eos = "[\n    151645,\n    151643\n  ]"},
    /* too big for the device machine's disk: built in memory (dfrt_synthetic_checkpoint) */
    {.name = "llama-3.3-70b", .architecture = "LlamaForCausalLM", .llama = true, .hidden = 8192, .inter = 28672,
     .layers = 80, .heads = 64, .kv_heads = 8, .head_dim = 128, .vocab = 128256, .max_position = 131072,
     .rms_norm_eps = "1e-05", .rope_theta = "500000.0", .bos = 128000, .eos = 128001,
     .generation_eos = "[\n    128001,\n    128008,\n    128009\n  ]"},
    {.name = "qwen3-32b", .architecture = "Qwen3ForCausalLM", .hidden = 5120, .inter = 25600, .layers = 64,
     .heads = 64, .kv_heads = 8, .head_dim = 128, .vocab = 151936, .max_position = 40960, .rms_norm_eps = "1e-06",
     .rope_theta = "1000000", .bos = 151643, .eos = 151645, .generation_eos = "[\n    151645,\n    151643\n  ]"},
    /* small enough for CI on the CPU and lavapipe */
    {.name = "tiny", .architecture = "Qwen3ForCausalLM", .hidden = 256, .inter = 768, .layers = 4, .heads = 8,
     .kv_heads = 4, .head_dim = 32, .vocab = 4096, .max_position = 4096, .rms_norm_eps = "1e-06",
     .rope_theta = "1000000", .bos = 0, .eos = 1, .generation_eos = "1"},
};
#define N_SPECS (sizeof specs / sizeof *specs)

/* One tensor, in transformers' state-dict order. */
typedef struct synth_tensor {
    char name[96];
    int n_dims;
    int64_t shape[2];
    uint64_t n;
    bool norm;       /* an RMSNorm weight: all ones */
    uint32_t index;  /* position in the state dict: part of every chunk's seed */
    uint32_t shard;
    uint64_t offset; /* bytes into its shard */
} synth_tensor;

typedef struct synth_plan {
    const model_spec *spec;
    synth_tensor *tensors;
    size_t n_tensors;
    uint64_t parameters;
    uint32_t n_shards;
    uint64_t max_shard_bytes;
    uint64_t df11_bytes; /* estimate */
} synth_plan;

static void add_tensor(synth_plan *p, const char *name, int n_dims, int64_t rows, int64_t cols) {
    synth_tensor *t = &p->tensors[p->n_tensors];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->n_dims = n_dims;
    t->shape[0] = rows;
    t->shape[1] = cols;
    t->n = (uint64_t)rows * (uint64_t)(n_dims == 2 ? cols : 1);
    t->norm = n_dims == 1;
    t->index = (uint32_t)p->n_tensors++;
    p->parameters += t->n;
}

/* The tensors, shards (greedy in state-dict order, as save_pretrained deals them) and sizes. */
static dfrt_status make_plan(const model_spec *sp, synth_plan *p) {
    memset(p, 0, sizeof *p);
    p->spec = sp;
    size_t max_tensors = 3 + 11 * (size_t)sp->layers;
    if (!(p->tensors = dfrt_calloc(max_tensors, sizeof *p->tensors, "synthetic tensors"))) return DFRT_OUT_OF_MEMORY;
    int64_t h = sp->hidden, q = sp->heads * sp->head_dim, kv = sp->kv_heads * sp->head_dim;
    add_tensor(p, "model.embed_tokens.weight", 2, sp->vocab, h);
    char name[96];
#define LAYER(suffix) (snprintf(name, sizeof name, "model.layers.%d.%s", (int)l, suffix), name)
    for (int64_t l = 0; l < sp->layers; l++) {
        add_tensor(p, LAYER("self_attn.q_proj.weight"), 2, q, h);
        add_tensor(p, LAYER("self_attn.k_proj.weight"), 2, kv, h);
        add_tensor(p, LAYER("self_attn.v_proj.weight"), 2, kv, h);
        add_tensor(p, LAYER("self_attn.o_proj.weight"), 2, h, q);
        if (!sp->llama) {
            add_tensor(p, LAYER("self_attn.q_norm.weight"), 1, sp->head_dim, 0);
            add_tensor(p, LAYER("self_attn.k_norm.weight"), 1, sp->head_dim, 0);
        }
        add_tensor(p, LAYER("mlp.gate_proj.weight"), 2, sp->inter, h);
        add_tensor(p, LAYER("mlp.up_proj.weight"), 2, sp->inter, h);
        add_tensor(p, LAYER("mlp.down_proj.weight"), 2, h, sp->inter);
        add_tensor(p, LAYER("input_layernorm.weight"), 1, h, 0);
        add_tensor(p, LAYER("post_attention_layernorm.weight"), 1, h, 0);
    }
#undef LAYER
    add_tensor(p, "model.norm.weight", 1, h, 0);
    if (!sp->tied) add_tensor(p, "lm_head.weight", 2, sp->vocab, h);

    uint64_t shard_bytes = 0;
    double df11 = 0;
    for (size_t i = 0; i < p->n_tensors; i++) {
        synth_tensor *t = &p->tensors[i];
        uint64_t bytes = 2 * t->n;
        if (shard_bytes && shard_bytes + bytes > SHARD_MAX_BYTES) {
            p->n_shards++;
            shard_bytes = 0;
        }
        t->shard = p->n_shards;
        t->offset = shard_bytes;
        shard_bytes += bytes;
        p->max_shard_bytes = DFRT_MAX(p->max_shard_bytes, shard_bytes);
        /* the default pattern_dict leaves norms (and a tied embedding) uncompressed */
        bool compressed = !t->norm && !(sp->tied && i == 0);
        df11 += compressed ? DF11_BYTES_PER_WEIGHT * (double)t->n : (double)bytes;
    }
    p->n_shards++;
    p->df11_bytes = (uint64_t)df11 + ((uint64_t)64 << 20); /* headers, config, side files */
    return DFRT_OK;
}

static dfrt_synthetic_info infos[N_SPECS];
static pthread_once_t infos_once = PTHREAD_ONCE_INIT;

static void fill_infos(void) {
    for (size_t i = 0; i < N_SPECS; i++) {
        synth_plan p;
        infos[i].name = specs[i].name;
        infos[i].architecture = specs[i].architecture;
        if (make_plan(&specs[i], &p) == DFRT_OK) infos[i].parameters = p.parameters;
        free(p.tensors);
    }
    dfrt_clear_error();
}

size_t dfrt_synthetic_list(const dfrt_synthetic_info **out) {
    pthread_once(&infos_once, fill_infos);
    if (out) *out = infos;
    return N_SPECS;
}

/* ---- random weights ------------------------------------------------------------------------ */

/* The weights are plain float arithmetic, with no libm (whose results vary with its version
 * and the CPU) and no fused multiply-adds, so they come out the same on every machine. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#define NO_FMA
#elif defined(__GNUC__)
#define NO_FMA __attribute__((optimize("fp-contract=off"))) /* already off in ISO C mode */
#else
#define NO_FMA
#endif

/* ln x for x in (0, 1], from the exponent and 2 atanh((m-1)/(m+1)) for the mantissa. */
NO_FMA static inline float log_unit(float x) {
    uint32_t bits;
    memcpy(&bits, &x, 4);
    /* x = m 2^e with m in [sqrt(1/2), sqrt(2)); branch-free, the test is a coin toss */
    uint32_t mantissa = bits & 0x7FFFFFu, big = mantissa > 0x3504F3u;
    int32_t e = (int32_t)(bits >> 23) - 127 + (int32_t)big;
    bits = mantissa | (0x3F800000u - (big << 23));
    float m;
    memcpy(&m, &bits, 4);
    float s = (m - 1.0f) / (m + 1.0f), s2 = s * s; /* |s| <= 0.1716 */
    float p = s2 * (1.0f / 3 + s2 * (1.0f / 5 + s2 * (1.0f / 7 + s2 * (1.0f / 9))));
    return (float)e * 0.693147180559945f + 2.0f * (s + s * p);
}

/* n normal weights (Box-Muller, two from each 64-bit draw) with std WEIGHT_STD. */
NO_FMA static void fill_normal(uint16_t *out, uint64_t n, uint64_t seed) {
    uint64_t sm = seed, s[4];
    for (int i = 0; i < 4; i++) s[i] = dfrt_splitmix64(&sm);
    for (uint64_t i = 0; i < n; i += 2) {
        uint64_t r = dfrt_xoshiro_next(s);
        /* radius from u1 = (hi + 1) / 2^32 in (0, 1] */
        float u1 = (float)((r >> 32) + 1) * 0x1p-32f;
        float radius = sqrtf(-2.0f * log_unit(u1)) * WEIGHT_STD;
        /* angle = quadrant * pi/2 + a, a in [-pi/4, pi/4), from the low 32 bits */
        uint32_t lo = (uint32_t)r, quadrant = lo >> 30;
        float a = (float)((int32_t)(lo & 0x3FFFFFFFu) - 0x20000000) * (0x1p-30f * 1.57079632679f), a2 = a * a;
        /* Taylor series to a^9 and a^10: errors below 2e-9 for |a| <= pi/4 */
        float sn = a * (1 + a2 * (-1.0f / 6 + a2 * (1.0f / 120 + a2 * (-1.0f / 5040 + a2 * (1.0f / 362880)))));
        float cs =
            1 + a2 * (-0.5f + a2 * (1.0f / 24 + a2 * (-1.0f / 720 + a2 * (1.0f / 40320 + a2 * (-1.0f / 3628800)))));
        /* (cos, sin) of the angle: (cs, sn) turned by quadrant quarter turns, branch-free */
        uint32_t c_bits, s_bits, swap = 0u - (quadrant & 1);
        memcpy(&c_bits, &cs, 4);
        memcpy(&s_bits, &sn, 4);
        uint32_t x_bits = (c_bits & ~swap) | (s_bits & swap), y_bits = (s_bits & ~swap) | (c_bits & swap);
        x_bits ^= ((quadrant + 1) & 2) << 30;
        y_bits ^= (quadrant & 2) << 30;
        float x, y;
        memcpy(&x, &x_bits, 4);
        memcpy(&y, &y_bits, 4);
        out[i] = dfrt_f32_to_bf16(radius * x);
        if (i + 1 < n) out[i + 1] = dfrt_f32_to_bf16(radius * y);
    }
}

static uint64_t name_seed(const char *name) { /* FNV-1a */
    uint64_t h = 0xCBF29CE484222325ull;
    for (const char *p = name; *p; p++) h = (h ^ (uint8_t)*p) * 0x100000001B3ull;
    return h;
}

/* The seed of one chunk: a hash of (model, tensor, chunk), so that chunks next to each other
 * get unrelated streams. */
static uint64_t chunk_seed(uint64_t model_seed, uint32_t tensor, uint64_t chunk) {
    uint64_t k = ((uint64_t)tensor << 40) ^ chunk;
    uint64_t key = dfrt_splitmix64(&k), m = model_seed ^ key;
    return dfrt_splitmix64(&m);
}

typedef struct gen_task {
    uint32_t tensor;
    uint32_t chunk;
} gen_task;

typedef struct gen_job {
    const synth_tensor *tensors;
    const gen_task *tasks;
    uint8_t *shard; /* the current shard's bytes */
    uint64_t seed;
    dfrt_progress *progress;
    const volatile int *cancel;
} gen_job;

/* Chunk `chunk` of tensor t, whose weights start at data. */
static void make_chunk(const synth_tensor *t, uint32_t chunk, uint64_t seed, uint16_t *data) {
    uint64_t begin = (uint64_t)chunk * CHUNK_WEIGHTS, n = DFRT_MIN(CHUNK_WEIGHTS, t->n - begin);
    uint16_t *out = data + begin;
    if (t->norm)
        for (uint64_t i = 0; i < n; i++) out[i] = BF16_ONE;
    else
        fill_normal(out, n, chunk_seed(seed, t->index, chunk));
}

static dfrt_status gen_chunk(void *ctx, size_t index) {
    const gen_job *job = ctx;
    if (dfrt_cancelled(job->cancel)) return dfrt_fail(DFRT_CANCELLED, "cancelled");
    const gen_task *task = &job->tasks[index];
    const synth_tensor *t = &job->tensors[task->tensor];
    make_chunk(t, task->chunk, job->seed, (uint16_t *)(job->shard + t->offset));
    dfrt_progress_add(job->progress, DFRT_MIN(CHUNK_WEIGHTS, t->n - (uint64_t)task->chunk * CHUNK_WEIGHTS));
    return DFRT_OK;
}

/* ---- the BF16 directory -------------------------------------------------------------------- */

static char *shard_name(const synth_plan *p, uint32_t shard) {
    if (p->n_shards == 1) return dfrt_strdup("model.safetensors");
    return dfrt_asprintf("model-%05u-of-%05u.safetensors", shard + 1, p->n_shards);
}

/* model.safetensors.index.json as transformers writes it (sorted keys, indent 2). */
static dfrt_status write_index(const synth_plan *p, const char *dir) {
    const synth_tensor **sorted = dfrt_calloc(p->n_tensors, sizeof *sorted, "index entries");
    if (!sorted) return DFRT_OUT_OF_MEMORY;
    for (size_t i = 0; i < p->n_tensors; i++) sorted[i] = &p->tensors[i];
    for (size_t i = 1; i < p->n_tensors; i++) /* insertion sort by name: a few hundred entries */
        for (size_t j = i; j > 0 && strcmp(sorted[j - 1]->name, sorted[j]->name) > 0; j--) {
            const synth_tensor *x = sorted[j];
            sorted[j] = sorted[j - 1];
            sorted[j - 1] = x;
        }
    dfrt_buf b = {0};
    dfrt_buf_printf(&b, "{\n  \"metadata\": {\n    \"total_size\": %llu\n  },\n  \"weight_map\": {",
                    (unsigned long long)(2 * p->parameters));
    for (size_t i = 0; i < p->n_tensors; i++) {
        char *file = shard_name(p, sorted[i]->shard);
        if (!file) {
            b.failed = true;
            break;
        }
        dfrt_buf_puts(&b, i ? ",\n    " : "\n    ");
        dfrt_buf_json_string(&b, sorted[i]->name);
        dfrt_buf_puts(&b, ": ");
        dfrt_buf_json_string(&b, file);
        free(file);
    }
    dfrt_buf_puts(&b, "\n  }\n}\n");
    free(sorted);
    char *path = dfrt_path_join(dir, "model.safetensors.index.json");
    dfrt_status s = (b.failed || !path) ? dfrt_fail(DFRT_OUT_OF_MEMORY, "out of memory writing the index")
                                        : dfrt_write_file_atomic(path, b.p, b.len);
    free(path);
    free(b.p);
    return s;
}

static dfrt_status write_text(const char *dir, const char *file, dfrt_buf *b) {
    char *path = dfrt_path_join(dir, file);
    dfrt_status s = (b->failed || !path) ? dfrt_fail(DFRT_OUT_OF_MEMORY, "out of memory writing %s", file)
                                         : dfrt_write_file_atomic(path, b->p, b->len);
    free(path);
    free(b->p);
    return s;
}

/* config.json in the transformers 4.x schema, keys sorted. */
static void config_text(const model_spec *sp, dfrt_buf *b) {
    dfrt_buf_printf(b,
                    "{\n  \"_name_or_path\": \"dfrt-synthetic/%s-" SYNTH_VERSION "\",\n"
                    "  \"architectures\": [\n    \"%s\"\n  ],\n  \"attention_bias\": false,\n"
                    "  \"attention_dropout\": 0.0,\n  \"bos_token_id\": %lld,\n  \"eos_token_id\": %lld,\n"
                    "  \"head_dim\": %lld,\n  \"hidden_act\": \"silu\",\n  \"hidden_size\": %lld,\n"
                    "  \"initializer_range\": 0.02,\n  \"intermediate_size\": %lld,\n"
                    "  \"max_position_embeddings\": %lld,\n",
                    sp->name, sp->architecture, (long long)sp->bos, (long long)sp->eos, (long long)sp->head_dim,
                    (long long)sp->hidden, (long long)sp->inter, (long long)sp->max_position);
    if (sp->llama) dfrt_buf_puts(b, "  \"mlp_bias\": false,\n");
    else dfrt_buf_printf(b, "  \"max_window_layers\": %lld,\n", (long long)sp->layers);
    dfrt_buf_printf(b,
                    "  \"model_type\": \"%s\",\n  \"num_attention_heads\": %lld,\n  \"num_hidden_layers\": %lld,\n"
                    "  \"num_key_value_heads\": %lld,\n",
                    sp->llama ? "llama" : "qwen3", (long long)sp->heads, (long long)sp->layers,
                    (long long)sp->kv_heads);
    if (sp->llama) dfrt_buf_puts(b, "  \"pretraining_tp\": 1,\n");
    dfrt_buf_printf(b, "  \"rms_norm_eps\": %s,\n", sp->rms_norm_eps);
    if (sp->llama)
        dfrt_buf_puts(b, "  \"rope_scaling\": {\n    \"factor\": 8.0,\n    \"high_freq_factor\": 4.0,\n"
                          "    \"low_freq_factor\": 1.0,\n    \"original_max_position_embeddings\": 8192,\n"
                          "    \"rope_type\": \"llama3\"\n  },\n");
    else
        dfrt_buf_puts(b, "  \"rope_scaling\": null,\n");
    dfrt_buf_printf(b, "  \"rope_theta\": %s,\n", sp->rope_theta);
    if (!sp->llama) dfrt_buf_puts(b, "  \"sliding_window\": null,\n");
    dfrt_buf_printf(b, "  \"tie_word_embeddings\": %s,\n  \"torch_dtype\": \"bfloat16\",\n"
                        "  \"transformers_version\": \"4.51.0\",\n  \"use_cache\": true,\n",
                    sp->tied ? "true" : "false");
    if (!sp->llama) dfrt_buf_puts(b, "  \"use_sliding_window\": false,\n");
    dfrt_buf_printf(b, "  \"vocab_size\": %lld\n}\n", (long long)sp->vocab);
}

/* config.json and generation_config.json. */
static dfrt_status write_configs(const model_spec *sp, const char *dir) {
    dfrt_buf b = {0};
    config_text(sp, &b);
    DFRT_TRY(write_text(dir, "config.json", &b));
    dfrt_buf g = {0};
    dfrt_buf_printf(&g, "{\n  \"bos_token_id\": %lld,\n  \"eos_token_id\": %s,\n"
                        "  \"transformers_version\": \"4.51.0\"\n}\n",
                    (long long)sp->bos, sp->generation_eos);
    return write_text(dir, "generation_config.json", &g);
}

/* Generates one shard into the job's buffer and writes it. */
static dfrt_status write_shard(const synth_plan *p, uint32_t shard, gen_job *job, gen_task *tasks, int n_threads,
                               const char *dir) {
    size_t n_tasks = 0;
    for (size_t i = 0; i < p->n_tensors; i++) {
        const synth_tensor *t = &p->tensors[i];
        if (t->shard != shard) continue;
        for (uint64_t c = 0; c * CHUNK_WEIGHTS < t->n; c++) tasks[n_tasks++] = (gen_task){(uint32_t)i, (uint32_t)c};
    }
    DFRT_TRY(dfrt_parallel_for(n_tasks, n_threads, gen_chunk, job));
    char *file = shard_name(p, shard);
    char *path = file ? dfrt_path_join(dir, file) : NULL;
    free(file);
    dfrt_st_writer *w = NULL;
    dfrt_status s = path ? dfrt_st_writer_create(path, &w) : DFRT_OUT_OF_MEMORY;
    free(path);
    if (s == DFRT_OK) s = dfrt_st_writer_set_metadata(w, "format", "pt");
    for (size_t i = 0; i < p->n_tensors && s == DFRT_OK; i++) {
        const synth_tensor *t = &p->tensors[i];
        if (t->shard == shard)
            s = dfrt_st_writer_add(w, t->name, DFRT_DTYPE_BF16, t->n_dims, t->shape, job->shard + t->offset);
    }
    if (s == DFRT_OK && dfrt_cancelled(job->cancel)) s = dfrt_fail(DFRT_CANCELLED, "cancelled");
    if (s == DFRT_OK) {
        s = dfrt_st_writer_finish(w);
        w = NULL;
    }
    dfrt_st_writer_abort(w);
    return s;
}

static dfrt_status build_bf16(const synth_plan *p, const char *out_dir, const dfrt_synthetic_options *o,
                              dfrt_progress *progress) {
    dfrt_staging staging = {0};
    gen_job job = {.tensors = p->tensors, .seed = name_seed(p->spec->name), .progress = progress, .cancel = o->cancel};
    size_t max_tasks = p->max_shard_bytes / 2 / CHUNK_WEIGHTS + p->n_tensors + 1;
    gen_task *tasks = dfrt_calloc(max_tasks, sizeof *tasks, "generation tasks");
    job.tasks = tasks;
    job.shard = tasks ? dfrt_alloc_large(p->max_shard_bytes, "a synthetic shard") : NULL;
    dfrt_status s = job.shard ? dfrt_staging_begin(out_dir, &staging) : DFRT_OUT_OF_MEMORY;
    for (uint32_t shard = 0; shard < p->n_shards && s == DFRT_OK; shard++)
        s = write_shard(p, shard, &job, tasks, o->n_threads, staging.tmp_path);
    if (s == DFRT_OK && p->n_shards > 1) s = write_index(p, staging.tmp_path);
    if (s == DFRT_OK) s = write_configs(p->spec, staging.tmp_path);
    if (s == DFRT_OK && dfrt_cancelled(o->cancel)) s = dfrt_fail(DFRT_CANCELLED, "cancelled");
    if (s == DFRT_OK) s = dfrt_staging_commit(&staging);
    if (staging.tmp_path) s = dfrt_staging_abort(&staging, s);
    dfrt_free_large(job.shard, p->max_shard_bytes);
    free(tasks);
    return s;
}

static const model_spec *find_spec(const char *name);

/* ---- in memory ------------------------------------------------------------------------------ */

static uint64_t host_memory(const dfrt_synthetic_options *o) {
    if (o->host_memory_bytes) return o->host_memory_bytes;
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    return pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size : 0;
}

static dfrt_status refuse_host_memory(const synth_plan *p, const char *what, uint64_t need, uint64_t have) {
    return dfrt_fail(DFRT_OUT_OF_MEMORY,
                     "synthetic %s: %s needs %.2f GB of host memory, and %.2f GB is there (the machine's memory, or "
                     "dfrt_synthetic_options.host_memory_bytes: dfrt bench model --host-memory GB)",
                     p->spec->name, what, (double)need / 1e9, (double)have / 1e9);
}

/* What fill needs: the plan, and its tensors by name. */
typedef struct memory_source {
    const synth_plan *plan;
    const synth_tensor **by_name;
    uint64_t seed;
    const volatile int *cancel;
} memory_source;

static int compare_synth_names(const void *a, const void *b) {
    return strcmp((*(const synth_tensor *const *)a)->name, (*(const synth_tensor *const *)b)->name);
}

/* dfrt_fill_fn: a tensor's weights, chunk by chunk as build_bf16 makes them. */
static dfrt_status fill_tensor(void *ctx, const dfrt_tensor *t, void *dst) {
    const memory_source *src = ctx;
    size_t lo = 0, hi = src->plan->n_tensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(src->by_name[mid]->name, t->name);
        if (c == 0) {
            const synth_tensor *st = src->by_name[mid];
            for (uint32_t chunk = 0; (uint64_t)chunk * CHUNK_WEIGHTS < st->n; chunk++) {
                if (dfrt_cancelled(src->cancel)) return dfrt_fail(DFRT_CANCELLED, "cancelled");
                make_chunk(st, chunk, src->seed, dst);
            }
            return DFRT_OK;
        }
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return dfrt_fail(DFRT_INVALID_ARGUMENT, "internal: synthetic tensor %s unknown", t->name);
}

typedef struct shard_block {
    void *data;
    size_t size;
} shard_block;

static void free_shard_block(void *ctx) {
    shard_block *b = ctx;
    dfrt_free_large(b->data, b->size);
    free(b);
}

/* A plan shard's tensors as a file in memory; with job, their weights made on n_threads
 * threads (else no data: the names and shapes dfrt_compress_memory plans with). */
static dfrt_status memory_shard(const synth_plan *p, uint32_t shard, gen_job *job, gen_task *tasks, int n_threads,
                                dfrt_st_file **out) {
    dfrt_tensor *list = dfrt_calloc(p->n_tensors, sizeof *list, "tensors");
    shard_block *b = dfrt_calloc(1, sizeof *b, "a shard");
    if (!list || !b) {
        free(list);
        free(b);
        return DFRT_OUT_OF_MEMORY;
    }
    size_t n = 0, n_tasks = 0;
    for (size_t i = 0; i < p->n_tensors; i++) {
        const synth_tensor *t = &p->tensors[i];
        if (t->shard != shard) continue;
        list[n++] = (dfrt_tensor){.name = t->name, .dtype = DFRT_DTYPE_BF16, .n_dims = t->n_dims,
                                  .shape = {t->shape[0], t->n_dims == 2 ? t->shape[1] : 0}, .n_elements = t->n,
                                  .n_bytes = 2 * t->n};
        b->size = DFRT_MAX(b->size, t->offset + 2 * t->n);
        for (uint64_t c = 0; job && c * CHUNK_WEIGHTS < t->n; c++)
            tasks[n_tasks++] = (gen_task){(uint32_t)i, (uint32_t)c};
    }
    dfrt_status s = DFRT_OK;
    if (job) {
        if (!(b->data = job->shard = dfrt_alloc_large(b->size, "a synthetic shard"))) s = DFRT_OUT_OF_MEMORY;
        if (s == DFRT_OK) s = dfrt_parallel_for(n_tasks, n_threads, gen_chunk, job);
        for (size_t i = 0, k = 0; i < p->n_tensors && s == DFRT_OK; i++)
            if (p->tensors[i].shard == shard) list[k++].data = (uint8_t *)b->data + p->tensors[i].offset;
    } else {
        b->size = 0;
    }
    char *file = shard_name(p, shard);
    if (s == DFRT_OK && !file) s = DFRT_OUT_OF_MEMORY;
    if (s == DFRT_OK) s = dfrt_st_file_from_tensors(file, list, n, free_shard_block, b, out);
    else free_shard_block(b);
    free(file);
    free(list);
    return s;
}

/* The plan's tensors as a tensor set in memory: with weights (gen: the BF16 model) or without. */
static dfrt_status memory_tensors(const synth_plan *p, bool gen, const dfrt_synthetic_options *o, dfrt_progress *progress,
                                  const char *name, dfrt_tensor_set **out) {
    dfrt_st_file **files = dfrt_calloc(p->n_shards, sizeof *files, "files");
    gen_task *tasks = gen ? dfrt_calloc(p->max_shard_bytes / 2 / CHUNK_WEIGHTS + p->n_tensors + 1, sizeof *tasks,
                                        "generation tasks")
                          : NULL;
    gen_job job = {.tensors = p->tensors, .tasks = tasks, .seed = name_seed(p->spec->name), .progress = progress,
                   .cancel = o->cancel};
    dfrt_status s = files && (tasks || !gen) ? DFRT_OK : DFRT_OUT_OF_MEMORY;
    uint32_t made = 0;
    for (; made < p->n_shards && s == DFRT_OK; made++)
        s = memory_shard(p, made, gen ? &job : NULL, tasks, o->n_threads, &files[made]);
    free(tasks);
    if (s == DFRT_OK) s = dfrt_tensor_set_from_files(name, files, p->n_shards, out);
    else
        for (uint32_t i = 0; i < made; i++) dfrt_st_file_close(files[i]);
    free(files);
    return s;
}

/* The weights of the largest DF11 unit of the default pattern_dict: a layer, or a table. */
static uint64_t largest_unit(const synth_plan *p) {
    uint64_t layer = 0, largest = (uint64_t)p->spec->vocab * (uint64_t)p->spec->hidden;
    for (size_t i = 0; i < p->n_tensors; i++)
        if (strncmp(p->tensors[i].name, "model.layers.0.", 15) == 0 && !p->tensors[i].norm) layer += p->tensors[i].n;
    return DFRT_MAX(layer, largest);
}

dfrt_status dfrt_synthetic_checkpoint(const char *name, bool df11, const dfrt_synthetic_options *options,
                                      dfrt_checkpoint **out) {
    *out = NULL;
    dfrt_synthetic_options defaults = {0};
    const dfrt_synthetic_options *o = options ? options : &defaults;
    if (!name) return dfrt_fail(DFRT_INVALID_ARGUMENT, "synthetic model: name is NULL");
    const model_spec *sp = find_spec(name);
    if (!sp) return DFRT_INVALID_ARGUMENT;
    synth_plan plan;
    DFRT_TRY(make_plan(sp, &plan));
    char *cp_name = dfrt_asprintf("synthetic %s (%s, in memory)", name, df11 ? "DF11" : "BF16");
    memory_source src = {.plan = &plan, .seed = name_seed(name), .cancel = o->cancel};
    src.by_name = dfrt_calloc(plan.n_tensors, sizeof *src.by_name, "tensor index");
    dfrt_buf config = {0};
    config_text(sp, &config);
    dfrt_status s = cp_name && src.by_name && !config.failed ? DFRT_OK : DFRT_OUT_OF_MEMORY;
    /* what stays, and what is made at once: a BF16 unit (and its encoding, which stays) per thread */
    uint64_t have = host_memory(o), margin = (uint64_t)2 << 30, unit = 2 * largest_unit(&plan);
    int threads = dfrt_thread_count(o->n_threads);
    uint64_t keep = df11 ? plan.df11_bytes : 2 * plan.parameters;
    if (s == DFRT_OK && have && keep + margin + (df11 ? unit : 0) > have)
        s = refuse_host_memory(&plan, df11 ? "the DF11 model" : "the BF16 model", keep + margin + (df11 ? unit : 0),
                               have);
    if (s == DFRT_OK && df11 && have)
        threads = (int)DFRT_MIN((uint64_t)threads, (have - keep - margin) / unit);
    dfrt_tensor_set *ts = NULL;
    dfrt_progress *progress = NULL;
    if (s == DFRT_OK && !df11) {
        progress = dfrt_progress_create(o->progress, o->progress_user, plan.parameters);
        s = memory_tensors(&plan, true, o, progress, cp_name, &ts);
        if (s == DFRT_OK) s = dfrt_checkpoint_from_memory(cp_name, config.p, config.len, ts, out);
    } else if (s == DFRT_OK) {
        for (size_t i = 0; i < plan.n_tensors; i++) src.by_name[i] = &plan.tensors[i];
        qsort(src.by_name, plan.n_tensors, sizeof *src.by_name, compare_synth_names);
        s = memory_tensors(&plan, false, o, NULL, cp_name, &ts);
        dfrt_compress_options co = {.n_threads = threads, .progress = o->progress, .progress_user = o->progress_user,
                                    .cancel = o->cancel};
        if (s == DFRT_OK) s = dfrt_compress_memory(cp_name, ts, config.p, config.len, fill_tensor, &src, &co, out);
        dfrt_tensor_set_close(ts);
    }
    dfrt_progress_free(progress);
    free(config.p);
    free(src.by_name);
    free(cp_name);
    free(plan.tensors);
    return s;
}

/* ---- the cache ------------------------------------------------------------------------------ */

/* Directories are renamed into place complete, so one with a config.json is finished. */
static bool complete(const char *dir) {
    char path[4096];
    struct stat st;
    int n = snprintf(path, sizeof path, "%s/config.json", dir);
    return n > 0 && (size_t)n < sizeof path && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Compression's progress, mapped onto the second half. */
typedef struct phase_two {
    const dfrt_synthetic_options *o;
    uint64_t parameters;
} phase_two;

static void compress_progress(void *user, uint64_t done, uint64_t total) {
    const phase_two *ph = user;
    uint64_t p = ph->parameters;
    uint64_t mapped = done >= total ? p : (uint64_t)((double)done / (double)total * (double)p);
    ph->o->progress(ph->o->progress_user, p + mapped, 2 * p);
}

/* Builds what is missing. A failure with the directory complete after all means that another
 * process built it at the same time: that is success. */
static dfrt_status build_missing(const synth_plan *p, const char *model_dir, const char *bf16, const char *df11,
                                 const dfrt_synthetic_options *o, bool *built) {
    bool have_bf16 = complete(bf16), have_df11 = complete(df11);
    if (have_bf16 && have_df11) return DFRT_OK;
    uint64_t needed = (have_bf16 ? 0 : 2 * p->parameters) + (have_df11 ? 0 : p->df11_bytes);
    char *purpose = dfrt_asprintf("building the synthetic model %s", p->spec->name);
    dfrt_status s = purpose ? dfrt_require_free_space(model_dir, needed, purpose) : DFRT_OUT_OF_MEMORY;
    free(purpose);
    DFRT_TRY(s);
    *built = true;
    if (!have_bf16) {
        dfrt_progress *progress = dfrt_progress_create(o->progress, o->progress_user, 2 * p->parameters);
        s = build_bf16(p, bf16, o, progress);
        dfrt_progress_free(progress);
        if (s != DFRT_OK && s != DFRT_CANCELLED && complete(bf16)) s = DFRT_OK;
        DFRT_TRY(s);
        if (have_df11 && o->progress) o->progress(o->progress_user, 2 * p->parameters, 2 * p->parameters);
    }
    if (!have_df11) {
        phase_two ph = {o, p->parameters};
        dfrt_compress_options co = {.n_threads = o->n_threads, .cancel = o->cancel};
        if (o->progress) {
            co.progress = compress_progress;
            co.progress_user = &ph;
        }
        s = dfrt_compress_dir(bf16, df11, &co);
        if (s != DFRT_OK && s != DFRT_CANCELLED && complete(df11)) s = DFRT_OK;
        DFRT_TRY(s);
    }
    return DFRT_OK;
}

/* The spec of a name, or NULL after an error listing the known names. */
static const model_spec *find_spec(const char *name) {
    for (size_t i = 0; i < N_SPECS; i++)
        if (strcmp(name, specs[i].name) == 0) return &specs[i];
    dfrt_buf known = {0};
    for (size_t i = 0; i < N_SPECS; i++) {
        if (i) dfrt_buf_puts(&known, ", ");
        dfrt_buf_puts(&known, specs[i].name);
    }
    dfrt_fail(DFRT_INVALID_ARGUMENT, "unknown synthetic model \"%s\" (known: %s)", name, known.p ? known.p : "?");
    free(known.p);
    return NULL;
}

dfrt_status dfrt_synthetic_config(const char *name, dfrt_config **out_config) {
    *out_config = NULL;
    if (!name) return dfrt_fail(DFRT_INVALID_ARGUMENT, "synthetic model: name is NULL");
    const model_spec *sp = find_spec(name);
    if (!sp) return DFRT_INVALID_ARGUMENT;
    dfrt_buf b = {0};
    config_text(sp, &b);
    if (b.failed) {
        free(b.p);
        return dfrt_fail(DFRT_OUT_OF_MEMORY, "out of memory for the config of %s", name);
    }
    char *source = dfrt_asprintf("synthetic %s config.json", name);
    dfrt_status s = source ? dfrt_config_parse(b.p, b.len, source, out_config) : DFRT_OUT_OF_MEMORY;
    free(source);
    free(b.p);
    return s;
}

dfrt_status dfrt_synthetic_model(const char *name, const char *cache_dir, const dfrt_synthetic_options *options,
                                 char **out_bf16_dir, char **out_df11_dir, bool *out_built) {
    if (out_bf16_dir) *out_bf16_dir = NULL;
    if (out_df11_dir) *out_df11_dir = NULL;
    if (out_built) *out_built = false;
    dfrt_synthetic_options defaults = {0};
    const dfrt_synthetic_options *o = options ? options : &defaults;
    if (!name || !cache_dir || !*cache_dir)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "synthetic model: name or cache directory is NULL or empty");
    const model_spec *sp = find_spec(name);
    if (!sp) return DFRT_INVALID_ARGUMENT;
    if (dfrt_cancelled(o->cancel)) return dfrt_fail(DFRT_CANCELLED, "cancelled");

    synth_plan plan = {0};
    bool built = false, made_model_dir = false;
    char *leaf = dfrt_asprintf("%s-" SYNTH_VERSION, name);
    char *model_dir = leaf ? dfrt_path_join(cache_dir, leaf) : NULL;
    free(leaf);
    char *bf16 = model_dir ? dfrt_path_join(model_dir, "bf16") : NULL;
    char *df11 = model_dir ? dfrt_path_join(model_dir, "df11") : NULL;
    dfrt_status s = bf16 && df11 ? make_plan(sp, &plan) : DFRT_OUT_OF_MEMORY;
    if (s == DFRT_OK) s = dfrt_make_dirs(cache_dir);
    if (s == DFRT_OK) {
        made_model_dir = mkdir(model_dir, 0777) == 0;
        s = dfrt_make_dirs(model_dir);
    }
    if (s == DFRT_OK) s = build_missing(&plan, model_dir, bf16, df11, o, &built);
    if (s != DFRT_OK && made_model_dir) rmdir(model_dir); /* only if still empty */
    free(plan.tensors);
    free(model_dir);
    if (s != DFRT_OK) {
        free(bf16);
        free(df11);
        return s;
    }
    if (out_bf16_dir) *out_bf16_dir = bf16;
    else free(bf16);
    if (out_df11_dir) *out_df11_dir = df11;
    else free(df11);
    if (out_built) *out_built = built;
    return DFRT_OK;
}
