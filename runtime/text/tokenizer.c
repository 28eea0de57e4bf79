/* Hugging Face tokenizer.json: loading (the vocabulary, merges, added tokens, normalizer and
 * pre-tokenizer into a dfrt_tokenizer), lookups and freeing. Encoding and decoding are in
 * tokenizer_encode.c, the BPE merge engine in tokenizer_bpe.c, UTF-8, the byte-level alphabet
 * and regexes in tokenizer_utf8.c. */
#include "text/tokenizer_internal.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <sys/stat.h>
#include <utf8proc.h>

int32_t dfrt_tokenizer_find(const dfrt_tokenizer *t, const char *token) {
    if (!t || !token) return -1;
    size_t n = strlen(token);
    tok_keys k = {t->strs.p, t->str_off, t->str_len};
    return tok_map_find(&t->by_string, k, token, n, tok_hash(token, n));
}

int32_t dfrt_tokenizer_vocab_size(const dfrt_tokenizer *t) { return t ? t->n_ids : 0; }

void dfrt_tokenizer_free(dfrt_tokenizer *t) {
    if (!t) return;
    DFRT_FREE_ALL(t->source, t->flags, t->str_off, t->str_len, t->bytes_off, t->bytes_len, t->strs.p, t->bytes.p);
    tok_map_free(&t->by_string);
    tok_map_free(&t->by_bytes);
    for (size_t i = 0; i < t->n_added; i++) {
        free(t->added[i].content);
        free(t->added[i].pattern);
    }
    DFRT_FREE_ALL(t->added, t->raw_trie.nodes, t->norm_trie.nodes);
    for (int i = 0; i < TOK_MAX_SPLITS; i++) {
        pcre2_code_free(t->splits[i].code);
        free(t->splits[i].source);
    }
    pcre2_code_free(t->byte_level_regex.code);
    free(t->byte_level_regex.source);
    for (int i = 0; i < t->n_norm; i++) DFRT_FREE_ALL(t->norm[i].from, t->norm[i].to);
    DFRT_FREE_ALL(t->dec_from, t->dec_to);
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

/* A Replace's {"pattern": {"String": S}, "content": C}: S (non-empty) and C, copied. */
static dfrt_status get_replace(loader *l, const cJSON *n, const char *where, char **from, char **to) {
    const cJSON *pattern = member(n, "pattern"), *content = member(n, "content");
    const cJSON *str = cJSON_IsObject(pattern) ? member(pattern, "String") : NULL;
    if (cJSON_IsObject(pattern) && member(pattern, "Regex"))
        return dfrt_fail(DFRT_UNSUPPORTED, "%s: %s.pattern: a Regex is not supported here (dfrt reads String patterns)",
                         l->src, where);
    if (!cJSON_IsString(str) || !str->valuestring[0])
        return dfrt_fail(DFRT_FORMAT_ERROR, "%s: %s.pattern must be {\"String\": a non-empty string}", l->src, where);
    if (!cJSON_IsString(content)) return dfrt_fail(DFRT_FORMAT_ERROR, "%s: %s.content must be a string", l->src, where);
    if (dfrt_utf8_invalid_at(str->valuestring, strlen(str->valuestring)) < strlen(str->valuestring) ||
        dfrt_utf8_invalid_at(content->valuestring, strlen(content->valuestring)) < strlen(content->valuestring))
        return dfrt_fail(DFRT_FORMAT_ERROR, "%s: %s is not valid UTF-8", l->src, where);
    *from = dfrt_strdup(str->valuestring);
    *to = dfrt_strdup(content->valuestring);
    return *from && *to ? DFRT_OK : DFRT_OUT_OF_MEMORY;
}

static dfrt_status add_norm_step(loader *l, const char *where, tok_norm_step **out) {
    if (l->t->n_norm == TOK_MAX_NORM_STEPS)
        return dfrt_fail(DFRT_UNSUPPORTED, "%s: %s: more than %d normalizer steps", l->src, where, TOK_MAX_NORM_STEPS);
    *out = &l->t->norm[l->t->n_norm++];
    return DFRT_OK;
}

static dfrt_status parse_normalizer(loader *l, const cJSON *n, const char *where, int depth) {
    if (!n) return DFRT_OK;
    const char *type = get_type(l, n, where);
    if (!type) return DFRT_FORMAT_ERROR;
    tok_norm_step *step = NULL;
    if (strcmp(type, "NFC") == 0) {
        DFRT_TRY(add_norm_step(l, where, &step));
        step->kind = TOK_NORM_NFC;
        return DFRT_OK;
    }
    if (strcmp(type, "Replace") == 0) {
        DFRT_TRY(add_norm_step(l, where, &step));
        step->kind = TOK_NORM_REPLACE;
        return get_replace(l, n, where, &step->from, &step->to);
    }
    if (strcmp(type, "Prepend") == 0) {
        const cJSON *p = member(n, "prepend");
        if (!cJSON_IsString(p) || dfrt_utf8_invalid_at(p->valuestring, strlen(p->valuestring)) < strlen(p->valuestring))
            return dfrt_fail(DFRT_FORMAT_ERROR, "%s: %s.prepend must be a UTF-8 string", l->src, where);
        DFRT_TRY(add_norm_step(l, where, &step));
        step->kind = TOK_NORM_PREPEND;
        return (step->to = dfrt_strdup(p->valuestring)) ? DFRT_OK : DFRT_OUT_OF_MEMORY;
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
    return dfrt_fail(DFRT_UNSUPPORTED,
                     "%s: %s \"%s\" is not supported (dfrt reads NFC, Replace of a string, Prepend, a Sequence of them, "
                     "or no normalizer)",
                     l->src, where, type);
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
    static const char *const behaviors[] = {"Isolated", "Removed", "MergedWithPrevious", "MergedWithNext", "Contiguous"};
    int b = -1;
    for (int i = 0; i < 5; i++)
        if (strcmp(behavior->valuestring, behaviors[i]) == 0) b = i;
    if (b < 0)
        return dfrt_fail(DFRT_FORMAT_ERROR,
                         "%s: %s.behavior \"%s\" is not one of Isolated, Removed, MergedWithPrevious, MergedWithNext, "
                         "Contiguous",
                         l->src, where, behavior->valuestring);
    bool invert;
    DFRT_TRY(get_bool(l, p, where, "invert", false, &invert));
    if (t->n_splits == TOK_MAX_SPLITS)
        return dfrt_fail(DFRT_UNSUPPORTED, "%s: more than %d Split pre-tokenizers", l->src, TOK_MAX_SPLITS);
    const char *text = re ? re->valuestring : str->valuestring;
    if (dfrt_utf8_invalid_at(text, strlen(text)) < strlen(text))
        return dfrt_fail(DFRT_FORMAT_ERROR, "%s: %s.pattern is not valid UTF-8", l->src, where);
    char what[128];
    snprintf(what, sizeof what, "%s.pattern", where);
    DFRT_TRY(tok_regex_compile(l->src, what, text, !re, &t->splits[t->n_splits]));
    t->split_behavior[t->n_splits] = (tok_split_behavior)b;
    t->split_invert[t->n_splits] = invert;
    t->n_splits++;
    return DFRT_OK;
}

static const char pretok_support[] = "dfrt reads Split pre-tokenizers, then ByteLevel or not";

/* The pre-tokenizer: Split patterns, then ByteLevel (byte-level BPE) or not (BPE over the
 * pieces' characters, as SentencePiece-style tokenizers such as Gemma's are); null: none. */
static dfrt_status parse_pre_tokenizer(loader *l, const cJSON *p) {
    if (!p) return DFRT_OK;
    const char *type = get_type(l, p, "pre_tokenizer");
    if (!type) return DFRT_FORMAT_ERROR;
    if (strcmp(type, "ByteLevel") == 0) {
        l->t->byte_level = true;
        return parse_byte_level(l, p, "pre_tokenizer");
    }
    if (strcmp(type, "Split") == 0) return parse_split(l, p, "pre_tokenizer");
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
        if (strcmp(ty, "Split") == 0) DFRT_TRY(parse_split(l, item, where));
        else if (i == n - 1 && strcmp(ty, "ByteLevel") == 0) {
            l->t->byte_level = true;
            DFRT_TRY(parse_byte_level(l, item, where));
        } else
            return dfrt_fail(DFRT_UNSUPPORTED, "%s: %s \"%s\" is not supported here (%s)", l->src, where, ty,
                             pretok_support);
    }
    return DFRT_OK;
}

/* The decoder: ByteLevel with a ByteLevel pre-tokenizer; otherwise Replace of a string,
 * ByteFallback, Fuse and Strip-free sequences of them (SentencePiece-style), or none. */
static dfrt_status parse_decoder_step(loader *l, const cJSON *d, const char *where) {
    dfrt_tokenizer *t = l->t;
    const char *type = get_type(l, d, where);
    if (!type) return DFRT_FORMAT_ERROR;
    if (strcmp(type, "ByteLevel") == 0 && t->byte_level) return DFRT_OK;
    if (strcmp(type, "Fuse") == 0 && !t->byte_level) return DFRT_OK;
    if (strcmp(type, "ByteFallback") == 0 && !t->byte_level) {
        t->dec_byte_fallback = true;
        return DFRT_OK;
    }
    if (strcmp(type, "Replace") == 0 && !t->byte_level && !t->dec_from)
        return get_replace(l, d, where, &t->dec_from, &t->dec_to);
    return dfrt_fail(DFRT_UNSUPPORTED,
                     "%s: %s \"%s\" is not supported with %s pre-tokenizer (dfrt reads ByteLevel after ByteLevel; "
                     "otherwise one Replace of a string, ByteFallback and Fuse)",
                     l->src, where, type, t->byte_level ? "a ByteLevel" : "this");
}

static dfrt_status parse_decoder(loader *l, const cJSON *d) {
    if (!d) {
        if (l->t->byte_level)
            return dfrt_fail(DFRT_UNSUPPORTED, "%s: decoder is null (dfrt reads the ByteLevel decoder after a ByteLevel "
                                               "pre-tokenizer)", l->src);
        return DFRT_OK;
    }
    const char *type = get_type(l, d, "decoder");
    if (!type) return DFRT_FORMAT_ERROR;
    if (strcmp(type, "Sequence") != 0) {
        DFRT_TRY(parse_decoder_step(l, d, "decoder"));
    } else {
        const cJSON *list = member(d, "decoders"), *item;
        if (!cJSON_IsArray(list)) return dfrt_fail(DFRT_FORMAT_ERROR, "%s: decoder.decoders must be a list", l->src);
        int i = 0;
        cJSON_ArrayForEach(item, list) {
            char where[64];
            snprintf(where, sizeof where, "decoder.decoders[%d]", i++);
            DFRT_TRY(parse_decoder_step(l, item, where));
        }
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
        if (dfrt_utf8_invalid_at(key, len) < len)
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
    DFRT_TRY(get_bool(l, model, "model", "byte_fallback", false, &t->byte_fallback));
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
        char ch[8];
        snprintf(ch, sizeof ch, "<0x%02X>", b);
        t->fallback_id[b] = t->byte_fallback ? find_string(t, ch, 6) : -1;
        t->byte_id[b] = -1;
        if (!t->byte_level) continue;
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
    if (dfrt_utf8_invalid_at(s, x->len) < x->len)
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
    if (x->normalized && t->n_norm) {
        dfrt_buf nb = {0};
        dfrt_status ns = tok_normalize(t, s, x->len, &nb);
        if (ns == DFRT_OK && nb.len == 0) ns = dfrt_fail(DFRT_FORMAT_ERROR, "%s: %s: \"%.80s\" normalizes to nothing", l->src, where, s);
        if (ns != DFRT_OK) {
            free(nb.p);
            return ns;
        }
        x->pattern = nb.p;
        x->pattern_len = nb.len;
    } else {
        if (!(x->pattern = dfrt_strdup(s))) return DFRT_OUT_OF_MEMORY;
        x->pattern_len = x->len;
    }
    return tok_trie_add(x->normalized ? &t->norm_trie : &t->raw_trie, x->pattern, x->pattern_len,
                    (int32_t)(x - t->added));
}

/* "<0xHH>" (either case of hex digit): the byte, else -1 (ByteFallback's test). */
static int fallback_byte(const char *s, size_t n) {
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>' || !isxdigit((unsigned char)s[3]) ||
        !isxdigit((unsigned char)s[4]))
        return -1;
    char hex[3] = {s[3], s[4], 0};
    return (int)strtol(hex, NULL, 16);
}

/* Without byte_level, what an id decodes to: its byte (a ByteFallback "<0xHH>" token), else
 * its string with the decoder's Replace done. */
static void char_token_bytes(dfrt_tokenizer *t, int32_t id, const char *s, size_t n) {
    int b = t->dec_byte_fallback ? fallback_byte(s, n) : -1;
    if (b >= 0) {
        char c = (char)b;
        dfrt_buf_append(&t->bytes, &c, 1);
        t->flags[id] |= TOK_BYTE_FALLBACK;
        return;
    }
    if (t->dec_from) tok_replace_append(&t->bytes, s, n, t->dec_from, t->dec_to);
    else dfrt_buf_append(&t->bytes, s, n);
}

/* What each id decodes to: the byte-level decoder maps every character back to its byte,
 * unless one is outside the alphabet, when the token's UTF-8 is used as it is; without
 * byte_level, char_token_bytes. */
static dfrt_status build_bytes(loader *l) {
    dfrt_tokenizer *t = l->t;
    for (int32_t id = 0; id < t->n_ids; id++) {
        if (!t->flags[id]) continue;
        const char *s = t->strs.p + t->str_off[id];
        size_t n = t->str_len[id], start = t->bytes.len;
        bool mapped = t->byte_level;
        if (!t->byte_level) char_token_bytes(t, id, s, n);
        for (size_t i = 0, len; i < n && mapped; i += len) {
            int b = tok_char_byte(tok_utf8_decode(s + i, n - i, &len));
            if (b < 0) mapped = false;
            else {
                char c = (char)b;
                dfrt_buf_append(&t->bytes, &c, 1);
            }
        }
        if (!mapped && t->byte_level) {
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
    DFRT_TRY(parse_decoder(l, member(root, "decoder")));
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
