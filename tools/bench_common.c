/* Shared pieces of `dfrt bench`: statistics, timing loops, backend lists, the report and its
 * JSON, CSV and SVG forms. */
#include "bench.h"
#include "build_info.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

bench_stats bench_summarize(double *t, int n) {
    qsort(t, (size_t)n, sizeof *t, compare_doubles);
    bench_stats s = {n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]), t[0], t[n - 1], n};
    return s;
}

/* xorshift + Box-Muller, rounded to BF16 (nearest even). */
uint16_t *bench_normal_bf16(uint64_t n, double std) {
    uint16_t *w = malloc(n * sizeof *w);
    if (!w) return NULL;
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (uint64_t i = 0; i < n; i += 2) {
        double u[2];
        for (int k = 0; k < 2; k++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            u[k] = ((double)(x >> 11) + 0.5) * 0x1.0p-53;
        }
        double r = std * sqrt(-2.0 * log(u[0])), a = 6.283185307179586 * u[1];
        float v[2] = {(float)(r * cos(a)), (float)(r * sin(a))};
        for (int k = 0; k < 2 && i + (uint64_t)k < n; k++) {
            uint32_t b;
            memcpy(&b, &v[k], 4);
            b += 0x7FFF + ((b >> 16) & 1);
            w[i + (uint64_t)k] = (uint16_t)(b >> 16);
        }
    }
    return w;
}

dfrt_status bench_unit_init(bench_unit *u, const char *name, const dfrt_df11_encoded *e, int n_parts) {
    static const char *const suffix[6] = {"luts", "encoded_exponent", "sign_mantissa", "output_positions", "gaps",
                                          "split_positions"};
    const int64_t len[6] = {e->n_tables + 1, (int64_t)e->n_bytes, (int64_t)e->n, 4 * (int64_t)e->n_positions,
                            (int64_t)e->gaps_bytes, n_parts - 1};
    const void *data[6] = {e->luts, e->stream, e->sign_mantissa, e->output_positions, e->gaps, e->split_positions};
    memset(u, 0, sizeof *u);
    for (int i = 0; i < 6; i++) {
        dfrt_tensor *t = &u->t[i];
        snprintf(u->names[i], sizeof u->names[i], "%.40s.%s", name, suffix[i]);
        t->name = u->names[i];
        t->dtype = i == 5 ? DFRT_DTYPE_I64 : DFRT_DTYPE_U8;
        t->n_dims = i == 0 ? 2 : 1;
        t->shape[0] = len[i];
        t->shape[1] = i == 0 ? 256 : 0;
        t->data = data[i];
        t->n_elements = (uint64_t)len[i] * (i == 0 ? 256u : 1u);
        t->n_bytes = t->n_elements * dfrt_dtype_size(t->dtype);
        t->file = "(memory)";
    }
    dfrt_df11_tensors ts = {&u->t[0], &u->t[1], &u->t[2], &u->t[3], &u->t[4], &u->t[5]};
    dfrt_status s = dfrt_df11_unit_init(name, &ts, 0, NULL, &u->unit);
    u->ready = s == DFRT_OK;
    return s;
}

void bench_unit_release(bench_unit *u) {
    if (u->ready) dfrt_df11_unit_release(&u->unit);
    u->ready = 0;
}

uint64_t bench_unit_bytes(const dfrt_df11_encoded *e, int n_parts) {
    return e->n_bytes + e->n + e->gaps_bytes + 4ull * e->n_positions + 256ull * (e->n_tables + 1) +
           8ull * (uint64_t)(n_parts - 1);
}

#define MAX_SAMPLES 4000

int bench_time_op(dfrt_backend *b, bench_op_fn op, void *ctx, double min_time, bench_stats *out) {
    static double times[MAX_SAMPLES];
    int n = 0;
    double t0 = 0;
    if (op(ctx) != DFRT_OK || dfrt_backend_timer_begin(b) != DFRT_OK || op(ctx) != DFRT_OK ||
        dfrt_backend_timer_end(b, &t0) != DFRT_OK)
        return 0;
    int reps = t0 > 0 ? (int)(20.0 / t0) : 100; /* samples of about 20 ms */
    if (reps < 1) reps = 1;
    if (reps > 1000) reps = 1000;
    double start = cli_now();
    while (n < MAX_SAMPLES && (n < 5 || cli_now() - start < min_time)) {
        double ms;
        if (dfrt_backend_timer_begin(b) != DFRT_OK) return 0;
        for (int r = 0; r < reps; r++)
            if (op(ctx) != DFRT_OK) return 0;
        if (dfrt_backend_timer_end(b, &ms) != DFRT_OK) return 0;
        times[n++] = ms / reps;
        if (cli_cancel_flag) return 0;
    }
    *out = bench_summarize(times, n);
    return 1;
}

