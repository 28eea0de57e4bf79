/* Shared pieces of the tokenizer: tokenizer.c (loading, lookups), tokenizer_encode.c (added
 * tokens, normalization, pre-tokenization, decoding), tokenizer_utf8.c (the byte-level
 * alphabet, UTF-8, character classes, regexes), tokenizer_bpe.c (the added-token trie, hash
 * maps, the BPE merge engine and its cache). */
#ifndef DFRT_TOKENIZER_INTERNAL_H
#define DFRT_TOKENIZER_INTERNAL_H

#include "base/internal.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* Per-id flags. */
enum {
    TOK_IN_VOCAB = 1,  /* in model.vocab */
    TOK_ADDED = 2,     /* in added_tokens */
    TOK_BYTELEVEL = 4, /* every character of the string is in the byte-level alphabet */
    TOK_BYTE_FALLBACK = 8, /* a "<0xHH>" token that the ByteFallback decoder turns into its byte */
};

/* Open-addressing map from a byte string to an id. The keys live in an arena owned by the
 * caller (arena + off[id], len[id]); a slot holds (32 bits of hash << 32) | (id + 1), 0 = empty. */
typedef struct tok_map {
    uint64_t *slots;
    uint32_t mask; /* capacity - 1 (a power of two) */
    uint32_t count;
} tok_map;

/* Where a map finds its keys. */
typedef struct tok_keys {
    const char *arena;
    const uint32_t *off, *len;
} tok_keys;

/* Merge map: (left id, right id) -> (rank, merged id). */
typedef struct tok_merge_slot {
    uint64_t key; /* (left << 32) | right; UINT64_MAX = empty */
    uint32_t rank;
    int32_t id;
} tok_merge_slot;

typedef struct tok_merges {
    tok_merge_slot *slots;
    uint64_t mask;
    size_t count;
} tok_merges;

/* A byte trie over the added tokens' contents, for leftmost-longest matching. */
typedef struct tok_trie_node {
    int32_t child, sibling; /* first child, next sibling (-1: none) */
    int32_t token;          /* index in added[] of the token ending here, -1 if none */
    uint8_t byte;
} tok_trie_node;

typedef struct tok_trie {
    tok_trie_node *nodes; /* nodes[0] is the root */
    size_t n, cap;
    uint8_t first[32]; /* bitmap of the bytes a token can start with */
    size_t n_tokens;
} tok_trie;

typedef struct tok_added {
    int32_t id;
    char *content; /* as written */
    size_t len;
    char *pattern; /* what is matched: the content, normalized when normalized is true */
    size_t pattern_len;
    bool single_word, lstrip, rstrip, normalized, special;
} tok_added;

typedef struct tok_regex {
    pcre2_code *code;
    char *source; /* as written in tokenizer.json, for messages */
    bool jit;
} tok_regex;

#define TOK_MAX_SPLITS 8
#define TOK_MAX_NORM_STEPS 8

/* Normalizer steps, in order. */
typedef enum tok_norm_kind { TOK_NORM_NFC, TOK_NORM_REPLACE, TOK_NORM_PREPEND } tok_norm_kind;
typedef struct tok_norm_step {
    tok_norm_kind kind;
    char *from; /* REPLACE: the literal string replaced (non-empty) */
    char *to;   /* REPLACE: what replaces it; PREPEND: what is put before non-empty text */
} tok_norm_step;

/* Split pre-tokenizer behaviors (Hugging Face's SplitDelimiterBehavior). */
typedef enum tok_split_behavior {
    TOK_SPLIT_ISOLATED,
    TOK_SPLIT_REMOVED,
    TOK_SPLIT_MERGED_WITH_PREVIOUS,
    TOK_SPLIT_MERGED_WITH_NEXT,
    TOK_SPLIT_CONTIGUOUS,
} tok_split_behavior;

struct dfrt_tokenizer {
    char *source; /* the tokenizer.json path, for messages */
    int32_t n_ids; /* largest id + 1 */
    uint32_t id_cap;
    /* Per id (n_ids entries; an id with flags 0 has no token): the string as written in
     * tokenizer.json and the bytes it decodes to. Both arenas NUL-terminate each entry. */
    uint8_t *flags;
    uint32_t *str_off, *str_len;
    uint32_t *bytes_off, *bytes_len;
    dfrt_buf strs, bytes;
    tok_map by_string; /* token string -> id (vocabulary and added tokens) */
    tok_map by_bytes;  /* decoded bytes -> id (byte-level vocabulary entries only) */

    tok_added *added;
    size_t n_added;
    tok_trie raw_trie;  /* added tokens with normalized = false: matched in the raw text */
    tok_trie norm_trie; /* normalized = true: matched in the normalized pieces */

    /* Normalizer: its steps in order (none: the text as it is). */
    int n_norm;
    tok_norm_step norm[TOK_MAX_NORM_STEPS];

