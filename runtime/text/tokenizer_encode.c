/* Hugging Face tokenizer.json, byte-level BPE: encoding (added tokens, normalization,
 * pre-tokenization) and decoding. Encoding follows tokenizers 0.23 step by step:
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
        if ((missed || ++e->regex_calls % 64 == 0) && dfrt_now_seconds() > e->deadline) return REGEX_ERROR_TOO_SLOW;
        if (!missed) return rc;
        start += REGEX_WINDOW + 1;
        while (start < n && ((uint8_t)s[start] & 0xC0) == 0x80) start++;
    }
}

/* The pieces of a Split, as Hugging Face's SplitDelimiterBehavior makes them from the text's
 * matches and gaps in order (delimiters: the matches, or the gaps with invert): Isolated, each
 * a piece; Removed, the delimiters dropped; MergedWithPrevious, a delimiter joined to the piece
 * before it unless that is a delimiter too; MergedWithNext, a piece joined to a delimiter before
 * it; Contiguous, runs of delimiters (and of the others) joined. The last piece waits in
 * [ps, pe) until the next span shows whether it grows. Empty spans make no piece. */
typedef struct split_fold {
    enc *e;
    int next_stage;
    const char *s;
    tok_split_behavior behavior;
    bool invert, have, prev_delim;
    size_t ps, pe;
} split_fold;

static dfrt_status fold_flush(split_fold *f) {
    if (!f->have) return DFRT_OK;
    f->have = false;
    return run_stage(f->e, f->next_stage, f->s + f->ps, f->pe - f->ps);
}

static dfrt_status fold_span(split_fold *f, size_t a, size_t b, bool is_match) {
    if (a == b) return DFRT_OK;
    bool delim = is_match != f->invert, grow;
    switch (f->behavior) {
    case TOK_SPLIT_REMOVED:
        if (delim) return DFRT_OK;
        /* fall through */
    case TOK_SPLIT_ISOLATED: grow = false; break;
    case TOK_SPLIT_MERGED_WITH_PREVIOUS: grow = delim && !f->prev_delim; break;
    case TOK_SPLIT_MERGED_WITH_NEXT: grow = f->prev_delim; break;
    default: grow = delim == f->prev_delim; break; /* Contiguous */
    }
    f->prev_delim = delim;
    if (grow && f->have) {
        f->pe = b;
        return DFRT_OK;
    }
    DFRT_TRY(fold_flush(f));
    f->ps = a;
    f->pe = b;
    f->have = true;
    return DFRT_OK;
}

/* A Split (or the ByteLevel regex: Isolated) over s: its pieces to the next stage. */
static dfrt_status regex_split(enc *e, const tok_regex *re, tok_split_behavior behavior, bool invert, const char *s,
                               size_t n, int next_stage) {
    size_t last_end = 0, prev = 0, last_match_end = 0;
    bool matched = false;
    split_fold f = {.e = e, .next_stage = next_stage, .s = s, .behavior = behavior, .invert = invert};
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
        DFRT_TRY(fold_span(&f, prev, ms, false));
        DFRT_TRY(fold_span(&f, ms, me, true));
        prev = me;
    }
    DFRT_TRY(fold_span(&f, prev, n, false));
    return fold_flush(&f);
}

