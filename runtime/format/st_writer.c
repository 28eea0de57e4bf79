/* safetensors writer: the Python package's layout, written through a temporary file. */
#include "base/internal.h"


typedef struct writer_entry {
    char *name;
    dfrt_dtype dtype;
    int n_dims;
    int64_t shape[DFRT_MAX_DIMS];
    uint64_t n_bytes;
    const void *data;
} writer_entry;

struct dfrt_st_writer {
    char *path;
    size_t count, cap;
    writer_entry *entries;
    size_t n_metadata;
    char **meta_keys, **meta_values;
};

/* The Python/Rust safetensors package sorts tensors by dtype, largest alignment first, in the
 * order of its Dtype enum (BOOL < U8 < I8 < I16 < U16 < F16 < BF16 < I32 < U32 < F32 < F64 <
 * I64 < U64), then by name. */
static int dtype_rank(dfrt_dtype d) {
    static const int rank[DFRT_DTYPE_COUNT] = {
        [DFRT_DTYPE_BOOL] = 0, [DFRT_DTYPE_U8] = 1,   [DFRT_DTYPE_I8] = 2,   [DFRT_DTYPE_I16] = 3,
        [DFRT_DTYPE_U16] = 4,  [DFRT_DTYPE_F16] = 5,  [DFRT_DTYPE_BF16] = 6, [DFRT_DTYPE_I32] = 7,
        [DFRT_DTYPE_U32] = 8,  [DFRT_DTYPE_F32] = 9,  [DFRT_DTYPE_F64] = 10, [DFRT_DTYPE_I64] = 11,
        [DFRT_DTYPE_U64] = 12,
    };
    return rank[d];
}

static int compare_entries(const void *a, const void *b) {
    const writer_entry *x = a, *y = b;
    int rx = dtype_rank(x->dtype), ry = dtype_rank(y->dtype);
    if (rx != ry) return ry - rx;
    return strcmp(x->name, y->name);
}

dfrt_status dfrt_st_writer_create(const char *path, dfrt_st_writer **out_writer) {
    *out_writer = NULL;
    if (!path || !*path) return dfrt_fail(DFRT_INVALID_ARGUMENT, "safetensors output path is empty");
    dfrt_st_writer *w = dfrt_calloc(1, sizeof *w, "a safetensors writer");
    if (!w) return DFRT_OUT_OF_MEMORY;
    if (!(w->path = dfrt_strdup(path))) {
        free(w);
        return DFRT_OUT_OF_MEMORY;
    }
    *out_writer = w;
    return DFRT_OK;
}

static void writer_free(dfrt_st_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->count; i++) free(w->entries[i].name);
    free(w->entries);
    for (size_t i = 0; i < w->n_metadata; i++) {
        free(w->meta_keys[i]);
        free(w->meta_values[i]);
    }
    DFRT_FREE_ALL(w->meta_keys, w->meta_values, w->path, w);
}

void dfrt_st_writer_abort(dfrt_st_writer *w) { writer_free(w); }

dfrt_status dfrt_st_writer_set_metadata(dfrt_st_writer *w, const char *key, const char *value) {
    char **k = realloc(w->meta_keys, (w->n_metadata + 1) * sizeof *k);
    if (!k) return dfrt_fail(DFRT_OUT_OF_MEMORY, "%s: out of memory for metadata", w->path);
    w->meta_keys = k;
    char **v = realloc(w->meta_values, (w->n_metadata + 1) * sizeof *v);
    if (!v) return dfrt_fail(DFRT_OUT_OF_MEMORY, "%s: out of memory for metadata", w->path);
    w->meta_values = v;
    char *kc = dfrt_strdup(key), *vc = dfrt_strdup(value);
    if (!kc || !vc) {
        free(kc);
        free(vc);
        return DFRT_OUT_OF_MEMORY;
    }
    w->meta_keys[w->n_metadata] = kc;
    w->meta_values[w->n_metadata] = vc;
    w->n_metadata++;
    return DFRT_OK;
}

