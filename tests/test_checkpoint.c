/* Model directories: the shipped reference-written model (conformance), compress /
 * decompress / verify through the library, and directory-level errors. */
#include "base/internal.h"
#include "synth.h"

#include <unistd.h>

#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <sys/stat.h>


static int file_equal(const char *a, const char *b) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", a, b);
    return system(cmd) == 0;
}

/* Whether dir_a/name_a and dir_b/name_b hold the same bytes. */
static int files_equal_at(const char *dir_a, const char *name_a, const char *dir_b, const char *name_b) {
    char a[1000], b[1000];
    snprintf(a, sizeof a, "%s/%s", dir_a, name_a);
    snprintf(b, sizeof b, "%s/%s", dir_b, name_b);
    return file_equal(a, b);
}

static int exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

/* No "*.dfrt-tmp-*" entries left in a directory. */
static int no_temporaries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    int clean = 1;
    while ((e = readdir(d)) != NULL)
        if (strstr(e->d_name, ".dfrt-tmp-")) clean = 0;
    closedir(d);
    return clean;
}

static void test_shipped_model(void) {
    dfrt_checkpoint *cp;
    CHECK_OK(dfrt_checkpoint_open(test_model_dir(), &cp));
    if (!cp) return;
    CHECK(dfrt_checkpoint_unit_count(cp) == 10);
    static const char *order[10] = {"lm_head", "model.embed_tokens", "model.layers.0", "model.layers.1",
                                    "model.layers.2", "model.layers.3", "model.layers.4", "model.layers.5",
                                    "model.layers.6", "model.layers.7"};
    for (size_t i = 0; i < 10; i++) CHECK(strcmp(dfrt_checkpoint_unit(cp, i)->name, order[i]) == 0);
    const dfrt_df11_unit *l3 = dfrt_checkpoint_unit(cp, 5);
    CHECK(l3->n == 786432 && l3->n_parts == 7 && l3->n_tables == 3);
    CHECK(strcmp(l3->parts[0].name, "model.layers.3.self_attn.q_proj.weight") == 0);
    CHECK(l3->parts[0].n_dims == 2 && l3->parts[0].shape[0] == 256 && l3->parts[0].shape[1] == 256);
    CHECK(l3->parts[1].shape[0] == 128 && l3->parts[6].shape[0] == 256 && l3->parts[6].shape[1] == 768);
    CHECK(dfrt_checkpoint_is_unit_tensor(cp, "model.layers.3.gaps"));
    CHECK(!dfrt_checkpoint_is_unit_tensor(cp, "model.layers.3.input_layernorm.weight"));
    const dfrt_tensor *t;
    const dfrt_df11_unit *u;
    int part;
    CHECK_OK(dfrt_checkpoint_find_weight(cp, "model.layers.7.mlp.up_proj.weight", &t, &u, &part));
    CHECK(!t && u && strcmp(u->name, "model.layers.7") == 0 && part == 5);
    CHECK_OK(dfrt_checkpoint_find_weight(cp, "model.norm.weight", &t, &u, &part));
    CHECK(t && !u && t->n_elements == 256);
    CHECK_ERROR(dfrt_checkpoint_find_weight(cp, "model.layers.7.gaps", &t, &u, &part), DFRT_INVALID_ARGUMENT,
                "no weight named model.layers.7.gaps");
    /* Every unit decodes the same with both decoders. */
    for (size_t i = 0; i < 10; i++) {
        u = dfrt_checkpoint_unit(cp, i);
        uint16_t *a = malloc(u->n * 2), *b = malloc(u->n * 2);
        CHECK_OK(dfrt_df11_decode(u, a, 0));
        CHECK_OK(dfrt_df11_decode_sequential(u, b));
        CHECK(memcmp(a, b, u->n * 2) == 0);
        free(a);
        free(b);
    }
    dfrt_checkpoint_close(cp);
}

/* decompress -> compress gives back every reference-written file byte for byte. */
static void test_reference_round_trip(void) {
    char bf16[600], df11[600];
    snprintf(bf16, sizeof bf16, "%s", test_path("kjv-bf16"));
    snprintf(df11, sizeof df11, "%s", test_path("kjv-df11"));
    CHECK_OK(dfrt_decompress_dir(test_model_dir(), bf16, NULL));
    CHECK_OK(dfrt_compress_dir(bf16, df11, NULL));
    static const char *files[] = {"lm_head.safetensors", "model_embed_tokens.safetensors", "model.safetensors",
                                  "model_layers_0.safetensors", "model_layers_1.safetensors", "model_layers_2.safetensors",
                                  "model_layers_3.safetensors", "model_layers_4.safetensors", "model_layers_5.safetensors",
                                  "model_layers_6.safetensors", "model_layers_7.safetensors", "tokenizer.json",
                                  "tokenizer_config.json", "generation_config.json"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char a[700], b[700];
        snprintf(a, sizeof a, "%s/%s", test_model_dir(), files[i]);
        snprintf(b, sizeof b, "%s/%s", df11, files[i]);
        test_current = files[i];
        CHECK(file_equal(a, b));
    }
    test_current = "test_reference_round_trip";
    /* config.json: the decompressed one has no dfloat11_config; compressing adds it back. */
    dfrt_config *c;
    CHECK_OK(dfrt_config_load(bf16, &c));
    if (c) {
        CHECK(!c->is_df11 && c->hidden_size == 256 && c->rope_theta == 10000.0);
        dfrt_config_free(c);
    }
    CHECK_OK(dfrt_config_load(df11, &c));
    if (c) {
        CHECK(c->is_df11 && c->n_patterns == 3 && strcmp(c->df11_version, "0.5.0") == 0);
        dfrt_config_free(c);
    }
    /* The BF16 directory loads with architecture shapes, and verifies against the DF11 one. */
    dfrt_checkpoint *cp;
    CHECK_OK(dfrt_checkpoint_open(bf16, &cp));
    if (cp) {
        const dfrt_tensor *t = dfrt_tensor_set_find(dfrt_checkpoint_tensors(cp), "model.layers.0.mlp.down_proj.weight");
        CHECK(t && t->dtype == DFRT_DTYPE_BF16 && t->n_dims == 2 && t->shape[0] == 256 && t->shape[1] == 768);
        CHECK(dfrt_checkpoint_unit_count(cp) == 0);
        dfrt_checkpoint_close(cp);
    }
    dfrt_verify_summary sum;
    CHECK_OK(dfrt_verify_dir(test_model_dir(), bf16, NULL, &sum));
    CHECK(sum.n_units == 10 && sum.n_units_failed == 0 && sum.n_tensors_compared == 33 && sum.n_tensors_failed == 0);
    /* decompressing the re-compressed model gives identical BF16 files */
    char bf16b[600];
    snprintf(bf16b, sizeof bf16b, "%s", test_path("kjv-bf16-again"));
    CHECK_OK(dfrt_decompress_dir(df11, bf16b, NULL));
    CHECK(files_equal_at(bf16, "model-00004-of-00011.safetensors", bf16b, "model-00004-of-00011.safetensors"));
    CHECK(files_equal_at(bf16, "config.json", bf16b, "config.json"));
}

