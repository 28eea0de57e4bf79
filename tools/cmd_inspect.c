/* dfrt inspect */
#include "cli.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: dfrt inspect MODEL_DIR [--json]\n"
    "\n"
    "Describes a model directory (DF11 or BF16): architecture and shape from config.json,\n"
    "each DF11 unit with its weights, sizes, compression ratio, bits per exponent, longest\n"
    "code and decode-table count, and the tensors stored uncompressed; the model's size in the\n"
    "files and in device memory, in each layout a backend keeps DF11 units in: as in the file\n"
    "(CPU, Vulkan) or with a segment index and a decode table in place of the gaps (CUDA);\n"
    "last, whether dfrt run can run the model (the checks of loading it, but the device\n"
    "memory) and if not, why.\n"
    "--json prints the same as one JSON object (\"run\": can_run, reason, warnings).\n"
    "\n"
    "example:\n"
    "  dfrt inspect models/kjv-qwen3-df11\n";

static const char *const unit_fields[6] = {"luts", "encoded_exponent", "sign_mantissa",
                                           "output_positions", "gaps", "split_positions"};

static uint64_t unit_bytes(const dfrt_tensor_set *ts, const dfrt_df11_unit *u) {
    uint64_t total = 0;
    char name[1024];
    for (int f = 0; f < 6; f++) {
        snprintf(name, sizeof name, "%s.%s", u->name, unit_fields[f]);
        const dfrt_tensor *t = dfrt_tensor_set_find(ts, name);
        if (t) total += t->n_bytes;
    }
    return total;
}

/* The layouts of DF11 units in device memory (dfrt_backend_df11_layout): 0 as in the file
 * (the CPU and Vulkan backends), 1 with a segment index (CUDA). */
static const char *const device_keys[2] = {"device_bytes_file_layout", "device_bytes_segment_layout"};

static cJSON *shape_json(int n_dims, const int64_t *shape) {
    cJSON *a = cJSON_CreateArray();
    for (int d = 0; d < n_dims; d++) cJSON_AddItemToArray(a, cJSON_CreateNumber((double)shape[d]));
    return a;
}

