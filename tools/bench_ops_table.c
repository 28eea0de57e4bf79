/* dfrt bench ops's terminal table: the backends side by side, each figure with its ratio to the
 * first backend's, DF11 / BF16 and dfrt / library times. */
#include "bench_ops.h"

#include <math.h>
#include <string.h>

/* One cell: "time us  rate unit  pct  [TFLOP/s]" (with DF11 / BF16 time: "... 1.23x"). */
static void cell(char *out, size_t size, const cJSON *f, const char *rate, const char *unit, int tflops) {
    if (!f) {
        snprintf(out, size, "-");
        return;
    }
    const cJSON *pct = cJSON_GetObjectItemCaseSensitive(f, "percent_of_copy");
    const cJSON *ratio = cJSON_GetObjectItemCaseSensitive(f, "df11_over_bf16_time");
    char p[16] = "", x[24] = "";
    if (cJSON_IsNumber(pct)) snprintf(p, sizeof p, "%3.0f%%", pct->valuedouble);
    if (tflops && strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "figure")), "df11_matmul") == 0) {
        if (cJSON_IsNumber(ratio)) snprintf(x, sizeof x, " %6.2fx", ratio->valuedouble);
    } else if (tflops) {
        snprintf(x, sizeof x, " %7.1f TF", bench_median(f, "tflop_per_s"));
    }
    snprintf(out, size, "%9.1f us %8.1f %-4s %4s%s", bench_median(f, "time_us"), bench_median(f, rate), unit, p, x);
}

/* The backend object of the report named `name`. */
static const cJSON *backend_json(const bench_report *r, const char *name) {
    const cJSON *b;
    cJSON_ArrayForEach(b, r->backends) {
        if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b, "name")), name) == 0) return b;
    }
    return NULL;
}

/* Whether the backend ran df11_matmul. */
static int has_df11(const bench_report *r, const char *name) {
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(backend_json(r, name), "df11_matmul"));
}

/* A row of figures, one cell per backend; after the second, its ratio to the first (of the
 * rate; of 1 / time for DF11 matmuls, whose bytes differ with the backend's layout). */
static void print_row(const char *label, const bench_report *r, char names[][16], int n, const char *figure,
                      const char *shape, const char *format, double m, const char *rate, const char *unit, int tflops) {
    int df11_mm = strcmp(figure, "df11_matmul") == 0;
    printf("%-26s", label);
    double first = NAN;
    for (int i = 0; i < n; i++) {
        const cJSON *f = bench_find(r, names[i], figure, shape, format, m, NAN);
        char c[96];
        cell(c, sizeof c, f, rate, unit, tflops);
        if (!f && df11_mm)
            snprintf(c, sizeof c, "%s", !has_df11(r, names[i]) ? "not available (no df11_matmul)"
                                        : strcmp(shape, "lm_head") == 0 ? "not measured (no lm_head unit)"
                                                                          : "declined");
        printf("  %-44s", c);
        double v = f ? (df11_mm ? 1 / bench_median(f, "time_us") : bench_median(f, rate)) : NAN;
        if (i == 0) first = v;
        else if (i == 1 && !isnan(v / first)) printf("  %5.2f", v / first);
        else if (i == 1) printf("  %5s", "");
    }
    const cJSON *df = bench_find(r, names[0], figure, shape, format, m, NAN);
    const int vendor = strcmp(figure, "vendor_matmul") == 0;
    const cJSON *ratio = df ? cJSON_GetObjectItemCaseSensitive(df, vendor ? "dfrt_over_vendor_time" : "df11_over_bf16_time") : NULL;
    if (cJSON_IsNumber(ratio) && !df11_mm) printf("  %s time %.2f", vendor ? "dfrt/library" : "DF11/BF16", ratio->valuedouble);
    printf("\n");
}