static void cancel_on_progress(void *user, uint64_t done, uint64_t total) {
    (void)total;
    if (done > 0) *(volatile int *)user = 1;
}

static void test_synthetic_models(void) {
    /* Several shards, an index, Qwen2 biases: compress -> verify -> decompress -> identical. */
    char src[600], out[600], back[600];
    snprintf(src, sizeof src, "%s", test_path("qwen2"));
    snprintf(out, sizeof out, "%s", test_path("qwen2-df11"));
    snprintf(back, sizeof back, "%s", test_path("qwen2-back"));
    synth_model_opts o = {.arch = "Qwen2ForCausalLM", .layers = 3, .shards = 3, .bias = 1};
    CHECK(synth_model(src, &o) == 0);
    CHECK_OK(dfrt_compress_dir(src, out, &(dfrt_compress_options){.n_threads = 2}));
    dfrt_verify_summary sum;
    CHECK_OK(dfrt_verify_dir(out, src, NULL, &sum));
    CHECK(sum.n_units == 5 && sum.n_tensors_failed == 0 && sum.n_tensors_compared == 3 * 5 + 1);
    char p[700];
    snprintf(p, sizeof p, "%s/model_layers_2.safetensors", out);
    dfrt_st_file *f;
    CHECK_OK(dfrt_st_file_open(p, &f)); /* the unit's own biases and norms live in its file */
    if (f) {
        CHECK(dfrt_st_file_find(f, "model.layers.2.self_attn.k_proj.bias") != NULL);
        CHECK(dfrt_st_file_find(f, "model.layers.2.input_layernorm.weight") != NULL);
        CHECK(dfrt_st_file_count(f) == 6 + 5);
        dfrt_st_file_close(f);
    }
    CHECK_OK(dfrt_decompress_dir(out, back, NULL));
    CHECK_OK(dfrt_verify_dir(out, back, NULL, &sum));
    snprintf(p, sizeof p, "%s/config.json", back);
    char q[700];
    snprintf(q, sizeof q, "%s/config.json", src);
    CHECK(file_equal(p, q)); /* config.json survives compress + decompress byte for byte */
    snprintf(p, sizeof p, "%s/tokenizer.json", out);
    CHECK(exists(p));

    /* Tied embeddings: the default dict compresses the layers only. */
    snprintf(src, sizeof src, "%s", test_path("tied"));
    snprintf(out, sizeof out, "%s", test_path("tied-df11"));
    o = (synth_model_opts){.arch = "Qwen3ForCausalLM", .tied = 1};
    CHECK(synth_model(src, &o) == 0);
    CHECK_OK(dfrt_compress_dir(src, out, NULL));
    dfrt_checkpoint *cp;
    CHECK_OK(dfrt_checkpoint_open(out, &cp));
    if (cp) {
        CHECK(dfrt_checkpoint_unit_count(cp) == 2);
        CHECK(dfrt_tensor_set_find(dfrt_checkpoint_tensors(cp), "model.embed_tokens.weight") != NULL);
        dfrt_checkpoint_close(cp);
    }

    /* Errors, each named, and nothing left behind. */
    snprintf(src, sizeof src, "%s", test_path("llama"));
    o = (synth_model_opts){0};
    CHECK(synth_model(src, &o) == 0);
    snprintf(out, sizeof out, "%s", test_path("fail-out"));
    CHECK_ERROR(dfrt_compress_dir(src, out, &(dfrt_compress_options){.pattern_dict_json = "{\"model\\\\.nothing\\\\.\\\\d+\": []}"}),
                DFRT_INVALID_ARGUMENT, "pattern \"model\\.nothing\\.\\d+\" matches no module");
    CHECK(!exists(out) && no_temporaries(test_tmpdir()));
    CHECK_ERROR(dfrt_compress_dir(src, out, &(dfrt_compress_options){.pattern_dict_json = "{\"model\\\\.layers\\\\.\\\\d+\": [\"mlp.nope\"]}"}),
                DFRT_FORMAT_ERROR, "module model.layers.0 matches pattern", "has no tensor model.layers.0.mlp.nope.weight");
    CHECK_ERROR(dfrt_compress_dir(src, out, &(dfrt_compress_options){.pattern_dict_json = "{\"model\": [], \"model\\\\.layers\\\\.\\\\d+\": []}"}),
                DFRT_FORMAT_ERROR, "has no tensor model.weight");
    volatile int cancel = 0;
    CHECK_ERROR(dfrt_compress_dir(src, out, &(dfrt_compress_options){.progress = cancel_on_progress,
                                                                        .progress_user = (void *)&cancel, .cancel = &cancel}),
                DFRT_CANCELLED, "cancelled");
    CHECK(!exists(out) && no_temporaries(test_tmpdir()));
    test_sh("mkdir -p '%s' && touch '%s/keep'", out, out);
    CHECK_ERROR(dfrt_compress_dir(src, out, NULL), DFRT_INVALID_ARGUMENT, "output directory exists and is not empty");
    snprintf(p, sizeof p, "%s/keep/sub", out);
    CHECK_ERROR(dfrt_compress_dir(src, p, NULL), DFRT_IO_ERROR, "cannot create output directory");
    test_sh("rm -rf '%s'", out);
    test_sh("mkdir -p '%s'", out); /* an existing empty directory is fine */
    CHECK_OK(dfrt_compress_dir(src, out, NULL));
    CHECK_ERROR(dfrt_compress_dir(out, test_path("again"), NULL), DFRT_INVALID_ARGUMENT, "already a DF11 model");
    CHECK_ERROR(dfrt_decompress_dir(src, test_path("again"), NULL), DFRT_INVALID_ARGUMENT, "not a DF11 model");
    CHECK_ERROR(dfrt_compress_dir(test_path("no-such-dir"), test_path("again"), NULL), DFRT_IO_ERROR,
                "no-such-dir: cannot open model directory");

    snprintf(src, sizeof src, "%s", test_path("inf"));
    o = (synth_model_opts){.inf_tensor = "model.layers.1.mlp.up_proj.weight"};
    CHECK(synth_model(src, &o) == 0);
    CHECK_ERROR(dfrt_compress_dir(src, test_path("inf-out"), NULL), DFRT_UNSUPPORTED,
                "model.layers.1.mlp.up_proj.weight element 5 is 0x7f80", "infinity");
    CHECK(!exists(test_path("inf-out")) && no_temporaries(test_tmpdir()));

    snprintf(src, sizeof src, "%s", test_path("f32"));
    o = (synth_model_opts){.f32_tensor = "model.layers.0.self_attn.o_proj.weight"};
    CHECK(synth_model(src, &o) == 0);
    CHECK_ERROR(dfrt_compress_dir(src, test_path("f32-out"), NULL), DFRT_UNSUPPORTED,
                "tensor model.layers.0.self_attn.o_proj.weight is F32; DF11 compresses BF16 weights only");

    snprintf(src, sizeof src, "%s", test_path("gpt2"));
    o = (synth_model_opts){.arch = "GPT2LMHeadModel"};
    CHECK(synth_model(src, &o) == 0);
    CHECK_ERROR(dfrt_compress_dir(src, test_path("gpt2-out"), NULL), DFRT_UNSUPPORTED,
                "architecture \"GPT2LMHeadModel\" has no default pattern_dict");
    CHECK_OK(dfrt_compress_dir(src, test_path("gpt2-out"),
                               &(dfrt_compress_options){.pattern_dict_json = "{\"model\\\\.layers\\\\.\\\\d+\\\\.mlp\\\\.up_proj\": []}"}));
    CHECK_OK(dfrt_checkpoint_open(test_path("gpt2-out"), &cp));
    if (cp) { /* unknown architecture: weights stay 1-D */
        CHECK(dfrt_checkpoint_unit_count(cp) == 2 && dfrt_checkpoint_unit(cp, 0)->parts[0].n_dims == 1);
        dfrt_checkpoint_close(cp);
    }
    /* a shard listed in the index but missing */
    snprintf(src, sizeof src, "%s", test_path("sharded"));
    o = (synth_model_opts){.shards = 2};
    CHECK(synth_model(src, &o) == 0);
    test_sh("rm '%s/model-00002-of-00002.safetensors'", src);
    CHECK_ERROR(dfrt_compress_dir(src, test_path("sharded-out"), NULL), DFRT_FORMAT_ERROR,
                "shard model-00002-of-00002.safetensors is missing");
}