static cJSON *build_report(const dfrt_checkpoint *cp) {
    const dfrt_config *c = dfrt_checkpoint_config(cp);
    const dfrt_tensor_set *ts = dfrt_checkpoint_tensors(cp);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "dir", dfrt_checkpoint_dir(cp));
    cJSON_AddStringToObject(root, "architecture", c->architecture);
    cJSON_AddStringToObject(root, "model_type", c->model_type);
    cJSON_AddStringToObject(root, "format", c->is_df11 ? "df11" : "safetensors");
    if (c->is_df11) cJSON_AddStringToObject(root, "df11_version", c->df11_version);
    cJSON *cfg = cJSON_AddObjectToObject(root, "config");
    cJSON_AddNumberToObject(cfg, "n_layers", (double)c->n_layers);
    cJSON_AddNumberToObject(cfg, "hidden_size", (double)c->hidden_size);
    cJSON_AddNumberToObject(cfg, "intermediate_size", (double)c->intermediate_size);
    cJSON_AddNumberToObject(cfg, "n_heads", (double)c->n_heads);
    cJSON_AddNumberToObject(cfg, "n_kv_heads", (double)c->n_kv_heads);
    cJSON_AddNumberToObject(cfg, "head_dim", (double)c->head_dim);
    cJSON_AddNumberToObject(cfg, "vocab_size", (double)c->vocab_size);
    cJSON_AddBoolToObject(cfg, "tie_word_embeddings", c->tie_word_embeddings);

    uint64_t unit_weights = 0, unit_compressed = 0, unit_device[2] = {0, 0};
    cJSON *units = cJSON_AddArrayToObject(root, "units");
    for (size_t i = 0; i < dfrt_checkpoint_unit_count(cp); i++) {
        const dfrt_df11_unit *u = dfrt_checkpoint_unit(cp, i);
        uint64_t bytes = unit_bytes(ts, u);
        unit_weights += u->n;
        unit_compressed += bytes;
        for (int l = 0; l < 2; l++) unit_device[l] += dfrt_df11_device_bytes(u, l);
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "name", u->name);
        cJSON_AddNumberToObject(j, "weights", (double)u->n);
        cJSON_AddNumberToObject(j, "bf16_bytes", 2.0 * (double)u->n);
        cJSON_AddNumberToObject(j, "df11_bytes", (double)bytes);
        cJSON_AddNumberToObject(j, "ratio", (double)bytes / (2.0 * (double)u->n));
        for (int l = 0; l < 2; l++)
            cJSON_AddNumberToObject(j, device_keys[l], (double)dfrt_df11_device_bytes(u, l));
        cJSON_AddNumberToObject(j, "bits_per_exponent", 8.0 * (double)u->n_bytes / (double)u->n);
        cJSON_AddNumberToObject(j, "longest_code_bits", u->max_code_bits);
        cJSON_AddNumberToObject(j, "tables", u->n_tables);
        cJSON_AddNumberToObject(j, "chunks", u->n_chunks);
        cJSON_AddNumberToObject(j, "max_chunk_weights", u->max_chunk_weights);
        cJSON *parts = cJSON_AddArrayToObject(j, "weights_list");
        for (int p = 0; p < u->n_parts; p++) {
            cJSON *pj = cJSON_CreateObject();
            cJSON_AddStringToObject(pj, "name", u->parts[p].name);
            cJSON_AddItemToObject(pj, "shape", shape_json(u->parts[p].n_dims, u->parts[p].shape));
            cJSON_AddItemToArray(parts, pj);
        }
        cJSON_AddItemToArray(units, j);
    }
    uint64_t plain_bytes = 0;
    cJSON *plain = cJSON_AddArrayToObject(root, "uncompressed");
    for (size_t i = 0; i < dfrt_tensor_set_count(ts); i++) {
        const dfrt_tensor *t = dfrt_tensor_set_get(ts, i);
        if (dfrt_checkpoint_is_unit_tensor(cp, t->name)) continue;
        plain_bytes += t->n_bytes;
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "name", t->name);
        cJSON_AddStringToObject(j, "dtype", dfrt_dtype_name(t->dtype));
        cJSON_AddItemToObject(j, "shape", shape_json(t->n_dims, t->shape));
        cJSON_AddNumberToObject(j, "bytes", (double)t->n_bytes);
        cJSON_AddStringToObject(j, "file", strrchr(t->file, '/') ? strrchr(t->file, '/') + 1 : t->file);
        cJSON_AddItemToArray(plain, j);
    }
    cJSON *tot = cJSON_AddObjectToObject(root, "totals");
    cJSON_AddNumberToObject(tot, "unit_weights", (double)unit_weights);
    cJSON_AddNumberToObject(tot, "unit_bf16_bytes", 2.0 * (double)unit_weights);
    cJSON_AddNumberToObject(tot, "unit_df11_bytes", (double)unit_compressed);
    cJSON_AddNumberToObject(tot, "uncompressed_bytes", (double)plain_bytes);
    cJSON_AddNumberToObject(tot, "model_bytes", (double)(unit_compressed + plain_bytes));
    cJSON_AddNumberToObject(tot, "model_bf16_bytes", 2.0 * (double)unit_weights + (double)plain_bytes);
    if (unit_weights) cJSON_AddNumberToObject(tot, "unit_ratio", (double)unit_compressed / (2.0 * (double)unit_weights));
    /* in device memory: the units as dfrt_df11_upload lays them out, the rest as stored */
    for (int l = 0; l < 2; l++) {
        char key[64];
        snprintf(key, sizeof key, "unit_%s", device_keys[l]);
        cJSON_AddNumberToObject(tot, key, (double)unit_device[l]);
        snprintf(key, sizeof key, "model_%s", device_keys[l]);
        cJSON_AddNumberToObject(tot, key, (double)(unit_device[l] + plain_bytes));
    }
    return root;
}

static double num(const cJSON *o, const char *k) { return cJSON_GetObjectItemCaseSensitive(o, k)->valuedouble; }

/* A string of the report, escaped for the terminal (names and strings come from the files). */
static const char *str(const cJSON *o, const char *k, char *buf, size_t size) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    dfrt_escape(buf, size, cJSON_IsString(v) ? v->valuestring : "");
    return buf;
}