int bench_backend_list(const char *command, const char *list, char names[][16]) {
    int n = 0;
    if (list) {
        for (const char *p = list; *p;) {
            size_t len = strcspn(p, ",");
            if (len == 0 || len >= 16 || n == BENCH_MAX_BACKENDS) {
                cli_usage_error(command, "--backend expects a list like cuda,vulkan,cpu");
                return -1;
            }
            snprintf(names[n++], 16, "%.*s", (int)len, p);
            p += len + (p[len] == ',');
        }
        if (!n) cli_usage_error(command, "--backend expects a list like cuda,vulkan,cpu");
        return n ? n : -1;
    }
    dfrt_device_info *devs;
    size_t nd;
    if (dfrt_device_list(&devs, &nd) != DFRT_OK) {
        cli_fail(command, DFRT_DEVICE_ERROR);
        return -1;
    }
    for (size_t i = 0; i < nd && n < BENCH_MAX_BACKENDS; i++) {
        if (!devs[i].available || devs[i].type == DFRT_DEVICE_CPU) continue;
        int seen = 0;
        for (int j = 0; j < n; j++) seen |= strcmp(names[j], devs[i].backend) == 0;
        if (!seen) snprintf(names[n++], 16, "%s", devs[i].backend);
    }
    free(devs);
    if (!n) snprintf(names[n++], 16, "cpu");
    return n;
}

int bench_int_list(const char *command, const char *option, const char *text, int min, int max, int *out, int cap) {
    int n = 0;
    for (const char *p = text;;) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < min || v > max || n == cap || (*end && *end != ',')) {
            cli_usage_error(command, "%s expects a list of up to %d integers from %d to %d, like 1,8,64; got \"%s\"", option,
                            cap, min, max, text);
            return -1;
        }
        out[n++] = (int)v;
        if (!*end) break;
        p = end + 1;
    }
    return n;
}

int bench_parse_seconds(const char *command, const char *option, const char *text, double *out) {
    char *end;
    double v = strtod(text, &end);
    if (end == text || *end || !(v >= 0 && v <= 600)) {
        cli_usage_error(command, "%s expects 0 to 600 seconds, got \"%s\"", option, text);
        return 0;
    }
    *out = v;
    return 1;
}

/* ---- the report ---------------------------------------------------------------------------- */

static char *cpu_model(void) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    if (!f) return NULL;
    char *model = NULL;
    while (!model && fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) != 0) continue;
        char *colon = strchr(line, ':');
        if (!colon) continue;
        colon += 1 + (colon[1] == ' ');
        colon[strcspn(colon, "\n")] = '\0';
        model = strdup(colon);
    }
    fclose(f);
    return model;
}

int bench_report_init(bench_report *r, const char *benchmark, int argc, char **argv) {
    memset(r, 0, sizeof *r);
    r->root = cJSON_CreateObject();
    if (!r->root) return 0;
    cJSON_AddStringToObject(r->root, "benchmark", benchmark);
    cJSON *cmd = cJSON_AddArrayToObject(r->root, "command");
    for (int i = 0; cmd && i < argc; i++) cJSON_AddItemToArray(cmd, cJSON_CreateString(argv[i]));
    cJSON *d = cJSON_AddObjectToObject(r->root, "dfrt");
    if (d) {
        cJSON_AddStringToObject(d, "version", dfrt_version());
        cJSON_AddStringToObject(d, "commit", DFRT_BUILD_COMMIT);
        cJSON_AddStringToObject(d, "build", DFRT_BUILD_DESCRIPTION);
    }
    cJSON *h = cJSON_AddObjectToObject(r->root, "host");
    if (h) {
        char *cpu = cpu_model();
        struct utsname u;
        cJSON_AddStringToObject(h, "cpu", cpu ? cpu : "unknown");
        free(cpu);
        cJSON_AddNumberToObject(h, "cores", (double)sysconf(_SC_NPROCESSORS_ONLN));
        if (uname(&u) == 0) {
            char os[200];
            snprintf(os, sizeof os, "%.60s %.60s %.60s", u.sysname, u.release, u.machine);
            cJSON_AddStringToObject(h, "os", os);
        }
    }
    r->backends = cJSON_AddArrayToObject(r->root, "backends");
    r->figures = cJSON_AddArrayToObject(r->root, "figures");
    return r->backends && r->figures;
}

