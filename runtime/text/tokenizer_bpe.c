/* The tokenizer's BPE: the added-token trie, hash maps, and the merge engine with its
 * per-call cache.
 *
 * The merge engine is Hugging Face tokenizers' Word::merge_all: symbols in a doubly linked
 * list, candidate merges in a min-heap ordered by (rank, position), stale entries skipped
 * when popped. Each merge pushes at most two entries, so a pre-token of n bytes costs
 * O(n log n) whatever its shape ("aaaa..." included). */
#include "text/tokenizer_internal.h"

/* ---------------------------------------------------------------------------------------- */
/* Added tokens: trie and leftmost-longest search                                            */
/* ---------------------------------------------------------------------------------------- */

static int32_t trie_new_node(tok_trie *tr, uint8_t byte) {
    if (tr->n == tr->cap) {
        size_t cap = tr->cap ? tr->cap * 2 : 64;
        tok_trie_node *nodes = realloc(tr->nodes, cap * sizeof *nodes);
        if (!nodes) return -1;
        tr->nodes = nodes;
        tr->cap = cap;
    }
    tr->nodes[tr->n] = (tok_trie_node){-1, -1, -1, byte};
    return (int32_t)tr->n++;
}

dfrt_status tok_trie_add(tok_trie *tr, const char *s, size_t n, int32_t token) {
    if (!tr->n && trie_new_node(tr, 0) < 0) return dfrt_fail(DFRT_OUT_OF_MEMORY, "out of memory building added tokens");
    int32_t node = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t b = (uint8_t)s[i];
        int32_t c = tr->nodes[node].child;
        while (c >= 0 && tr->nodes[c].byte != b) c = tr->nodes[c].sibling;
        if (c < 0) {
            if ((c = trie_new_node(tr, b)) < 0)
                return dfrt_fail(DFRT_OUT_OF_MEMORY, "out of memory building added tokens");
            tr->nodes[c].sibling = tr->nodes[node].child;
            tr->nodes[node].child = c;
        }
        node = c;
    }
    /* A repeated pattern keeps its first token, as Aho-Corasick reports the first pattern. */
    if (tr->nodes[node].token < 0) tr->nodes[node].token = token;
    tr->first[(uint8_t)s[0] >> 3] |= (uint8_t)(1u << ((uint8_t)s[0] & 7));
    tr->n_tokens++;
    return DFRT_OK;
}

/* The leftmost match at or after `from`, the longest at that position. */
bool tok_trie_find(const tok_trie *tr, const char *text, size_t n, size_t from, size_t *ms, size_t *me,
                      int32_t *token) {
    const uint8_t *s = (const uint8_t *)text;
    for (size_t pos = from; pos < n; pos++) {
        if (!(tr->first[s[pos] >> 3] & (1u << (s[pos] & 7)))) continue;
        int32_t node = 0, best = -1;
        size_t best_end = 0;
        for (size_t i = pos; i < n; i++) {
            int32_t c = tr->nodes[node].child;
            while (c >= 0 && tr->nodes[c].byte != s[i]) c = tr->nodes[c].sibling;
            if (c < 0) break;
            node = c;
            if (tr->nodes[c].token >= 0) {
                best = tr->nodes[c].token;
                best_end = i + 1;
            }
        }
        if (best >= 0) {
            *ms = pos;
            *me = best_end;
            *token = best;
            return true;
        }
    }
    return false;
}

/* ---------------------------------------------------------------------------------------- */
/* Hashing and maps                                                                          */
/* ---------------------------------------------------------------------------------------- */

uint64_t tok_hash(const void *data, size_t len) {
    /* 64-bit FNV-1a over 8-byte words, then a final mix; good enough for token strings. */
    const uint8_t *p = data;
    uint64_t h = 0xcbf29ce484222325ull ^ (uint64_t)len;
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0x100000001b3ull;
        h ^= h >> 29;
        p += 8;
        len -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, p, len);
    h = (h ^ w) * 0x100000001b3ull;
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ull;
    h ^= h >> 32;
    return h;
}

