/* Hugging Face tokenizer.json, byte-level BPE: loading, added tokens, normalization,
 * pre-tokenization, decoding. Encoding follows tokenizers 0.23 step by step:
 *
 *   text -> split out added tokens whose normalized = false (leftmost-longest, with lstrip,
 *   rstrip and single_word) -> each piece between them: normalizer (NFC) -> split out the
 *   normalized = true added tokens -> each piece: Split regexes (Isolated), ByteLevel (prefix
 *   space, GPT-2 regex when use_regex) -> BPE of each pre-token (tokenizer_bpe.c).
 *
 * Regexes are written for Oniguruma; PCRE2 with UCP agrees with it once \s is spelled out as
 * Unicode's White_Space (PCRE2's \s also takes U+180E), which tok_regex_compile does. Empty
 * matches are stepped over as the onig crate's find_iter does.
 *
 * Encoding keeps no state in the tokenizer: concurrent calls on one tokenizer are safe. */
#include "text/tokenizer_internal.h"

#include <cjson/cJSON.h>
#include <sys/stat.h>
#include <time.h>
#include <utf8proc.h>

/* PCRE2's limits, which it applies at each start position: enough for any text with the
 * published patterns (whose cost is linear in the subject), small enough that an exponential
 * pattern fails at once. */
#define MATCH_LIMIT_BASE 10000000u
#define DEPTH_LIMIT 1000000u
#define HEAP_LIMIT_KIB (256u * 1024u)
/* Time the regexes may take on one text: far beyond what the published patterns need (they run
 * at about 100 MB/s), short enough that a hostile one does not hang the caller. */
#define REGEX_SECONDS_BASE 1.0
#define REGEX_SECONDS_PER_MB 1.0

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---------------------------------------------------------------------------------------- */
/* Encoding                                                                                  */
/* ---------------------------------------------------------------------------------------- */

typedef struct enc {
    const dfrt_tokenizer *t;
    tok_ids ids;
    tok_work *work;
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    dfrt_buf prefixed;   /* a piece with ByteLevel's prefix space */
    dfrt_buf normalized; /* a piece between added tokens, normalized */
    pcre2_jit_stack *jit_stack; /* made when the default 32 KiB runs out */
    uint64_t regex_calls;
    double budget, deadline; /* seconds for the regexes, and when they run out */
    bool plain; /* no added tokens: every byte of the text is text */
} enc;

typedef dfrt_status (*piece_fn)(enc *e, const char *s, size_t n);

static dfrt_status oom_encoding(void) { return dfrt_fail(DFRT_OUT_OF_MEMORY, "out of memory encoding text"); }

/* AddedVocabulary::find_matches + split_with_indices: added tokens become ids, the text
 * between them goes to next. */
static dfrt_status split_added(enc *e, const tok_trie *tr, const char *s, size_t n, piece_fn next) {
    if (n == 0) return DFRT_OK;
    if (!tr->n_tokens || e->plain) return next(e, s, n);
    size_t search = 0, start_offset = 0, ms, me;
    int32_t k;
    while (tok_trie_find(tr, s, n, search, &ms, &me, &k)) {
        search = me; /* matches do not overlap, whether kept or not */
        const tok_added *a = &e->t->added[k];
        size_t start = ms, stop = me;
        if (a->single_word) {
            size_t at, len;
            bool word_before = start > 0 && tok_is_word_char(tok_utf8_last(s, start, &at));
            bool word_after = stop < n && tok_is_word_char(tok_utf8_decode(s + stop, n - stop, &len));
            if (word_before || word_after) continue;
        }
        if (a->lstrip) {
            size_t ns = start, at;
            while (ns > 0) {
                uint32_t c = tok_utf8_last(s, ns, &at);
                if (!tok_is_white_space(c)) break;
                ns = at;
            }
            start = DFRT_MAX(ns, start_offset);
        }
        if (a->rstrip) {
            size_t len;
            while (stop < n && tok_is_white_space(tok_utf8_decode(s + stop, n - stop, &len))) stop += len;
        }
        if (start_offset < start) DFRT_TRY(next(e, s + start_offset, start - start_offset));
        tok_ids_push(&e->ids, a->id);
        if (e->ids.failed) return oom_encoding();
        start_offset = stop;
    }
    if (start_offset < n) DFRT_TRY(next(e, s + start_offset, n - start_offset));
    return DFRT_OK;
}

static dfrt_status run_stage(enc *e, int stage, const char *s, size_t n);

/* A regex that backtracks without bound (quadratic ones such as "(?:x|y)*z" escape PCRE2's
 * match limit, which counts per start position) is stopped by a time budget: searches cover
 * at most REGEX_WINDOW start positions per call, and the clock is read between calls. */
#define REGEX_WINDOW 32
#define REGEX_ERROR_TOO_SLOW (-100000)

static int regex_match(enc *e, const tok_regex *re, const char *s, size_t n, size_t start) {
    for (;;) {
        bool windowed = n - start > REGEX_WINDOW;
        pcre2_set_offset_limit(e->mctx, windowed ? start + REGEX_WINDOW : PCRE2_UNSET);
        int rc = re->jit ? pcre2_jit_match(re->code, (PCRE2_SPTR)s, n, start, 0, e->md, e->mctx)
                         : pcre2_match(re->code, (PCRE2_SPTR)s, n, start, PCRE2_NO_UTF_CHECK, e->md, e->mctx);
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT && !e->jit_stack &&
            (e->jit_stack = pcre2_jit_stack_create(32 * 1024, 64 * 1024 * 1024, NULL))) {
            pcre2_jit_stack_assign(e->mctx, NULL, e->jit_stack);
            continue;
        }
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT) /* the interpreter keeps its frames on the heap */
            rc = pcre2_match(re->code, (PCRE2_SPTR)s, n, start, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, e->md, e->mctx);
        bool missed = rc == PCRE2_ERROR_NOMATCH && windowed;
        if ((missed || ++e->regex_calls % 64 == 0) && now_seconds() > e->deadline) return REGEX_ERROR_TOO_SLOW;
        if (!missed) return rc;
        start += REGEX_WINDOW + 1;
        while (start < n && ((uint8_t)s[start] & 0xC0) == 0x80) start++;
    }
}