/* Total bytes of a directory's safetensors files. */
static uint64_t safetensors_bytes(const char *dir) {
    DIR *d = opendir(dir);
    uint64_t total = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        char p[1024];
        struct stat st;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (strstr(e->d_name, ".safetensors") && !strstr(e->d_name, ".json") && stat(p, &st) == 0)
            total += (uint64_t)st.st_size;
    }
    if (d) closedir(d);
    return total;
}

/* st_mtim of dir/file, in ns; 0 if missing. */
static int64_t mtime_ns(const char *dir, const char *file) {
    char p[1024];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, file);
    return stat(p, &st) == 0 ? (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec : 0;
}

typedef struct cancel_at {
    volatile int flag;
    uint64_t after; /* raise the flag once progress passes this */
    uint64_t last_total;
} cancel_at;

static void cancel_after(void *user, uint64_t done, uint64_t total) {
    cancel_at *c = user;
    c->last_total = total;
    if (done > c->after) c->flag = 1;
}

/* Logits of a few tokens on the CPU backend. */
static int cpu_logits(dfrt_backend *b, const char *dir, float *logits, int32_t *argmax) {
    dfrt_model *m = NULL;
    dfrt_model_options mo = {.max_context = 16, .max_batch = 5};
    const int32_t tokens[5] = {0, 17, 4095, 1234, 7}, slots[5] = {0}, positions[5] = {0, 1, 2, 3, 4};
    const uint32_t rows[5] = {0, 1, 2, 3, 4};
    dfrt_status s = dfrt_model_load(b, dir, &mo, &m);
    if (s == DFRT_OK) s = dfrt_model_forward(m, tokens, slots, positions, 5, rows, 5, logits, argmax);
    CHECK_OK(s);
    dfrt_model_free(m);
    return s == DFRT_OK;
}

/* Two checkpoints hold the same tensors (names, dtypes, shapes, bytes) and units. */
static int same_tensors(const dfrt_checkpoint *a, const dfrt_checkpoint *b) {
    const dfrt_tensor_set *ta = dfrt_checkpoint_tensors(a), *tb = dfrt_checkpoint_tensors(b);
    int same = dfrt_tensor_set_count(ta) == dfrt_tensor_set_count(tb) &&
               dfrt_checkpoint_unit_count(a) == dfrt_checkpoint_unit_count(b);
    for (size_t i = 0; same && i < dfrt_tensor_set_count(ta); i++) {
        const dfrt_tensor *x = dfrt_tensor_set_get(ta, i), *y = dfrt_tensor_set_get(tb, i);
        same = strcmp(x->name, y->name) == 0 && x->dtype == y->dtype && x->n_dims == y->n_dims &&
               memcmp(x->shape, y->shape, sizeof x->shape) == 0 && x->n_bytes == y->n_bytes &&
               memcmp(x->data, y->data, x->n_bytes) == 0;
        if (!same) fprintf(stderr, "  differs: %s / %s\n", x->name, y->name);
    }
    for (size_t i = 0; same && i < dfrt_checkpoint_unit_count(a); i++)
        same = strcmp(dfrt_checkpoint_unit(a, i)->name, dfrt_checkpoint_unit(b, i)->name) == 0;
    return same;
}

/* Logits of tokens through a loaded model. */
static int model_logits(dfrt_model *m, float *logits, int32_t *argmax) {
    const int32_t tokens[5] = {0, 17, 4095, 1234, 7}, slots[5] = {0}, positions[5] = {0, 1, 2, 3, 4};
    const uint32_t rows[5] = {0, 1, 2, 3, 4};
    dfrt_status s = dfrt_model_forward(m, tokens, slots, positions, 5, rows, 5, logits, argmax);
    CHECK_OK(s);
    return s == DFRT_OK;
}