/* Stages 0 .. n_splits-1: the Split patterns; n_splits: ByteLevel where byte_level; then BPE. */
static dfrt_status run_stage(enc *e, int stage, const char *s, size_t n) {
    const dfrt_tokenizer *t = e->t;
    if (n == 0) return DFRT_OK;
    if (stage < t->n_splits)
        return regex_split(e, &t->splits[stage], t->split_behavior[stage], t->split_invert[stage], s, n, stage + 1);
    if (stage > t->n_splits || !t->byte_level) return tok_bpe_piece(t, e->work, (const uint8_t *)s, n, &e->ids);
    if (t->add_prefix_space && s[0] != ' ') {
        e->prefixed.len = 0;
        dfrt_buf_append(&e->prefixed, " ", 1);
        dfrt_buf_append(&e->prefixed, s, n);
        if (e->prefixed.failed) return oom_encoding();
        s = e->prefixed.p;
        n = e->prefixed.len;
    }
    if (t->use_regex) return regex_split(e, &t->byte_level_regex, TOK_SPLIT_ISOLATED, false, s, n, stage + 1);
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

void tok_replace_append(dfrt_buf *out, const char *s, size_t n, const char *from, const char *to) {
    size_t fl = strlen(from), tl = strlen(to), i = 0;
    while (i < n) {
        const char *hit = fl <= n - i ? memmem(s + i, n - i, from, fl) : NULL;
        size_t j = hit ? (size_t)(hit - s) : n;
        dfrt_buf_append(out, s + i, j - i);
        if (!hit) break;
        dfrt_buf_append(out, to, tl);
        i = j + fl;
    }
}

dfrt_status tok_normalize(const dfrt_tokenizer *t, const char *s, size_t n, dfrt_buf *out) {
    dfrt_buf tmp[2] = {{0}, {0}};
    const char *cur = s;
    size_t len = n;
    dfrt_status st = DFRT_OK;
    for (int i = 0; i < t->n_norm && st == DFRT_OK; i++) {
        const tok_norm_step *step = &t->norm[i];
        dfrt_buf *dst = i == t->n_norm - 1 ? out : &tmp[i % 2];
        size_t base = dst->len;
        if (dst != out) dst->len = base = 0;
        if (step->kind == TOK_NORM_NFC) {
            if (may_change_under_nfc(cur, len)) st = nfc_append(dst, cur, len);
            else dfrt_buf_append(dst, cur, len);
        } else if (step->kind == TOK_NORM_REPLACE) {
            tok_replace_append(dst, cur, len, step->from, step->to);
        } else { /* PREPEND, to text that is not empty */
            if (len) dfrt_buf_append(dst, step->to, strlen(step->to));
            dfrt_buf_append(dst, cur, len);
        }
        if (dst->failed) st = oom_encoding();
        cur = dst->p ? dst->p + base : "";
        len = dst->len - base;
    }
    if (t->n_norm == 0) dfrt_buf_append(out, s, n);
    if (st == DFRT_OK && out->failed) st = oom_encoding();
    free(tmp[0].p);
    free(tmp[1].p);
    return st;
}

static dfrt_status stage_normalize(enc *e, const char *s, size_t n) {
    const dfrt_tokenizer *t = e->t;
    bool changes = false;
    for (int i = 0; i < t->n_norm && !changes; i++)
        changes = t->norm[i].kind != TOK_NORM_NFC || may_change_under_nfc(s, n);
    if (!changes) return split_added(e, &t->norm_trie, s, n, stage_pretokenize);
    e->normalized.len = 0;
    DFRT_TRY(tok_normalize(t, s, n, &e->normalized));
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
    size_t bad = dfrt_utf8_invalid_at(text, len);
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
    e.deadline = dfrt_now_seconds() + e.budget;
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
    /* ByteFallback: a run of "<0xHH>" tokens is its bytes where they are valid UTF-8, else one
     * U+FFFD per token (three bytes for each one-byte token) */
    if (t->dec_byte_fallback) total = total < SIZE_MAX / 3 ? 3 * total : SIZE_MAX - 1;
    char *raw = dfrt_malloc(total + 1, "decoded text");
    if (!raw) return DFRT_OUT_OF_MEMORY;
    size_t at = 0;
    for (size_t i = 0; i < n;) {
        if (!(t->flags[ids[i]] & TOK_BYTE_FALLBACK)) {
            memcpy(raw + at, t->bytes.p + t->bytes_off[ids[i]], t->bytes_len[ids[i]]);
            at += t->bytes_len[ids[i]];
            i++;
            continue;
        }
        size_t j = i, run = at;
        for (; j < n && (t->flags[ids[j]] & TOK_BYTE_FALLBACK); j++) raw[at++] = t->bytes.p[t->bytes_off[ids[j]]];
        if (dfrt_utf8_invalid_at(raw + run, at - run) < at - run)
            for (at = run; i < j; i++, at += 3) memcpy(raw + at, "\xEF\xBF\xBD", 3);
        i = j;
    }
    total = at;
    raw[total] = '\0';
    size_t bad = dfrt_utf8_invalid_at(raw, total);
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
        size_t len, k = dfrt_utf8_char((const uint8_t *)raw + i, total - i, &cp, &len);
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