/* Split(pattern, Isolated): every match and every gap between matches is a piece. */
static dfrt_status regex_split(enc *e, const tok_regex *re, const char *s, size_t n, int next_stage) {
    size_t last_end = 0, prev = 0, last_match_end = 0;
    bool matched = false;
    while (last_end <= n) {
        int rc = regex_match(e, re, s, n, last_end);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc == REGEX_ERROR_TOO_SLOW)
            return dfrt_fail(DFRT_FORMAT_ERROR,
                             "%s: pre-tokenizer regex \"%.200s\" takes too long on this text (over %.1f s; "
                             "catastrophic backtracking?)",
                             e->t->source, re->source, e->budget);
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return dfrt_fail(DFRT_FORMAT_ERROR, "%s: pre-tokenizer regex \"%.200s\" failed on a %zu-byte piece: %s",
                             e->t->source, re->source, n, (const char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(e->md);
        size_t ms = ov[0], me = ov[1];
        if (ms > me || me > n) /* \K in a lookaround can do this */
            return dfrt_fail(DFRT_FORMAT_ERROR, "%s: pre-tokenizer regex \"%.200s\" gave a match ending before its start",
                             e->t->source, re->source);
        if (ms == me && matched && last_match_end == me) {
            /* No empty match right after the previous match: step one character. */
            if (last_end >= n) break;
            size_t len;
            tok_utf8_decode(s + last_end, n - last_end, &len);
            last_end += len;
            continue;
        }
        last_end = me;
        last_match_end = me;
        matched = true;
        if (prev < ms) DFRT_TRY(run_stage(e, next_stage, s + prev, ms - prev));
        DFRT_TRY(run_stage(e, next_stage, s + ms, me - ms));
        prev = me;
    }
    if (prev < n) DFRT_TRY(run_stage(e, next_stage, s + prev, n - prev));
    return DFRT_OK;
}

/* Stages 0 .. n_splits-1: the Split regexes; n_splits: ByteLevel; n_splits + 1: BPE. */
static dfrt_status run_stage(enc *e, int stage, const char *s, size_t n) {
    const dfrt_tokenizer *t = e->t;
    if (n == 0) return DFRT_OK;
    if (stage < t->n_splits) return regex_split(e, &t->splits[stage], s, n, stage + 1);
    if (stage > t->n_splits) return tok_bpe_piece(t, e->work, (const uint8_t *)s, n, &e->ids);
    if (t->add_prefix_space && s[0] != ' ') {
        e->prefixed.len = 0;
        dfrt_buf_append(&e->prefixed, " ", 1);
        dfrt_buf_append(&e->prefixed, s, n);
        if (e->prefixed.failed) return oom_encoding();
        s = e->prefixed.p;
        n = e->prefixed.len;
    }
    if (t->use_regex) return regex_split(e, &t->byte_level_regex, s, n, stage + 1);
    return run_stage(e, stage + 1, s, n);
}

static dfrt_status stage_pretokenize(enc *e, const char *s, size_t n) { return run_stage(e, 0, s, n); }

/* NFC leaves text without code points >= U+0300 as it is (lead bytes >= 0xCC). */
static bool may_change_under_nfc(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if ((uint8_t)s[i] >= 0xCC) return true;
    return false;
}

/* Appends NFC(s). NFC(a + b) = NFC(a) + NFC(b) when b starts with an ASCII character (a
 * starter that composes with nothing before it), and text below U+0300 is already NFC, so only
 * the stretches between ASCII characters that hold code points >= U+0300 go to utf8proc. */
static dfrt_status nfc_append(dfrt_buf *out, const char *s, size_t n) {
    const uint8_t *p = (const uint8_t *)s;
    size_t pos = 0;
    while (pos < n) {
        size_t j = pos;
        while (j < n && p[j] < 0xCC) j++;
        if (j == n) break;
        size_t start = j, end = j;
        while (start > pos && p[start - 1] >= 0x80) start--;
        if (start > pos) start--; /* the ASCII character the marks may combine with */
        while (end < n && p[end] >= 0x80) end++;
        dfrt_buf_append(out, s + pos, start - pos);
        utf8proc_uint8_t *d = NULL;
        utf8proc_ssize_t r = utf8proc_map(p + start, (utf8proc_ssize_t)(end - start), &d,
                                          UTF8PROC_STABLE | UTF8PROC_COMPOSE);
        if (r < 0) {
            free(d);
            if (r == UTF8PROC_ERROR_NOMEM) return oom_encoding();
            return dfrt_fail(DFRT_INVALID_ARGUMENT, "text: NFC normalization failed: %s", utf8proc_errmsg(r));
        }
        dfrt_buf_append(out, (const char *)d, (size_t)r);
        free(d);
        pos = end;
    }
    dfrt_buf_append(out, s + pos, n - pos);
    return out->failed ? oom_encoding() : DFRT_OK;
}

static dfrt_status stage_normalize(enc *e, const char *s, size_t n) {
    const dfrt_tokenizer *t = e->t;
    if (!t->nfc || !may_change_under_nfc(s, n)) return split_added(e, &t->norm_trie, s, n, stage_pretokenize);
    e->normalized.len = 0;
    DFRT_TRY(nfc_append(&e->normalized, s, n));
    return split_added(e, &t->norm_trie, e->normalized.p, e->normalized.len, stage_pretokenize);
}

static dfrt_status encode(const dfrt_tokenizer *t, const char *text, size_t len, bool plain, int32_t **out_ids,
                          size_t *out_count) {
    if (out_ids) *out_ids = NULL;
    if (out_count) *out_count = 0;
    if (!t || !out_ids || !out_count)
        return dfrt_fail(DFRT_INVALID_ARGUMENT,
                         "dfrt_tokenizer_encode: tokenizer, out_ids and out_count must not be NULL");
    if (!text && len) return dfrt_fail(DFRT_INVALID_ARGUMENT, "dfrt_tokenizer_encode: text is NULL");
    if (len > (size_t)INT32_MAX)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "text: %zu bytes; dfrt encodes at most 2 GiB at once", len);
    size_t bad = tok_utf8_invalid_at(text, len);
    if (bad < len)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "text: invalid UTF-8 at byte %zu (0x%02X)", bad, (uint8_t)text[bad]);
    enc e = {.t = t, .plain = plain};
    dfrt_status s = DFRT_OK;
    e.work = tok_work_create();
    e.md = pcre2_match_data_create(1, NULL);
    e.mctx = pcre2_match_context_create(NULL);
    if (!e.work || !e.md || !e.mctx || !tok_ids_reserve(&e.ids, len / 4 + 16)) {
        s = oom_encoding();
        goto done;
    }
    uint64_t limit = MATCH_LIMIT_BASE + 16 * (uint64_t)len;
    pcre2_set_match_limit(e.mctx, (uint32_t)DFRT_MIN(limit, (uint64_t)UINT32_MAX));
    pcre2_set_depth_limit(e.mctx, DEPTH_LIMIT);
    pcre2_set_heap_limit(e.mctx, HEAP_LIMIT_KIB);
    e.budget = REGEX_SECONDS_BASE + REGEX_SECONDS_PER_MB * (double)len / 1e6;
    e.deadline = now_seconds() + e.budget;
    s = split_added(&e, &t->raw_trie, text ? text : "", len, stage_normalize);
    if (s == DFRT_OK && e.ids.failed) s = oom_encoding();
