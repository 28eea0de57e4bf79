/* dfrt tokenize: text to token ids and back; dfrt bench tokenizer: encoding throughput. */
#include "cli.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: dfrt tokenize (MODEL_DIR | tokenizer.json) TEXT... [--json] [--decode | --plain | --chat [--system S]]\n"
    "\n"
    "Encodes each TEXT with the model's tokenizer.json as Hugging Face tokenizers'\n"
    "encode(text, add_special_tokens=False) does (special tokens written in the text are\n"
    "recognised) and prints one line of space-separated ids per TEXT. --json prints one JSON\n"
    "array holding an array of ids per TEXT. With --decode, each TEXT is a list of ids\n"
    "(\"1,2,3\" or \"1 2 3\") and the decoded text is printed (--json: an array of strings).\n"
    "--plain recognises no special or added token in the text (\"<|im_end|>\" stays text).\n"
    "--chat prints the ids of each TEXT as a user message in the model family's chat format,\n"
    "with --system S as the system message: the prompt 'dfrt run --chat' runs.\n"
    "Use -- before a TEXT that starts with '-'.\n"
    "\n"
    "example:\n"
    "  dfrt tokenize models/kjv-qwen3-df11 'In the beginning' '<|im_start|>user'\n"
    "  dfrt tokenize models/kjv-qwen3-df11 --decode '1150,261,2087'\n";

static const char bench_help[] =
    "usage: dfrt bench tokenizer (MODEL_DIR | tokenizer.json) [--text FILE] [--min-time SECONDS]\n"
    "\n"
    "Encoding and decoding throughput on one core. The text is FILE (UTF-8), or by default about\n"
    "4 MB of English prose mixed with code, numbers, Chinese, Russian and chat markup. Each\n"
    "figure: one warm-up, then repeats for at least --min-time seconds (default 2); median, min\n"
    "and max of the repeats in MB/s of text.\n"
    "\n"
    "example:\n"
    "  dfrt bench tokenizer models/kjv-qwen3-df11 --text book.txt\n";