dfrt_status dfrt_st_writer_add(dfrt_st_writer *w, const char *name, dfrt_dtype dtype, int n_dims,
                               const int64_t *shape, const void *data) {
    if (!name || !*name) return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: tensor name is empty", w->path);
    if ((unsigned)dtype >= DFRT_DTYPE_COUNT)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: tensor %s: invalid dtype %d", w->path, name, (int)dtype);
    if (n_dims < 0 || n_dims > DFRT_MAX_DIMS)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: tensor %s: %d dimensions", w->path, name, n_dims);
    if (strcmp(name, "__metadata__") == 0)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: \"__metadata__\" is not a tensor name", w->path);
    for (size_t i = 0; i < w->count; i++)
        if (strcmp(w->entries[i].name, name) == 0)
            return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: tensor %s added twice", w->path, name);
    writer_entry e = {.dtype = dtype, .n_dims = n_dims, .data = data};
    uint64_t elements = 1;
    for (int d = 0; d < n_dims; d++) {
        if (shape[d] < 0 || dfrt_mul_overflow_u64(elements, (uint64_t)shape[d], &elements))
            return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: tensor %s: bad shape", w->path, name);
        e.shape[d] = shape[d];
    }
    if (dfrt_mul_overflow_u64(elements, dfrt_dtype_size(dtype), &e.n_bytes))
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: tensor %s: too large", w->path, name);
    if (e.n_bytes && !data)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: tensor %s: no data", w->path, name);
    if (w->count == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 16;
        writer_entry *grown = realloc(w->entries, cap * sizeof *grown);
        if (!grown) return dfrt_fail(DFRT_OUT_OF_MEMORY, "%s: out of memory", w->path);
        w->entries = grown;
        w->cap = cap;
    }
    if (!(e.name = dfrt_strdup(name))) return DFRT_OUT_OF_MEMORY;
    w->entries[w->count++] = e;
    return DFRT_OK;
}

dfrt_status dfrt_st_writer_finish(dfrt_st_writer *w) {
    if (!w) return dfrt_fail(DFRT_INVALID_ARGUMENT, "safetensors writer is NULL");
    qsort(w->entries, w->count, sizeof *w->entries, compare_entries);
    dfrt_buf h = {0};
    dfrt_buf_puts(&h, "{");
    bool first = true;
    if (w->n_metadata) {
        dfrt_buf_puts(&h, "\"__metadata__\":{");
        for (size_t i = 0; i < w->n_metadata; i++) {
            if (i) dfrt_buf_puts(&h, ",");
            dfrt_buf_json_string(&h, w->meta_keys[i]);
            dfrt_buf_puts(&h, ":");
            dfrt_buf_json_string(&h, w->meta_values[i]);
        }
        dfrt_buf_puts(&h, "}");
        first = false;
    }
    uint64_t offset = 0;
    for (size_t i = 0; i < w->count; i++) {
        const writer_entry *e = &w->entries[i];
        if (!first) dfrt_buf_puts(&h, ",");
        first = false;
        dfrt_buf_json_string(&h, e->name);
        dfrt_buf_printf(&h, ":{\"dtype\":\"%s\",\"shape\":[", dfrt_dtype_name(e->dtype));
        for (int d = 0; d < e->n_dims; d++) dfrt_buf_printf(&h, d ? ",%lld" : "%lld", (long long)e->shape[d]);
        dfrt_buf_printf(&h, "],\"data_offsets\":[%llu,", (unsigned long long)offset);
        offset += e->n_bytes;
        dfrt_buf_printf(&h, "%llu]}", (unsigned long long)offset);
    }
    dfrt_buf_puts(&h, "}");
    while (!h.failed && h.len % 8 != 0) dfrt_buf_puts(&h, " ");
    if (h.failed) {
        free(h.p);
        dfrt_status s = dfrt_fail(DFRT_OUT_OF_MEMORY, "%s: out of memory building the header", w->path);
        writer_free(w);
        return s;
    }

    dfrt_atomic_file f;
    uint64_t header_len = h.len;
    dfrt_status s = dfrt_atomic_open(w->path, &f);
    if (s == DFRT_OK) s = dfrt_atomic_write(&f, &header_len, 8);
    if (s == DFRT_OK) s = dfrt_atomic_write(&f, h.p, h.len);
    for (size_t i = 0; i < w->count && s == DFRT_OK; i++) s = dfrt_atomic_write(&f, w->entries[i].data, w->entries[i].n_bytes);
    if (s == DFRT_OK) s = dfrt_atomic_commit(&f);
    else dfrt_atomic_abort(&f);
    free(h.p);
    writer_free(w);
    return s;
}