done:
    tok_work_free(e.work);
    pcre2_match_data_free(e.md);
    pcre2_match_context_free(e.mctx);
    pcre2_jit_stack_free(e.jit_stack);
    free(e.prefixed.p);
    free(e.normalized.p);
    if (s != DFRT_OK) {
        free(e.ids.v);
        return s;
    }
    *out_ids = e.ids.v;
    *out_count = e.ids.n;
    return DFRT_OK;
}

dfrt_status dfrt_tokenizer_encode(const dfrt_tokenizer *t, const char *text, size_t len, int32_t **out_ids,
                                  size_t *out_count) {
    return encode(t, text, len, false, out_ids, out_count);
}

dfrt_status dfrt_tokenizer_encode_plain(const dfrt_tokenizer *t, const char *text, size_t len, int32_t **out_ids,
                                        size_t *out_count) {
    return encode(t, text, len, true, out_ids, out_count);
}

/* ---------------------------------------------------------------------------------------- */
/* Decoding and lookups                                                                      */
/* ---------------------------------------------------------------------------------------- */

static dfrt_status check_id(const dfrt_tokenizer *t, int32_t id, const char *what) {
    if (id < 0 || id >= t->n_ids)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: id %d is out of range (the tokenizer has ids 0 to %d)", what, id,
                         t->n_ids - 1);
    if (!t->flags[id]) return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: id %d has no token in %s", what, id, t->source);
    return DFRT_OK;
}

dfrt_status dfrt_tokenizer_decode(const dfrt_tokenizer *t, const int32_t *ids, size_t n, char **out_text,
                                  size_t *out_len) {
    if (out_text) *out_text = NULL;
    if (out_len) *out_len = 0;
    if (!t || !out_text || (!ids && n))
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "dfrt_tokenizer_decode: tokenizer, ids and out_text must not be NULL");
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->n_ids || !t->flags[ids[i]]) {
            char what[48];
            snprintf(what, sizeof what, "ids[%zu]", i);
            return check_id(t, ids[i], what);
        }
        total += t->bytes_len[ids[i]];
    }
    char *raw = dfrt_malloc(total + 1, "decoded text");
    if (!raw) return DFRT_OUT_OF_MEMORY;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(raw + at, t->bytes.p + t->bytes_off[ids[i]], t->bytes_len[ids[i]]);
        at += t->bytes_len[ids[i]];
    }
    raw[total] = '\0';
    size_t bad = tok_utf8_invalid_at(raw, total);
    if (bad == total) {
        *out_text = raw;
        if (out_len) *out_len = total;
        return DFRT_OK;
    }
    /* String::from_utf8_lossy: each maximal invalid prefix becomes one U+FFFD. */
    char *text = total < SIZE_MAX / 3 ? dfrt_malloc(3 * total + 1, "decoded text") : NULL;
    if (!text) {
        free(raw);
        return DFRT_OUT_OF_MEMORY;
    }
    memcpy(text, raw, bad);
    size_t o = bad;
    for (size_t i = bad; i < total;) {
        uint32_t cp;
        size_t len, k = tok_utf8_char((const uint8_t *)raw + i, total - i, &cp, &len);
        if (k) {
            memcpy(text + o, raw + i, k);
            o += k;
            i += k;
        } else {
            memcpy(text + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i += len;
        }
    }
    text[o] = '\0';
    free(raw);
    *out_text = text;
    if (out_len) *out_len = o;
    return DFRT_OK;
}

dfrt_status dfrt_tokenizer_token_bytes(const dfrt_tokenizer *t, int32_t id, const char **out_bytes, size_t *out_len) {
    if (out_bytes) *out_bytes = NULL;
    if (out_len) *out_len = 0;
    if (!t || !out_bytes || !out_len)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "dfrt_tokenizer_token_bytes: arguments must not be NULL");
    DFRT_TRY(check_id(t, id, "dfrt_tokenizer_token_bytes"));
    *out_bytes = t->bytes.p + t->bytes_off[id];
    *out_len = t->bytes_len[id];
    return DFRT_OK;
}