static void print_text(const cJSON *r) {
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(r, "config");
    const cJSON *tot = cJSON_GetObjectItemCaseSensitive(r, "totals");
    const cJSON *units = cJSON_GetObjectItemCaseSensitive(r, "units");
    const cJSON *plain = cJSON_GetObjectItemCaseSensitive(r, "uncompressed");
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(r, "df11_version");
    char e1[1024], e2[1024];
    printf("%s\n", str(r, "dir", e1, sizeof e1));
    printf("  architecture  %s (%s)\n", str(r, "architecture", e1, sizeof e1), str(r, "model_type", e2, sizeof e2));
    printf("  format        %s%s\n", ver ? "DF11 " : "safetensors (no DF11 units)", ver ? str(r, "df11_version", e1, sizeof e1) : "");
    printf("  shape         %g layers, hidden %g, %g heads / %g kv heads x %g, intermediate %g, vocab %g%s\n",
           num(cfg, "n_layers"), num(cfg, "hidden_size"), num(cfg, "n_heads"), num(cfg, "n_kv_heads"),
           num(cfg, "head_dim"), num(cfg, "intermediate_size"), num(cfg, "vocab_size"),
           cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cfg, "tie_word_embeddings")) ? ", tied embeddings" : "");
    char a[32], b[32], c[32];
    if (cJSON_GetArraySize(units) > 0) {
        cli_format_count(a, sizeof a, num(tot, "unit_weights"));
        cli_format_bytes(b, sizeof b, num(tot, "unit_bf16_bytes"));
        cli_format_bytes(c, sizeof c, num(tot, "unit_df11_bytes"));
        printf("  DF11 units    %d units, %s weights: %s as BF16 -> %s (%.2f%%)\n", cJSON_GetArraySize(units), a, b, c,
               100 * num(tot, "unit_ratio"));
        printf("\n  %-28s %10s %10s %10s %7s %9s %8s %7s\n", "unit", "weights", "BF16", "DF11", "ratio", "bits/exp",
               "longest", "tables");
        const cJSON *u;
        cJSON_ArrayForEach(u, units) {
            cli_format_count(a, sizeof a, num(u, "weights"));
            cli_format_bytes(b, sizeof b, num(u, "bf16_bytes"));
            cli_format_bytes(c, sizeof c, num(u, "df11_bytes"));
            printf("  %-28s %10s %10s %10s %6.2f%% %9.3f %8g %7g\n", str(u, "name", e1, sizeof e1),
                   a, b, c, 100 * num(u, "ratio"), num(u, "bits_per_exponent"), num(u, "longest_code_bits"),
                   num(u, "tables"));
        }
    }
    cli_format_bytes(b, sizeof b, num(tot, "uncompressed_bytes"));
    printf("\n  uncompressed  %d tensors, %s\n", cJSON_GetArraySize(plain), b);
    const cJSON *t;
    cJSON_ArrayForEach(t, plain) {
        char shape[128];
        size_t len = (size_t)snprintf(shape, sizeof shape, "[");
        const cJSON *d;
        cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(t, "shape"))
            len += (size_t)snprintf(shape + len, len < sizeof shape ? sizeof shape - len : 0, "%s%g", len > 1 ? ", " : "",
                                    d->valuedouble);
        if (len < sizeof shape) snprintf(shape + len, sizeof shape - len, "]");
        printf("    %-44s %-5s %s\n", str(t, "name", e1, sizeof e1), str(t, "dtype", e2, sizeof e2), shape);
    }
    cli_format_bytes(b, sizeof b, num(tot, "model_bytes"));
    cli_format_bytes(c, sizeof c, num(tot, "model_bf16_bytes"));
    printf("\n  total         %s (%s as BF16)\n", b, c);
    if (cJSON_GetArraySize(units) > 0) {
        double bf16 = num(tot, "model_bf16_bytes");
        cli_format_bytes(b, sizeof b, num(tot, "model_device_bytes_file_layout"));
        cli_format_bytes(c, sizeof c, num(tot, "model_device_bytes_segment_layout"));
        printf("  in memory     %s (%.2f%% of BF16) on CPU and Vulkan (units as in the file),\n"
               "                %s (%.2f%% of BF16) on CUDA (units with a segment index, no gaps)\n",
               b, 100 * num(tot, "model_device_bytes_file_layout") / bf16, c,
               100 * num(tot, "model_device_bytes_segment_layout") / bf16);
    }
    /* messages from the library are escaped already */
    const cJSON *run = cJSON_GetObjectItemCaseSensitive(r, "run"), *w;
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(run, "can_run")))
        printf("  dfrt run      can run it (given the device memory)\n");
    else
        printf("  dfrt run      cannot run it: %s\n", str(run, "reason", e1, sizeof e1));
    cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(run, "warnings")) printf("                warning: %s\n", w->valuestring);
}