/* dfrt_synthetic_checkpoint: the directories' tensors, made in memory. */
static void test_synthetic_memory(const char *bf16, const char *df11) {
    dfrt_checkpoint *disk[2] = {NULL, NULL}, *mem[2] = {NULL, NULL};
    CHECK_OK(dfrt_checkpoint_open(df11, &disk[0]));
    CHECK_OK(dfrt_checkpoint_open(bf16, &disk[1]));
    cancel_at progress = {.after = UINT64_MAX};
    for (int f = 0; f < 2; f++) {
        /* DF11 from 3 threads, BF16 from 1: the same bytes as the directories (4 threads) */
        dfrt_synthetic_options o = {.n_threads = f ? 1 : 3, .progress = cancel_after, .progress_user = &progress};
        CHECK_OK(dfrt_synthetic_checkpoint("tiny", f == 0, &o, &mem[f]));
        if (!mem[f] || !disk[f]) continue;
        CHECK(same_tensors(mem[f], disk[f]));
        CHECK(progress.last_total == (f ? 1 : 2) * 5245440ull - (f ? 0 : 2 * (4 * (2 * 256 + 2 * 32) + 256)));
        const dfrt_config *c = dfrt_checkpoint_config(mem[f]);
        CHECK(c->is_df11 == (f == 0) && c->n_layers == 4 && c->vocab_size == 4096 &&
              c->n_patterns == dfrt_checkpoint_config(disk[f])->n_patterns);
        CHECK(strstr(dfrt_checkpoint_dir(mem[f]), "synthetic tiny") && strstr(dfrt_checkpoint_dir(mem[f]), "in memory"));
    }
    /* loaded (twice from one checkpoint, which the models borrow): the directory's logits */
    dfrt_backend *b;
    CHECK_OK(dfrt_backend_open("cpu", 0, &b));
    float *la = malloc(5 * 4096 * sizeof *la), *lb = malloc(5 * 4096 * sizeof *lb);
    int32_t aa[5], ab[5];
    dfrt_model_options mo = {.max_context = 16, .max_batch = 5};
    for (int f = 0; f < 2 && b && mem[f]; f++) {
        dfrt_model *m1 = NULL, *m2 = NULL;
        CHECK_OK(dfrt_model_load_checkpoint(b, mem[f], &mo, &m1));
        CHECK_OK(dfrt_model_load_checkpoint(b, mem[f], &mo, &m2));
        if (m1 && m2 && model_logits(m1, la, aa) && cpu_logits(b, f ? bf16 : df11, lb, ab))
            CHECK(memcmp(la, lb, 5 * 4096 * sizeof *la) == 0 && memcmp(aa, ab, sizeof aa) == 0);
        dfrt_model_free(m1);
        if (m2 && model_logits(m2, la, aa)) CHECK(memcmp(la, lb, 5 * 4096 * sizeof *la) == 0);
        CHECK(m2 && dfrt_model_tokenizer(m2) == NULL);
        dfrt_model_free(m2);
    }
    free(la);
    free(lb);
    dfrt_backend_close(b);
    for (int f = 0; f < 2; f++) {
        dfrt_checkpoint_close(mem[f]);
        dfrt_checkpoint_close(disk[f]);
    }

    /* Too little host memory, cancellation, a name dfrt does not know: refused, named. */
    dfrt_checkpoint *cp = (dfrt_checkpoint *)1;
    CHECK_ERROR(dfrt_synthetic_checkpoint("tiny", false, &(dfrt_synthetic_options){.host_memory_bytes = 1 << 20}, &cp),
                DFRT_OUT_OF_MEMORY, "synthetic tiny: the BF16 model needs 2.16 GB of host memory, and 0.00 GB is there",
                "--host-memory");
    CHECK(cp == NULL);
    CHECK_ERROR(dfrt_synthetic_checkpoint("llama-3.3-70b", true,
                                          &(dfrt_synthetic_options){.host_memory_bytes = (uint64_t)64 << 30}, &cp),
                DFRT_OUT_OF_MEMORY, "synthetic llama-3.3-70b: the DF11 model needs ", "68.72 GB is there");
    progress = (cancel_at){.after = 100000};
    CHECK_ERROR(dfrt_synthetic_checkpoint("tiny", true, &(dfrt_synthetic_options){.n_threads = 2, .progress = cancel_after, .cancel = &progress.flag,
                                                                                  .progress_user = &progress},
                                          &cp),
                DFRT_CANCELLED, "cancelled");
    CHECK(cp == NULL);
    progress = (cancel_at){.after = 100000};
    CHECK_ERROR(dfrt_synthetic_checkpoint("tiny", false, &(dfrt_synthetic_options){.n_threads = 2, .progress = cancel_after, .cancel = &progress.flag,
                                                                                   .progress_user = &progress},
                                          &cp),
                DFRT_CANCELLED, "cancelled");
    CHECK_ERROR(dfrt_synthetic_checkpoint("llama-3-8b", true, NULL, &cp), DFRT_INVALID_ARGUMENT,
                "unknown synthetic model \"llama-3-8b\"");
}