int32_t dfrt_tokenizer_find(const dfrt_tokenizer *t, const char *token) {
    if (!t || !token) return -1;
    size_t n = strlen(token);
    tok_keys k = {t->strs.p, t->str_off, t->str_len};
    return tok_map_find(&t->by_string, k, token, n, tok_hash(token, n));
}

int32_t dfrt_tokenizer_vocab_size(const dfrt_tokenizer *t) { return t ? t->n_ids : 0; }

void dfrt_tokenizer_free(dfrt_tokenizer *t) {
    if (!t) return;
    free(t->source);
    free(t->flags);
    free(t->str_off);
    free(t->str_len);
    free(t->bytes_off);
    free(t->bytes_len);
    free(t->strs.p);
    free(t->bytes.p);
    tok_map_free(&t->by_string);
    tok_map_free(&t->by_bytes);
    for (size_t i = 0; i < t->n_added; i++) {
        free(t->added[i].content);
        free(t->added[i].pattern);
    }
    free(t->added);
    free(t->raw_trie.nodes);
    free(t->norm_trie.nodes);
    for (int i = 0; i < TOK_MAX_SPLITS; i++) {
        pcre2_code_free(t->splits[i].code);
        free(t->splits[i].source);
    }
    pcre2_code_free(t->byte_level_regex.code);
    free(t->byte_level_regex.source);
    tok_merges_free(&t->merges);
    free(t);
}

/* ---------------------------------------------------------------------------------------- */
/* Loading                                                                                   */
/* ---------------------------------------------------------------------------------------- */

#define GPT2_REGEX "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

typedef struct loader {
    dfrt_tokenizer *t;
    const char *src;
    dfrt_buf tmp;
} loader;

static const cJSON *member(const cJSON *obj, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsNull(v) ? NULL : v;
}

static dfrt_status get_bool(loader *l, const cJSON *obj, const char *where, const char *key, bool dflt, bool *out) {
    const cJSON *v = member(obj, key);
    *out = dflt;
    if (!v) return DFRT_OK;
    if (!cJSON_IsBool(v)) return dfrt_fail(DFRT_FORMAT_ERROR, "%s: %s.%s must be true or false", l->src, where, key);
    *out = cJSON_IsTrue(v);
    return DFRT_OK;
}

/* The "type" of a component, NULL (with the error recorded) when missing or not a string. */
static const char *get_type(loader *l, const cJSON *obj, const char *where) {
    const cJSON *ty = cJSON_IsObject(obj) ? member(obj, "type") : NULL;
    if (!cJSON_IsString(ty)) {
        dfrt_fail(DFRT_FORMAT_ERROR, "%s: %s must be an object with a \"type\" string", l->src, where);
        return NULL;
    }
    return ty->valuestring;
}

static bool get_id(const cJSON *v, int64_t limit, int64_t *out) {
    if (!cJSON_IsNumber(v)) return false;
    double d = v->valuedouble;
    if (!(d >= 0 && d < (double)limit) || d != (double)(int64_t)d) return false;
    *out = (int64_t)d;
    return true;
}

static dfrt_status parse_normalizer(loader *l, const cJSON *n, const char *where, int depth) {
    if (!n) return DFRT_OK;
    const char *type = get_type(l, n, where);
    if (!type) return DFRT_FORMAT_ERROR;
    if (strcmp(type, "NFC") == 0) {
        l->t->nfc = true;
        return DFRT_OK;
    }
    if (strcmp(type, "Sequence") == 0 && depth < 4) {
        const cJSON *list = member(n, "normalizers"), *item;
        if (!cJSON_IsArray(list))
            return dfrt_fail(DFRT_FORMAT_ERROR, "%s: %s.normalizers must be a list", l->src, where);
        int i = 0;
        cJSON_ArrayForEach(item, list) {
            char sub[96];
            snprintf(sub, sizeof sub, "%s.normalizers[%d]", where, i++);
            DFRT_TRY(parse_normalizer(l, item, sub, depth + 1));
        }
        return DFRT_OK;
    }
    return dfrt_fail(DFRT_UNSUPPORTED, "%s: %s \"%s\" is not supported (dfrt reads NFC, or no normalizer)", l->src,
                     where, type);
}

static dfrt_status parse_byte_level(loader *l, const cJSON *p, const char *where) {
    DFRT_TRY(get_bool(l, p, where, "add_prefix_space", true, &l->t->add_prefix_space));
    DFRT_TRY(get_bool(l, p, where, "use_regex", true, &l->t->use_regex));
    if (l->t->use_regex) {
        char what[128];
        snprintf(what, sizeof what, "%s regex", where);
        DFRT_TRY(tok_regex_compile(l->src, what, GPT2_REGEX, false, &l->t->byte_level_regex));
    }
    return DFRT_OK;
}

