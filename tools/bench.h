/* Shared pieces of `dfrt bench`: statistics, device-timed loops, synthetic weights, backend
 * lists, and the report (terminal table, JSON, CSV, SVG). */
#ifndef DFRT_BENCH_H
#define DFRT_BENCH_H

#include "cli.h"

#include <cjson/cJSON.h>

#define BENCH_MAX_BACKENDS 8

typedef struct bench_stats {
    double median, min, max;
    int runs;
} bench_stats;

/* Sorts t and summarises it (n >= 1). */
bench_stats bench_summarize(double *t, int n);

/* n normal weights with standard deviation std, rounded to BF16 (nearest even); NULL when out
 * of memory. Deterministic. */
uint16_t *bench_normal_bf16(uint64_t n, double std);

/* An encoder's output held in memory as the six tensors of a DF11 unit, validated. The unit
 * points into the encoder's output and into t: both must outlive it. */
typedef struct bench_unit {
    char names[6][64];
    dfrt_tensor t[6];
    dfrt_df11_unit unit;
    int ready;
} bench_unit;
/* n_parts: how many arrays the encoder was given. The library's status on failure. */
dfrt_status bench_unit_init(bench_unit *u, const char *name, const dfrt_df11_encoded *e, int n_parts);
void bench_unit_release(bench_unit *u);
/* Bytes of the unit's six tensors. */
uint64_t bench_unit_bytes(const dfrt_df11_encoded *e, int n_parts);

/* Times op with device timestamps: a warm-up call, then samples of several calls each (about
 * 20 ms per sample) until min_time seconds have passed and at least 5 samples exist. The
 * figures are milliseconds per call. Returns 0 after an op or timer failure (the library's
 * message is in dfrt_last_error()). */
typedef dfrt_status (*bench_op_fn)(void *ctx);
int bench_time_op(dfrt_backend *b, bench_op_fn op, void *ctx, double min_time, bench_stats *out);

/* Parses "cuda,vulkan" into names (at most BENCH_MAX_BACKENDS); without a list, every
 * available GPU backend, else the CPU. Returns the count, or -1 after printing an error. */
int bench_backend_list(const char *command, const char *list, char names[][16]);

/* Parses "1,8,64" (each in [min, max]); returns the count or -1 after a usage error. */
int bench_int_list(const char *command, const char *option, const char *text, int min, int max, int *out, int cap);

/* Parses a --min-time value; 0 after a usage error. */
int bench_parse_seconds(const char *command, const char *option, const char *text, double *out);

/* The report: one JSON document.
 *   {"benchmark": "ops" | "model", "command": [...], "dfrt": {version, commit, build},
 *    "host": {...}, "backends": [...], "figures": [...], ...}
 * Each figure is an object of identifying fields (backend, figure, shape, format, m, batch...)
 * and metrics, each metric an object {"median", "min", "max", "unit"}. */
typedef struct bench_report {
    cJSON *root, *backends, *figures;
} bench_report;

int bench_report_init(bench_report *r, const char *benchmark, int argc, char **argv);
void bench_report_free(bench_report *r);
/* Records a backend: its device, API and driver versions, memory. Returns the JSON object
 * (to add fields to), NULL when out of memory. */
cJSON *bench_report_backend(bench_report *r, dfrt_backend *b);
/* "name: device" of the i-th backend of the report, for table headers. */
void bench_backend_label(const bench_report *r, int i, const char *name, char *out, size_t size);
/* A new figure object appended to "figures" with its backend and kind. */
cJSON *bench_figure(bench_report *r, const char *backend, const char *figure);
/* Adds a metric {"median", "min", "max", "unit", "runs"}. */
void bench_metric(cJSON *fig, const char *name, double median, double min, double max, const char *unit, int runs);
/* A metric given as a rate: amount per time, from time statistics (min rate from max time). */
void bench_rate(cJSON *fig, const char *name, double amount, const bench_stats *time, const char *unit);
/* The name of a layout of DF11 units in device memory (dfrt_backend_df11_layout) in reports:
 * "file", "segments", or "other". */
const char *bench_layout_name(int layout);
/* The median of a metric of a figure (NAN when absent). */
double bench_median(const cJSON *fig, const char *metric);
/* The figure of `backend` whose fields match: pairs of (key, string value or NULL for
 * numbers) — see bench_find in bench_common.c. */
const cJSON *bench_find(const bench_report *r, const char *backend, const char *figure, const char *shape,
                        const char *format, double m, double batch);

/* Writes the JSON document / every metric as CSV rows / returns 0 after printing why not.
 * Files are written atomically (a temporary beside, renamed into place). */
int bench_write_json(const bench_report *r, const char *path);
int bench_write_csv(const bench_report *r, const char *path);
/* The batch-size sweep of a model report: `metric` (e.g. "decode_tokens_per_s") against
 * batch, one line per backend and format. */
int bench_write_svg(const bench_report *r, const char *path);

/* Writes text to path through a temporary file; 0 after printing why not. */
int bench_write_file(const char *path, const char *text, size_t len);

int bench_ops(int argc, char **argv);
int bench_model(int argc, char **argv);

#endif
