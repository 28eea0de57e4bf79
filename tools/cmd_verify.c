/* dfrt verify */
#include "cli.h"

#include <string.h>

static const char help[] =
    "usage: dfrt verify DF11_DIR [BF16_DIR] [--threads N]\n"
    "\n"
    "Validates every DF11 unit of DF11_DIR and decodes it twice, with the indexed parallel\n"
    "decoder (which checks every gap and output position against the stream) and with a\n"
    "sequential decoder that ignores the index, and compares the two. With BF16_DIR, also\n"
    "compares every decoded weight and every uncompressed tensor with the BF16 original, bit\n"
    "for bit. Checks that the directory holds every weight its architecture and config.json\n"
    "require, and no weights a disagreeing config.json would leave unused (more layers than\n"
    "num_hidden_layers, q/k norms under an architecture without them, an lm_head under\n"
    "tie_word_embeddings). Prints a line per unit and a summary; exits 0 only when everything\n"
    "holds.\n"
    "\n"
    "example:\n"
    "  dfrt verify Qwen3-8B-DF11 Qwen3-8B\n";

/* Names and paths come from files: escaped before they reach the terminal. */
static const char *esc(char *buf, size_t size, const char *s) {
    dfrt_escape(buf, size, s);
    return buf;
}

static void on_unit(void *user, const dfrt_verify_unit *r) {
    (void)user;
    char n[32], size[32], name[512];
    esc(name, sizeof name, r->name);
    cli_format_count(n, sizeof n, (double)r->n);
    cli_format_bytes(size, sizeof size, (double)r->compressed_bytes);
    if (r->status == DFRT_OK) {
        printf("ok    %-28s %10s weights  %10s  %5.1f%% of BF16", name, n, size,
               100.0 * (double)r->compressed_bytes / (2.0 * (double)r->n));
        if (r->n_parts_compared) printf("  %d weight%s match", r->n_parts_compared, r->n_parts_compared == 1 ? "" : "s");
        printf("\n");
    } else {
        printf("FAIL  %-28s %s\n", name, r->message); /* library messages are escaped */
    }
    fflush(stdout);
}

static void on_tensor(void *user, const char *tensor, const char *message) {
    (void)user;
    char name[512], text[1024];
    printf("FAIL  tensor %s: %s\n", esc(name, sizeof name, tensor), esc(text, sizeof text, message));
}

int cmd_verify(int argc, char **argv) {
    cli_args a = {argc, argv, 1, "verify", NULL, help};
    const char *positional[2] = {0};
    int n_positional = 0, threads = 0, is_option;
    const char *arg, *inline_value;
    while ((arg = cli_next(&a, &is_option, &inline_value))) {
        if (!is_option) {
            if (n_positional == 2) return cli_usage_error("verify", "unexpected argument \"%s\"", arg);
            positional[n_positional++] = arg;
        } else if (strcmp(arg, "--threads") == 0) {
            const char *v = cli_value(&a, arg, inline_value);
            if (!v || !cli_parse_int("verify", arg, v, 1, 4096, &threads)) return CLI_USAGE;
        } else {
            return cli_usage_error("verify", "unknown option %s", arg);
        }
    }
    if (n_positional < 1) return cli_usage_error("verify", "expected DF11_DIR");
    dfrt_verify_options o = {.n_threads = threads, .on_unit = on_unit, .on_tensor_failure = on_tensor};
    dfrt_verify_summary sum;
    double t0 = cli_now();
    dfrt_status s = dfrt_verify_dir(positional[0], positional[1], &o, &sum);
    if (s != DFRT_OK && sum.n_units == 0) return cli_fail("verify", s);
    char n[32];
    cli_format_count(n, sizeof n, (double)sum.n_weights);
    if (s == DFRT_OK) {
        printf("verified %d units, %s weights, in %.2f s: every unit decodes identically with both decoders", sum.n_units,
               n, cli_now() - t0);
        char path[1024];
        if (positional[1])
            printf("; every weight and all %d uncompressed tensors match %s bit for bit", sum.n_tensors_compared,
                   esc(path, sizeof path, positional[1]));
        printf("\n");
        return CLI_OK;
    }
    /* units that failed, tensors that differ, weights missing or left unused: the library says which */
    printf("verification FAILED: %s\n", dfrt_last_error());
    return CLI_FAIL;
}