static bool key_equals(tok_keys k, int32_t id, const void *key, size_t len) {
    return k.len[id] == len && memcmp(k.arena + k.off[id], key, len) == 0;
}

static bool map_grow(tok_map *m) {
    uint32_t cap = m->slots ? (m->mask + 1) * 2 : 1024;
    if (cap == 0 || cap > (1u << 30)) return false;
    uint64_t *slots = calloc(cap, sizeof *slots);
    if (!slots) return false;
    if (m->slots) {
        for (uint32_t i = 0; i <= m->mask; i++) {
            uint64_t s = m->slots[i];
            if (!s) continue;
            /* The slot keeps the hash's high 32 bits; they place it again. */
            uint32_t j = (uint32_t)(s >> 32) * 0x9E3779B1u & (cap - 1);
            while (slots[j]) j = (j + 1) & (cap - 1);
            slots[j] = s;
        }
        free(m->slots);
    }
    m->slots = slots;
    m->mask = cap - 1;
    return true;
}

/* The home slot depends on the high bits only, so that growing can place slots again. */
static uint32_t map_home(const tok_map *m, uint64_t hash) {
    return (uint32_t)(hash >> 32) * 0x9E3779B1u & m->mask;
}

int32_t tok_map_insert(tok_map *m, tok_keys k, int32_t id, uint64_t hash) {
    if ((!m->slots || (uint64_t)(m->count + 1) * 2 > (uint64_t)m->mask + 1) && !map_grow(m)) return -2;
    uint32_t h32 = (uint32_t)(hash >> 32);
    const void *key = k.arena + k.off[id];
    size_t len = k.len[id];
    uint32_t i = map_home(m, hash);
    for (;; i = (i + 1) & m->mask) {
        uint64_t s = m->slots[i];
        if (!s) break;
        int32_t other = (int32_t)(uint32_t)s - 1;
        if ((uint32_t)(s >> 32) == h32 && key_equals(k, other, key, len)) return other;
    }
    m->slots[i] = ((uint64_t)h32 << 32) | (uint32_t)(id + 1);
    m->count++;
    return -1;
}

void tok_map_free(tok_map *m) {
    free(m->slots);
    memset(m, 0, sizeof *m);
}

int32_t tok_map_find(const tok_map *m, tok_keys k, const void *key, size_t len, uint64_t hash) {
    if (!m->slots) return -1;
    uint32_t h32 = (uint32_t)(hash >> 32);
    for (uint32_t i = map_home(m, hash);; i = (i + 1) & m->mask) {
        uint64_t s = m->slots[i];
        if (!s) return -1;
        int32_t id = (int32_t)(uint32_t)s - 1;
        if ((uint32_t)(s >> 32) == h32 && key_equals(k, id, key, len)) return id;
    }
}

static uint64_t pair_hash(uint64_t key) {
    key ^= key >> 31;
    key *= 0x9E3779B97F4A7C15ull;
    key ^= key >> 29;
    return key;
}

static bool merges_grow(tok_merges *m) {
    uint64_t cap = m->slots ? (m->mask + 1) * 2 : 1024;
    if (cap > ((uint64_t)1 << 31)) return false;
    tok_merge_slot *slots = malloc(cap * sizeof *slots);
    if (!slots) return false;
    for (uint64_t i = 0; i < cap; i++) slots[i].key = UINT64_MAX;
    if (m->slots) {
        for (uint64_t i = 0; i <= m->mask; i++) {
            if (m->slots[i].key == UINT64_MAX) continue;
            uint64_t j = pair_hash(m->slots[i].key) & (cap - 1);
            while (slots[j].key != UINT64_MAX) j = (j + 1) & (cap - 1);
            slots[j] = m->slots[i];
        }
        free(m->slots);
    }
    m->slots = slots;
    m->mask = cap - 1;
    return true;
}

