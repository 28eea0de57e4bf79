/* The model families beyond Llama and Qwen against transformers: tiny random-weight Gemma 3
 * and Phi-3 models (tests/data/families, made with transformers 5.17 by
 * scripts/make-family-fixtures.py) and their goldens (fp32, eager attention): the logits of
 * each prompt's last position and the greedy tokens after it, on the CPU and on every
 * available backend, from the BF16 directory and from its DF11 twin made by dfrt compress
 * (bit-identical logits). The fixtures cover Gemma 3's three weight layouts and both config
 * schemas, sliding windows shorter than the prompts, soft-capping, tied embeddings, and
 * LongRoPE on both sides of its threshold (prompts of 3 to 30 tokens against an original
 * context of 16, and generation across it). Prints "FAMILY BACKEND FORMAT: ..." per run. */
#include "test.h"

#include <cjson/cJSON.h>
#include <math.h>

#define N_PROMPTS 4
#define N_GREEDY 10
#define VOCAB 384

typedef struct golden {
    int32_t ids[N_PROMPTS][64];
    int n_ids[N_PROMPTS];
    int32_t greedy[N_PROMPTS][N_GREEDY];
    double margin[N_PROMPTS][N_GREEDY]; /* top1 - top2 logit at each greedy step */
    float logits[N_PROMPTS][VOCAB];
} golden;

static bool load_golden(const char *name, golden *g) {
    char path[1024];
    snprintf(path, sizeof path, "%s/families/%s/golden.json", test_data_dir(), name);
    char *text = test_read_file(path, NULL);
    cJSON *root = text ? cJSON_Parse(text) : NULL;
    free(text);
    const cJSON *prompts = cJSON_GetObjectItemCaseSensitive(root, "prompts");
    CHECK(cJSON_GetArraySize(prompts) == N_PROMPTS);
    if (cJSON_GetArraySize(prompts) != N_PROMPTS) {
        cJSON_Delete(root);
        return false;
    }
    for (int p = 0; p < N_PROMPTS; p++) {
        const cJSON *pr = cJSON_GetArrayItem(prompts, p), *e;
        int k = 0;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(pr, "ids")) if (k < 64) g->ids[p][k++] = (int32_t)e->valuedouble;
        g->n_ids[p] = k;
        k = 0;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(pr, "greedy")) if (k < N_GREEDY) g->greedy[p][k++] =
            (int32_t)e->valuedouble;
        CHECK(k == N_GREEDY);
        k = 0;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(pr, "margins")) if (k < N_GREEDY) g->margin[p][k++] =
            e->valuedouble;
        k = 0;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(pr, "logits")) if (k < VOCAB) g->logits[p][k++] =
            (float)e->valuedouble;
        CHECK(k == VOCAB);
    }
    cJSON_Delete(root);
    return true;
}

typedef struct result {
    int32_t tokens[N_PROMPTS][N_GREEDY];
    float logits[N_PROMPTS][VOCAB];
} result;

static bool collect(void *user, int seq, int32_t token) {
    (void)seq;
    int32_t **at = user;
    *(*at)++ = token;
    return true;
}

/* Every prompt through dfrt_generate: greedy, N_GREEDY tokens, the prompt's last logits. */
static bool run_model(dfrt_backend *b, const char *dir, const golden *g, result *r) {
    dfrt_model *m = NULL;
    dfrt_status s = dfrt_model_load(b, dir, &(dfrt_model_options){.max_context = 64, .kv_f32 = true}, &m);
    CHECK_OK(s);
    for (int p = 0; p < N_PROMPTS && s == DFRT_OK; p++) {
        int32_t *at = r->tokens[p];
        dfrt_generate_options o = {.max_new_tokens = N_GREEDY, .n_sequences = 1, .ignore_eos = true,
                                   .on_token = collect, .user = &at, .last_logits = r->logits[p]};
        s = dfrt_generate(m, g->ids[p], (size_t)g->n_ids[p], &o, NULL);
        CHECK_OK(s);
    }
    dfrt_model_free(m);
    return s == DFRT_OK;
}

/* Logits within tol x max|golden|; greedy tokens equal up to the first step whose golden
 * margin is within the logits' tolerance (where a near-tie may go either way), and at least
 * min_steps of them. */