void bench_report_free(bench_report *r) {
    cJSON_Delete(r->root);
    memset(r, 0, sizeof *r);
}

cJSON *bench_report_backend(bench_report *r, dfrt_backend *b) {
    const dfrt_device_info *info = dfrt_backend_info(b);
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "name", dfrt_backend_name(b));
    cJSON_AddStringToObject(o, "device", info->name);
    cJSON_AddStringToObject(o, "api_version", info->api_version);
    cJSON_AddStringToObject(o, "driver_version", info->driver_version);
    cJSON_AddNumberToObject(o, "memory_bytes", (double)info->memory_bytes);
    if (info->compute_capability) cJSON_AddNumberToObject(o, "compute_capability", info->compute_capability);
    cJSON_AddItemToArray(r->backends, o);
    return o;
}

void bench_backend_label(const bench_report *r, int i, const char *name, char *out, size_t size) {
    const cJSON *b = cJSON_GetArrayItem(r->backends, i);
    const cJSON *d = b ? cJSON_GetObjectItemCaseSensitive(b, "device") : NULL;
    snprintf(out, size, "%s: %s", name, cJSON_IsString(d) ? d->valuestring : "?");
}

cJSON *bench_figure(bench_report *r, const char *backend, const char *figure) {
    cJSON *f = cJSON_CreateObject();
    if (!f) return NULL;
    cJSON_AddStringToObject(f, "backend", backend);
    cJSON_AddStringToObject(f, "figure", figure);
    cJSON_AddItemToArray(r->figures, f);
    return f;
}

void bench_metric(cJSON *fig, const char *name, double median, double min, double max, const char *unit, int runs) {
    if (!fig) return;
    cJSON *m = cJSON_AddObjectToObject(fig, name);
    if (!m) return;
    cJSON_AddNumberToObject(m, "median", median);
    cJSON_AddNumberToObject(m, "min", min);
    cJSON_AddNumberToObject(m, "max", max);
    cJSON_AddStringToObject(m, "unit", unit);
    cJSON_AddNumberToObject(m, "runs", runs);
}

void bench_rate(cJSON *fig, const char *name, double amount, const bench_stats *t, const char *unit) {
    bench_metric(fig, name, amount / t->median, amount / t->max, amount / t->min, unit, t->runs);
}

double bench_median(const cJSON *fig, const char *metric) {
    const cJSON *m = fig ? cJSON_GetObjectItemCaseSensitive(fig, metric) : NULL;
    const cJSON *v = m ? cJSON_GetObjectItemCaseSensitive(m, "median") : NULL;
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static int field_is(const cJSON *fig, const char *key, const char *want) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(fig, key);
    if (!want) return !v;
    return cJSON_IsString(v) && strcmp(v->valuestring, want) == 0;
}

static int number_is(const cJSON *fig, const char *key, double want) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(fig, key);
    if (isnan(want)) return !v;
    return cJSON_IsNumber(v) && v->valuedouble == want;
}

/* shape/format NULL and m/batch NAN mean "the figure has no such field". */
const cJSON *bench_find(const bench_report *r, const char *backend, const char *figure, const char *shape,
                        const char *format, double m, double batch) {
    const cJSON *f;
    cJSON_ArrayForEach(f, r->figures) {
        if (field_is(f, "backend", backend) && field_is(f, "figure", figure) && field_is(f, "shape", shape) &&
            field_is(f, "format", format) && number_is(f, "m", m) && number_is(f, "batch", batch))
            return f;
    }
    return NULL;
}