/* The layer unit's size in the file and in each backend's device memory; lm_head's unit. */
static void print_sizes(const bench_report *r, char names[][16], int n, const ops_plan *p, const layer_unit *L) {
    char a[32], b[32];
    double bf16 = 2.0 * (double)L->n;
    cli_format_count(a, sizeof a, (double)L->n);
    cli_format_bytes(b, sizeof b, (double)host_unit_bytes(&L->h));
    printf("DF11 layer unit: %s weights; %s in the file = %.2f%% of BF16; in device memory:", a, b,
           100.0 * (double)host_unit_bytes(&L->h) / bf16);
    for (int i = 0; i < n; i++) {
        const cJSON *bj = backend_json(r, names[i]);
        const cJSON *bytes = cJSON_GetObjectItemCaseSensitive(bj, "layer_device_bytes");
        if (!cJSON_IsNumber(bytes)) continue;
        cli_format_bytes(b, sizeof b, bytes->valuedouble);
        printf("%s %s %s = %.2f%% (%s layout)", i ? "," : "", names[i], b, 100.0 * bytes->valuedouble / bf16,
               cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(bj, "df11_layout")));
    }
    printf("\n");
    if (!ops_wants(p, "matmul")) return;
    const op_case *head = &p->shapes[LM_HEAD];
    if (p->head_state > 0) {
        double hbf16 = 2.0 * (double)head->s[1] * (double)head->s[2];
        cli_format_bytes(b, sizeof b, (double)host_unit_bytes(&p->head));
        printf("DF11 lm_head unit (the layer's weights repeated): %s in the file = %.2f%% of BF16\n", b,
               100.0 * (double)host_unit_bytes(&p->head) / hbf16);
    } else if (p->head_state < 0) {
        printf("lm_head's DF11 matmul is not measured: no lm_head unit (%s)\n", p->head_note);
    }
}

/* The kernel of a figure ("?" where the backend does not say). */
static const char *kernel_of(const cJSON *f) {
    const char *k = f ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "kernel")) : NULL;
    return k ? k : "?";
}

/* Which kernel each backend ran for each matmul, BF16 / DF11, by M: the shapes that share a
 * pair of kernels named together. */
static void print_kernels(const bench_report *r, char names[][16], int n, const ops_plan *p) {
    printf("matmul kernels (BF16 / DF11):\n");
    for (int i = 0; i < n; i++)
        for (int mi = 0; mi < p->n_m; mi++) {
            char pairs[OP_MODEL_MATMULS][200];
            int have[OP_MODEL_MATMULS] = {0}, any = 0;
            for (int si = 0; si < OP_MODEL_MATMULS; si++) {
                const char *shape = p->shapes[si].name;
                const cJSON *f = bench_find(r, names[i], "matmul", shape, NULL, p->ms[mi], NAN);
                const cJSON *d = bench_find(r, names[i], "df11_matmul", shape, NULL, p->ms[mi], NAN);
                if (!f) continue;
                snprintf(pairs[si], sizeof pairs[si], "%s%s%s", kernel_of(f), d ? " / " : "", d ? kernel_of(d) : "");
                have[si] = any = 1;
            }
            if (!any) continue;
            printf("  %-8s M=%-5d", mi ? "" : names[i], p->ms[mi]);
            int same = 1, first = -1;
            for (int si = 0; si < OP_MODEL_MATMULS; si++)
                if (have[si]) {
                    if (first < 0) first = si;
                    else same &= strcmp(pairs[si], pairs[first]) == 0;
                }
            if (same) {
                printf(" %s\n", pairs[first]);
                continue;
            }
            int done[OP_MODEL_MATMULS] = {0};
            const char *sep = " ";
            for (int si = 0; si < OP_MODEL_MATMULS; si++) {
                if (!have[si] || done[si]) continue;
                printf("%s", sep);
                for (int sj = si, c = 0; sj < OP_MODEL_MATMULS; sj++)
                    if (have[sj] && !done[sj] && strcmp(pairs[sj], pairs[si]) == 0)
                        printf("%s%s", c++ ? ", " : "", p->shapes[sj].name), done[sj] = 1;
                printf(": %s", pairs[si]);
                sep = "; ";
            }
            printf("\n");
        }
}