/* Synthetic models: built once into a cache, then reused; deterministic; cancellable. */
static void test_synthetic_cache(void) {
    const dfrt_synthetic_info *info;
    size_t n = dfrt_synthetic_list(&info);
    static const struct {
        const char *name, *arch;
        uint64_t parameters;
    } expected[] = {
        {"llama-3.1-8b", "LlamaForCausalLM", 8030261248ull},
        {"qwen3-8b", "Qwen3ForCausalLM", 8190735360ull},
        {"qwen3-4b", "Qwen3ForCausalLM", 4022468096ull},
        /* the releases' published counts */
        {"llama-3.3-70b", "LlamaForCausalLM", 70553706496ull},
        {"qwen3-32b", "Qwen3ForCausalLM", 32762123264ull},
        {"tiny", "Qwen3ForCausalLM", 5245440},
    };
    CHECK(n == 6);
    for (size_t i = 0; i < n && i < 6; i++)
        CHECK(strcmp(info[i].name, expected[i].name) == 0 && strcmp(info[i].architecture, expected[i].arch) == 0 &&
              info[i].parameters == expected[i].parameters);

    /* First call builds (creating the cache's parents), the second finds it and writes nothing. */
    char cache[600], want[700];
    snprintf(cache, sizeof cache, "%s", test_path("synthetic/cache"));
    char *bf16 = NULL, *df11 = NULL, *bf16_again = NULL, *df11_again = NULL;
    bool built = false;
    cancel_at progress = {.after = UINT64_MAX};
    dfrt_synthetic_options o4 = {.n_threads = 4, .progress = cancel_after, .progress_user = &progress};
    CHECK_OK(dfrt_synthetic_model("tiny", cache, &o4, &bf16, &df11, &built));
    if (!bf16 || !df11) return;
    CHECK(built && progress.last_total == 2 * 5245440ull);
    snprintf(want, sizeof want, "%s/tiny-v1/bf16", cache);
    CHECK(strcmp(bf16, want) == 0);
    snprintf(want, sizeof want, "%s/tiny-v1/df11", cache);
    CHECK(strcmp(df11, want) == 0);
    int64_t t_bf16 = mtime_ns(bf16, "model.safetensors"), t_df11 = mtime_ns(df11, "model_layers_0.safetensors");
    int64_t t_config = mtime_ns(df11, "config.json");
    CHECK(t_bf16 && t_df11 && t_config);
    CHECK_OK(dfrt_synthetic_model("tiny", cache, &o4, &bf16_again, &df11_again, &built));
    CHECK(!built && bf16_again && df11_again && strcmp(bf16, bf16_again) == 0 && strcmp(df11, df11_again) == 0);
    CHECK(t_bf16 == mtime_ns(bf16, "model.safetensors") && t_df11 == mtime_ns(df11, "model_layers_0.safetensors") &&
          t_config == mtime_ns(df11, "config.json"));
    free(bf16_again);
    free(df11_again);
    CHECK_OK(dfrt_synthetic_model("tiny", cache, NULL, NULL, NULL, NULL)); /* every out pointer optional */

    /* The BF16 directory: the config asked for, one model.safetensors, norms of ones. */
    dfrt_config *c;
    CHECK_OK(dfrt_config_load(bf16, &c));
    if (c) {
        CHECK(strcmp(c->architecture, "Qwen3ForCausalLM") == 0 && strcmp(c->dtype, "bfloat16") == 0);
        CHECK(c->hidden_size == 256 && c->intermediate_size == 768 && c->n_layers == 4 && c->n_heads == 8 &&
              c->n_kv_heads == 4 && c->head_dim == 32 && c->vocab_size == 4096 && !c->tie_word_embeddings);
        CHECK(c->max_position_embeddings == 4096 && c->rms_norm_eps == 1e-6 && c->rope_theta == 1e6);
        CHECK(c->bos_token_id == 0 && c->n_eos == 1 && c->eos_token_ids[0] == 1);
        dfrt_config_free(c);
    }
    snprintf(want, sizeof want, "%s/model.safetensors.index.json", bf16);
    CHECK(!exists(want));
    snprintf(want, sizeof want, "%s/generation_config.json", bf16);
    CHECK(exists(want));
    dfrt_tensor_set *ts;
    CHECK_OK(dfrt_tensor_set_open(bf16, &ts));
    if (ts) {
        CHECK(dfrt_tensor_set_count(ts) == 3 + 4 * 11);
        const dfrt_tensor *t = dfrt_tensor_set_find(ts, "model.layers.3.self_attn.k_proj.weight");
        CHECK(t && t->dtype == DFRT_DTYPE_BF16 && t->n_dims == 2 && t->shape[0] == 128 && t->shape[1] == 256);
        t = dfrt_tensor_set_find(ts, "model.layers.0.mlp.down_proj.weight");
        CHECK(t && t->shape[0] == 256 && t->shape[1] == 768);
        t = dfrt_tensor_set_find(ts, "lm_head.weight");
        CHECK(t && t->shape[0] == 4096 && t->shape[1] == 256);
        t = dfrt_tensor_set_find(ts, "model.layers.2.self_attn.k_norm.weight");
        CHECK(t && t->n_dims == 1 && t->shape[0] == 32);
        int ones = t != NULL;
        for (uint64_t i = 0; t && i < t->n_elements; i++) ones &= ((const uint16_t *)t->data)[i] == 0x3F80;
        CHECK(ones);
        t = dfrt_tensor_set_find(ts, "model.embed_tokens.weight");
        double sum = 0, sum2 = 0;
        for (uint64_t i = 0; t && i < t->n_elements; i++) {
            double x = test_float(((const uint16_t *)t->data)[i]);
            sum += x;
            sum2 += x * x;
        }
        double std = t ? sqrt(sum2 / (double)t->n_elements) : 0;
        CHECK(t && fabs(sum / (double)t->n_elements) < 1e-4 && std > 0.0199 && std < 0.0201);
        dfrt_tensor_set_close(ts);
    }

    /* The DF11 directory: 6 units, about two thirds of the BF16 size. */
    dfrt_checkpoint *cp;
    CHECK_OK(dfrt_checkpoint_open(df11, &cp));
    if (cp) {
        CHECK(dfrt_checkpoint_unit_count(cp) == 6);
        dfrt_checkpoint_close(cp);
    }
    double ratio = (double)safetensors_bytes(df11) / (double)safetensors_bytes(bf16);
    CHECK(ratio > 0.60 && ratio < 0.75);

    /* Both run on the CPU with bit-identical logits. */
    dfrt_backend *b;
    CHECK_OK(dfrt_backend_open("cpu", 0, &b));
    float *la = malloc(5 * 4096 * sizeof *la), *lb = malloc(5 * 4096 * sizeof *lb);
    int32_t aa[5], ab[5];
    if (b && cpu_logits(b, df11, la, aa) && cpu_logits(b, bf16, lb, ab)) {
        CHECK(memcmp(la, lb, 5 * 4096 * sizeof *la) == 0 && memcmp(aa, ab, sizeof aa) == 0);
        int finite = 1;
        for (int i = 0; i < 5 * 4096; i++) finite &= isfinite(la[i]);
        CHECK(finite && la[0] != la[1]);
    }
    free(la);
    free(lb);
    dfrt_backend_close(b);

    /* One thread writes the same bytes as four. */
    char cache1[600], a[800], b1[900];
    snprintf(cache1, sizeof cache1, "%s", test_path("synthetic-1"));
    CHECK_OK(dfrt_synthetic_model("tiny", cache1, &(dfrt_synthetic_options){.n_threads = 1}, NULL, NULL, &built));
    CHECK(built);
    CHECK(files_equal_at(bf16, "model.safetensors", cache1, "tiny-v1/bf16/model.safetensors"));
    CHECK(files_equal_at(df11, "model_layers_3.safetensors", cache1, "tiny-v1/df11/model_layers_3.safetensors"));

    /* Cancelled while compressing: the BF16 directory stays (complete), the DF11 one is not
     * made; the next call only compresses. */
    test_sh("rm -rf '%s'", df11);
    progress = (cancel_at){.after = 5245440ull + 1};
    o4.cancel = &progress.flag;
    CHECK_ERROR(dfrt_synthetic_model("tiny", cache, &o4, NULL, NULL, &built), DFRT_CANCELLED, "cancelled");
    snprintf(a, sizeof a, "%s/tiny-v1", cache);
    CHECK(!built && exists(bf16) && !exists(df11) && no_temporaries(a));
    progress = (cancel_at){.after = UINT64_MAX};
    CHECK_OK(dfrt_synthetic_model("tiny", cache, &o4, NULL, NULL, &built));
    CHECK(built && exists(df11) && t_bf16 == mtime_ns(bf16, "model.safetensors"));

    /* Cancelled while generating, or before the call: nothing left behind. */
    snprintf(a, sizeof a, "%s", test_path("synthetic-cancel"));
    progress = (cancel_at){.after = 0};
    CHECK_ERROR(dfrt_synthetic_model("tiny", a, &o4, NULL, NULL, &built), DFRT_CANCELLED, "cancelled");
    snprintf(b1, sizeof b1, "%s/tiny-v1", a);
    CHECK(!exists(b1) && no_temporaries(a));
    progress.flag = 1;
    snprintf(a, sizeof a, "%s", test_path("synthetic-cancel-early"));
    char *p1 = (char *)"x", *p2 = (char *)"x";
    CHECK_ERROR(dfrt_synthetic_model("tiny", a, &o4, &p1, &p2, &built), DFRT_CANCELLED, "cancelled");
    CHECK(!exists(a) && !p1 && !p2 && !built);

    /* Errors, each named. */
    CHECK_ERROR(dfrt_synthetic_model("llama-3-8b", cache, NULL, NULL, NULL, NULL), DFRT_INVALID_ARGUMENT,
                "unknown synthetic model");
    CHECK(strcmp(dfrt_last_error(), "unknown synthetic model \"llama-3-8b\" (known: llama-3.1-8b, qwen3-8b, "
                                    "qwen3-4b, llama-3.3-70b, qwen3-32b, tiny)") == 0);
    snprintf(a, sizeof a, "%s/tiny-v1/bf16/config.json/below", cache);
    CHECK_ERROR(dfrt_synthetic_model("tiny", a, NULL, NULL, NULL, NULL), DFRT_IO_ERROR, "config.json",
                "cannot create directory");
    CHECK_ERROR(dfrt_require_free_space(cache, (uint64_t)1 << 62, "building the synthetic model x"), DFRT_IO_ERROR,
                cache, ": building the synthetic model x needs 4611686018.4 GB of disk space, but only ", " GB is free");
    test_synthetic_memory(bf16, df11);
    free(bf16);
    free(df11);
}