static void check_golden(const char *label, const golden *g, const result *r, double tol) {
    for (int p = 0; p < N_PROMPTS; p++) {
        double max = 0, err = 0;
        for (int i = 0; i < VOCAB; i++) {
            max = fmax(max, fabs(g->logits[p][i]));
            err = fmax(err, isfinite(r->logits[p][i]) ? fabs((double)g->logits[p][i] - r->logits[p][i]) : INFINITY);
        }
        CHECK(err <= tol * max);
        int decided = 0; /* steps whose margin exceeds twice the tolerance */
        while (decided < N_GREEDY && g->margin[p][decided] > 2 * tol * max) decided++;
        int same = 0;
        while (same < N_GREEDY && r->tokens[p][same] == g->greedy[p][same]) same++;
        CHECK(same >= decided);
        printf("  %s prompt %d (%d tokens): logits within %.2g x max|logit| (limit %g); greedy %d of %d agree "
               "(%d decided)\n",
               label, p, g->n_ids[p], err / max, tol, same, N_GREEDY, decided);
    }
}

/* The pattern_dict compress wrote, as config.json holds it. */
static char *pattern_dict_json(const char *dir) {
    char path[1024];
    snprintf(path, sizeof path, "%s/config.json", dir);
    char *text = test_read_file(path, NULL);
    cJSON *root = text ? cJSON_Parse(text) : NULL;
    free(text);
    const cJSON *df = cJSON_GetObjectItemCaseSensitive(root, "dfloat11_config");
    char *s = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(df, "pattern_dict"));
    cJSON_Delete(root);
    return s;
}

typedef struct family {
    const char *dir, *golden;
    const char *pattern_dict; /* what dfrt compress must write by default */
} family;

static const family families[] = {
    {"gemma3-text", "gemma3-text",
     "{\"model\\\\.layers\\\\.\\\\d+\":[\"self_attn.q_proj\",\"self_attn.k_proj\",\"self_attn.v_proj\","
     "\"self_attn.o_proj\",\"mlp.gate_proj\",\"mlp.up_proj\",\"mlp.down_proj\"]}"},
    /* as transformers 5.17 saves it: the published releases' names (language_model.model.*) and
     * pattern_dict; then the names of transformers 4.52 .. 4.5x, and a 4.x config (rope_theta,
     * rope_local_base_freq, rope_scaling, sliding_window_pattern) */
    {"gemma3-vlm", "gemma3-vlm",
     "{\"language_model\\\\.model\\\\.layers\\\\.\\\\d+\":[\"self_attn.q_proj\",\"self_attn.k_proj\","
     "\"self_attn.v_proj\",\"self_attn.o_proj\",\"mlp.gate_proj\",\"mlp.up_proj\",\"mlp.down_proj\"]}"},
    {"gemma3-vlm-452-names", "gemma3-vlm",
     "{\"model\\\\.language_model\\\\.layers\\\\.\\\\d+\":[\"self_attn.q_proj\",\"self_attn.k_proj\","
     "\"self_attn.v_proj\",\"self_attn.o_proj\",\"mlp.gate_proj\",\"mlp.up_proj\",\"mlp.down_proj\"]}"},
    {"gemma3-vlm-4x-config", "gemma3-vlm",
     "{\"language_model\\\\.model\\\\.layers\\\\.\\\\d+\":[\"self_attn.q_proj\",\"self_attn.k_proj\","
     "\"self_attn.v_proj\",\"self_attn.o_proj\",\"mlp.gate_proj\",\"mlp.up_proj\",\"mlp.down_proj\"]}"},
    {"phi3-longrope", "phi3-longrope",
     "{\"lm_head\":[],\"model\\\\.embed_tokens\":[],\"model\\\\.layers\\\\.\\\\d+\":[\"self_attn.o_proj\","
     "\"self_attn.qkv_proj\",\"mlp.gate_up_proj\",\"mlp.down_proj\"]}"},
    {"phi3-window", "phi3-window",
     "{\"model\\\\.layers\\\\.\\\\d+\":[\"self_attn.o_proj\",\"self_attn.qkv_proj\",\"mlp.gate_up_proj\","
     "\"mlp.down_proj\"]}"},
};