dfrt_status tok_merges_put(tok_merges *m, int32_t left, int32_t right, uint32_t rank, int32_t merged) {
    if ((!m->slots || (m->count + 1) * 2 > m->mask + 1) && !merges_grow(m))
        return dfrt_fail(DFRT_OUT_OF_MEMORY, "out of memory building the merge table");
    uint64_t key = ((uint64_t)(uint32_t)left << 32) | (uint32_t)right;
    uint64_t i = pair_hash(key) & m->mask;
    while (m->slots[i].key != UINT64_MAX && m->slots[i].key != key) i = (i + 1) & m->mask;
    if (m->slots[i].key == UINT64_MAX) m->count++;
    m->slots[i] = (tok_merge_slot){key, rank, merged};
    return DFRT_OK;
}

const tok_merge_slot *tok_merges_find(const tok_merges *m, int32_t left, int32_t right) {
    if (!m->slots) return NULL;
    uint64_t key = ((uint64_t)(uint32_t)left << 32) | (uint32_t)right;
    for (uint64_t i = pair_hash(key) & m->mask;; i = (i + 1) & m->mask) {
        if (m->slots[i].key == key) return &m->slots[i];
        if (m->slots[i].key == UINT64_MAX) return NULL;
    }
}

void tok_merges_free(tok_merges *m) {
    free(m->slots);
    memset(m, 0, sizeof *m);
}

bool tok_ids_reserve(tok_ids *ids, size_t more) {
    if (ids->failed) return false;
    if (ids->n + more <= ids->cap) return true;
    size_t cap = ids->cap ? ids->cap : 64;
    while (cap < ids->n + more) {
        if (cap > SIZE_MAX / 2 / sizeof *ids->v) {
            ids->failed = true;
            return false;
        }
        cap *= 2;
    }
    int32_t *v = realloc(ids->v, cap * sizeof *v);
    if (!v) {
        ids->failed = true;
        return false;
    }
    ids->v = v;
    ids->cap = cap;
    return true;
}

/* ---------------------------------------------------------------------------------------- */
/* Per-call scratch: symbols, heap, cache                                                    */
/* ---------------------------------------------------------------------------------------- */

/* Pre-tokens up to this many bytes are cached (longer ones are rare and cost more to keep). */
#define CACHE_MAX_KEY 256
#define CACHE_MAX_ENTRIES (1u << 20)

typedef struct cache_entry {
    uint64_t hash;
    uint32_t key_off, key_len;
    uint32_t ids_off, n_ids; /* n_ids = 0: empty slot (a cached piece has at least one id) */
} cache_entry;

typedef struct heap_entry {
    uint32_t rank;
    uint32_t pos;
    int32_t merged;
} heap_entry;

struct tok_work {
    int32_t *sym, *prev, *next;
    uint8_t *dead;
    size_t sym_cap;
    heap_entry *heap;
    size_t heap_n, heap_cap;
    /* cache */
    cache_entry *cache;
    uint32_t cache_mask, cache_count;
    dfrt_buf cache_keys;
    tok_ids cache_ids;
    bool cache_full;
};

tok_work *tok_work_create(void) { return calloc(1, sizeof(tok_work)); }

void tok_work_free(tok_work *w) {
    if (!w) return;
    DFRT_FREE_ALL(w->sym, w->prev, w->next, w->dead, w->heap, w->cache, w->cache_keys.p, w->cache_ids.v, w);
}

static bool work_reserve(tok_work *w, size_t n) {
    if (n <= w->sym_cap) return true;
    size_t cap = w->sym_cap ? w->sym_cap : 64;
    while (cap < n) cap *= 2;
    int32_t *a = realloc(w->sym, cap * sizeof *a);
    if (a) w->sym = a;
    int32_t *b = realloc(w->prev, cap * sizeof *b);
    if (b) w->prev = b;
    int32_t *c = realloc(w->next, cap * sizeof *c);
    if (c) w->next = c;
    uint8_t *d = realloc(w->dead, cap);
    if (d) w->dead = d;
    if (!a || !b || !c || !d) return false;
    w->sym_cap = cap;
    return true;
}