/* Every edge case of the format through the directory pipeline: compress -> verify ->
 * decompress, with a pattern_dict naming the parts. */
static void test_edge_cases_through_directories(void) {
    synth_case *cases;
    int n = synth_cases(&cases);
    for (int i = 0; i < n; i++) {
        const synth_case *c = &cases[i];
        test_current = c->label;
        char src[600], df11[600], back[600], path[700], name[64];
        snprintf(src, sizeof src, "%s", test_path("edge"));
        snprintf(df11, sizeof df11, "%s", test_path("edge-df11"));
        snprintf(back, sizeof back, "%s", test_path("edge-back"));
        test_sh("rm -rf '%s' '%s' '%s' && mkdir -p '%s'", src, df11, back, src);
        snprintf(path, sizeof path, "%s/config.json", src);
        const char *config = "{\"architectures\": [\"EdgeCaseModel\"]}\n";
        test_write_file(path, config, strlen(config));
        snprintf(path, sizeof path, "%s/model.safetensors", src);
        dfrt_st_writer *w;
        CHECK_OK(dfrt_st_writer_create(path, &w));
        char dict[512] = "{\"edge\": [";
        for (int p = 0; p < c->n_parts; p++) {
            snprintf(name, sizeof name, "edge.p%d.weight", p);
            int64_t shape[1] = {(int64_t)c->counts[p]};
            CHECK_OK(dfrt_st_writer_add(w, name, DFRT_DTYPE_BF16, 1, shape, c->parts[p]));
            snprintf(dict + strlen(dict), sizeof dict - strlen(dict), "%s\"p%d\"", p ? ", " : "", p);
        }
        strcat(dict, "]}");
        CHECK_OK(dfrt_st_writer_finish(w));
        CHECK_OK(dfrt_compress_dir(src, df11, &(dfrt_compress_options){.pattern_dict_json = dict}));
        dfrt_verify_summary sum;
        CHECK_OK(dfrt_verify_dir(df11, src, NULL, &sum));
        CHECK(sum.n_units == 1 && sum.n_units_failed == 0 && sum.n_tensors_failed == 0);
        CHECK_OK(dfrt_decompress_dir(df11, back, NULL));
        dfrt_tensor_set *ts;
        CHECK_OK(dfrt_tensor_set_open(back, &ts));
        for (int p = 0; ts && p < c->n_parts; p++) {
            snprintf(name, sizeof name, "edge.p%d.weight", p);
            const dfrt_tensor *t = dfrt_tensor_set_find(ts, name);
            CHECK(t && t->dtype == DFRT_DTYPE_BF16 && t->n_dims == 1 && t->n_elements == c->counts[p]);
            CHECK(t && memcmp(t->data, c->parts[p], c->counts[p] * 2) == 0);
        }
        dfrt_tensor_set_close(ts);
    }
    synth_cases_free(cases, n);
}

/* Broken DF11 directories made from copies of the shipped model. */
static void test_broken_df11_dirs(void) {
    char d[600];
    snprintf(d, sizeof d, "%s", test_path("broken"));
    dfrt_checkpoint *cp;
    /* pattern_dict that no longer covers lm_head */
    test_sh("cp -r '%s' '%s' && sed -i 's/\"lm_head\": \\[\\],//' '%s/config.json'", test_model_dir(), d, d);
    CHECK_ERROR(dfrt_checkpoint_open(d, &cp), DFRT_FORMAT_ERROR, "lm_head.safetensors: DF11 unit lm_head matches no pattern");
    /* config.json shapes that disagree with the units */
    test_sh("rm -rf '%s' && cp -r '%s' '%s' && sed -i 's/\"intermediate_size\": 768/\"intermediate_size\": 700/' '%s/config.json'",
       d, test_model_dir(), d, d);
    CHECK_ERROR(dfrt_checkpoint_open(d, &cp), DFRT_FORMAT_ERROR, "weight model.layers.0.mlp.gate_proj.weight has 196608 elements",
                "config.json makes it [700, 256]");
    /* no dfloat11_config, DF11 tensors */
    test_sh("rm -rf '%s' && mkdir -p '%s' && cp '%s'/*.safetensors '%s/' && echo '{\"architectures\": [\"Qwen3ForCausalLM\"]}' > '%s/config.json'",
       d, d, test_model_dir(), d, d);
    CHECK_ERROR(dfrt_checkpoint_open(d, &cp), DFRT_FORMAT_ERROR, "holds DF11 tensors (lm_head.*) but config.json has no dfloat11_config");
    /* a unit missing one of its six tensors (model_layers_3.safetensors rewritten without gaps) */
    test_sh("rm -rf '%s' && cp -r '%s' '%s'", d, test_model_dir(), d);
    {
        char path[700];
        snprintf(path, sizeof path, "%s/model_layers_3.safetensors", test_model_dir());
        dfrt_st_file *f;
        CHECK_OK(dfrt_st_file_open(path, &f));
        snprintf(path, sizeof path, "%s/model_layers_3.safetensors", d);
        dfrt_st_writer *w;
        CHECK_OK(dfrt_st_writer_create(path, &w));
        for (size_t i = 0; f && i < dfrt_st_file_count(f); i++) {
            const dfrt_tensor *t = dfrt_st_file_tensor(f, i);
            if (strcmp(t->name, "model.layers.3.gaps") != 0) dfrt_st_writer_add(w, t->name, t->dtype, t->n_dims, t->shape, t->data);
        }
        CHECK_OK(dfrt_st_writer_finish(w));
        dfrt_st_file_close(f);
    }
    CHECK_ERROR(dfrt_checkpoint_open(d, &cp), DFRT_FORMAT_ERROR, "DF11 unit model.layers.3: tensor model.layers.3.gaps is missing");
    /* verify reports the broken unit and carries on with the rest */
    int failed_units = 0;
    dfrt_verify_summary sum;
    CHECK_ERROR(dfrt_verify_dir(d, NULL, NULL, &sum), DFRT_FORMAT_ERROR, "1 of 10 units");
    failed_units = sum.n_units_failed;
    CHECK(failed_units == 1 && sum.n_units == 10);
    /* old pickle format */
    test_sh("rm -rf '%s' && mkdir -p '%s' && touch '%s/layer_0.pkl' && echo '{}' > '%s/config.json'", d, d, d, d);
    CHECK_ERROR(dfrt_checkpoint_open(d, &cp), DFRT_UNSUPPORTED, "layer_0.pkl", "old pickle format");
    CHECK_ERROR(dfrt_checkpoint_open(test_path("nothing-here"), &cp), DFRT_IO_ERROR, "cannot open model directory");
}