int bench_write_file(const char *path, const char *text, size_t len) {
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp) {
        fprintf(stderr, "dfrt bench: out of memory writing %s\n", path);
        return 0;
    }
    snprintf(tmp, plen + 16, "%s.tmp-XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        fprintf(stderr, "dfrt bench: cannot create %s: %s\n", path, strerror(errno));
        free(tmp);
        return 0;
    }
    FILE *f = fdopen(fd, "w");
    int ok = f && fwrite(text, 1, len, f) == len;
    if (f) ok &= fflush(f) == 0 && fsync(fileno(f)) == 0, ok &= fclose(f) == 0;
    else close(fd);
    mode_t mask = umask(0);
    umask(mask);
    if (ok) ok = chmod(tmp, 0666 & ~mask) == 0 && rename(tmp, path) == 0;
    if (!ok) {
        fprintf(stderr, "dfrt bench: cannot write %s: %s\n", path, strerror(errno));
        unlink(tmp);
    }
    free(tmp);
    return ok;
}

int bench_write_json(const bench_report *r, const char *path) {
    char *text = cJSON_Print(r->root);
    if (!text) {
        fprintf(stderr, "dfrt bench: out of memory writing %s\n", path);
        return 0;
    }
    size_t len = strlen(text);
    text[len] = '\n'; /* cJSON_Print's buffer has room for the terminator we replace */
    int ok = bench_write_file(path, text, len + 1);
    free(text);
    return ok;
}

/* CSV: one row per metric of every figure. */
static const char *const csv_fields[] = {"backend", "figure", "shape", "format", "m", "n", "k", "batch", "prompt_len", "gen"};
#define N_CSV_FIELDS (sizeof csv_fields / sizeof *csv_fields)

static void csv_cell(cli_text *t, const cJSON *v) {
    if (cJSON_IsString(v)) {
        int quote = strpbrk(v->valuestring, ",\"\n") != NULL;
        if (quote) cli_text_puts(t, "\"");
        for (const char *p = v->valuestring; *p; p++) {
            if (*p == '"') cli_text_puts(t, "\"");
            cli_text_printf(t, "%c", *p);
        }
        if (quote) cli_text_puts(t, "\"");
    } else if (cJSON_IsNumber(v)) {
        cli_text_printf(t, "%.17g", v->valuedouble);
    }
}

int bench_write_csv(const bench_report *r, const char *path) {
    cli_text t = {0};
    const cJSON *bench = cJSON_GetObjectItemCaseSensitive(r->root, "benchmark");
    cli_text_puts(&t, "benchmark");
    for (size_t i = 0; i < N_CSV_FIELDS; i++) cli_text_printf(&t, ",%s", csv_fields[i]);
    cli_text_puts(&t, ",metric,unit,median,min,max,runs\n");
    const cJSON *f;
    cJSON_ArrayForEach(f, r->figures) {
        const cJSON *m;
        cJSON_ArrayForEach(m, f) {
            if (!cJSON_IsObject(m) || !cJSON_GetObjectItemCaseSensitive(m, "median")) continue;
            csv_cell(&t, bench);
            for (size_t i = 0; i < N_CSV_FIELDS; i++) {
                cli_text_puts(&t, ",");
                csv_cell(&t, cJSON_GetObjectItemCaseSensitive(f, csv_fields[i]));
            }
            cli_text_printf(&t, ",%s,", m->string);
            csv_cell(&t, cJSON_GetObjectItemCaseSensitive(m, "unit"));
            static const char *const stat[] = {"median", "min", "max", "runs"};
            for (int i = 0; i < 4; i++) {
                cli_text_puts(&t, ",");
                csv_cell(&t, cJSON_GetObjectItemCaseSensitive(m, stat[i]));
            }
            cli_text_puts(&t, "\n");
        }
    }
    int ok = !t.failed && bench_write_file(path, t.p, t.len);
    if (t.failed) fprintf(stderr, "dfrt bench: out of memory writing %s\n", path);
    free(t.p);
    return ok;
}

/* ---- SVG: tokens/s against batch ---------------------------------------------------------- */

