/* Textual edits of a JSON object's top-level keys, so that config.json keeps its formatting
 * through compress and decompress (decompress(compress(x)) gives x back byte for byte). */
#include "base/internal.h"

#include <cjson/cJSON.h>
#include <pthread.h>

typedef struct scanner {
    const char *s;
    size_t len, pos;
} scanner;

static void skip_ws(scanner *sc) {
    while (sc->pos < sc->len && (sc->s[sc->pos] == ' ' || sc->s[sc->pos] == '\t' || sc->s[sc->pos] == '\n' ||
                                 sc->s[sc->pos] == '\r'))
        sc->pos++;
}

static bool skip_string(scanner *sc) {
    if (sc->pos >= sc->len || sc->s[sc->pos] != '"') return false;
    for (sc->pos++; sc->pos < sc->len; sc->pos++) {
        if (sc->s[sc->pos] == '\\') sc->pos++;
        else if (sc->s[sc->pos] == '"') {
            sc->pos++;
            return true;
        }
    }
    return false;
}

static bool skip_value(scanner *sc) {
    if (sc->pos >= sc->len) return false;
    char c = sc->s[sc->pos];
    if (c == '"') return skip_string(sc);
    if (c == '{' || c == '[') {
        int depth = 0;
        while (sc->pos < sc->len) {
            char d = sc->s[sc->pos];
            if (d == '"') {
                if (!skip_string(sc)) return false;
                continue;
            }
            if (d == '{' || d == '[') depth++;
            else if (d == '}' || d == ']') {
                if (--depth == 0) {
                    sc->pos++;
                    return true;
                }
            }
            sc->pos++;
        }
        return false;
    }
    size_t start = sc->pos; /* number or literal */
    while (sc->pos < sc->len && !strchr(",}] \t\r\n", sc->s[sc->pos])) sc->pos++;
    return sc->pos > start;
}

typedef struct entry_span {
    size_t key_start, value_end;
} entry_span;

/* Finds the top-level entries; returns false on malformed text. */
static bool scan_object(const char *text, size_t len, entry_span *spans, size_t max_spans, size_t *n_spans,
                        const char *key, size_t *found_index, size_t *close_pos) {
    scanner sc = {text, len, 0};
    *n_spans = 0;
    *found_index = SIZE_MAX;
    skip_ws(&sc);
    if (sc.pos >= len || text[sc.pos] != '{') return false;
    sc.pos++;
    for (;;) {
        skip_ws(&sc);
        if (sc.pos >= len) return false;
        if (text[sc.pos] == '}') {
            *close_pos = sc.pos;
            return true;
        }
        if (*n_spans == max_spans) return false;
        entry_span *e = &spans[(*n_spans)++];
        e->key_start = sc.pos;
        if (!skip_string(&sc)) return false;
        size_t key_len = sc.pos - e->key_start - 2;
        if (key && key_len == strlen(key) && memcmp(text + e->key_start + 1, key, key_len) == 0)
            *found_index = *n_spans - 1;
        skip_ws(&sc);
        if (sc.pos >= len || text[sc.pos] != ':') return false;
        sc.pos++;
        skip_ws(&sc);
        if (!skip_value(&sc)) return false;
        e->value_end = sc.pos;
        skip_ws(&sc);
        if (sc.pos < len && text[sc.pos] == ',') sc.pos++;
    }
}

#define MAX_TOP_KEYS 4096

dfrt_status dfrt_json_remove_key(const char *text, size_t len, const char *key, const char *source, char **out,
                                 size_t *out_len) {
    entry_span *spans = dfrt_calloc(MAX_TOP_KEYS, sizeof *spans, "JSON scan");
    if (!spans) return DFRT_OUT_OF_MEMORY;
    size_t n, idx, close_pos;
    if (!scan_object(text, len, spans, MAX_TOP_KEYS, &n, key, &idx, &close_pos)) {
        free(spans);
        return dfrt_fail(DFRT_FORMAT_ERROR, "%s: not a JSON object dfrt can edit", source);
    }
    size_t cut_from = 0, cut_to = 0;
    if (idx != SIZE_MAX) {
        if (idx + 1 < n) { /* the entry and the separator after it */
            cut_from = spans[idx].key_start;
            cut_to = spans[idx + 1].key_start;
        } else if (idx > 0) { /* the last entry and the separator before it */
            cut_from = spans[idx - 1].value_end;
            cut_to = spans[idx].value_end;
        } else {
            cut_from = spans[idx].key_start;
            cut_to = spans[idx].value_end;
        }
    }
    free(spans);
    char *result = dfrt_malloc(len - (cut_to - cut_from) + 1, "JSON text");
    if (!result) return DFRT_OUT_OF_MEMORY;
    memcpy(result, text, cut_from);
    memcpy(result + cut_from, text + cut_to, len - cut_to);
    *out_len = len - (cut_to - cut_from);
    result[*out_len] = '\0';
    *out = result;
    return DFRT_OK;
}