static dfrt_status parse_split(loader *l, const cJSON *p, const char *where) {
    dfrt_tokenizer *t = l->t;
    const cJSON *pattern = member(p, "pattern"), *behavior = member(p, "behavior");
    const cJSON *re = pattern ? member(pattern, "Regex") : NULL, *str = pattern ? member(pattern, "String") : NULL;
    if (!cJSON_IsObject(pattern) || !(cJSON_IsString(re) || cJSON_IsString(str)))
        return dfrt_fail(DFRT_FORMAT_ERROR, "%s: %s.pattern must be {\"Regex\": ...} or {\"String\": ...}", l->src,
                         where);
    if (!cJSON_IsString(behavior))
        return dfrt_fail(DFRT_FORMAT_ERROR, "%s: %s.behavior must be a string", l->src, where);
    if (strcmp(behavior->valuestring, "Isolated") != 0)
        return dfrt_fail(DFRT_UNSUPPORTED, "%s: %s.behavior \"%s\" is not supported (dfrt reads Isolated)", l->src,
                         where, behavior->valuestring);
    bool invert;
    DFRT_TRY(get_bool(l, p, where, "invert", false, &invert));
    if (invert) return dfrt_fail(DFRT_UNSUPPORTED, "%s: %s.invert true is not supported", l->src, where);
    if (t->n_splits == TOK_MAX_SPLITS)
        return dfrt_fail(DFRT_UNSUPPORTED, "%s: more than %d Split pre-tokenizers", l->src, TOK_MAX_SPLITS);
    const char *text = re ? re->valuestring : str->valuestring;
    if (tok_utf8_invalid_at(text, strlen(text)) < strlen(text))
        return dfrt_fail(DFRT_FORMAT_ERROR, "%s: %s.pattern is not valid UTF-8", l->src, where);
    char what[128];
    snprintf(what, sizeof what, "%s.pattern", where);
    DFRT_TRY(tok_regex_compile(l->src, what, text, !re, &t->splits[t->n_splits]));
    t->n_splits++;
    return DFRT_OK;
}

static const char pretok_support[] = "dfrt reads Split(regex, Isolated) pre-tokenizers followed by ByteLevel";

static dfrt_status parse_pre_tokenizer(loader *l, const cJSON *p) {
    if (!p) return dfrt_fail(DFRT_UNSUPPORTED, "%s: pre_tokenizer is null (%s)", l->src, pretok_support);
    const char *type = get_type(l, p, "pre_tokenizer");
    if (!type) return DFRT_FORMAT_ERROR;
    if (strcmp(type, "ByteLevel") == 0) return parse_byte_level(l, p, "pre_tokenizer");
    if (strcmp(type, "Sequence") != 0)
        return dfrt_fail(DFRT_UNSUPPORTED, "%s: pre_tokenizer \"%s\" is not supported (%s)", l->src, type,
                         pretok_support);
    const cJSON *list = member(p, "pretokenizers");
    int n = cJSON_IsArray(list) ? cJSON_GetArraySize(list) : -1;
    if (n < 1) return dfrt_fail(DFRT_FORMAT_ERROR, "%s: pre_tokenizer.pretokenizers must be a non-empty list", l->src);
    for (int i = 0; i < n; i++) {
        char where[64];
        snprintf(where, sizeof where, "pre_tokenizer.pretokenizers[%d]", i);
        const cJSON *item = cJSON_GetArrayItem(list, i);
        const char *ty = get_type(l, item, where);
        if (!ty) return DFRT_FORMAT_ERROR;
        if (i < n - 1 && strcmp(ty, "Split") == 0) DFRT_TRY(parse_split(l, item, where));
        else if (i == n - 1 && strcmp(ty, "ByteLevel") == 0) DFRT_TRY(parse_byte_level(l, item, where));
        else
            return dfrt_fail(DFRT_UNSUPPORTED, "%s: %s \"%s\" is not supported here (%s)", l->src, where, ty,
                             pretok_support);
    }
    return DFRT_OK;
}

static tok_keys str_keys(const dfrt_tokenizer *t) { return (tok_keys){t->strs.p, t->str_off, t->str_len}; }

/* Appends an id's string; the arena keeps a NUL after each entry. */
static dfrt_status set_string(loader *l, int32_t id, const char *s, size_t n) {
    dfrt_tokenizer *t = l->t;
    if (t->strs.len + n + 1 > UINT32_MAX) return dfrt_fail(DFRT_UNSUPPORTED, "%s: token strings too large", l->src);
    t->str_off[id] = (uint32_t)t->strs.len;
    t->str_len[id] = (uint32_t)n;
    dfrt_buf_append(&t->strs, s, n);
    dfrt_buf_append(&t->strs, "", 1);
    return t->strs.failed ? dfrt_fail(DFRT_OUT_OF_MEMORY, "out of memory reading %s", l->src) : DFRT_OK;
}

static int32_t find_string(const dfrt_tokenizer *t, const char *s, size_t n) {
    return tok_map_find(&t->by_string, str_keys(t), s, n, tok_hash(s, n));
}

static dfrt_status parse_vocab(loader *l, const cJSON *vocab, size_t n_added) {
    dfrt_tokenizer *t = l->t;
    if (!cJSON_IsObject(vocab))
        return dfrt_fail(DFRT_FORMAT_ERROR, "%s: model.vocab must be an object of token -> id", l->src);
    size_t n = (size_t)cJSON_GetArraySize(vocab);
    if (n == 0) return dfrt_fail(DFRT_FORMAT_ERROR, "%s: model.vocab is empty", l->src);
    /* Ids may leave holes, within bounds that keep the per-id tables small. */
    uint64_t limit = 2 * ((uint64_t)n + n_added) + 1024;
    if (limit > INT32_MAX / 2) return dfrt_fail(DFRT_UNSUPPORTED, "%s: model.vocab has %zu entries", l->src, n);
    t->id_cap = (uint32_t)(limit + n_added + 1);
    t->flags = calloc(t->id_cap, 1);
    t->str_off = calloc(t->id_cap, sizeof(uint32_t));
    t->str_len = calloc(t->id_cap, sizeof(uint32_t));
    t->bytes_off = calloc(t->id_cap, sizeof(uint32_t));
    t->bytes_len = calloc(t->id_cap, sizeof(uint32_t));
    if (!t->flags || !t->str_off || !t->str_len || !t->bytes_off || !t->bytes_len)
        return dfrt_fail(DFRT_OUT_OF_MEMORY, "out of memory reading %s", l->src);
    const cJSON *e;
    cJSON_ArrayForEach(e, vocab) {
        int64_t id;
        const char *key = e->string ? e->string : "";
        size_t len = strlen(key);
        if (!get_id(e, (int64_t)limit, &id))
            return dfrt_fail(DFRT_FORMAT_ERROR,
                             "%s: model.vocab[\"%.80s\"] must be an integer id from 0 to %llu (the vocabulary has %zu "
                             "entries)",
                             l->src, key, (unsigned long long)limit - 1, n);
        if (tok_utf8_invalid_at(key, len) < len)
            return dfrt_fail(DFRT_FORMAT_ERROR, "%s: model.vocab: the token of id %lld is not valid UTF-8", l->src,
                             (long long)id);
        if (t->flags[id])
            return dfrt_fail(DFRT_FORMAT_ERROR, "%s: model.vocab: \"%.80s\" and \"%.80s\" both have id %lld", l->src,
                             t->strs.p + t->str_off[id], key, (long long)id);
        DFRT_TRY(set_string(l, (int32_t)id, key, len));
        t->flags[id] = TOK_IN_VOCAB;
        int32_t other = tok_map_insert(&t->by_string, str_keys(t), (int32_t)id, tok_hash(key, len));
        if (other == -2) return dfrt_fail(DFRT_OUT_OF_MEMORY, "out of memory reading %s", l->src);
        if (other >= 0)
            return dfrt_fail(DFRT_FORMAT_ERROR, "%s: model.vocab: \"%.80s\" appears twice (ids %d and %lld)", l->src,
                             key, other, (long long)id);
        if (id + 1 > t->n_ids) t->n_ids = (int32_t)id + 1;
    }
    return DFRT_OK;
}

