/* Shared pieces of the dfrt command. */
#include "cli.h"

#include <sys/stat.h>

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* Whether `name` is in the space-separated list `options`; *takes_value when it is written
 * there with '=' after it. */
static int known_option(const char *options, const char *name, int *takes_value) {
    size_t n = strlen(name);
    for (const char *p = options; *p;) {
        while (*p == ' ') p++;
        size_t len = strcspn(p, " ");
        if (len == 0) break;
        int value = p[len - 1] == '=';
        if (len - (size_t)value == n && memcmp(p, name, n) == 0) {
            *takes_value = value;
            return 1;
        }
        p += len;
    }
    return 0;
}

static void usage_exit(cli_args *a, const char *fmt, const char *name) {
    cli_usage_error(a->command, fmt, name);
    exit(CLI_USAGE);
}

const char *cli_next(cli_args *a, int *is_option, const char **inline_value) {
    *inline_value = NULL;
    *is_option = 0;
    if (a->unread_value_of) usage_exit(a, "%s takes no value", a->unread_value_of);
    if (a->index >= a->argc) return NULL;
    const char *arg = a->argv[a->index++];
    if (a->positional_only) return arg;
    if (strcmp(arg, "--") == 0) {
        a->positional_only = 1;
        return cli_next(a, is_option, inline_value);
    }
    *is_option = arg[0] == '-' && arg[1] != '\0';
    if (!*is_option) return arg;
    const char *name = arg;
    static char split[128];
    const char *eq = arg[1] == '-' ? strchr(arg, '=') : NULL;
    if (eq) {
        size_t n = (size_t)(eq - arg);
        if (n >= sizeof split) n = sizeof split - 1;
        memcpy(split, arg, n);
        split[n] = '\0';
        *inline_value = eq + 1;
        name = split;
    }
    if (a->options) {
        int takes_value = 0;
        if (!known_option(a->options, name, &takes_value)) usage_exit(a, "unknown option %s", name);
        if (!takes_value && eq) usage_exit(a, "%s takes no value", name);
        if (takes_value && !eq && a->index >= a->argc) usage_exit(a, "option %s needs a value", name);
    }
    if (a->help && (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0)) {
        fputs(a->help, stdout);
        exit(CLI_OK);
    }
    if (eq) a->unread_value_of = name;
    return name;
}

const char *cli_value(cli_args *a, const char *option, const char *inline_value) {
    a->unread_value_of = NULL;
    if (inline_value) return inline_value;
    if (a->index >= a->argc) {
        cli_usage_error(a->command, "option %s needs a value", option);
        return NULL;
    }
    return a->argv[a->index++];
}

int cli_parse_int(const char *command, const char *option, const char *text, int min, int max, int *out) {
    char *end;
    long v = strtol(text, &end, 10);
    if (!*text || *end || v < min || v > max) {
        cli_usage_error(command, "%s expects an integer from %d to %d, got \"%s\"", option, min, max, text);
        return 0;
    }
    *out = (int)v;
    return 1;
}

int cli_parse_kv_cache(const char *command, const char *option, const char *text, int *out_kv_f32) {
    if (strcmp(text, "bf16") && strcmp(text, "f32")) {
        cli_usage_error(command, "%s expects bf16 or f32, got \"%s\"", option, text);
        return 0;
    }
    *out_kv_f32 = strcmp(text, "f32") == 0;
    return 1;
}

int cli_usage_error(const char *command, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "dfrt %s: ", command);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nRun 'dfrt %s --help' for usage.\n", command);
    va_end(ap);
    return CLI_USAGE;
}

int cli_fail(const char *command, dfrt_status status) {
    if (status == DFRT_CANCELLED) {
        fprintf(stderr, "dfrt %s: interrupted; nothing was written\n", command);
        return CLI_INTERRUPTED;
    }
    const char *msg = dfrt_last_error();
    fprintf(stderr, "dfrt %s: %s: %s\n", command, dfrt_status_string(status), *msg ? msg : "(no detail)");
    return CLI_FAIL;
}

volatile int cli_cancel_flag;

static void on_interrupt(int sig) {
    cli_cancel_flag = 1;
    signal(sig, SIG_DFL); /* a second Ctrl-C ends the process at once */
}