dfrt_status dfrt_json_add_key(const char *text, size_t len, const char *key, const char *value_json,
                              const char *source, char **out, size_t *out_len) {
    entry_span *spans = dfrt_calloc(MAX_TOP_KEYS, sizeof *spans, "JSON scan");
    if (!spans) return DFRT_OUT_OF_MEMORY;
    size_t n, idx, close_pos;
    bool ok = scan_object(text, len, spans, MAX_TOP_KEYS, &n, key, &idx, &close_pos);
    size_t insert_at = ok && n ? spans[n - 1].value_end : close_pos;
    free(spans);
    if (!ok) return dfrt_fail(DFRT_FORMAT_ERROR, "%s: not a JSON object dfrt can edit", source);
    if (idx != SIZE_MAX) return dfrt_fail(DFRT_FORMAT_ERROR, "%s: already has a \"%s\" entry", source, key);
    char *entry = dfrt_asprintf("%s\n  \"%s\": %s%s", n ? "," : "", key, value_json, n ? "" : "\n");
    if (!entry) return DFRT_OUT_OF_MEMORY;
    size_t elen = strlen(entry);
    char *result = dfrt_malloc(len + elen + 1, "JSON text");
    if (!result) {
        free(entry);
        return DFRT_OUT_OF_MEMORY;
    }
    memcpy(result, text, insert_at);
    memcpy(result + insert_at, entry, elen);
    memcpy(result + insert_at + elen, text + insert_at, len - insert_at);
    *out_len = len + elen;
    result[*out_len] = '\0';
    free(entry);
    *out = result;
    return DFRT_OK;
}

/* ---- parsing ---- */

/* cJSON allocates through hooks: these count failures per thread, so that a parse that failed
 * for lack of memory is not reported as bad JSON. */
static _Thread_local bool allocation_failed;

static void *counting_malloc(size_t size) {
    void *p = malloc(size);
    if (!p) allocation_failed = true;
    return p;
}

static void install_hooks(void) {
    cJSON_Hooks hooks = {counting_malloc, free};
    cJSON_InitHooks(&hooks);
}

/* The line and column (from 1) of byte offset off. */
static void line_column(const char *text, size_t off, size_t *line, size_t *column) {
    *line = 1;
    size_t start = 0;
    for (size_t i = 0; i < off; i++)
        if (text[i] == '\n') {
            (*line)++;
            start = i + 1;
        }
    *column = off - start + 1;
}

/* A path to a JSON value for messages: keys joined by '.', array indices as [i]. */
typedef struct json_path {
    const struct json_path *parent;
    const char *key; /* NULL: an array element */
    int index;
} json_path;

static void format_path(dfrt_buf *b, const json_path *p) {
    if (!p) return;
    format_path(b, p->parent);
    if (p->key) {
        if (p->parent) dfrt_buf_puts(b, ".");
        dfrt_buf_puts(b, p->key);
    } else {
        dfrt_buf_printf(b, "[%d]", p->index);
    }
}