/* Whether dfrt run can run the model (dfrt_model_check), with the warnings it gives. */
static void collect_warning(void *user, const char *message) {
    cJSON_AddItemToArray((cJSON *)user, cJSON_CreateString(message));
}

static void add_run_check(cJSON *report, const dfrt_checkpoint *cp) {
    cJSON *run = cJSON_AddObjectToObject(report, "run");
    cJSON *warnings = cJSON_CreateArray();
    dfrt_set_warning_handler(collect_warning, warnings);
    dfrt_status s = dfrt_model_check(cp);
    dfrt_set_warning_handler(NULL, NULL);
    cJSON_AddBoolToObject(run, "can_run", s == DFRT_OK);
    if (s == DFRT_OK) cJSON_AddNullToObject(run, "reason");
    else cJSON_AddStringToObject(run, "reason", dfrt_last_error());
    cJSON_AddItemToObject(run, "warnings", warnings);
}

/* cJSON escapes C0 controls inside strings as \u00XX; DEL, C1 controls (0x9B is a terminal's
 * CSI) and bidirectional overrides are escaped here too, and bytes outside UTF-8 (which JSON
 * cannot hold) become U+FFFD. */
static void print_json_safe(const char *text) {
    const unsigned char *p = (const unsigned char *)text;
    while (*p) {
        unsigned c = p[0], n = 1;
        uint32_t cp = c, min = 0;
        if (c >= 0xC2 && c <= 0xDF) n = 2, cp = c & 0x1F, min = 0x80;
        else if (c >= 0xE0 && c <= 0xEF) n = 3, cp = c & 0x0F, min = 0x800;
        else if (c >= 0xF0 && c <= 0xF4) n = 4, cp = c & 0x07, min = 0x10000;
        else if (c >= 0x80) n = 0;
        for (unsigned i = 1; i < n; i++) {
            if ((p[i] & 0xC0) != 0x80) {
                n = 0;
                break;
            }
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        if (n > 1 && (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))) n = 0;
        if (n == 0) {
            fputs("\\ufffd", stdout);
            p++;
        } else if (cp == 0x7F || (cp >= 0x80 && cp <= 0x9F) || (cp >= 0x202A && cp <= 0x202E) ||
                   (cp >= 0x2066 && cp <= 0x2069)) {
            printf("\\u%04x", (unsigned)cp);
            p += n;
        } else {
            fwrite(p, 1, n, stdout);
            p += n;
        }
    }
}

int cmd_inspect(int argc, char **argv) {
    cli_args a = {argc, argv, 1, "inspect", NULL, help};
    const char *dir = NULL, *arg, *inline_value;
    int json = 0, is_option;
    while ((arg = cli_next(&a, &is_option, &inline_value))) {
        if (!is_option) {
            if (dir) return cli_usage_error("inspect", "unexpected argument \"%s\"", arg);
            dir = arg;
        } else if (strcmp(arg, "--json") == 0) {
            json = 1;
        } else {
            return cli_usage_error("inspect", "unknown option %s", arg);
        }
    }
    if (!dir) return cli_usage_error("inspect", "expected MODEL_DIR");
    dfrt_checkpoint *cp;
    dfrt_status s = dfrt_checkpoint_open(dir, &cp);
    if (s != DFRT_OK) return cli_fail("inspect", s);
    cJSON *report = build_report(cp);
    add_run_check(report, cp);
    dfrt_checkpoint_close(cp);
    if (json) {
        char *text = cJSON_Print(report);
        if (!text) {
            cJSON_Delete(report);
            fprintf(stderr, "dfrt inspect: out of memory\n");
            return CLI_FAIL;
        }
        print_json_safe(text);
        printf("\n");
        free(text);
    } else {
        print_text(report);
    }
    cJSON_Delete(report);
    return CLI_OK;
}