void cli_install_interrupt_handler(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void cli_text_append(cli_text *t, const char *s, size_t n) {
    if (t->failed) return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 4096;
        while (cap < t->len + n + 1) cap *= 2;
        char *p = realloc(t->p, cap);
        if (!p) {
            t->failed = 1;
            return;
        }
        t->p = p;
        t->cap = cap;
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = '\0';
}

void cli_text_puts(cli_text *t, const char *s) { cli_text_append(t, s, strlen(s)); }

void cli_text_printf(cli_text *t, const char *fmt, ...) {
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        t->failed = 1;
        return;
    }
    if ((size_t)n < sizeof small) {
        cli_text_append(t, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        t->failed = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    cli_text_append(t, big, (size_t)n);
    free(big);
}

void cli_text_xml(cli_text *t, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '<': cli_text_puts(t, "&lt;"); break;
        case '>': cli_text_puts(t, "&gt;"); break;
        case '&': cli_text_puts(t, "&amp;"); break;
        case '"': cli_text_puts(t, "&quot;"); break;
        default: cli_text_append(t, s, 1);
        }
    }
}

void cli_format_count(char *buf, size_t size, double v) {
    if (v >= 1e9) snprintf(buf, size, "%.2f G", v / 1e9);
    else if (v >= 1e6) snprintf(buf, size, "%.2f M", v / 1e6);
    else if (v >= 1e3) snprintf(buf, size, "%.1f k", v / 1e3);
    else snprintf(buf, size, "%.0f", v);
}

void cli_format_bytes(char *buf, size_t size, double v) {
    if (v >= 1e9) snprintf(buf, size, "%.2f GB", v / 1e9);
    else if (v >= 1e6) snprintf(buf, size, "%.2f MB", v / 1e6);
    else if (v >= 1e3) snprintf(buf, size, "%.1f kB", v / 1e3);
    else snprintf(buf, size, "%.0f B", v);
}

void cli_progress_init(cli_progress *p, const char *label) {
    memset(p, 0, sizeof *p);
    p->label = label;
    p->start = cli_now();
}

void cli_progress_cb(void *user, uint64_t done, uint64_t total) {
    cli_progress *p = user;
    double now = cli_now();
    if (!isatty(STDERR_FILENO)) {
        /* Logs and pipes: a plain line every 10 seconds, when asked for. */
        if (!p->log_lines || (done < total && now - p->last_draw < 10.0) || (done >= total && p->logged_end)) return;
        if (p->last_draw == 0 && done < total) {
            p->last_draw = now;
            return;
        }
        p->last_draw = now;
        p->logged_end = done >= total;
        fprintf(stderr, "%s: %.0f%% after %.0f s\n", p->label, total ? 100.0 * (double)done / (double)total : 100.0,
                now - p->start);
        return;
    }
    if (done < total && now - p->last_draw < 0.1) return;
    p->last_draw = now;
    double frac = total ? (double)done / (double)total : 1.0;
    int width = 30, filled = (int)(frac * width);
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < filled ? '#' : '.';
    bar[width] = '\0';
    double elapsed = now - p->start, rate = elapsed > 0 ? (double)done / elapsed : 0;
    char d[32], t[32], r[32];
    cli_format_count(d, sizeof d, (double)done);
    cli_format_count(t, sizeof t, (double)total);
    cli_format_count(r, sizeof r, rate);
    fprintf(stderr, "\r%s [%s] %3.0f%%  %s / %s weights  %s/s ", p->label, bar, 100 * frac, d, t, r);
    if (rate > 0 && done < total) fprintf(stderr, " ETA %.0fs ", (double)(total - done) / rate);
    else fprintf(stderr, "          ");
    fflush(stderr);
    p->drawn = 1;
}

void cli_progress_finish(cli_progress *p) {
    if (p->drawn) fputc('\n', stderr);
    p->drawn = 0;
}