/* verify and decompress check the whole weight set: a missing layer file is named, not
 * "verified"; an architecture dfrt does not know gets what can be checked (the layer numbering,
 * the index) and a warning saying so. */
static void test_weight_set(void) {
    char d[600], out[600], path[700];
    snprintf(d, sizeof d, "%s", test_path("ws"));
    snprintf(out, sizeof out, "%s", test_path("ws-out"));
    test_sh("rm -rf '%s' && cp -r '%s' '%s' && rm '%s/model_layers_3.safetensors'", d, test_model_dir(), d, d);
    const char *missing = "11 of the weights Qwen3ForCausalLM with num_hidden_layers 8 needs are missing: model.layers.3 "
                          "(all 11 of its weights)";
    dfrt_verify_summary sum;
    CHECK_ERROR(dfrt_verify_dir(d, NULL, NULL, &sum), DFRT_FORMAT_ERROR, missing);
    CHECK(sum.n_units == 9 && sum.n_units_failed == 0);
    CHECK_ERROR(dfrt_decompress_dir(d, out, NULL), DFRT_FORMAT_ERROR, missing);
    CHECK(access(out, F_OK) != 0);
    /* a disagreeing config.json: verify fails, decompress carries it over and warns */
    test_sh("rm -rf '%s' && cp -r '%s' '%s' && sed -i 's/\"num_hidden_layers\": 8/\"num_hidden_layers\": 6/' '%s/config.json'",
            d, test_model_dir(), d, d);
    const char *beyond = "config.json says num_hidden_layers is 6, but the weights go up to model.layers.7";
    CHECK_ERROR(dfrt_verify_dir(d, NULL, NULL, &sum), DFRT_FORMAT_ERROR, beyond);
    dfrt_set_warning_handler(test_collect_warning, NULL);
    test_n_warnings = 0;
    CHECK_OK(dfrt_decompress_dir(d, out, NULL));
    CHECK(test_n_warnings == 1 && strstr(test_last_warning, beyond));
    test_sh("rm -rf '%s'", out);

    /* an architecture dfrt does not know, compressed with a pattern_dict */
    char src[600];
    snprintf(src, sizeof src, "%s", test_path("ws-foo"));
    test_sh("rm -rf '%s' '%s' '%s'", src, d, out);
    synth_model_opts o = {.arch = "FooForCausalLM", .layers = 3};
    CHECK(synth_model(src, &o) == 0);
    test_n_warnings = 0;
    CHECK_OK(dfrt_compress_dir(src, d, &(dfrt_compress_options){.pattern_dict_json = "{\"model\\\\.layers\\\\.\\\\d+\": [\"mlp.up_proj\"]}"}));
    CHECK(test_n_warnings == 1 && strstr(test_last_warning, "dfrt run will refuse this model") &&
          strstr(test_last_warning, "architecture \"FooForCausalLM\" is not supported"));
    test_n_warnings = 0;
    CHECK_OK(dfrt_verify_dir(d, NULL, NULL, &sum));
    CHECK(test_n_warnings == 1 &&
          strstr(test_last_warning, "dfrt does not know architecture \"FooForCausalLM\", so it cannot tell whether a weight is "
                               "missing: it checked that each of the 3 layers (num_hidden_layers) has weights"));
    /* with an index listing every tensor, that is checked too */
    dfrt_tensor_set *ts = NULL;
    CHECK_OK(dfrt_tensor_set_open(d, &ts));
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", d);
    FILE *f = fopen(path, "w");
    fprintf(f, "{\"metadata\": {}, \"weight_map\": {");
    for (size_t i = 0; ts && i < dfrt_tensor_set_count(ts); i++) {
        const dfrt_tensor *t = dfrt_tensor_set_get(ts, i);
        const char *base = strrchr(t->file, '/') ? strrchr(t->file, '/') + 1 : t->file;
        fprintf(f, "%s\"%s\": \"%s\"", i ? ", " : "", t->name, base);
    }
    fprintf(f, "}}\n");
    fclose(f);
    dfrt_tensor_set_close(ts);
    test_n_warnings = 0;
    CHECK_OK(dfrt_verify_dir(d, NULL, NULL, &sum));
    CHECK(test_n_warnings == 1 && strstr(test_last_warning, "has weights and that every weight model.safetensors.index.json lists is "
                                                  "present"));
    test_sh("rm '%s/model_layers_1.safetensors'", d);
    CHECK_ERROR(dfrt_verify_dir(d, NULL, NULL, &sum), DFRT_FORMAT_ERROR, "shard model_layers_1.safetensors is missing");
    CHECK_ERROR(dfrt_decompress_dir(d, out, NULL), DFRT_FORMAT_ERROR, "shard model_layers_1.safetensors is missing");
    /* without the index, the layer numbering still tells */
    test_sh("rm '%s/model.safetensors.index.json'", d);
    CHECK_ERROR(dfrt_verify_dir(d, NULL, NULL, &sum), DFRT_FORMAT_ERROR,
                "config.json says num_hidden_layers is 3, but 1 layer has no weights: model.layers.1");
    CHECK_ERROR(dfrt_decompress_dir(d, out, NULL), DFRT_FORMAT_ERROR, "1 layer has no weights: model.layers.1");
    CHECK(access(out, F_OK) != 0);
    dfrt_set_warning_handler(NULL, NULL);
}

/* The last position's logits (vocab 300) of four tokens through the model in dir on the CPU;
 * false (after a failed check) when it does not load or run. */
static bool last_logits(const char *dir, int max_context, float out[300]) {
    dfrt_backend *b = NULL;
    dfrt_model *m = NULL;
    test_sh("rm -f '%s/tokenizer.json'", dir); /* synth_model's is empty; the model runs without one */
    CHECK_OK(dfrt_backend_open("cpu", 0, &b));
    if (!b) return false;
    dfrt_status s = dfrt_model_load(b, dir, &(dfrt_model_options){.max_context = max_context}, &m);
    CHECK_OK(s);
    if (s == DFRT_OK) {
        const int32_t tokens[4] = {5, 17, 42, 299}, slots[4] = {0}, positions[4] = {0, 1, 2, 3};
        s = dfrt_model_forward(m, tokens, slots, positions, 4, (const uint32_t[]){3}, 1, out, NULL);
        CHECK_OK(s);
    }
    dfrt_model_free(m);
    dfrt_backend_close(b);
    return s == DFRT_OK;
}