static dfrt_status vocab_id(loader *l, size_t index, const char *s, size_t n, int32_t *out) {
    int32_t id = find_string(l->t, s, n);
    if (id < 0)
        return dfrt_fail(DFRT_FORMAT_ERROR, "%s: model.merges[%zu]: \"%.80s\" is not in the vocabulary", l->src, index,
                         s);
    *out = id;
    return DFRT_OK;
}

static dfrt_status parse_merges(loader *l, const cJSON *merges) {
    if (!merges) return DFRT_OK;
    if (!cJSON_IsArray(merges)) return dfrt_fail(DFRT_FORMAT_ERROR, "%s: model.merges must be a list", l->src);
    size_t i = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, merges) {
        const char *a = NULL, *b = NULL;
        size_t alen = 0, blen = 0;
        if (cJSON_IsString(m)) {
            const char *sp = strchr(m->valuestring, ' ');
            if (sp && !strchr(sp + 1, ' ')) {
                a = m->valuestring;
                alen = (size_t)(sp - a);
                b = sp + 1;
                blen = strlen(b);
            }
        } else if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 && cJSON_IsString(m->child) &&
                   cJSON_IsString(m->child->next)) {
            a = m->child->valuestring;
            b = m->child->next->valuestring;
            alen = strlen(a);
            blen = strlen(b);
        }
        if (!a)
            return dfrt_fail(DFRT_FORMAT_ERROR, "%s: model.merges[%zu] must be \"a b\" or [\"a\", \"b\"]", l->src, i);
        l->tmp.len = 0;
        dfrt_buf_append(&l->tmp, a, alen);
        int32_t ia = -1, ib = -1, iab = -1;
        DFRT_TRY(vocab_id(l, i, l->tmp.failed ? "" : l->tmp.p, alen, &ia));
        DFRT_TRY(vocab_id(l, i, b, blen, &ib));
        dfrt_buf_append(&l->tmp, b, blen);
        if (l->tmp.failed) return dfrt_fail(DFRT_OUT_OF_MEMORY, "out of memory reading %s", l->src);
        DFRT_TRY(vocab_id(l, i, l->tmp.p, alen + blen, &iab));
        if (i >= UINT32_MAX) return dfrt_fail(DFRT_UNSUPPORTED, "%s: too many merges", l->src);
        DFRT_TRY(tok_merges_put(&l->t->merges, ia, ib, (uint32_t)i, iab));
        i++;
    }
    return DFRT_OK;
}

static dfrt_status parse_model(loader *l, const cJSON *model, size_t n_added) {
    dfrt_tokenizer *t = l->t;
    if (!cJSON_IsObject(model)) return dfrt_fail(DFRT_FORMAT_ERROR, "%s: model must be an object", l->src);
    const cJSON *type = member(model, "type");
    if (type && !cJSON_IsString(type)) return dfrt_fail(DFRT_FORMAT_ERROR, "%s: model.type must be a string", l->src);
    if (!type && !member(model, "merges"))
        return dfrt_fail(DFRT_UNSUPPORTED, "%s: model has no type and no merges (dfrt reads byte-level BPE)", l->src);
    if (type && strcmp(type->valuestring, "BPE") != 0)
        return dfrt_fail(DFRT_UNSUPPORTED, "%s: model.type \"%s\" is not supported (dfrt reads byte-level BPE)", l->src,
                         type->valuestring);
    const cJSON *dropout = member(model, "dropout");
    if (dropout && !(cJSON_IsNumber(dropout) && dropout->valuedouble == 0))
        return dfrt_fail(DFRT_UNSUPPORTED, "%s: model.dropout is not supported", l->src);
    const char *affixes[2] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        const cJSON *v = member(model, affixes[i]);
        if (v && !(cJSON_IsString(v) && !v->valuestring[0]))
            return dfrt_fail(DFRT_UNSUPPORTED, "%s: model.%s is not supported (dfrt reads byte-level BPE)", l->src,
                             affixes[i]);
    }
    bool byte_fallback;
    DFRT_TRY(get_bool(l, model, "model", "byte_fallback", false, &byte_fallback));
    if (byte_fallback)
        return dfrt_fail(DFRT_UNSUPPORTED, "%s: model.byte_fallback is not supported (dfrt reads byte-level BPE)",
                         l->src);
    DFRT_TRY(get_bool(l, model, "model", "ignore_merges", false, &t->ignore_merges));
    DFRT_TRY(get_bool(l, model, "model", "fuse_unk", false, &t->fuse_unk));
    DFRT_TRY(parse_vocab(l, member(model, "vocab"), n_added));
    DFRT_TRY(parse_merges(l, member(model, "merges")));
    const cJSON *unk = member(model, "unk_token");
    t->unk_id = -1;
    if (unk && !cJSON_IsString(unk))
        return dfrt_fail(DFRT_FORMAT_ERROR, "%s: model.unk_token must be a string", l->src);
    /* An unk_token outside the vocabulary fails only when needed, as in Hugging Face. */
    if (unk) t->unk_id = find_string(t, unk->valuestring, strlen(unk->valuestring));
    for (int b = 0; b < 256; b++) {
        char ch[4];
        uint32_t cp = tok_byte_char((uint8_t)b);
        size_t n = cp < 0x80 ? 1 : 2;
        if (n == 1) ch[0] = (char)cp;
        else {
            ch[0] = (char)(0xC0 | (cp >> 6));
            ch[1] = (char)(0x80 | (cp & 0x3F));
        }
        t->byte_id[b] = find_string(t, ch, n);
    }
    return DFRT_OK;
}