int cmd_tokenize(int argc, char **argv) {
    cli_args a = {argc, argv, 1, "tokenize", "--json --decode --plain --chat --system= --help -h", help};
    const char *path = NULL, *system = NULL, *arg, *inline_value;
    const char **texts = calloc((size_t)argc, sizeof *texts);
    int n_texts = 0, is_option, json = 0, decode = 0, plain = 0, chat = 0;
    if (!texts) return CLI_FAIL;
    while ((arg = cli_next(&a, &is_option, &inline_value))) {
        if (!is_option) {
            if (!path) path = arg;
            else texts[n_texts++] = arg;
        } else if (strcmp(arg, "--json") == 0) {
            json = 1;
        } else if (strcmp(arg, "--decode") == 0) {
            decode = 1;
        } else if (strcmp(arg, "--plain") == 0) {
            plain = 1;
        } else if (strcmp(arg, "--chat") == 0) {
            chat = 1;
        } else if (!(system = cli_value(&a, arg, inline_value))) { /* --system */
            free(texts);
            return CLI_USAGE;
        }
    }
    const char *problem = !path || !n_texts                   ? "expected MODEL_DIR (or tokenizer.json) and at least one TEXT"
                          : decode + plain + chat > 1         ? "give at most one of --decode, --plain and --chat"
                          : system && !chat                   ? "--system is the chat format's system message: add --chat"
                                                              : NULL;
    if (problem) {
        free(texts);
        return cli_usage_error("tokenize", "%s", problem);
    }
    /* Id lists are checked before anything is loaded. */
    int32_t **lists = calloc((size_t)n_texts, sizeof *lists);
    size_t *counts = calloc((size_t)n_texts, sizeof *counts);
    int rc = CLI_OK;
    if (!lists || !counts) rc = CLI_FAIL;
    for (int i = 0; rc == CLI_OK && decode && i < n_texts; i++)
        if (!cli_parse_ids(texts[i], &lists[i], &counts[i]))
            rc = cli_usage_error("tokenize", "--decode expects lists of ids such as \"1,2,3\", got \"%s\"", texts[i]);
    dfrt_tokenizer *t = NULL;
    dfrt_status s;
    if (rc == CLI_OK && (s = dfrt_tokenizer_load(path, &t)) != DFRT_OK) rc = cli_fail("tokenize", s);
    cJSON *out = json && rc == CLI_OK ? cJSON_CreateArray() : NULL;
    for (int i = 0; rc == CLI_OK && i < n_texts; i++) {
        if (decode) {
            char *text;
            size_t len;
            if ((s = dfrt_tokenizer_decode(t, lists[i], counts[i], &text, &len)) != DFRT_OK) {
                rc = cli_fail("tokenize", s);
                break;
            }
            if (out) cJSON_AddItemToArray(out, cJSON_CreateString(text));
            else {
                fwrite(text, 1, len, stdout);
                putchar('\n');
            }
            free(text);
            continue;
        }
        int32_t *ids;
        size_t n;
        s = chat    ? dfrt_chat_encode(t, system, texts[i], &ids, &n)
            : plain ? dfrt_tokenizer_encode_plain(t, texts[i], strlen(texts[i]), &ids, &n)
                    : dfrt_tokenizer_encode(t, texts[i], strlen(texts[i]), &ids, &n);
        if (s != DFRT_OK) {
            rc = cli_fail("tokenize", s);
            break;
        }
        if (out) {
            cJSON *list = cJSON_CreateArray();
            for (size_t k = 0; k < n; k++) cJSON_AddItemToArray(list, cJSON_CreateNumber(ids[k]));
            cJSON_AddItemToArray(out, list);
        } else {
            for (size_t k = 0; k < n; k++) printf(k ? " %d" : "%d", ids[k]);
            putchar('\n');
        }
        free(ids);
    }
    if (out && rc == CLI_OK) {
        char *printed = cJSON_PrintUnformatted(out);
        if (printed) puts(printed);
        else rc = CLI_FAIL;
        free(printed);
    }
    cJSON_Delete(out);
    dfrt_tokenizer_free(t);
    for (int i = 0; lists && i < n_texts; i++) free(lists[i]);
    free(lists);
    free(counts);
    free(texts);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* dfrt bench tokenizer                                                                      */
/* ---------------------------------------------------------------------------------------- */

static const char *const bench_snippets[] = {
    "In the beginning God created the heaven and the earth.",
    "I'm sure you're right; they'll see it's done, isn't it?",
    "Numbers: 1 12 123 1234 12345 3.14159 -42 1,000,000",
    "caf\xc3\xa9 na\xc3\xafve r\xc3\xa9sum\xc3\xa9 co\xc3\xb6perate",
    "\xe4\xb8\xad\xe6\x96\x87\xe5\x88\x86\xe8\xaf\x8d\xe6\xb5\x8b\xe8\xaf\x95"
    "\xef\xbc\x8c\xe4\xbd\xa0\xe5\xa5\xbd\xe4\xb8\x96\xe7\x95\x8c\xef\xbc\x81",
    "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82, \xd0\xbc\xd0\xb8\xd1\x80! \xd0\x9a\xd0\xb0\xd0\xba "
    "\xd0\xb4\xd0\xb5\xd0\xbb\xd0\xb0?",
    "def f(x):\n    return x**2  # square\n",
    "int main(void) { return 0; }",
    "<html><body class=\"a\">x</body></html>",
    "<|im_start|>user\nWhat is a binary tree?<|im_end|>\n<|im_start|>assistant\n",
    "snake_case camelCase PascalCase kebab-case SCREAMING_CASE",
};

static const char *const bench_words[] = {
    "the", "of", "and", "to", "in", "a", "that", "is", "was", "he", "for", "it", "with", "as", "his", "on", "be",
    "at", "by", "had", "not", "are", "but", "from", "or", "have", "an", "they", "which", "one", "you", "were",
    "her", "all", "she", "there", "would", "their", "we", "him", "been", "has", "when", "who", "will", "more",
    "no", "if", "out", "so", "said", "what", "up", "its", "about", "into", "than", "them", "can", "only", "other",
    "new", "some", "could", "time", "these", "two", "may", "then", "do", "first", "any", "my", "now", "such",
    "like", "our", "over", "man", "me", "even", "most", "made", "after", "also", "did", "many", "before", "must",
    "through", "back", "years", "where", "much", "your", "way", "well", "down", "should", "because", "each",
    "just", "those", "people", "how", "too", "little", "state", "good", "very", "make", "world", "still", "own",
    "see", "men", "work", "long", "get", "here", "between", "both", "life", "being", "under", "never", "day",
    "same", "another", "know", "while", "last", "might", "great", "old", "year", "off", "come", "since",
    "against", "go", "came", "right", "used", "take", "three", "himself", "few", "house", "use", "during",
    "without", "again", "place", "American", "around", "however", "home", "small", "found", "thought", "went",
    "say", "part", "once", "general", "high", "upon", "school", "every", "government", "tokenizer", "merges",
    "compression", "exponent", "Huffman", "weights", "inference", "throughput", "latency", "kernel", "memory",
    "understanding", "nevertheless", "extraordinary", "responsibilities", "internationalization",
};

/* About `size` bytes: sentences of common words (with capitals, commas, numbers, quotes and
 * paragraphs), a snippet of code or another script every few sentences. */
static char *default_text(size_t size, size_t *out_len) {
    char *text = malloc(size + 256);
    if (!text) return NULL;
    size_t len = 0, n_words = sizeof bench_words / sizeof bench_words[0];
    size_t n_snippets = sizeof bench_snippets / sizeof bench_snippets[0];
    uint64_t x = 0x9E3779B97F4A7C15ull;
    while (len < size) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if (x % 7 == 0) {
            const char *s = bench_snippets[(x >> 8) % n_snippets];
            len += (size_t)snprintf(text + len, 256, "%s ", s);
            continue;
        }
        int n = 6 + (int)((x >> 16) % 14);
        for (int i = 0; i < n && len < size; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            const char *w = bench_words[(x >> 11) % n_words];
            if (x % 97 == 0) len += (size_t)snprintf(text + len, 256, "%u ", (unsigned)(x >> 40) % 10000);
            if (i == 0) len += (size_t)snprintf(text + len, 256, "%c%s", w[0] >= 'a' ? w[0] - 32 : w[0], w + 1);
            else len += (size_t)snprintf(text + len, 256, " %s%s", w, x % 23 == 0 ? "," : "");
        }
        len += (size_t)snprintf(text + len, 256, "%s", x % 5 == 0 ? ".\n\n" : x % 11 == 0 ? "? " : ". ");
    }
    text[len] = '\0';
    *out_len = len;
    return text;
}