#define SVG_PANEL_W 460
#define SVG_PANEL_H 320
#define SVG_MARGIN_L 70
#define SVG_MARGIN_T 60

typedef struct svg_series {
    char backend[16], format[8];
    int color; /* one per backend; BF16 dashed */
    int n;
    double batch[32], value[2][32];
} svg_series;

static const char *const svg_colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f"};

static double nice_floor(double v) { return pow(10, floor(log10(v))); }
static double nice_ceil(double v) { return pow(10, ceil(log10(v))); }

static void svg_panel(cli_text *t, double x0, const char *title, int which, const svg_series *s, int n_series,
                      double bmin, double bmax) {
    double vmin = INFINITY, vmax = 0;
    for (int i = 0; i < n_series; i++)
        for (int j = 0; j < s[i].n; j++)
            if (s[i].value[which][j] > 0) vmin = fmin(vmin, s[i].value[which][j]), vmax = fmax(vmax, s[i].value[which][j]);
    if (!(vmax > 0)) vmin = 1, vmax = 10;
    double lo = nice_floor(vmin), hi = nice_ceil(vmax);
    if (hi <= lo) hi = lo * 10;
    double lb = log2(bmin), hb = log2(bmax) > lb ? log2(bmax) : lb + 1;
    double px = x0 + SVG_MARGIN_L, py = SVG_MARGIN_T, w = SVG_PANEL_W - SVG_MARGIN_L - 20, h = SVG_PANEL_H - 60;
#define SX(b) (px + (log2(b) - lb) / (hb - lb) * w)
#define SY(v) (py + h - (log10(v) - log10(lo)) / (log10(hi) - log10(lo)) * h)
    cli_text_printf(t, "<text x=\"%.1f\" y=\"%d\" font-size=\"15\" text-anchor=\"middle\">%s</text>\n", px + w / 2,
                    SVG_MARGIN_T - 15, title);
    cli_text_printf(t, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#444\"/>\n", px, py,
                    w, h);
    for (double v = lo; v <= hi * 1.0001; v *= 10) {
        cli_text_printf(t, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", px, px + w, SY(v), SY(v));
        cli_text_printf(t, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%g</text>\n", px - 5,
                        SY(v) + 4, v);
    }
    for (double b = pow(2, floor(lb)); b <= bmax * 1.0001; b *= 2) {
        if (b < bmin * 0.9999) continue;
        cli_text_printf(t, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>\n", SX(b), SX(b), py,
                        py + h);
        cli_text_printf(t, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">%g</text>\n", SX(b),
                        py + h + 15, b);
    }
    cli_text_printf(t, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\">batch (sequences)</text>\n",
                    px + w / 2, py + h + 35);
    for (int i = 0; i < n_series; i++) {
        const char *color = svg_colors[s[i].color % 8];
        int dashed = strcmp(s[i].format, "bf16") == 0;
        cli_text_printf(t, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"", color,
                        dashed ? " stroke-dasharray=\"6 4\"" : "");
        for (int j = 0; j < s[i].n; j++)
            if (s[i].value[which][j] > 0) cli_text_printf(t, "%.1f,%.1f ", SX(s[i].batch[j]), SY(s[i].value[which][j]));
        cli_text_puts(t, "\"/>\n");
        for (int j = 0; j < s[i].n; j++)
            if (s[i].value[which][j] > 0)
                cli_text_printf(t, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"><title>%s %s batch %g: %.1f tokens/s</title></circle>\n",
                                SX(s[i].batch[j]), SY(s[i].value[which][j]), color, s[i].backend, s[i].format,
                                s[i].batch[j], s[i].value[which][j]);
    }
#undef SX
#undef SY
}

int bench_write_svg(const bench_report *r, const char *path) {
    svg_series s[BENCH_MAX_BACKENDS * 2];
    int n_series = 0;
    double bmin = INFINITY, bmax = 0;
    const cJSON *f;
    cJSON_ArrayForEach(f, r->figures) {
        const cJSON *backend = cJSON_GetObjectItemCaseSensitive(f, "backend");
        const cJSON *format = cJSON_GetObjectItemCaseSensitive(f, "format");
        const cJSON *batch = cJSON_GetObjectItemCaseSensitive(f, "batch");
        if (!cJSON_IsString(backend) || !cJSON_IsString(format) || !cJSON_IsNumber(batch) || batch->valuedouble < 1) continue;
        int i = 0;
        while (i < n_series && !(strcmp(s[i].backend, backend->valuestring) == 0 && strcmp(s[i].format, format->valuestring) == 0))
            i++;
        if (i == n_series) {
            if (n_series == BENCH_MAX_BACKENDS * 2) continue;
            memset(&s[i], 0, sizeof s[i]);
            snprintf(s[i].backend, sizeof s[i].backend, "%s", backend->valuestring);
            snprintf(s[i].format, sizeof s[i].format, "%s", format->valuestring);
            s[i].color = n_series;
            for (int j = 0; j < n_series; j++)
                if (strcmp(s[j].backend, s[i].backend) == 0) s[i].color = s[j].color;
            n_series++;
        }
        if (s[i].n == 32) continue;
        s[i].batch[s[i].n] = batch->valuedouble;
        s[i].value[0][s[i].n] = bench_median(f, "decode_tokens_per_s");
        s[i].value[1][s[i].n] = bench_median(f, "prefill_tokens_per_s");
        s[i].n++;
        bmin = fmin(bmin, batch->valuedouble);
        bmax = fmax(bmax, batch->valuedouble);
    }
    if (!n_series) {
        fprintf(stderr, "dfrt bench: %s: no model runs to plot\n", path);
        return 0;
    }
    cli_text t = {0};
    int width = 2 * SVG_PANEL_W + 20, height = SVG_PANEL_H + 70 + 20 * ((n_series + 3) / 4);
    cli_text_printf(&t,
                    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                    "font-family=\"sans-serif\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
                    width, height, width, height);
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(r->root, "model");
    const cJSON *name = model ? cJSON_GetObjectItemCaseSensitive(model, "name") : NULL;
    const cJSON *b0 = cJSON_GetArrayItem(r->backends, 0);
    const cJSON *dev = b0 ? cJSON_GetObjectItemCaseSensitive(b0, "device") : NULL;
    cli_text_puts(&t, "<text x=\"10\" y=\"20\" font-size=\"14\">dfrt bench model: ");
    cli_text_xml(&t, cJSON_IsString(name) ? name->valuestring : "model");
    /* the device, when every backend ran on the same one */
    int same = cJSON_IsString(dev);
    const cJSON *b;
    cJSON_ArrayForEach(b, r->backends) {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(b, "device");
        same &= cJSON_IsString(d) && strcmp(d->valuestring, dev->valuestring) == 0;
    }
    if (same) {
        cli_text_puts(&t, " on ");
        cli_text_xml(&t, dev->valuestring);
    }
    cli_text_puts(&t, " (tokens/s, log scales)</text>\n");
    svg_panel(&t, 0, "decode tokens/s", 0, s, n_series, bmin, bmax);
    svg_panel(&t, SVG_PANEL_W + 20, "prefill tokens/s", 1, s, n_series, bmin, bmax);
    for (int i = 0; i < n_series; i++) {
        double x = 80 + (i % 4) * 200, y = SVG_PANEL_H + 62 + 20 * (i / 4);
        cli_text_printf(&t, "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.0f\" y2=\"%.0f\" stroke=\"%s\" stroke-width=\"2\"%s/>\n", x,
                        x + 30, y - 4, y - 4, svg_colors[s[i].color % 8], strcmp(s[i].format, "bf16") == 0 ? " stroke-dasharray=\"6 4\"" : "");
        cli_text_printf(&t, "<text x=\"%.0f\" y=\"%.0f\" font-size=\"12\">", x + 38, y);
        cli_text_xml(&t, s[i].backend);
        cli_text_printf(&t, " %s</text>\n", strcmp(s[i].format, "bf16") == 0 ? "BF16" : "DF11");
    }
    cli_text_puts(&t, "</svg>\n");
    int ok = !t.failed && bench_write_file(path, t.p, t.len);
    if (t.failed) fprintf(stderr, "dfrt bench: out of memory writing %s\n", path);
    free(t.p);
    return ok;
}

const char *bench_layout_name(int layout) { return layout == 1 ? "segments" : layout == 0 ? "file" : "other"; }
