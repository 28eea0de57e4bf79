/* dfrt compress / dfrt decompress */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* --pattern-dict FILE: a regular file of at most 1 MiB (published dicts are a few hundred
 * bytes), checked before anything can block on it (a FIFO, a device). NULL with a message
 * printed on failure. */
static char *read_pattern_file(const char *command, const char *path) {
    char shown[1024];
    dfrt_escape(shown, sizeof shown, path);
    const char *why = NULL;
    char *data = NULL;
    struct stat st;
    int fd = -1;
    if (stat(path, &st) != 0) why = strerror(errno);
    else if (!S_ISREG(st.st_mode)) why = S_ISFIFO(st.st_mode) ? "is a FIFO, not a regular file"
                                       : S_ISDIR(st.st_mode)  ? "is a directory, not a regular file"
                                                              : "not a regular file";
    else if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)) < 0) why = strerror(errno);
    else if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) why = "not a regular file";
    else if (st.st_size > (1 << 20)) why = "too large: more than the 1 MiB a pattern_dict file may have";
    else if (!(data = malloc((size_t)st.st_size + 1))) why = "out of memory";
    else {
        size_t len = 0;
        while (len < (size_t)st.st_size) {
            ssize_t r = read(fd, data + len, (size_t)st.st_size - len);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) break;
            len += (size_t)r;
        }
        if (len != (size_t)st.st_size) why = "read failed";
        data[len] = '\0';
    }
    if (fd >= 0) close(fd);
    if (why) {
        fprintf(stderr, "dfrt %s: --pattern-dict: %s: %s\n", command, shown, why);
        free(data);
        return NULL;
    }
    return data;
}

static const char compress_help[] =
    "usage: dfrt compress BF16_DIR OUT_DIR [--pattern-dict JSON|FILE] [--threads N]\n"
    "\n"
    "Compresses a Hugging Face BF16 model directory (one or several safetensors shards,\n"
    "config.json, tokenizer files) into a DF11 directory laid out as the reference DFloat11\n"
    "compressor lays it out: <unit>.safetensors per unit, the rest in model.safetensors,\n"
    "config.json with dfloat11_config, the other files copied. The compressed tensors are\n"
    "byte-identical to the reference compressor's.\n"
    "\n"
    "OUT_DIR must not exist or be empty; it appears only when everything is written.\n"
    "\n"
    "options:\n"
    "  --pattern-dict JSON  which modules to compress, as a JSON object {regex: [attr, ...]}\n"
    "                       (Python re.fullmatch semantics), or a file holding one. Default:\n"
    "                       the dict the published DF11 releases use for Llama, Mistral,\n"
    "                       Qwen2 and Qwen3.\n"
    "  --threads N          worker threads (default: one per core)\n"
    "\n"
    "example:\n"
    "  dfrt compress Qwen3-8B Qwen3-8B-DF11\n";

static const char decompress_help[] =
    "usage: dfrt decompress DF11_DIR OUT_DIR [--threads N]\n"
    "\n"
    "Decompresses a DF11 model directory into a BF16 directory that transformers loads: one\n"
    "safetensors shard per DF11 file (with model.safetensors.index.json when there are\n"
    "several), weights shaped from the architecture in config.json (1-D when unknown), and\n"
    "config.json without dfloat11_config. OUT_DIR must not exist or be empty.\n"
    "\n"
    "example:\n"
    "  dfrt decompress Qwen3-8B-DF11 Qwen3-8B-BF16\n";

static int convert(int argc, char **argv, int compressing) {
    const char *command = compressing ? "compress" : "decompress";
    cli_args a = {argc, argv, 1, command, NULL, compressing ? compress_help : decompress_help};
    const char *positional[2] = {0}, *pattern_dict = NULL;
    int n_positional = 0, threads = 0, is_option;
    const char *arg, *inline_value;
    while ((arg = cli_next(&a, &is_option, &inline_value))) {
        if (!is_option) {
            if (n_positional == 2) return cli_usage_error(command, "unexpected argument \"%s\"", arg);
            positional[n_positional++] = arg;
        } else if (compressing && strcmp(arg, "--pattern-dict") == 0) {
            if (!(pattern_dict = cli_value(&a, arg, inline_value))) return CLI_USAGE;
        } else if (strcmp(arg, "--threads") == 0) {
            const char *v = cli_value(&a, arg, inline_value);
            if (!v || !cli_parse_int(command, arg, v, 1, 4096, &threads)) return CLI_USAGE;
        } else {
            return cli_usage_error(command, "unknown option %s", arg);
        }
    }
    if (n_positional != 2)
        return cli_usage_error(command, compressing ? "expected BF16_DIR and OUT_DIR" : "expected DF11_DIR and OUT_DIR");
    if (!*positional[0]) return cli_usage_error(command, "%s is an empty string", compressing ? "BF16_DIR" : "DF11_DIR");
    if (!*positional[1]) return cli_usage_error(command, "OUT_DIR is an empty string");
    char *pattern_text = NULL; /* read from a file */
    if (pattern_dict) {
        const char *p = pattern_dict;
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
        if (*p != '{') {
            if (!(pattern_text = read_pattern_file(command, pattern_dict))) return CLI_FAIL;
            pattern_dict = pattern_text;
        }
    }
    cli_install_interrupt_handler();
    cli_progress progress;
    cli_progress_init(&progress, command);
    double t0 = cli_now();
    dfrt_status s;
    if (compressing) {
        dfrt_compress_options o = {.pattern_dict_json = pattern_dict, .n_threads = threads,
                                   .progress = cli_progress_cb, .progress_user = &progress,
                                   .cancel = &cli_cancel_flag};
        s = dfrt_compress_dir(positional[0], positional[1], &o);
        free(pattern_text);
    } else {
        dfrt_decompress_options o = {.n_threads = threads, .progress = cli_progress_cb, .progress_user = &progress,
                                     .cancel = &cli_cancel_flag};
        s = dfrt_decompress_dir(positional[0], positional[1], &o);
    }
    cli_progress_finish(&progress);
    if (s != DFRT_OK) return cli_fail(command, s);
    fprintf(stderr, "dfrt %s: wrote %s in %.2f s\n", command, positional[1], cli_now() - t0);
    return CLI_OK;
}

int cmd_compress(int argc, char **argv) { return convert(argc, argv, 1); }
int cmd_decompress(int argc, char **argv) { return convert(argc, argv, 0); }