static bool heap_less(heap_entry a, heap_entry b) { return a.rank != b.rank ? a.rank < b.rank : a.pos < b.pos; }

static bool heap_push(tok_work *w, heap_entry e) {
    if (w->heap_n == w->heap_cap) {
        size_t cap = w->heap_cap ? w->heap_cap * 2 : 64;
        heap_entry *h = realloc(w->heap, cap * sizeof *h);
        if (!h) return false;
        w->heap = h;
        w->heap_cap = cap;
    }
    size_t i = w->heap_n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!heap_less(e, w->heap[parent])) break;
        w->heap[i] = w->heap[parent];
        i = parent;
    }
    w->heap[i] = e;
    return true;
}

static heap_entry heap_pop(tok_work *w) {
    heap_entry top = w->heap[0], last = w->heap[--w->heap_n];
    size_t i = 0, n = w->heap_n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && heap_less(w->heap[c + 1], w->heap[c])) c++;
        if (!heap_less(w->heap[c], last)) break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (n) w->heap[i] = last;
    return top;
}

static const cache_entry *cache_find(const tok_work *w, const uint8_t *key, size_t len, uint64_t hash) {
    if (!w->cache) return NULL;
    for (uint32_t i = (uint32_t)hash & w->cache_mask;; i = (i + 1) & w->cache_mask) {
        const cache_entry *e = &w->cache[i];
        if (!e->n_ids) return NULL;
        if (e->hash == hash && e->key_len == len && memcmp(w->cache_keys.p + e->key_off, key, len) == 0) return e;
    }
}

static bool cache_grow(tok_work *w) {
    uint32_t cap = w->cache ? (w->cache_mask + 1) * 2 : 4096;
    cache_entry *c = calloc(cap, sizeof *c);
    if (!c) return false;
    if (w->cache) {
        for (uint32_t i = 0; i <= w->cache_mask; i++) {
            if (!w->cache[i].n_ids) continue;
            uint32_t j = (uint32_t)w->cache[i].hash & (cap - 1);
            while (c[j].n_ids) j = (j + 1) & (cap - 1);
            c[j] = w->cache[i];
        }
        free(w->cache);
    }
    w->cache = c;
    w->cache_mask = cap - 1;
    return true;
}

/* Best effort: a failure only stops caching. */
static void cache_insert(tok_work *w, const uint8_t *key, size_t len, uint64_t hash, const int32_t *ids, size_t n) {
    if (w->cache_full || n == 0 || len > CACHE_MAX_KEY) return;
    if (w->cache_count >= CACHE_MAX_ENTRIES || w->cache_keys.len > UINT32_MAX / 2 ||
        w->cache_ids.n > UINT32_MAX / 2) {
        w->cache_full = true;
        return;
    }
    if ((!w->cache || (w->cache_count + 1) * 2 > w->cache_mask + 1) && !cache_grow(w)) {
        w->cache_full = true;
        return;
    }
    size_t key_off = w->cache_keys.len, ids_off = w->cache_ids.n;
    dfrt_buf_append(&w->cache_keys, (const char *)key, len);
    if (w->cache_keys.failed || !tok_ids_reserve(&w->cache_ids, n)) {
        w->cache_full = true;
        return;
    }
    memcpy(w->cache_ids.v + ids_off, ids, n * sizeof *ids);
    w->cache_ids.n += n;
    uint32_t i = (uint32_t)hash & w->cache_mask;
    while (w->cache[i].n_ids) i = (i + 1) & w->cache_mask;
    w->cache[i] = (cache_entry){hash, (uint32_t)key_off, (uint32_t)len, (uint32_t)ids_off, (uint32_t)n};
    w->cache_count++;
}

