/* dfrt bench model and bench ops end to end on the CPU (and Vulkan where a device exists): the
 * tiny synthetic model built into a fresh cache, then every expected field of the JSON checked
 * for presence and sanity (positive, finite, min <= median <= max), DF11 and BF16 runs giving
 * the same tokens, the CSV and SVG forms, and the cache reused by a second run. No timing
 * thresholds.
 * usage: test_bench DFRT */
#include "test.h"

#include <cjson/cJSON.h>
#include <math.h>

static const char *dfrt_exe;
static char backends[64] = "cpu";
static int n_backends = 1;

static cJSON *load_json(const char *path) {
    char *text = test_read_file(path, NULL);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    free(text);
    CHECK(j != NULL);
    return j;
}

static const cJSON *get(const cJSON *o, const char *key) { return cJSON_GetObjectItemCaseSensitive(o, key); }

static int is_text(const cJSON *o, const char *key) {
    const cJSON *v = get(o, key);
    return cJSON_IsString(v) && v->valuestring[0];
}

static double num(const cJSON *o, const char *key) {
    const cJSON *v = get(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* A metric: {median, min, max, unit, runs}, positive and finite, min <= median <= max. */
static int metric_ok(const cJSON *fig, const char *name, const char *unit) {
    const cJSON *m = get(fig, name);
    double med = num(m, "median"), lo = num(m, "min"), hi = num(m, "max"), runs = num(m, "runs");
    const cJSON *u = get(m, "unit");
    int ok = cJSON_IsObject(m) && isfinite(med) && isfinite(lo) && isfinite(hi) && lo > 0 && lo <= med && med <= hi &&
             runs >= 1 && cJSON_IsString(u) && strcmp(u->valuestring, unit) == 0;
    if (!ok) {
        char *t = cJSON_PrintUnformatted(fig);
        fprintf(stderr, "  bad metric %s in %s\n", name, t);
        free(t);
    }
    return ok;
}

static void check_header(const cJSON *j, const char *benchmark) {
    CHECK(strcmp(cJSON_GetStringValue(get(j, "benchmark")), benchmark) == 0);
    CHECK(cJSON_IsArray(get(j, "command")) && cJSON_GetArraySize(get(j, "command")) > 3);
    const cJSON *d = get(j, "dfrt");
    CHECK(is_text(d, "version") && strcmp(cJSON_GetStringValue(get(d, "version")), dfrt_version()) == 0);
    CHECK(is_text(d, "commit") && is_text(d, "build"));
    const cJSON *h = get(j, "host");
    CHECK(is_text(h, "cpu") && num(h, "cores") >= 1 && is_text(h, "os"));
    const cJSON *bs = get(j, "backends");
    CHECK(cJSON_GetArraySize(bs) == n_backends);
    const cJSON *b;
    cJSON_ArrayForEach(b, bs) {
        CHECK(is_text(b, "name") && is_text(b, "device") && is_text(b, "api_version") && is_text(b, "driver_version"));
        CHECK(num(b, "memory_bytes") > 0);
    }
}

static int count_figures(const cJSON *j, const char *backend, const char *figure) {
    int n = 0;
    const cJSON *f;
    cJSON_ArrayForEach(f, get(j, "figures")) {
        n += strcmp(cJSON_GetStringValue(get(f, "backend")), backend) == 0 &&
             strcmp(cJSON_GetStringValue(get(f, "figure")), figure) == 0;
    }
    return n;
}

/* Counts occurrences of needle in text. */
static int occurrences(const char *text, const char *needle) {
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

static void test_model_bench(void) {
    const char *cache = test_path("cache");
    char json[512], csv[512], svg[512], log[512];
    snprintf(json, sizeof json, "%s", test_path("model.json"));
    snprintf(csv, sizeof csv, "%s", test_path("model.csv"));
    snprintf(svg, sizeof svg, "%s", test_path("model.svg"));
    snprintf(log, sizeof log, "%s", test_path("model.log"));
    test_sh("'%s' bench model --synthetic tiny --cache '%s' --backend %s --batch 1,3 --prompt-len 12 --gen 5 "
            "--min-time 0 --json '%s' --csv '%s' --plot '%s' > '%s.out' 2> '%s'",
            dfrt_exe, cache, backends, json, csv, svg, log, log);
    char *err = test_read_file(log, NULL);
    CHECK(err && strstr(err, "built "));
    free(err);
    cJSON *j = load_json(json);
    if (!j) return;
    check_header(j, "model");
    const cJSON *m = get(j, "model");
    CHECK(strcmp(cJSON_GetStringValue(get(m, "name")), "tiny") == 0);
    CHECK(strcmp(cJSON_GetStringValue(get(m, "source")), "synthetic") == 0);
    CHECK(strcmp(cJSON_GetStringValue(get(m, "architecture")), "Qwen3ForCausalLM") == 0);
    double params = num(m, "parameters"), ratio = num(m, "df11_weight_bytes") / num(m, "bf16_weight_bytes");
    CHECK(params > 1e6 && params < 1e8);
    CHECK(ratio > 0.6 && ratio < 0.8);
    CHECK(num(m, "prompt_len") == 12 && num(m, "gen") == 5);
    CHECK(is_text(m, "df11_dir") && is_text(m, "bf16_dir"));
    const cJSON *f;
    int figures = 0;
    cJSON_ArrayForEach(f, get(j, "figures")) {
        figures++;
        CHECK(strcmp(cJSON_GetStringValue(get(f, "figure")), "model") == 0);
        const char *format = cJSON_GetStringValue(get(f, "format"));
        CHECK(format && (strcmp(format, "df11") == 0 || strcmp(format, "bf16") == 0));
        CHECK(num(f, "batch") == 1 || num(f, "batch") == 3);
        CHECK(num(f, "prompt_len") == 12 && num(f, "gen") == 5);
        CHECK(metric_ok(f, "prefill_tokens_per_s", "tokens/s"));
        CHECK(metric_ok(f, "decode_tokens_per_s", "tokens/s"));
        CHECK(metric_ok(f, "ttft_ms", "ms"));
        CHECK(num(get(f, "decode_tokens_per_s"), "runs") >= 2);
        double weights = num(m, strcmp(format, "df11") == 0 ? "df11_weight_bytes" : "bf16_weight_bytes");
        CHECK(num(f, "peak_device_bytes") >= weights && num(f, "peak_device_bytes") >= num(f, "model_device_bytes"));
        CHECK(num(f, "load_seconds") >= 0 && num(f, "runs") >= 2);
        /* tiny: 4 layers of 4 KV heads x 32, BF16 keys and values; batch x (12 + 5) positions */
        CHECK(strcmp(cJSON_GetStringValue(get(f, "kv_cache")), "bf16") == 0);
        CHECK(num(f, "kv_bytes_per_token") == 4.0 * 2 * 4 * 32 * 2);
        CHECK(num(f, "kv_cache_bytes") == num(f, "kv_bytes_per_token") * num(f, "batch") * (12 + 5));
        CHECK(num(f, "model_device_bytes") > num(f, "kv_cache_bytes"));
        const cJSON *tokens = get(f, "tokens"), *t;
        CHECK(cJSON_GetArraySize(tokens) == 5);
        cJSON_ArrayForEach(t, tokens) CHECK(cJSON_IsNumber(t) && t->valuedouble >= 0 && t->valuedouble < 4096);
        if (strcmp(format, "df11") == 0) CHECK(cJSON_IsTrue(get(f, "tokens_match_bf16")));
    }
    CHECK(figures == n_backends * 2 * 2);
    for (int i = 0; i < n_backends; i++) {
        const cJSON *b = cJSON_GetArrayItem(get(j, "backends"), i);
        CHECK(count_figures(j, cJSON_GetStringValue(get(b, "name")), "model") == 4);
    }
    /* CSV: a header and three metrics per figure */
    static const char header[] =
        "benchmark,backend,figure,shape,format,m,n,k,batch,prompt_len,gen,metric,unit,median,min,max,runs\n";
    char *text = test_read_file(csv, NULL);
    CHECK(text && strncmp(text, header, sizeof header - 1) == 0);
    CHECK(text && occurrences(text, "\n") == 1 + 3 * figures);
    CHECK(text && occurrences(text, ",decode_tokens_per_s,tokens/s,") == figures);
    free(text);
    /* SVG: two panels, a line per backend and format in each */
    text = test_read_file(svg, NULL);
    CHECK(text && strncmp(text, "<svg ", 5) == 0 && strstr(text, "</svg>"));
    CHECK(text && occurrences(text, "<polyline") == 2 * 2 * n_backends);
    CHECK(text && strstr(text, "decode tokens/s") && strstr(text, "prefill tokens/s"));
    free(text);
    cJSON_Delete(j);

    /* A second run uses the cache; the fp32 KV cache doubles the KV figure; --profile times
     * each op of the decode steps (tiny: 4 layers of 4 matmuls, and the lm_head). */
    test_sh("'%s' bench model --synthetic tiny --cache '%s' --backend cpu --batch 2 --prompt-len 4 --gen 3 "
            "--min-time 0 --formats df11 --kv-cache f32 --profile --json '%s' > '%s.out' 2> '%s'",
            dfrt_exe, cache, json, json, log);
    err = test_read_file(log, NULL);
    CHECK(err && strstr(err, "using cached") && !strstr(err, "built "));
    free(err);
    char out_path[600];
    snprintf(out_path, sizeof out_path, "%s.out", json);
    text = test_read_file(out_path, NULL);
    CHECK(text && strstr(text, "KV cache: 4.1 kB per position of a sequence (fp32 keys and values)"));
    CHECK(text && strstr(text, "decode step profile (--profile)") && strstr(text, "cpu DF11 batch 2"));
    free(text);
    j = load_json(json);
    CHECK(j && cJSON_GetArraySize(get(j, "figures")) == 1);
    const cJSON *f1 = j ? cJSON_GetArrayItem(get(j, "figures"), 0) : NULL;
    CHECK(f1 && strcmp(cJSON_GetStringValue(get(f1, "kv_cache")), "f32") == 0 &&
          num(f1, "kv_bytes_per_token") == 4.0 * 2 * 4 * 32 * 4);
    CHECK(f1 && cJSON_IsTrue(get(f1, "eager")));
    const cJSON *prof = f1 ? get(f1, "profile_us_per_step") : NULL;
    CHECK(prof && num(get(prof, "df11_matmul"), "calls") == 17 && num(get(prof, "attention"), "calls") == 4 &&
          num(get(prof, "argmax"), "calls") == 1 && !get(prof, "matmul"));
    double parts = 0;
    const cJSON *op;
    cJSON_ArrayForEach(op, prof) parts += num(op, "us");
    CHECK(prof && num(get(prof, "df11_matmul"), "us") > 0 && fabs(parts - num(f1, "profile_device_us_per_step")) < 1e-6 * parts);
    const cJSON *first = j ? get(j, "figures") : NULL;
    int32_t cached_tokens[3] = {-1, -1, -1};
    for (int i = 0; first && i < 3; i++)
        cached_tokens[i] = (int32_t)cJSON_GetArrayItem(get(cJSON_GetArrayItem(first, 0), "tokens"), i)->valuedouble;
    cJSON_Delete(j);

    /* --in-memory: no cache, the same weights (the same greedy tokens as the cached model);
     * with too little host memory for DF11 (2.2 GB: the BF16 model and the 2 GiB margin fit,
     * the DF11 one's estimate does not), DF11 is reported as not fitting and BF16 runs. */
    test_sh("'%s' bench model --synthetic tiny --in-memory --backend cpu --batch 2 --prompt-len 4 --gen 3 --min-time 0 "
            "--formats df11 --kv-cache f32 --eager --json '%s' > '%s.out' 2> '%s'",
            dfrt_exe, json, json, log);
    err = test_read_file(log, NULL);
    CHECK(err && strstr(err, "built synthetic tiny (DF11, in memory) in ") && !strstr(err, "using cached"));
    free(err);
    j = load_json(json);
    m = j ? get(j, "model") : NULL;
    CHECK(m && strcmp(cJSON_GetStringValue(get(m, "source")), "synthetic, in memory") == 0 && num(m, "parameters") == 5245440);
    CHECK(m && num(m, "df11_build_seconds") >= 0 && num(m, "df11_weight_bytes") > 0.6 * 2 * 5245440);
    f1 = j ? cJSON_GetArrayItem(get(j, "figures"), 0) : NULL;
    const cJSON *tk = f1 ? get(f1, "tokens") : NULL;
    CHECK(tk && cJSON_GetArraySize(tk) == 3);
    for (int i = 0; tk && i < 3; i++) CHECK(cJSON_GetArrayItem(tk, i)->valuedouble == cached_tokens[i]);
    cJSON_Delete(j);
    test_sh("'%s' bench model --synthetic tiny --in-memory --host-memory 2.2 --backend cpu --batch 1 --prompt-len 4 "
            "--gen 3 --min-time 0 --json '%s' > '%s.out' 2> '%s'",
            dfrt_exe, json, json, log);
    err = test_read_file(log, NULL);
    CHECK(err && strstr(err, "cpu df11 batch 1: does not fit: synthetic tiny: the DF11 model needs 2.22 GB of host "
                             "memory, and 2.20 GB is there"));
    free(err);
    text = test_read_file(out_path, NULL);
    CHECK(text && strstr(text, "does not fit"));
    free(text);
    j = load_json(json);
    CHECK(j && cJSON_GetArraySize(get(j, "figures")) == 2);
    const cJSON *figs = j ? get(j, "figures") : NULL;
    cJSON_ArrayForEach(f, figs) {
        bool df11 = strcmp(cJSON_GetStringValue(get(f, "format")), "df11") == 0;
        CHECK(df11 ? cJSON_IsFalse(get(f, "fits")) && strstr(cJSON_GetStringValue(get(f, "reason")), "host memory")
                   : metric_ok(f, "decode_tokens_per_s", "tokens/s"));
    }
    cJSON_Delete(j);

    /* --devices: split over two logical CPU devices, the same greedy tokens; each device's
     * layers and peak, the figure's peak the larger */
    test_sh("'%s' bench model --synthetic tiny --in-memory --backend cpu --batch 2 --prompt-len 4 --gen 3 --min-time 0 "
            "--formats df11 --kv-cache f32 --eager --devices 0,0 --tensor-split 3,1 --json '%s' > '%s.out' 2> '%s'",
            dfrt_exe, json, json, log);
    j = load_json(json);
    f1 = j ? cJSON_GetArrayItem(get(j, "figures"), 0) : NULL;
    const cJSON *split = f1 ? get(f1, "split") : NULL;
    CHECK(cJSON_GetArraySize(split) == 2);
    const cJSON *d0 = cJSON_GetArrayItem(split, 0), *d1 = cJSON_GetArrayItem(split, 1);
    CHECK(d0 && d1 && num(d0, "first_layer") == 0 && num(d1, "first_layer") == num(d0, "n_layers") &&
          num(d0, "n_layers") > num(d1, "n_layers") && num(d1, "n_layers") > 0);
    CHECK(d0 && d1 && num(f1, "peak_device_bytes") == fmax(num(d0, "peak_device_bytes"), num(d1, "peak_device_bytes")));
    tk = f1 ? get(f1, "tokens") : NULL;
    CHECK(tk && cJSON_GetArraySize(tk) == 3);
    for (int i = 0; tk && i < 3; i++) CHECK(cJSON_GetArrayItem(tk, i)->valuedouble == cached_tokens[i]);
    cJSON_Delete(j);
}

/* The kernel a matmul figure names (dfrt_matmul_kernel): on the CPU `cpu`; on Vulkan at these
 * shapes (M <= 8, K % 64 == 0: lavapipe has subgroup shuffles) starting with `vulkan` (M = 1: one
 * row a row group, M = 8: two). */
static bool kernel_ok(const cJSON *f, const char *cpu, const char *vulkan) {
    const char *k = cJSON_GetStringValue(get(f, "kernel")), *b = cJSON_GetStringValue(get(f, "backend"));
    if (!k || !b) return false;
    if (strcmp(b, "cpu") == 0) return strcmp(k, cpu) == 0;
    char want[64];
    snprintf(want, sizeof want, vulkan, num(f, "m") == 1 ? 1 : 2);
    return strncmp(b, "vulkan", 6) != 0 || strncmp(k, want, strlen(want)) == 0;
}

static void test_ops_bench(void) {
    char json[512], csv[512];
    snprintf(json, sizeof json, "%s", test_path("ops.json"));
    snprintf(csv, sizeof csv, "%s", test_path("ops.csv"));
    test_sh("'%s' bench ops --shapes tiny --backend %s --m 1,8 --min-time 0 --reference --json '%s' --csv '%s' > '%s.out' 2>&1",
            dfrt_exe, backends, json, csv, json);
    cJSON *j = load_json(json);
    if (!j) return;
    check_header(j, "ops");
    const cJSON *s = get(j, "shapes");
    CHECK(strcmp(cJSON_GetStringValue(get(s, "name")), "tiny") == 0 && num(s, "hidden_size") == 256);
    CHECK(num(s, "layer_weights") == 256.0 * 256 * 2 + 128.0 * 256 * 2 + 768.0 * 256 * 3);
    const cJSON *f;
    int figures = 0;
    cJSON_ArrayForEach(f, get(j, "figures")) {
        figures++;
        const char *what = cJSON_GetStringValue(get(f, "figure"));
        CHECK(metric_ok(f, "time_us", "us"));
        if (strcmp(what, "copy") == 0) {
            CHECK(metric_ok(f, "gb_per_s", "GB/s") && num(f, "bytes") > 0);
        } else if (strcmp(what, "df11_decode") == 0) {
            CHECK(metric_ok(f, "g_weights_per_s", "G weights/s") && metric_ok(f, "gb_per_s", "GB/s"));
            CHECK(cJSON_IsTrue(get(f, "bit_exact")) && num(f, "percent_of_copy") > 0);
            CHECK(num(f, "compressed_bytes") < 0.8 * 2 * num(f, "weights"));
        } else if (strcmp(what, "matmul") == 0) {
            CHECK(metric_ok(f, "gb_per_s", "GB/s") && metric_ok(f, "tflop_per_s", "TFLOP/s"));
            CHECK(num(f, "m") == 1 || num(f, "m") == 8);
            CHECK(num(f, "n") > 0 && num(f, "k") > 0 && num(f, "percent_of_copy") > 0);
            CHECK(is_text(f, "shape"));
            CHECK(kernel_ok(f, "fp32 dot products", "subgroup GEMV, %d row"));
        } else if (strcmp(what, "df11_matmul") == 0) {
            CHECK(metric_ok(f, "gb_per_s", "GB/s") && metric_ok(f, "tflop_per_s", "TFLOP/s"));
            CHECK(num(f, "m") == 1 || num(f, "m") == 8);
            CHECK(cJSON_IsTrue(get(f, "bit_exact")) && num(f, "df11_over_bf16_time") > 0);
            CHECK(kernel_ok(f, "DF11 chunk decode per task + fp32 dot products", "fused DF11 subgroup GEMV"));
        } else if (strcmp(what, "layer") == 0) {
            CHECK(metric_ok(f, "g_weights_per_s", "G weights/s"));
            const char *format = cJSON_GetStringValue(get(f, "format"));
            CHECK(format && (strcmp(format, "df11") == 0 || strcmp(format, "bf16") == 0));
            if (format && strcmp(format, "df11") == 0) CHECK(num(f, "df11_over_bf16_time") > 0);
        } else {
            CHECK(!"unexpected figure");
        }
    }
    /* per backend: copy, decode, 5 shapes x 2 M, 2 formats x 2 M, and, every backend here
     * having df11_matmul (the CPU and Vulkan), 5 shapes x 2 M of it */
    int df11_matmuls = 0;
    for (int i = 0; i < n_backends; i++) {
        const char *b = cJSON_GetStringValue(get(cJSON_GetArrayItem(get(j, "backends"), i), "name"));
        CHECK(count_figures(j, b, "matmul") == 10 && count_figures(j, b, "layer") == 4);
        CHECK(count_figures(j, b, "copy") == 1 && count_figures(j, b, "df11_decode") == 1);
        /* --reference: neither the CPU nor Vulkan has a vendor library, and each says so */
        const cJSON *bj = cJSON_GetArrayItem(get(j, "backends"), i);
        CHECK(is_text(bj, "reference_unavailable") && strstr(cJSON_GetStringValue(get(bj, "reference_unavailable")),
                                                            "has no vendor library"));
        CHECK(count_figures(j, b, "vendor_matmul") == 0);
        int n = count_figures(j, b, "df11_matmul");
        CHECK(n == 10);
        df11_matmuls += n;
    }
    CHECK(figures == n_backends * (1 + 1 + 10 + 4) + df11_matmuls);
    char *text = test_read_file(csv, NULL);
    CHECK(text && occurrences(text, ",tflop_per_s,TFLOP/s,") == 10 * n_backends + df11_matmuls);
    free(text);
    cJSON_Delete(j);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: test_bench DFRT\n");
        return 2;
    }
    dfrt_exe = argv[1];
    dfrt_device_info *devs;
    size_t nd;
    if (dfrt_device_list(&devs, &nd) == DFRT_OK) {
        for (size_t i = 0; i < nd; i++)
            if (strcmp(devs[i].backend, "vulkan") == 0 && devs[i].available) {
                snprintf(backends, sizeof backends, "cpu,vulkan");
                n_backends = 2;
                break;
            }
        free(devs);
    }
    printf("backends: %s\n", backends);
    RUN(test_model_bench);
    RUN(test_ops_bench);
    test_cleanup();
    return test_finish();
}
