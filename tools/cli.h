/* Shared pieces of the dfrt command: argument parsing, progress, interruption. */
#ifndef DFRT_CLI_H
#define DFRT_CLI_H

#include "dfrt.h"

#include <stdio.h>

/* Exit codes: 0 success, 1 failure, 2 usage error, 130 interrupted. */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2, CLI_INTERRUPTED = 130 };

/* Walks argv: options ("--name value", "--name=value", flags) and positionals; "--" ends the
 * options (what follows is positional even when it starts with '-').
 *
 * With `options` set (the command's options, space-separated, each value-taking one followed
 * by '=': "--prompt= --chat -n= --help -h"), cli_next checks each option before anything
 * else is read: an unknown one is "unknown option --chta", a flag given "=value" is "--chat
 * takes no value" and a value-taking option at the end is "option --prompt needs a value".
 * Without it, a flag given "=value" (one whose inline value cli_value never took) is still an
 * error. Like git's parse-options, these usage errors end the process with status 2.
 *
 * With `help` set, cli_next answers --help and -h itself: it prints help on stdout and ends
 * the process with status 0. */
typedef struct cli_args {
    int argc;
    char **argv;
    int index;
    const char *command; /* for messages */
    const char *options; /* the known options, or NULL */
    const char *help;    /* the command's --help text, or NULL */
    /* private */
    int positional_only;
    const char *unread_value_of; /* an option whose inline value cli_value has not taken */
} cli_args;

/* The next argument; sets *is_option, and for "--name=value" splits off *inline_value. */
const char *cli_next(cli_args *a, int *is_option, const char **inline_value);
/* The value of the option just read (inline or the following argument); NULL after
 * printing a usage error. */
const char *cli_value(cli_args *a, const char *option, const char *inline_value);
/* Parses a positive integer option value; false after printing a usage error. */
int cli_parse_int(const char *command, const char *option, const char *text, int min, int max, int *out);
/* Parses --kv-cache's value, bf16 or f32, into dfrt_model_options.kv_f32; false after printing
 * a usage error. */
/* A positive number of gigabytes (1e9 bytes) into bytes; 0 after a usage error. */
int cli_parse_gb(const char *command, const char *option, const char *text, uint64_t *out_bytes);
int cli_parse_kv_cache(const char *command, const char *option, const char *text, int *out_kv_f32);

/* Sampling options shared by run, chat and bench: their cli_args names, their --help lines,
 * and their parser. cli_sampling_option returns -1 when `option` is not one of them, else
 * CLI_OK or CLI_USAGE (after printing the usage error); --seed sets *seed_given. */
#define CLI_SAMPLING_OPTIONS "--temperature= --top-k= --top-p= --min-p= --repeat-penalty= --seed= "
#define CLI_SAMPLING_HELP                                                                                   \
    "  --temperature T      0 (default) is greedy\n"                                                        \
    "  --top-k K            sample among the K most likely tokens (default: off)\n"                         \
    "  --top-p P            ... among the fewest whose probability reaches P (default: off)\n"              \
    "  --min-p P            ... among those at least P times as likely as the first (default: off)\n"       \
    "  --repeat-penalty R   divide the logits of tokens already in the sequence (prompt and\n"              \
    "                       generated; multiply negative ones) by R, greedy too (default 1: off)\n"         \
    "  --seed S             the sampling seed, 0 to 2^64-1 (default: random, printed on stderr\n"           \
    "                       as \"seed: S\" so that --seed S replays the run)\n"
#define CLI_SAMPLING_DEFAULT {.temperature = 0, .top_k = 0, .top_p = 1, .min_p = 0, .repeat_penalty = 1}
int cli_sampling_option(const char *command, const char *option, const char *value, dfrt_sampling *s,
                        int *seed_given);
/* Offloading options shared by run, chat, serve and bench model, into dfrt_model_options:
 * --offload-layers N (-1 or "all": every layer) and --gpu-memory GB (a budget for the
 * weights). cli_offload_option returns -1 when `option` is not one of them, else CLI_OK or
 * CLI_USAGE (after printing the usage error). */
#define CLI_OFFLOAD_OPTIONS "--offload-layers= --gpu-memory= --split= --devices= --tensor-split= "
#define CLI_OFFLOAD_HELP                                                                                    \
    "  --offload-layers N   keep the last N DF11 layers (all: every one) in host memory, each\n"            \
    "                       copied to the device right before it runs\n"                                   \
    "  --gpu-memory GB      device memory the weights may take: the last layers are offloaded\n"           \
    "                       until the rest fits\n"                                                         \
    "  --devices I,J,...    run on several devices of the backend, each a contiguous range of\n"           \
    "                       layers (layer split); an index may repeat (two logical devices)\n"            \
    "  --split MODE         layer: the layer split (the default with --devices); tensor: each\n"          \
    "                       device runs every layer over its share of the heads and MLP columns,\n"      \
    "                       summed over NCCL (CUDA) or host memory; none: one device\n"                  \
    "  --tensor-split A,B   each device's share of the weights and KV cache (default: by memory)\n"