int cli_parse_ids(const char *text, int32_t **out, size_t *count) {
    size_t cap = 0, n = 0;
    int32_t *ids = NULL;
    const char *p = text;
    *out = NULL;
    *count = 0;
    for (;;) {
        while (*p == ' ' || *p == ',' || *p == '\t' || *p == '\n') p++;
        if (!*p) break;
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < INT32_MIN || v > INT32_MAX ||
            (*end && *end != ' ' && *end != ',' && *end != '\t' && *end != '\n')) {
            free(ids);
            return 0;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            int32_t *grown = realloc(ids, cap * sizeof *ids);
            if (!grown) {
                free(ids);
                return 0;
            }
            ids = grown;
        }
        ids[n++] = (int32_t)v;
        p = end;
    }
    *out = ids;
    *count = n;
    return 1;
}

const char *cli_default_model(void) {
    const char *env = getenv("DFRT_MODEL");
    if (env && *env) return env;
    struct stat st;
    static const char *const candidates[] = {DFRT_INSTALLED_MODEL_DIR, DFRT_SOURCE_MODEL_DIR};
    for (size_t i = 0; i < 2; i++)
        if (stat(candidates[i], &st) == 0 && S_ISDIR(st.st_mode)) return candidates[i];
    return NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* Sampling options and text checks                                                         */
/* ---------------------------------------------------------------------------------------- */

static int parse_float(const char *command, const char *option, const char *v, double min, double max, int min_open,
                       const char *range, float *out) {
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (!*v || *end || errno || !isfinite(x) || x > max || (min_open ? !(x > min) : !(x >= min)))
        return cli_usage_error(command, "%s expects %s, got \"%s\"", option, range, v);
    *out = (float)x;
    return CLI_OK;
}

int cli_sampling_option(const char *command, const char *option, const char *v, dfrt_sampling *s, int *seed_given) {
    if (strcmp(option, "--top-k") == 0)
        return cli_parse_int(command, option, v, 0, 1 << 24, &s->top_k) ? CLI_OK : CLI_USAGE;
    if (strcmp(option, "--temperature") == 0)
        return parse_float(command, option, v, 0, 100, 0, "a number from 0 to 100", &s->temperature);
    if (strcmp(option, "--top-p") == 0) return parse_float(command, option, v, 0, 1, 1, "a number in (0, 1]", &s->top_p);
    if (strcmp(option, "--min-p") == 0) return parse_float(command, option, v, 0, 1, 0, "a number in [0, 1]", &s->min_p);
    if (strcmp(option, "--repeat-penalty") == 0)
        return parse_float(command, option, v, 0, 1e6, 1, "a positive number (1: off)", &s->repeat_penalty);
    if (strcmp(option, "--seed") == 0) {
        char *end;
        errno = 0;
        unsigned long long x = strtoull(v, &end, 10);
        if (!(*v >= '0' && *v <= '9') || *end || errno)
            return cli_usage_error(command, "--seed expects an integer from 0 to 18446744073709551615, got \"%s\"", v);
        s->seed = x;
        *seed_given = 1;
        return CLI_OK;
    }
    return -1;
}

uint64_t cli_random_seed(void) {
    uint64_t seed;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) == (ssize_t)sizeof seed) return seed;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t z = (uint64_t)ts.tv_sec * 1000000007ull ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull; /* splitmix64's finaliser */
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

int cli_check_text(const char *command, const char *what, const char *text) {
    if (!*text) return cli_usage_error(command, "%s is empty", what);
    size_t bad = dfrt_utf8_invalid_at(text, strlen(text));
    if (bad < strlen(text))
        return cli_usage_error(command, "%s is not UTF-8 (byte 0x%02X at offset %zu)", what, (unsigned char)text[bad],
                               bad);
    return CLI_OK;
}

size_t cli_utf8_incomplete_tail(const char *s, size_t n) {
    for (size_t k = 1; k <= 3 && k <= n; k++) {
        unsigned char c = (unsigned char)s[n - k];
        if ((c & 0xC0) == 0x80) continue; /* a continuation byte: look further back */
        size_t need = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 1;
        return need > k ? k : 0;
    }
    return 0;
}

void cli_text_append_valid(cli_text *t, const char *s, size_t n) {
    while (n) {
        size_t ok = dfrt_utf8_invalid_at(s, n);
        cli_text_append(t, s, ok);
        if (ok == n) break;
        cli_text_puts(t, "\xEF\xBF\xBD");
        s += ok + 1;
        n -= ok + 1;
    }
}