static int compare_key_ptrs(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

typedef struct dup_scan {
    const char **keys; /* scratch for one object's keys */
    size_t cap;
    const char *source;
} dup_scan;

static dfrt_status duplicate_found(const dup_scan *ds, const json_path *path, const char *key) {
    dfrt_buf b = {0};
    format_path(&b, path);
    dfrt_status s;
    if (b.failed) s = dfrt_fail(DFRT_FORMAT_ERROR, "%s: duplicate key \"%s\"", ds->source, key);
    else if (b.len) s = dfrt_fail(DFRT_FORMAT_ERROR, "%s: duplicate key \"%s\" in %s", ds->source, key, b.p);
    else s = dfrt_fail(DFRT_FORMAT_ERROR, "%s: duplicate key \"%s\"", ds->source, key);
    free(b.p);
    return s;
}

/* Each object's keys, sorted (or pairwise when there are few): O(n log n) in all. cJSON limits
 * nesting to CJSON_NESTING_LIMIT (1000), which bounds the recursion. */
static dfrt_status check_duplicates(dup_scan *ds, const cJSON *item, const json_path *path) {
    if (cJSON_IsObject(item)) {
        size_t n = 0;
        for (const cJSON *c = item->child; c; c = c->next) n++;
        if (n > 1 && n <= 8) {
            for (const cJSON *a = item->child; a; a = a->next)
                for (const cJSON *b = a->next; b; b = b->next)
                    if (a->string && b->string && strcmp(a->string, b->string) == 0)
                        return duplicate_found(ds, path, a->string);
        } else if (n > 8) {
            if (n > ds->cap) {
                const char **grown = realloc(ds->keys, n * sizeof *grown);
                if (!grown) return dfrt_fail(DFRT_OUT_OF_MEMORY, "%s: out of memory checking JSON keys", ds->source);
                ds->keys = grown;
                ds->cap = n;
            }
            size_t k = 0;
            for (const cJSON *c = item->child; c; c = c->next) ds->keys[k++] = c->string ? c->string : "";
            qsort(ds->keys, n, sizeof *ds->keys, compare_key_ptrs);
            for (size_t i = 1; i < n; i++)
                if (strcmp(ds->keys[i - 1], ds->keys[i]) == 0) return duplicate_found(ds, path, ds->keys[i]);
        }
        for (const cJSON *c = item->child; c; c = c->next)
            if (c->child) {
                json_path sub = {path, c->string ? c->string : "", 0};
                DFRT_TRY(check_duplicates(ds, c, &sub));
            }
    } else if (cJSON_IsArray(item)) {
        int i = 0;
        for (const cJSON *c = item->child; c; c = c->next, i++)
            if (c->child) {
                json_path sub = {path, NULL, i};
                DFRT_TRY(check_duplicates(ds, c, &sub));
            }
    }
    return DFRT_OK;
}

dfrt_status dfrt_json_check_duplicates(const cJSON *root, const char *source) {
    dup_scan ds = {NULL, 0, source};
    dfrt_status s = check_duplicates(&ds, root, NULL);
    free(ds.keys);
    return s;
}

dfrt_status dfrt_json_parse_unchecked(const char *text, size_t len, const char *source, cJSON **out) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, install_hooks);
    *out = NULL;
    const char *end = NULL;
    allocation_failed = false;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, false);
    if (!root) {
        if (allocation_failed)
            return dfrt_fail(DFRT_OUT_OF_MEMORY, "%s: out of memory while parsing JSON (%.1f MB)", source,
                             (double)len / 1e6);
        const char *at = end; /* on failure: where it failed (cJSON_GetErrorPtr is not per thread) */
        size_t off = (at && at >= text && at <= text + len) ? (size_t)(at - text) : 0, line, column;
        line_column(text, off, &line, &column);
        if (len == 0) return dfrt_fail(DFRT_FORMAT_ERROR, "%s: not valid JSON (the file is empty)", source);
        return dfrt_fail(DFRT_FORMAT_ERROR, "%s: not valid JSON (near line %zu, column %zu)", source, line, column);
    }
    for (const char *p = end; p < text + len; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            size_t line, column;
            line_column(text, (size_t)(p - text), &line, &column);
            cJSON_Delete(root);
            return dfrt_fail(DFRT_FORMAT_ERROR, "%s: not valid JSON: more after the value (line %zu, column %zu)",
                             source, line, column);
        }
    *out = root;
    return DFRT_OK;
}

dfrt_status dfrt_json_parse(const char *text, size_t len, const char *source, cJSON **out) {
    DFRT_TRY(dfrt_json_parse_unchecked(text, len, source, out));
    dfrt_status s = dfrt_json_check_duplicates(*out, source);
    if (s != DFRT_OK) {
        cJSON_Delete(*out);
        *out = NULL;
    }
    return s;
}