static dfrt_status parse_added_token(loader *l, const cJSON *a, size_t i, size_t n_vocab, int64_t *max_added) {
    dfrt_tokenizer *t = l->t;
    char where[48];
    snprintf(where, sizeof where, "added_tokens[%zu]", i);
    const cJSON *content = member(a, "content");
    int64_t id;
    if (!cJSON_IsObject(a) || !cJSON_IsString(content) || !content->valuestring[0])
        return dfrt_fail(DFRT_FORMAT_ERROR, "%s: %s must be an object with a non-empty \"content\" string", l->src,
                         where);
    if (!get_id(member(a, "id"), INT32_MAX, &id))
        return dfrt_fail(DFRT_FORMAT_ERROR, "%s: %s.id must be a non-negative integer", l->src, where);
    tok_added *x = &t->added[t->n_added];
    const char *s = content->valuestring;
    x->len = strlen(s);
    if (tok_utf8_invalid_at(s, x->len) < x->len)
        return dfrt_fail(DFRT_FORMAT_ERROR, "%s: %s.content is not valid UTF-8", l->src, where);
    DFRT_TRY(get_bool(l, a, where, "special", false, &x->special));
    DFRT_TRY(get_bool(l, a, where, "single_word", false, &x->single_word));
    DFRT_TRY(get_bool(l, a, where, "lstrip", false, &x->lstrip));
    DFRT_TRY(get_bool(l, a, where, "rstrip", false, &x->rstrip));
    DFRT_TRY(get_bool(l, a, where, "normalized", !x->special, &x->normalized));
    /* The id Hugging Face gives it (it ignores the file's): the vocabulary's, else the next
     * one after the vocabulary and the added tokens so far. */
    int32_t found = find_string(t, s, x->len);
    if (found >= 0 && (t->flags[found] & TOK_ADDED))
        return dfrt_fail(DFRT_FORMAT_ERROR, "%s: %s: \"%.80s\" is added twice", l->src, where, s);
    int64_t hf_id = found >= 0 ? found
                    : *max_added < 0 ? (int64_t)n_vocab
                    : (*max_added >= (int64_t)n_vocab || n_vocab == 0) ? *max_added + 1
                                                                        : (int64_t)n_vocab;
    if (id != hf_id)
        return dfrt_fail(DFRT_FORMAT_ERROR,
                         "%s: %s \"%.80s\" has id %lld, but Hugging Face tokenizers gives it id %lld (%s)", l->src,
                         where, s, (long long)id, (long long)hf_id,
                         found >= 0 ? "its id in model.vocab" : "added tokens follow the vocabulary in order");
    if (hf_id >= (int64_t)t->id_cap)
        return dfrt_fail(DFRT_FORMAT_ERROR, "%s: %s: id %lld is too large", l->src, where, (long long)id);
    if (found < 0 && t->flags[hf_id])
        return dfrt_fail(DFRT_FORMAT_ERROR, "%s: %s \"%.80s\": its id %lld already belongs to \"%.80s\" in model.vocab",
                         l->src, where, s, (long long)hf_id, t->strs.p + t->str_off[hf_id]);
    if (!(x->content = dfrt_strdup(s))) return DFRT_OUT_OF_MEMORY;
    x->id = (int32_t)hf_id;
    t->n_added++;
    if (hf_id > *max_added) *max_added = hf_id;
    if (found < 0) {
        DFRT_TRY(set_string(l, x->id, s, x->len));
        if (tok_map_insert(&t->by_string, str_keys(t), x->id, tok_hash(s, x->len)) == -2)
            return dfrt_fail(DFRT_OUT_OF_MEMORY, "out of memory reading %s", l->src);
    }
    t->flags[x->id] |= TOK_ADDED;
    if (x->id + 1 > t->n_ids) t->n_ids = x->id + 1;
    /* What it is matched as: normalized tokens against normalized text. */
    if (x->normalized && t->nfc) {
        utf8proc_uint8_t *d = NULL;
        utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)x->len, &d,
                                          UTF8PROC_STABLE | UTF8PROC_COMPOSE);
        if (r <= 0) {
            free(d);
            return dfrt_fail(DFRT_FORMAT_ERROR, "%s: %s: cannot normalize \"%.80s\"", l->src, where, s);
        }
        x->pattern = (char *)d;
        x->pattern_len = (size_t)r;
    } else {
        if (!(x->pattern = dfrt_strdup(s))) return DFRT_OUT_OF_MEMORY;
        x->pattern_len = x->len;
    }
    return tok_trie_add(x->normalized ? &t->norm_trie : &t->raw_trie, x->pattern, x->pattern_len,
                    (int32_t)(x - t->added));
}

/* What each id decodes to: the byte-level decoder maps every character back to its byte,
 * unless one is outside the alphabet, when the token's UTF-8 is used as it is. */