/* LongRoPE (Phi-3): factors chosen per pass by its last position (short while position + 1 <=
 * original_max_position_embeddings), as transformers does. With short factors of 1 and an
 * attention factor of 1, a model gives the logits of the same model without rope scaling
 * until a pass reaches past 8 positions; its long factors of 2 then make them differ. */
static void test_longrope(const char *phi) {
    char lr[600];
    snprintf(lr, sizeof lr, "%s", test_path("phi3-longrope"));
    test_sh("rm -rf '%s' && cp -r '%s' '%s' && sed -i 's/\"rope_theta\": 10000.0,/\"rope_theta\": 10000.0, "
            "\"max_position_embeddings\": 32, \"original_max_position_embeddings\": 8, \"rope_scaling\": {\"type\": "
            "\"longrope\", \"attention_factor\": 1.0, \"short_factor\": [1,1,1,1,1,1,1,1], \"long_factor\": "
            "[2,2,2,2,2,2,2,2]},/' '%s/config.json'",
            lr, phi, lr, lr);
    dfrt_backend *b = NULL;
    CHECK_OK(dfrt_backend_open("cpu", 0, &b));
    dfrt_model *m[2] = {NULL, NULL};
    const char *dirs[2] = {phi, lr};
    for (int i = 0; i < 2; i++) CHECK_OK(dfrt_model_load(b, dirs[i], &(dfrt_model_options){.max_context = 32}, &m[i]));
    if (m[0] && m[1]) {
        static const int32_t tokens[6] = {5, 17, 42, 299, 7, 8}, slots[6] = {0};
        static const int32_t early[4] = {0, 1, 2, 3}, late[6] = {4, 5, 6, 7, 8, 9};
        float logits[2][300];
        for (int pass = 0; pass < 3; pass++) { /* positions 0..3, then 4..9, then 0..3 again */
            const int32_t *pos = pass == 1 ? late : early;
            uint32_t rows = pass == 1 ? 6 : 4;
            for (int i = 0; i < 2; i++)
                CHECK_OK(dfrt_model_forward(m[i], tokens, slots, pos, rows, (const uint32_t[]){rows - 1}, 1, logits[i], NULL));
            bool same = memcmp(logits[0], logits[1], sizeof logits[0]) == 0;
            CHECK(pass == 1 ? !same : same);
        }
    }
    for (int i = 0; i < 2; i++) dfrt_model_free(m[i]);
    /* factors that do not cover half the rotated part */
    test_sh("sed -i 's/\"long_factor\": \\[2,2,2,2,2,2,2,2\\]/\"long_factor\": [2,2,2,2,2,2,2]/' '%s/config.json'", lr);
    dfrt_model *bad = NULL;
    CHECK_ERROR(dfrt_model_load(b, lr, NULL, &bad), DFRT_FORMAT_ERROR, "differ in length (8, 7)");
    dfrt_backend_close(b);
}

static void test_phi3(void) {
    char llama[600], phi[600], df11[600], part[600];
    snprintf(llama, sizeof llama, "%s", test_path("phi-llama"));
    snprintf(phi, sizeof phi, "%s", test_path("phi3"));
    snprintf(df11, sizeof df11, "%s", test_path("phi3-df11"));
    snprintf(part, sizeof part, "%s", test_path("phi3-partial"));
    /* Phi-3 with whole-head rotary is Llama with q|k|v and gate|up fused: the same logits, bit
     * for bit, from the same weights */
    synth_model_opts o = {.arch = "LlamaForCausalLM", .seed = 7};
    CHECK(synth_model(llama, &o) == 0);
    o.arch = "Phi3ForCausalLM";
    CHECK(synth_model(phi, &o) == 0);
    float a[300], b[300], c[300];
    if (!last_logits(llama, 32, a) || !last_logits(phi, 32, b)) return;
    CHECK(memcmp(a, b, sizeof a) == 0);
    /* compressed with the default pattern_dict: the Phi-4 release's units (o, qkv, gate_up,
     * down per layer; lm_head; the embeddings), and the same logits again */
    test_sh("rm -f '%s/tokenizer.json'", phi);
    CHECK_OK(dfrt_compress_dir(phi, df11, NULL));
    dfrt_checkpoint *cp = NULL;
    CHECK_OK(dfrt_checkpoint_open(df11, &cp));
    if (cp) {
        CHECK(dfrt_checkpoint_unit_count(cp) == 4);
        static const char *const order[4] = {"self_attn.o_proj", "self_attn.qkv_proj", "mlp.gate_up_proj", "mlp.down_proj"};
        for (size_t u = 0; u < dfrt_checkpoint_unit_count(cp); u++) {
            const dfrt_df11_unit *un = dfrt_checkpoint_unit(cp, u);
            if (strcmp(un->name, "model.layers.1") != 0) continue;
            CHECK(un->n_parts == 4);
            for (int p = 0; p < 4 && p < un->n_parts; p++) {
                char want[128];
                snprintf(want, sizeof want, "model.layers.1.%s.weight", order[p]);
                CHECK(strcmp(un->parts[p].name, want) == 0);
            }
        }
        dfrt_checkpoint_close(cp);
    }
    if (last_logits(df11, 32, c)) CHECK(memcmp(a, c, sizeof a) == 0);
    test_longrope(phi);
    /* partial rotary: half of each 16-value head rotated; a different model, which loads */
    o.partial_rotary = 0.5;
    CHECK(synth_model(part, &o) == 0);
    if (last_logits(part, 32, c)) CHECK(memcmp(a, c, sizeof a) != 0);
    /* a factor that leaves an odd number of rotated values is refused */
    test_sh("sed -i 's/\"partial_rotary_factor\": 0.5/\"partial_rotary_factor\": 0.2/' '%s/config.json'", part);
    dfrt_backend *be = NULL;
    dfrt_model *m = NULL;
    CHECK_OK(dfrt_backend_open("cpu", 0, &be));
    CHECK_ERROR(dfrt_model_load(be, part, NULL, &m), DFRT_FORMAT_ERROR,
                "partial_rotary_factor 0.2 of head_dim 16 rotates 3 values", "expected an even number");
    /* a sliding window (every layer's, as Phi-3's): any context; a window as long as the
     * sequence (4 tokens) changes nothing, a shorter one changes the logits */
    o.partial_rotary = 0, o.sliding_window = 4;
    CHECK(synth_model(part, &o) == 0);
    if (last_logits(part, 32, c)) CHECK(memcmp(a, c, sizeof a) == 0);
    o.sliding_window = 2;
    CHECK(synth_model(part, &o) == 0);
    if (last_logits(part, 32, c)) CHECK(memcmp(a, c, sizeof a) != 0);
    dfrt_backend_close(be);
}

int main(void) {
    RUN(test_shipped_model);
    RUN(test_reference_round_trip);
    RUN(test_synthetic_models);
    RUN(test_synthetic_cache);
    RUN(test_edge_cases_through_directories);
    RUN(test_broken_df11_dirs);
    RUN(test_weight_set);
    RUN(test_phi3);
    return test_finish();
}