/* ---------------------------------------------------------------------------------------- */
/* The merge engine                                                                          */
/* ---------------------------------------------------------------------------------------- */

static dfrt_status missing_byte(const dfrt_tokenizer *t, uint8_t byte) {
    char ch[8];
    uint32_t cp = tok_byte_char(byte);
    /* cp < 0x800: two bytes at most */
    if (cp < 0x80) {
        ch[0] = (char)cp;
        ch[1] = 0;
    } else {
        ch[0] = (char)(0xC0 | (cp >> 6));
        ch[1] = (char)(0x80 | (cp & 0x3F));
        ch[2] = 0;
    }
    return dfrt_fail(DFRT_FORMAT_ERROR,
                     "%s: the vocabulary has no token for byte 0x%02X (\"%s\") and no unk_token, so this text "
                     "cannot be encoded",
                     t->source, byte, ch);
}

/* The initial symbols of a pre-token: one per byte, unknown bytes as unk (fused or not). */
static dfrt_status initial_symbols(const dfrt_tokenizer *t, tok_work *w, const uint8_t *p, size_t len, size_t *out_n) {
    size_t n = 0;
    bool pending_unk = false;
    for (size_t i = 0; i < len; i++) {
        int32_t id = t->byte_id[p[i]];
        if (id >= 0) {
            if (pending_unk) w->sym[n++] = t->unk_id;
            pending_unk = false;
            w->sym[n++] = id;
            continue;
        }
        if (t->unk_id < 0) return missing_byte(t, p[i]);
        if (pending_unk && !t->fuse_unk) w->sym[n++] = t->unk_id;
        pending_unk = true;
    }
    if (pending_unk) w->sym[n++] = t->unk_id;
    *out_n = n;
    return DFRT_OK;
}

/* Without byte_level, the initial symbols are the piece's characters (SentencePiece-style, as
 * Hugging Face's BPE does): a character in the vocabulary is its id; else, with
 * byte_fallback, its bytes' "<0xHH>" tokens when all of them exist; else unk (fused or not). */
static dfrt_status initial_chars(const dfrt_tokenizer *t, tok_work *w, const uint8_t *p, size_t len, size_t *out_n) {
    size_t n = 0;
    bool last_unk = false;
    tok_keys k = {t->strs.p, t->str_off, t->str_len};
    for (size_t i = 0, cl; i < len; i += cl) {
        tok_utf8_decode((const char *)p + i, len - i, &cl);
        int32_t id = tok_map_find(&t->by_string, k, p + i, cl, tok_hash(p + i, cl));
        if (id >= 0) {
            w->sym[n++] = id;
            last_unk = false;
            continue;
        }
        bool all = t->byte_fallback;
        for (size_t j = 0; j < cl && all; j++) all = t->fallback_id[p[i + j]] >= 0;
        if (all) {
            for (size_t j = 0; j < cl; j++) w->sym[n++] = t->fallback_id[p[i + j]];
            last_unk = false;
            continue;
        }
        if (t->unk_id < 0)
            return dfrt_fail(DFRT_FORMAT_ERROR,
                             "%s: the vocabulary has no token for the character \"%.*s\"%s and no unk_token, so this "
                             "text cannot be encoded",
                             t->source, (int)cl, (const char *)p + i, t->byte_fallback ? " nor for all of its bytes" : "");
        if (!(last_unk && t->fuse_unk)) w->sym[n++] = t->unk_id;
        last_unk = true;
    }
    *out_n = n;
    return DFRT_OK;
}