static dfrt_status build_bytes(loader *l) {
    dfrt_tokenizer *t = l->t;
    for (int32_t id = 0; id < t->n_ids; id++) {
        if (!t->flags[id]) continue;
        const char *s = t->strs.p + t->str_off[id];
        size_t n = t->str_len[id], start = t->bytes.len;
        bool mapped = true;
        for (size_t i = 0, len; i < n && mapped; i += len) {
            int b = tok_char_byte(tok_utf8_decode(s + i, n - i, &len));
            if (b < 0) mapped = false;
            else {
                char c = (char)b;
                dfrt_buf_append(&t->bytes, &c, 1);
            }
        }
        if (!mapped) {
            t->bytes.len = start;
            dfrt_buf_append(&t->bytes, s, n);
        }
        dfrt_buf_append(&t->bytes, "", 1);
        if (t->bytes.failed || t->bytes.len > UINT32_MAX)
            return dfrt_fail(DFRT_OUT_OF_MEMORY, "out of memory reading %s", l->src);
        t->bytes_off[id] = (uint32_t)start;
        t->bytes_len[id] = (uint32_t)(t->bytes.len - 1 - start);
        if (mapped) t->flags[id] |= TOK_BYTELEVEL;
    }
    tok_keys k = {t->bytes.p, t->bytes_off, t->bytes_len};
    for (int32_t id = 0; id < t->n_ids; id++) {
        if ((t->flags[id] & (TOK_IN_VOCAB | TOK_BYTELEVEL)) != (TOK_IN_VOCAB | TOK_BYTELEVEL)) continue;
        uint64_t h = tok_hash(t->bytes.p + t->bytes_off[id], t->bytes_len[id]);
        if (tok_map_insert(&t->by_bytes, k, id, h) == -2)
            return dfrt_fail(DFRT_OUT_OF_MEMORY, "out of memory reading %s", l->src);
    }
    return DFRT_OK;
}

static dfrt_status parse_root(loader *l, const cJSON *root) {
    dfrt_tokenizer *t = l->t;
    if (!cJSON_IsObject(root)) return dfrt_fail(DFRT_FORMAT_ERROR, "%s: not a JSON object", l->src);
    const cJSON *added = member(root, "added_tokens");
    if (added && !cJSON_IsArray(added)) return dfrt_fail(DFRT_FORMAT_ERROR, "%s: added_tokens must be a list", l->src);
    size_t n_added = added ? (size_t)cJSON_GetArraySize(added) : 0;
    DFRT_TRY(parse_normalizer(l, member(root, "normalizer"), "normalizer", 0));
    DFRT_TRY(parse_pre_tokenizer(l, member(root, "pre_tokenizer")));
    const cJSON *decoder = member(root, "decoder");
    if (!decoder) return dfrt_fail(DFRT_UNSUPPORTED, "%s: decoder is null (dfrt reads the ByteLevel decoder)", l->src);
    const char *dtype = get_type(l, decoder, "decoder");
    if (!dtype) return DFRT_FORMAT_ERROR;
    if (strcmp(dtype, "ByteLevel") != 0)
        return dfrt_fail(DFRT_UNSUPPORTED, "%s: decoder \"%s\" is not supported (dfrt reads ByteLevel)", l->src, dtype);
    DFRT_TRY(parse_model(l, member(root, "model"), n_added));
    size_t n_vocab = 0;
    for (int32_t id = 0; id < t->n_ids; id++) n_vocab += t->flags[id] != 0;
    if (n_added) {
        t->added = dfrt_calloc(n_added, sizeof *t->added, "added tokens");
        if (!t->added) return DFRT_OUT_OF_MEMORY;
    }
    int64_t max_added = -1;
    size_t i = 0;
    const cJSON *a;
    cJSON_ArrayForEach(a, added) DFRT_TRY(parse_added_token(l, a, i++, n_vocab, &max_added));
    return build_bytes(l);
}

dfrt_status dfrt_tokenizer_load(const char *path, dfrt_tokenizer **out_tokenizer) {
    if (out_tokenizer) *out_tokenizer = NULL;
    if (!path || !out_tokenizer)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "dfrt_tokenizer_load: path and out_tokenizer must not be NULL");
    struct stat st;
    char *file = NULL;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        if (!(file = dfrt_path_join(path, "tokenizer.json"))) return DFRT_OUT_OF_MEMORY;
        if (stat(file, &st) != 0) {
            free(file);
            return dfrt_fail(DFRT_IO_ERROR, "%s: no tokenizer.json in this directory", path);
        }
    } else if (!(file = dfrt_strdup(path))) return DFRT_OUT_OF_MEMORY;
    char *text = NULL;
    size_t len = 0;
    dfrt_status s = dfrt_read_file(file, DFRT_MAX_TOKENIZER_BYTES, &text, &len);
    if (s == DFRT_OK) s = dfrt_tokenizer_parse(text, len, file, out_tokenizer);
    free(text);
    free(file);
    return s;
}

dfrt_status dfrt_tokenizer_parse(const char *json, size_t len, const char *source, dfrt_tokenizer **out_tokenizer) {
    *out_tokenizer = NULL;
    cJSON *root = NULL;
    dfrt_tokenizer *t = calloc(1, sizeof *t);
    loader l = {t, source, {0}};
    dfrt_status s = dfrt_json_parse(json, len, source, &root);
    if (s == DFRT_OK && (!t || !(t->source = dfrt_strdup(source))))
        s = dfrt_fail(DFRT_OUT_OF_MEMORY, "out of memory reading %s", source);
    else if (s == DFRT_OK) {
        l.src = t->source;
        s = parse_root(&l, root);
    }
    cJSON_Delete(root);
    free(l.tmp.p);
    if (s != DFRT_OK) {
        dfrt_tokenizer_free(t);
        return s;
    }
    *out_tokenizer = t;
    return DFRT_OK;
}