static void run_family(const family *f, const char *only) {
    golden *g = calloc(1, sizeof *g);
    if (!g || !load_golden(f->golden, g)) {
        free(g);
        return;
    }
    char bf16[1024], df11[700];
    snprintf(bf16, sizeof bf16, "%s/families/%s", test_data_dir(), f->dir);
    snprintf(df11, sizeof df11, "%s", test_path(f->dir));
    test_sh("rm -rf '%s'", df11);
    CHECK_OK(dfrt_compress_dir(bf16, df11, NULL));
    char *pd = pattern_dict_json(df11);
    CHECK(pd && strcmp(pd, f->pattern_dict) == 0);
    if (pd && strcmp(pd, f->pattern_dict) != 0) fprintf(stderr, "  %s: pattern_dict %s\n", f->dir, pd);
    free(pd);

    dfrt_device_info *devs;
    size_t n;
    CHECK_OK(dfrt_device_list(&devs, &n));
    for (size_t i = 0; i < n; i++) {
        const dfrt_device_info *d = &devs[i];
        bool cpu = strcmp(d->backend, "cpu") == 0;
        if (!d->available || (only && !cpu && strcmp(only, d->backend) != 0)) continue;
        dfrt_backend *b = NULL;
        CHECK_OK(dfrt_backend_open(d->backend, d->index, &b));
        if (!b) continue;
        /* the CPU computes in fp32 with softmax in double: close to transformers' fp32; GPUs'
         * sums go in other orders and fused multiply-adds */
        double tol = cpu ? 1e-3 : 2e-2;
        result *r[2] = {calloc(1, sizeof(result)), calloc(1, sizeof(result))};
        const char *dirs[2] = {bf16, df11}, *names[2] = {"bf16", "df11"};
        bool ran[2] = {false, false};
        for (int k = 0; k < 2 && r[0] && r[1]; k++) {
            char label[160];
            snprintf(label, sizeof label, "%s %s %d %s", f->dir, d->backend, d->index, names[k]);
            printf("%s:\n", label);
            if ((ran[k] = run_model(b, dirs[k], g, r[k]))) check_golden(label, g, r[k], tol);
        }
        if (ran[0] && ran[1]) /* DF11 decodes to the same bits: the same logits, the same tokens */
            CHECK(memcmp(r[0], r[1], sizeof *r[0]) == 0);
        free(r[0]);
        free(r[1]);
        dfrt_backend_close(b);
    }
    free(devs);
    free(g);
}

/* A copy of a fixture with config.json edited by a sed script, loaded on the CPU: the error. */
static void refused(const char *fixture, const char *sed, dfrt_status status, const char *fragment,
                    const char *fragment2) {
    char dir[700];
    snprintf(dir, sizeof dir, "%s", test_path("bad"));
    test_sh("rm -rf '%s' && cp -r '%s/families/%s' '%s' && sed -i '%s' '%s/config.json'", dir, test_data_dir(), fixture, dir,
            sed, dir);
    dfrt_backend *b = NULL;
    dfrt_model *m = NULL;
    CHECK_OK(dfrt_backend_open("cpu", 0, &b));
    CHECK_ERROR(dfrt_model_load(b, dir, NULL, &m), status, fragment, fragment2);
    dfrt_model_free(m);
    dfrt_backend_close(b);
}

static void bad_input(void) {
    /* Phi-3's weights under a Gemma 3 config: Gemma's norms are missing, named */
    refused("phi3-window", "s/Phi3ForCausalLM/Gemma3ForCausalLM/", DFRT_FORMAT_ERROR,
            "27 of the weights Gemma3ForCausalLM with num_hidden_layers 3 needs are missing: "
            "model.layers.0.self_attn.q_proj.weight", "model.layers.0.pre_feedforward_layernorm.weight");
    refused("gemma3-text", "s/\"num_hidden_layers\": 6/\"num_hidden_layers\": 7/", DFRT_FORMAT_ERROR,
            "config.json: layer_types has 6 entries for 7 layers", NULL);
    refused("gemma3-text", "s/gelu_pytorch_tanh/relu2/", DFRT_UNSUPPORTED,
            "hidden activation \"relu2\" is not supported (silu, gelu_pytorch_tanh)", NULL);
    refused("phi3-window", "s/\"sliding_window\": 6,/\"sliding_window\": 6, \"layer_types\": [\"linear_attention\"],/",
            DFRT_UNSUPPORTED, "\"layer_types\"[0] is \"linear_attention\" (dfrt runs sliding_attention and full_attention",
            NULL);
    refused("gemma3-vlm-452-names", "s/\"rope_type\": \"default\"/\"rope_type\": \"yarn\"/", DFRT_UNSUPPORTED,
            "rope_type \"yarn (on the sliding-window layers)\" is not supported", NULL);
}

int main(int argc, char **argv) {
    const char *only = argc > 1 ? argv[1] : NULL; /* a GPU backend to run beside the CPU */
    dfrt_set_warning_handler(test_collect_warning, NULL);
    for (size_t i = 0; i < sizeof families / sizeof *families; i++) {
        test_current = families[i].dir;
        run_family(&families[i], only);
    }
    /* the vision tower's note: once (per process), for the image-text layouts */
    CHECK(test_n_warnings >= 1 && strstr(test_last_warning, "runs as its text model"));
    test_current = "bad input";
    bad_input();
    return test_finish();
}