static dfrt_status merge_word(const dfrt_tokenizer *t, tok_work *w, const uint8_t *p, size_t len, tok_ids *out) {
    if (!work_reserve(w, len)) return dfrt_fail(DFRT_OUT_OF_MEMORY, "out of memory encoding a %zu-byte piece", len);
    size_t n = 0;
    DFRT_TRY(t->byte_level ? initial_symbols(t, w, p, len, &n) : initial_chars(t, w, p, len, &n));
    for (size_t i = 0; i < n; i++) {
        w->prev[i] = (int32_t)i - 1;
        w->next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
        w->dead[i] = 0;
    }
    w->heap_n = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        const tok_merge_slot *m = tok_merges_find(&t->merges, w->sym[i], w->sym[i + 1]);
        if (m && !heap_push(w, (heap_entry){m->rank, (uint32_t)i, m->id})) goto oom;
    }
    while (w->heap_n) {
        heap_entry top = heap_pop(w);
        size_t pos = top.pos;
        if (w->dead[pos]) continue;
        int32_t nx = w->next[pos];
        if (nx < 0) continue;
        /* A stale entry: the pair here changed since it was pushed. */
        const tok_merge_slot *m = tok_merges_find(&t->merges, w->sym[pos], w->sym[nx]);
        if (!m || m->id != top.merged) continue;
        w->sym[pos] = top.merged;
        w->dead[nx] = 1;
        int32_t nn = w->next[nx];
        w->next[pos] = nn;
        if (nn >= 0) w->prev[nn] = (int32_t)pos;
        int32_t pv = w->prev[pos];
        if (pv >= 0) {
            const tok_merge_slot *ml = tok_merges_find(&t->merges, w->sym[pv], w->sym[pos]);
            if (ml && !heap_push(w, (heap_entry){ml->rank, (uint32_t)pv, ml->id})) goto oom;
        }
        if (nn >= 0) {
            const tok_merge_slot *mr = tok_merges_find(&t->merges, w->sym[pos], w->sym[nn]);
            if (mr && !heap_push(w, (heap_entry){mr->rank, (uint32_t)pos, mr->id})) goto oom;
        }
    }
    for (int32_t i = n ? 0 : -1; i >= 0; i = w->next[i]) tok_ids_push(out, w->sym[i]);
    if (out->failed) goto oom;
    return DFRT_OK;
oom:
    return dfrt_fail(DFRT_OUT_OF_MEMORY, "out of memory encoding a %zu-byte piece", len);
}

dfrt_status tok_bpe_piece(const dfrt_tokenizer *t, tok_work *w, const uint8_t *piece, size_t len, tok_ids *out) {
    if (len == 0) return DFRT_OK;
    if (len == 1 && t->byte_level && t->byte_id[piece[0]] >= 0) {
        tok_ids_push(out, t->byte_id[piece[0]]);
        return out->failed ? dfrt_fail(DFRT_OUT_OF_MEMORY, "out of memory encoding") : DFRT_OK;
    }
    uint64_t hash = tok_hash(piece, len);
    if (t->ignore_merges) { /* the piece whole, where the vocabulary has it */
        tok_keys k = t->byte_level ? (tok_keys){t->bytes.p, t->bytes_off, t->bytes_len}
                                   : (tok_keys){t->strs.p, t->str_off, t->str_len};
        int32_t id = tok_map_find(t->byte_level ? &t->by_bytes : &t->by_string, k, piece, len, hash);
        if (id >= 0) {
            tok_ids_push(out, id);
            return out->failed ? dfrt_fail(DFRT_OUT_OF_MEMORY, "out of memory encoding") : DFRT_OK;
        }
    }
    const cache_entry *e = len <= CACHE_MAX_KEY ? cache_find(w, piece, len, hash) : NULL;
    if (e) {
        if (!tok_ids_reserve(out, e->n_ids)) return dfrt_fail(DFRT_OUT_OF_MEMORY, "out of memory encoding");
        memcpy(out->v + out->n, w->cache_ids.v + e->ids_off, e->n_ids * sizeof(int32_t));
        out->n += e->n_ids;
        return DFRT_OK;
    }
    size_t start = out->n;
    DFRT_TRY(merge_word(t, w, piece, len, out));
    cache_insert(w, piece, len, hash, out->v + start, out->n - start);
    return DFRT_OK;
}