void ops_print_table(const bench_report *r, char names[][16], int n, const ops_plan *p, const layer_unit *L) {
    const dfrt_config *cfg = p->cfg;
    printf("\ndfrt bench ops, shapes of %s (hidden %lld, intermediate %lld, heads %lld/%lld x %lld, vocab %lld)\n",
           p->shapes_name, (long long)cfg->hidden_size, (long long)cfg->intermediate_size, (long long)cfg->n_heads,
           (long long)cfg->n_kv_heads, (long long)cfg->head_dim, (long long)cfg->vocab_size);
    print_sizes(r, names, n, p, L);
    int any_df11 = 0;
    for (int i = 0; i < n; i++) any_df11 |= has_df11(r, names[i]);
    printf("median of samples; %% = share of the device's copy bandwidth (read + write)%s\n",
           any_df11 ? ";\nDF11 matmul rows: GB/s of DF11 weights read, and x = DF11 / BF16 time" : "");
    for (int i = 0; i < n; i++) {
        const cJSON *bj = backend_json(r, names[i]);
        const char *lib = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(bj, "reference_library"));
        const char *none = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(bj, "reference_unavailable"));
        if (lib) printf("library rows (%s): %s, X in BF16; dfrt/library time = dfrt's matmul over the library's\n", names[i], lib);
        else if (none) printf("library rows (%s): none (%s)\n", names[i], none);
    }
    printf("\n");
    printf("%-26s", "");
    for (int i = 0; i < n; i++) {
        char h[45];
        bench_backend_label(r, i, names[i], h, sizeof h);
        printf("  %-44s", h);
        if (i == 1) printf("  %.6s/%.6s", names[1], names[0]);
    }
    printf("\n");
    print_row("copy (read + write)", r, names, n, "copy", NULL, NULL, NAN, "gb_per_s", "GB/s", 0);
    print_row("DF11 decode, layer", r, names, n, "df11_decode", "layer", NULL, NAN, "g_weights_per_s", "Gw/s", 0);
    print_row("  traffic (in + out)", r, names, n, "df11_decode", "layer", NULL, NAN, "gb_per_s", "GB/s", 0);
    for (int si = 0; si < OP_MODEL_MATMULS; si++)
        for (int mi = 0; mi < p->n_m; mi++) {
            char label[64];
            const char *shape = p->shapes[si].name;
            snprintf(label, sizeof label, "%s %lldx%lld M=%d", shape, (long long)p->shapes[si].s[1],
                     (long long)p->shapes[si].s[2], p->ms[mi]);
            if (!bench_find(r, names[0], "matmul", shape, NULL, p->ms[mi], NAN)) continue;
            print_row(label, r, names, n, "matmul", shape, NULL, p->ms[mi], "gb_per_s", "GB/s", 1);
            if (any_df11)
                print_row("  DF11 (df11_matmul)", r, names, n, "df11_matmul", shape, NULL, p->ms[mi], "gb_per_s", "GB/s", 1);
            if (bench_find(r, names[0], "vendor_matmul", shape, NULL, p->ms[mi], NAN))
                print_row("  library (--reference)", r, names, n, "vendor_matmul", shape, NULL, p->ms[mi], "gb_per_s", "GB/s", 1);
        }
    if (!any_df11 && ops_wants(p, "matmul")) {
        printf("%-26s", "DF11 matmul");
        for (int i = 0; i < n; i++) printf("  %-44s", "not available (no df11_matmul)");
        printf("\n");
    }
    if (ops_wants(p, "matmul")) print_kernels(r, names, n, p);
    int layers = 0;
    for (int mi = 0; mi < p->n_m; mi++)
        for (int df11 = 1; df11 >= 0; df11--) {
            char label[64];
            snprintf(label, sizeof label, "layer %s M=%d", df11 ? "DF11" : "BF16", p->ms[mi]);
            if (bench_find(r, names[0], "layer", NULL, df11 ? "df11" : "bf16", p->ms[mi], NAN))
                print_row(label, r, names, n, "layer", NULL, df11 ? "df11" : "bf16", p->ms[mi], "g_weights_per_s", "Gw/s", 0),
                    layers++;
        }
    if (!layers) return;
    /* how each backend ran the DF11 layer (the method of its first DF11 layer figure) */
    printf("layer DF11:");
    for (int i = 0; i < n; i++) {
        const cJSON *f = NULL;
        for (int mi = 0; mi < p->n_m && !f; mi++) f = bench_find(r, names[i], "layer", NULL, "df11", p->ms[mi], NAN);
        const char *method = f ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "method")) : NULL;
        if (method)
            printf("%s %s: %s", i ? ";" : "", names[i],
                   strcmp(method, "df11_matmul") == 0 ? "the four df11_matmul calls on the unit (no decode)"
                                                      : "DF11 decode into a scratch buffer + the four BF16 matmuls");
    }
    printf("\n");
}