int cli_load_model(const char *command, const char *model_dir, const char *backend_name, int device, int threads,
                   const dfrt_model_options *options, dfrt_backend **out_b, dfrt_model **out_m) {
    dfrt_status s;
    int n_devices = options->n_devices;
    if (n_devices > 0 && device >= 0 && device != options->devices[0])
        return cli_usage_error(command, "--device %d and --devices %d,...: give one of them", device, options->devices[0]);
    if (n_devices > 0) device = options->devices[0];
    if (cli_check_placement(command, options) != CLI_OK) return CLI_USAGE;
    if ((s = dfrt_backend_open(backend_name, device, out_b)) != DFRT_OK) return cli_fail(command, s);
    fprintf(stderr, "backend: %s\n", dfrt_backend_selection(*out_b));
    if (threads) {
        if (strcmp(dfrt_backend_name(*out_b), "cpu") == 0) {
            if ((s = dfrt_backend_set_threads(*out_b, threads)) != DFRT_OK) return cli_fail(command, s);
        } else {
            fprintf(stderr, "dfrt %s: --threads applies to the CPU backend only; the %s backend ignores it\n", command,
                    dfrt_backend_name(*out_b));
        }
    }
    double t0 = cli_now();
    if ((s = dfrt_model_load(*out_b, model_dir, options, out_m)) != DFRT_OK) return cli_fail(command, s);
    char mem[32];
    cli_format_bytes(mem, sizeof mem, (double)dfrt_model_device_bytes(*out_m));
    fprintf(stderr, "model: %s (%s) loaded in %.2f s, %s on the device\n", model_dir,
            dfrt_model_config(*out_m)->architecture, cli_now() - t0, mem);
    dfrt_model_device parts[DFRT_MAX_DEVICES];
    int n_parts = dfrt_model_devices(*out_m, parts, DFRT_MAX_DEVICES);
    for (int i = 0; n_parts > 1 && i < n_parts; i++) {
        const dfrt_device_info *d = dfrt_backend_info(parts[i].backend);
        cli_format_bytes(mem, sizeof mem, (double)parts[i].device_bytes);
        if (options->tensor_parallel)
            fprintf(stderr, "tensor parallel: rank %d of %d", i, n_parts);
        else
            fprintf(stderr, "split: layers %u-%u%s%s", parts[i].first_layer, parts[i].first_layer + parts[i].n_layers - 1,
                    parts[i].embedding ? " and the embedding" : "", parts[i].lm_head ? " and lm_head" : "");
        fprintf(stderr, " on %s %d (%s), %s\n", d->backend, d->index, d->name, mem);
    }
    int off = dfrt_model_offloaded_layers(*out_m, NULL, NULL);
    if (off)
        fprintf(stderr, "offload: %d of %d layers in host memory, each copied to the device before it runs\n", off,
                (int)dfrt_model_config(*out_m)->n_layers);
    return CLI_OK;
}

size_t cli_stop_find(const char *text, size_t len, size_t before, const char *const *stops, int n_stops,
                     size_t longest) {
    size_t from = before > longest ? before - longest + 1 : 0, cut = SIZE_MAX;
    for (int i = 0; i < n_stops; i++) {
        const char *hit = memmem(text + from, len - from, stops[i], strlen(stops[i]));
        if (hit && (size_t)(hit - text) < cut) cut = (size_t)(hit - text);
    }
    return cut;
}

size_t cli_stop_prefix(const char *text, size_t from, size_t len, const char *const *stops, int n_stops) {
    size_t best = 0;
    for (int i = 0; i < n_stops; i++) {
        size_t sl = strlen(stops[i]);
        for (size_t k = sl - 1 < len - from ? sl - 1 : len - from; k > best; k--)
            if (memcmp(text + len - k, stops[i], k) == 0) {
                best = k;
                break;
            }
    }
    return best;
}