static char *read_file(const char *path, size_t *out_len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 20, len = 0;
    char *data = malloc(cap);
    while (data) {
        size_t got = fread(data + len, 1, cap - len, f);
        len += got;
        if (len < cap) break;
        char *grown = realloc(data, cap *= 2);
        if (!grown) {
            free(data);
            data = NULL;
        } else data = grown;
    }
    if (data && ferror(f)) {
        free(data);
        data = NULL;
    }
    fclose(f);
    *out_len = len;
    return data;
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Times fn: one warm-up, then at least 3 repeats and min_time seconds; prints MB/s. */
static int bench_print(const char *label, double bytes, double *times, int n) {
    qsort(times, (size_t)n, sizeof *times, compare_doubles);
    double median = n % 2 ? times[n / 2] : 0.5 * (times[n / 2 - 1] + times[n / 2]);
    printf("%-8s median %8.2f MB/s   min %8.2f   max %8.2f   (%d runs, one core)\n", label, bytes / median / 1e6,
           bytes / times[n - 1] / 1e6, bytes / times[0] / 1e6, n);
    return CLI_OK;
}

/* One encoding or decoding of the benchmark's text. */
typedef struct bench_work {
    dfrt_tokenizer *t;
    const char *text;
    size_t len;
    const int32_t *ids;
    size_t n_ids;
} bench_work;

static dfrt_status bench_encode(const bench_work *w) {
    int32_t *ids;
    size_t n;
    dfrt_status s = dfrt_tokenizer_encode(w->t, w->text, w->len, &ids, &n);
    free(ids);
    return s;
}

static dfrt_status bench_decode(const bench_work *w) {
    char *back;
    size_t back_len;
    dfrt_status s = dfrt_tokenizer_decode(w->t, w->ids, w->n_ids, &back, &back_len);
    free(back);
    return s;
}

/* Repeats op (at least 3 times, at most 1000) for min_time seconds, stopping at a failure;
 * prints the figure when every repeat succeeded. */
static dfrt_status bench_repeat(const char *label, dfrt_status (*op)(const bench_work *), const bench_work *w,
                                double min_time) {
    enum { MAX_RUNS = 1000 };
    static double times[MAX_RUNS];
    int runs = 0;
    dfrt_status s = DFRT_OK;
    double start = cli_now();
    while (s == DFRT_OK && runs < MAX_RUNS && (runs < 3 || cli_now() - start < min_time)) {
        double r0 = cli_now();
        s = op(w);
        times[runs++] = cli_now() - r0;
    }
    if (s == DFRT_OK) bench_print(label, (double)w->len, times, runs);
    return s;
}

int bench_tokenizer(int argc, char **argv) {
    cli_args a = {argc, argv, 1, "bench tokenizer", "--text= --min-time= --help -h", bench_help};
    const char *path = NULL, *text_path = NULL, *arg, *inline_value;
    double min_time = 2.0;
    int is_option;
    while ((arg = cli_next(&a, &is_option, &inline_value))) {
        if (!is_option) {
            if (path) return cli_usage_error("bench tokenizer", "unexpected argument \"%s\"", arg);
            path = arg;
        } else if (strcmp(arg, "--text") == 0) {
            if (!(text_path = cli_value(&a, arg, inline_value))) return CLI_USAGE;
        } else if (strcmp(arg, "--min-time") == 0) {
            const char *v = cli_value(&a, arg, inline_value);
            char *end;
            if (!v) return CLI_USAGE;
            min_time = strtod(v, &end);
            if (!*v || *end || !(min_time >= 0 && min_time <= 3600))
                return cli_usage_error("bench tokenizer", "--min-time expects seconds from 0 to 3600, got \"%s\"", v);
        } else {
            return cli_usage_error("bench tokenizer", "unknown option %s", arg);
        }
    }
    if (!path) return cli_usage_error("bench tokenizer", "expected MODEL_DIR or tokenizer.json");
    size_t len = 0;
    char *text = text_path ? read_file(text_path, &len) : default_text((size_t)4 << 20, &len);
    if (!text) {
        fprintf(stderr, "dfrt bench tokenizer: %s: %s\n", text_path ? text_path : "text", strerror(errno));
        return CLI_FAIL;
    }
    dfrt_tokenizer *t = NULL;
    double t0 = cli_now();
    dfrt_status s = dfrt_tokenizer_load(path, &t);
    if (s != DFRT_OK) {
        free(text);
        return cli_fail("bench tokenizer", s);
    }
    double load_s = cli_now() - t0;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    if ((s = dfrt_tokenizer_encode(t, text, len, &ids, &n_ids)) != DFRT_OK) { /* warm-up, and the ids */
        free(text);
        dfrt_tokenizer_free(t);
        return cli_fail("bench tokenizer", s);
    }
    char size[32], count[32];
    cli_format_bytes(size, sizeof size, (double)len);
    cli_format_count(count, sizeof count, (double)n_ids);
    printf("tokenizer: %s (%d ids, loaded in %.2f s)\ntext: %s, %s (%s tokens, %.2f bytes per token)\n", path,
           dfrt_tokenizer_vocab_size(t), load_s, text_path ? text_path : "built-in mix", size, count,
           n_ids ? (double)len / (double)n_ids : 0.0);
    bench_work w = {t, text, len, ids, n_ids};
    s = bench_repeat("encode", bench_encode, &w, min_time);
    if (s == DFRT_OK) s = bench_repeat("decode", bench_decode, &w, min_time);
    free(ids);
    free(text);
    dfrt_tokenizer_free(t);
    return s == DFRT_OK ? CLI_OK : cli_fail("bench tokenizer", s);
}
