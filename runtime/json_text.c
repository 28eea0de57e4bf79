/* Textual edits of a JSON object's top-level keys, so that config.json keeps its formatting
 * through compress and decompress (decompress(compress(x)) gives x back byte for byte). */
#include "internal.h"

#include <cjson/cJSON.h>

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


cJSON *dfrt_json_parse(const char *text, size_t len) {
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, false);
    if (!root) return NULL;
    for (const char *p = end; p < text + len; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            cJSON_Delete(root);
            return NULL;
        }
    return root;
}