int cli_offload_option(const char *command, const char *option, const char *v, dfrt_model_options *o) {
    if (strcmp(option, "--offload-layers") == 0) {
        if (o->weight_budget) return cli_usage_error(command, "give --offload-layers or --gpu-memory, not both");
        if (strcmp(v, "all") == 0 || strcmp(v, "-1") == 0) {
            o->offload_layers = -1;
            return CLI_OK;
        }
        return cli_parse_int(command, option, v, 0, 1 << 20, &o->offload_layers) ? CLI_OK : CLI_USAGE;
    }
    if (strcmp(option, "--gpu-memory") == 0) {
        if (o->offload_layers) return cli_usage_error(command, "give --offload-layers or --gpu-memory, not both");
        return cli_parse_gb(command, option, v, &o->weight_budget) ? CLI_OK : CLI_USAGE;
    }
    if (strcmp(option, "--split") == 0) {
        if (strcmp(v, "layer") == 0) {
            o->tensor_parallel = 0; /* the split --devices makes */
            return CLI_OK;
        }
        if (strcmp(v, "none") == 0) {
            if (o->n_devices > 0) return cli_usage_error(command, "--split none and --devices: give --device instead");
            o->n_devices = -1; /* one device, which --devices may not then name */
            return CLI_OK;
        }
        if (strcmp(v, "tensor") == 0) {
            o->tensor_parallel = 1;
            return CLI_OK;
        }
        return cli_usage_error(command, "--split expects layer, tensor or none, got \"%s\"", v);
    }
    if (strcmp(option, "--devices") == 0 || strcmp(option, "--tensor-split") == 0) {
        bool devices = option[2] == 'd';
        int n = 0;
        const char *at = v;
        while (1) {
            char *end;
            errno = 0;
            double x = devices ? (double)strtol(at, &end, 10) : strtod(at, &end);
            if (end == at || errno || (*end && *end != ',') || (devices ? x < 0 || x > 1 << 20 : !(x > 0) || !isfinite(x)))
                return cli_usage_error(command, "%s expects a list of %s separated by commas, got \"%s\"", option,
                                       devices ? "device indices" : "positive shares", v);
            if (n == DFRT_MAX_DEVICES)
                return cli_usage_error(command, "%s: at most %d devices", option, DFRT_MAX_DEVICES);
            if (devices) o->devices[n++] = (int)x;
            else o->device_shares[n++] = x;
            if (!*end) break;
            at = end + 1;
        }
        if (devices && o->n_devices < 0)
            return cli_usage_error(command, "--split none and --devices: give --device instead");
        if (devices) o->n_devices = n;
        return CLI_OK;
    }
    return -1;
}

int cli_check_placement(const char *command, const dfrt_model_options *o) {
    int shares = 0;
    for (int i = 0; i < DFRT_MAX_DEVICES; i++) shares += o->device_shares[i] > 0;
    if (o->tensor_parallel && o->n_devices < 2)
        return cli_usage_error(command, "--split tensor needs two devices or more (--devices)");
    if (shares && o->tensor_parallel)
        return cli_usage_error(command, "--tensor-split is the layer split's; --split tensor gives each device an "
                               "equal share");
    if (shares && (o->n_devices < 2 || shares != o->n_devices))
        return cli_usage_error(command, "--tensor-split gives %d shares for %d devices (--devices)", shares,
                               o->n_devices < 2 ? 1 : o->n_devices);
    return CLI_OK;
}

void cli_placement(dfrt_model_options *dst, const dfrt_model_options *src) {
    dst->offload_layers = src->offload_layers;
    dst->weight_budget = src->weight_budget;
    dst->n_devices = src->n_devices;
    dst->tensor_parallel = src->tensor_parallel;
    memcpy(dst->devices, src->devices, sizeof dst->devices);
    memcpy(dst->device_shares, src->device_shares, sizeof dst->device_shares);
}

int cli_parse_gb(const char *command, const char *option, const char *text, uint64_t *out_bytes) {
    char *end;
    errno = 0;
    double gb = strtod(text, &end);
    if (!*text || *end || errno || !isfinite(gb) || !(gb > 0) || gb > 1e6) {
        cli_usage_error(command, "%s expects a positive number of gigabytes (1e9 bytes), got \"%s\"", option, text);
        return 0;
    }
    *out_bytes = (uint64_t)(gb * 1e9);
    return 1;
}