    /* Pre-tokenizer: Split patterns in order, then ByteLevel (byte_level), or not (the BPE then
     * starts from the pieces' characters, SentencePiece-style). */
    int n_splits;
    tok_regex splits[TOK_MAX_SPLITS];
    tok_split_behavior split_behavior[TOK_MAX_SPLITS];
    bool split_invert[TOK_MAX_SPLITS];
    bool byte_level;
    bool add_prefix_space, use_regex;
    tok_regex byte_level_regex; /* GPT-2's, when use_regex */

    /* Decoder, without ByteLevel: each token's "from" becomes "to" (Replace), "<0xHH>" tokens
     * become their bytes (ByteFallback), and the tokens are joined (Fuse, or none). */
    char *dec_from, *dec_to;
    bool dec_byte_fallback;

    /* BPE */
    int32_t byte_id[256]; /* byte_level: id of each byte's byte-level character, -1 if not in the vocabulary */
    bool byte_fallback;       /* without byte_level: a character outside the vocabulary as "<0xHH>" tokens */
    int32_t fallback_id[256]; /* the id of "<0xHH>" for each byte, -1 if not in the vocabulary */
    tok_merges merges;
    bool ignore_merges;
    int32_t unk_id; /* -1: none */
    bool fuse_unk;
};

/* GPT-2's bytes_to_unicode: the code point standing for each byte. */
uint32_t tok_byte_char(uint8_t byte);
/* The inverse: the byte a code point stands for, or -1. */
int tok_char_byte(uint32_t cp);

/* UTF-8 validation: dfrt_utf8_char (base/internal.h) and dfrt_utf8_invalid_at (dfrt.h). */
/* The code point at s (U+FFFD and *len = 1 where invalid). */
uint32_t tok_utf8_decode(const char *s, size_t n, size_t *len);

/* The code point that ends at s[end] (s[..end] is valid UTF-8); *start: where it starts. */
uint32_t tok_utf8_last(const char *s, size_t end, size_t *start);
/* Unicode White_Space (Rust's and Oniguruma's \s). */
bool tok_is_white_space(uint32_t c);
/* Rust regex's Unicode \w. */
bool tok_is_word_char(uint32_t c);
/* Compiles a tokenizer.json regex (Oniguruma syntax) or literal string for PCRE2, JIT when
 * available; `where` names it in messages. */
dfrt_status tok_regex_compile(const char *src_file, const char *where, const char *pattern, bool literal,
                              tok_regex *out);

dfrt_status tok_trie_add(tok_trie *tr, const char *s, size_t n, int32_t token);
/* The leftmost match at or after `from`, the longest at that position. */
bool tok_trie_find(const tok_trie *tr, const char *text, size_t n, size_t from, size_t *ms, size_t *me,
                   int32_t *token);

uint64_t tok_hash(const void *data, size_t len);
/* -1 when absent. */
int32_t tok_map_find(const tok_map *m, tok_keys k, const void *key, size_t len, uint64_t hash);
/* Inserts id (whose key is k's entry for id); returns the id already there for an equal key,
 * -1 when inserted, -2 when out of memory. */
int32_t tok_map_insert(tok_map *m, tok_keys k, int32_t id, uint64_t hash);
void tok_map_free(tok_map *m);

/* Sets (or overwrites, keeping the later rank, as Hugging Face's map does) a merge. */
dfrt_status tok_merges_put(tok_merges *m, int32_t left, int32_t right, uint32_t rank, int32_t merged);
const tok_merge_slot *tok_merges_find(const tok_merges *m, int32_t left, int32_t right);
void tok_merges_free(tok_merges *m);

/* A growable id list; failed after an allocation failure. */
typedef struct tok_ids {
    int32_t *v;
    size_t n, cap;
    bool failed;
} tok_ids;
bool tok_ids_reserve(tok_ids *ids, size_t more);
static inline void tok_ids_push(tok_ids *ids, int32_t id) {
    if (ids->n == ids->cap && !tok_ids_reserve(ids, 1)) return;
    ids->v[ids->n++] = id;
}

/* Scratch space and the pre-token cache of one encode call. */
typedef struct tok_work tok_work;
tok_work *tok_work_create(void);
void tok_work_free(tok_work *w);
/* BPE of one pre-token (raw bytes; the byte-level mapping is implied), ids appended to out. */
dfrt_status tok_bpe_piece(const dfrt_tokenizer *t, tok_work *w, const uint8_t *piece, size_t len, tok_ids *out);

/* Appends s (n bytes) to out with each occurrence of `from` (non-empty) replaced by `to`. */
void tok_replace_append(dfrt_buf *out, const char *s, size_t n, const char *from, const char *to);
/* The normalizer's steps over s, appended to out (which must not hold s). */
dfrt_status tok_normalize(const dfrt_tokenizer *t, const char *s, size_t n, dfrt_buf *out);

/* Loads a tokenizer from tokenizer.json text held in memory; source names it in messages. */
dfrt_status dfrt_tokenizer_parse(const char *json, size_t len, const char *source, dfrt_tokenizer **out_tokenizer);

#endif