int cli_offload_option(const char *command, const char *option, const char *value, dfrt_model_options *o);
/* The checks on the split options that need them all (shares for every device, tensor
 * parallelism over two or more): CLI_OK, or CLI_USAGE after the usage error. */
int cli_check_placement(const char *command, const dfrt_model_options *o);
/* Copies the offload and split options of src (cli_offload_option's) into dst. */
void cli_placement(dfrt_model_options *dst, const dfrt_model_options *src);
/* A seed from the system's randomness (the clock's where that fails). */
uint64_t cli_random_seed(void);
/* A usage error unless `text` (`what`, for the message) is non-empty UTF-8. */
int cli_check_text(const char *command, const char *what, const char *text);

/* Stop strings over generated text. cli_stop_find: where the earliest match starts among those
 * that end past `before` (text[0..before) was searched already; `longest` is the longest stop
 * string's length), SIZE_MAX when none. cli_stop_prefix: the length of the longest suffix of
 * text[from..len) that a stop string begins with, bytes not to print yet. */
size_t cli_stop_find(const char *text, size_t len, size_t before, const char *const *stops, int n_stops,
                     size_t longest);
size_t cli_stop_prefix(const char *text, size_t from, size_t len, const char *const *stops, int n_stops);

/* Parses token ids: "1,2,3", "1 2 3" or a mix. Sets *out (malloc'd, free it; may be NULL
 * when there are none) and *count; false when the text is not such a list. */
int cli_parse_ids(const char *text, int32_t **out, size_t *count);

int cli_usage_error(const char *command, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "dfrt COMMAND: <message>" for a failed library call and returns the exit code. */
int cli_fail(const char *command, dfrt_status status);

/* Ctrl-C: the first one raises cli_cancel_flag (the library polls it); a second one ends the
 * process at once. */
extern volatile int cli_cancel_flag;
void cli_install_interrupt_handler(void);

/* A progress bar on stderr when stderr is a terminal; otherwise, with log_lines set, a line
 * every 10 seconds. */
typedef struct cli_progress {
    const char *label;
    double start, last_draw;
    int drawn, log_lines, logged_end;
} cli_progress;
void cli_progress_init(cli_progress *p, const char *label);
void cli_progress_cb(void *user, uint64_t done, uint64_t total);
void cli_progress_finish(cli_progress *p);

/* A growable string; `failed` records an allocation failure (later appends do nothing). */
typedef struct cli_text {
    char *p;
    size_t len, cap;
    int failed;
} cli_text;
void cli_text_puts(cli_text *t, const char *s);
void cli_text_append(cli_text *t, const char *s, size_t n);
void cli_text_printf(cli_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s[0..n) as valid UTF-8: each invalid byte becomes U+FFFD. */
void cli_text_append_valid(cli_text *t, const char *s, size_t n);
/* The number of bytes at the end of s[0..n) that start a UTF-8 sequence not yet complete
 * (generated text is printed up to them). */
size_t cli_utf8_incomplete_tail(const char *s, size_t n);
/* Appends s with XML's special characters escaped. */
void cli_text_xml(cli_text *t, const char *s);

double cli_now(void);
/* The model dfrt run and serve take without MODEL_DIR: $DFRT_MODEL, else the shipped model
 * where it is installed or in the source tree; NULL when none is there. */
const char *cli_default_model(void);
/* Opens the backend (its selection on stderr), applies --threads (CPU only; a note
 * otherwise) and loads the model (what, how long, how much device memory, on stderr): CLI_OK,
 * or the exit code after printing why. The caller frees *out_b and *out_m either way. */
int cli_load_model(const char *command, const char *model_dir, const char *backend_name, int device, int threads,
                   const dfrt_model_options *options, dfrt_backend **out_b, dfrt_model **out_m);
/* "1.23 G", "456 M", "12.3 k" */
void cli_format_count(char *buf, size_t size, double value);
void cli_format_bytes(char *buf, size_t size, double bytes);

int cmd_run(int argc, char **argv);
int cmd_compress(int argc, char **argv);
int cmd_decompress(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_devices(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_chat(int argc, char **argv);
/* dfrt bench tokenizer: encoding throughput (in cmd_tokenize.c). */
int bench_tokenizer(int argc, char **argv);

#endif
