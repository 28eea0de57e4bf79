/* safetensors reader: mapped files, validated headers, and the tensors of a directory. */
#include "format/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_HEADER_BYTES ((uint64_t)100 * 1000 * 1000)

static const struct {
    const char *name;
    size_t size;
} dtype_info[DFRT_DTYPE_COUNT] = {
    [DFRT_DTYPE_BOOL] = {"BOOL", 1}, [DFRT_DTYPE_U8] = {"U8", 1},     [DFRT_DTYPE_I8] = {"I8", 1},
    [DFRT_DTYPE_I16] = {"I16", 2},   [DFRT_DTYPE_U16] = {"U16", 2},   [DFRT_DTYPE_F16] = {"F16", 2},
    [DFRT_DTYPE_BF16] = {"BF16", 2}, [DFRT_DTYPE_I32] = {"I32", 4},   [DFRT_DTYPE_U32] = {"U32", 4},
    [DFRT_DTYPE_F32] = {"F32", 4},   [DFRT_DTYPE_I64] = {"I64", 8},   [DFRT_DTYPE_U64] = {"U64", 8},
    [DFRT_DTYPE_F64] = {"F64", 8},
};

const char *dfrt_dtype_name(dfrt_dtype dtype) {
    return (unsigned)dtype < DFRT_DTYPE_COUNT ? dtype_info[dtype].name : "?";
}

size_t dfrt_dtype_size(dfrt_dtype dtype) {
    return (unsigned)dtype < DFRT_DTYPE_COUNT ? dtype_info[dtype].size : 0;
}

bool dfrt_dtype_parse(const char *name, dfrt_dtype *out_dtype) {
    for (int i = 0; i < DFRT_DTYPE_COUNT; i++)
        if (strcmp(name, dtype_info[i].name) == 0) {
            *out_dtype = (dfrt_dtype)i;
            return true;
        }
    return false;
}

typedef struct metadata_entry {
    char *key, *value;
} metadata_entry;

struct dfrt_st_file {
    char *path;
    void *map;
    size_t map_size;
    bool owns_map; /* mapped by dfrt_st_file_open (not a caller's buffer) */
    void (*release)(void *ctx); /* a file made in memory: frees its tensors' data */
    void *release_ctx;
    size_t count;
    dfrt_tensor *tensors; /* by data offset */
    size_t *by_name;      /* indices sorted by name */
    size_t n_metadata;
    metadata_entry *metadata;
};

/* A JSON number that is a non-negative integer below 2^53. */
static bool json_u53(const cJSON *item, uint64_t *out) {
    if (!cJSON_IsNumber(item)) return false;
    double v = item->valuedouble;
    if (!(v >= 0.0) || v > 9007199254740992.0 || v != (double)(uint64_t)v) return false;
    *out = (uint64_t)v;
    return true;
}

static int compare_offsets(const void *a, const void *b) {
    const dfrt_tensor *x = a, *y = b;
    if (x->data != y->data) return (const uint8_t *)x->data < (const uint8_t *)y->data ? -1 : 1;
    return x->n_bytes < y->n_bytes ? -1 : (x->n_bytes > y->n_bytes);
}

static int compare_names_r(const void *a, const void *b, void *ctx) {
    const dfrt_st_file *f = ctx;
    return strcmp(f->tensors[*(const size_t *)a].name, f->tensors[*(const size_t *)b].name);
}

static dfrt_status parse_tensor_entry(const char *path, const cJSON *item, const uint8_t *data_start,
                                      uint64_t data_size, dfrt_tensor *t) {
    const char *name = item->string;
    if (!name || !*name) return dfrt_fail(DFRT_FORMAT_ERROR, "%s: header has a tensor with an empty name", path);
    if (!cJSON_IsObject(item))
        return dfrt_fail(DFRT_FORMAT_ERROR, "%s: tensor %s: header entry is not an object", path, name);
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *offsets = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!cJSON_IsString(dtype))
        return dfrt_fail(DFRT_FORMAT_ERROR, "%s: tensor %s: missing or non-string \"dtype\"", path, name);
    if (!dfrt_dtype_parse(dtype->valuestring, &t->dtype))
        return dfrt_fail(DFRT_UNSUPPORTED, "%s: tensor %s: unknown dtype \"%s\"", path, name,
                         dtype->valuestring);
    if (!cJSON_IsArray(shape))
        return dfrt_fail(DFRT_FORMAT_ERROR, "%s: tensor %s: missing or non-array \"shape\"", path, name);
    int n_dims = cJSON_GetArraySize(shape);
    if (n_dims > DFRT_MAX_DIMS)
        return dfrt_fail(DFRT_UNSUPPORTED, "%s: tensor %s: %d dimensions, at most %d supported", path,
                         name, n_dims, DFRT_MAX_DIMS);
    t->n_dims = n_dims;
    uint64_t elements = 1;
    int d = 0;
    const cJSON *dim;
    cJSON_ArrayForEach(dim, shape) {
        uint64_t v;
        if (!json_u53(dim, &v))
            return dfrt_fail(DFRT_FORMAT_ERROR, "%s: tensor %s: shape[%d] is not a non-negative integer",
                             path, name, d);
        t->shape[d++] = (int64_t)v;
        if (dfrt_mul_overflow_u64(elements, v, &elements) || elements > ((uint64_t)1 << 53))
            return dfrt_fail(DFRT_FORMAT_ERROR, "%s: tensor %s: shape is too large", path, name);
    }
    t->n_elements = elements;
    t->n_bytes = elements * dfrt_dtype_size(t->dtype);
    if (!cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2)
        return dfrt_fail(DFRT_FORMAT_ERROR, "%s: tensor %s: \"data_offsets\" must be an array of two integers",
                         path, name);
    uint64_t begin, end;
    if (!json_u53(cJSON_GetArrayItem(offsets, 0), &begin) || !json_u53(cJSON_GetArrayItem(offsets, 1), &end))
        return dfrt_fail(DFRT_FORMAT_ERROR, "%s: tensor %s: \"data_offsets\" must be non-negative integers",
                         path, name);
    if (end < begin)
        return dfrt_fail(DFRT_FORMAT_ERROR, "%s: tensor %s: data_offsets [%llu, %llu] end before they begin",
                         path, name, (unsigned long long)begin, (unsigned long long)end);
    if (end > data_size)
        return dfrt_fail(DFRT_FORMAT_ERROR,
                         "%s: tensor %s: data_offsets [%llu, %llu] run past the end of the data (%llu bytes)",
                         path, name, (unsigned long long)begin, (unsigned long long)end,
                         (unsigned long long)data_size);
    if (end - begin != t->n_bytes)
        return dfrt_fail(DFRT_FORMAT_ERROR,
                         "%s: tensor %s: data_offsets span %llu bytes, but %s shape needs %llu", path, name,
                         (unsigned long long)(end - begin), dfrt_dtype_name(t->dtype),
                         (unsigned long long)t->n_bytes);
    t->data = data_start + begin;
    return DFRT_OK;
}

static dfrt_status parse_metadata(dfrt_st_file *f, const cJSON *item) {
    if (!cJSON_IsObject(item))
        return dfrt_fail(DFRT_FORMAT_ERROR, "%s: \"__metadata__\" is not an object", f->path);
    size_t n = (size_t)cJSON_GetArraySize(item);
    f->metadata = dfrt_calloc(n, sizeof *f->metadata, "safetensors metadata");
    if (!f->metadata) return DFRT_OUT_OF_MEMORY;
    const cJSON *e;
    cJSON_ArrayForEach(e, item) {
        if (!cJSON_IsString(e))
            return dfrt_fail(DFRT_FORMAT_ERROR, "%s: __metadata__ entry \"%s\" is not a string", f->path,
                             e->string ? e->string : "");
        metadata_entry *m = &f->metadata[f->n_metadata++];
        if (!(m->key = dfrt_strdup(e->string)) || !(m->value = dfrt_strdup(e->valuestring)))
            return DFRT_OUT_OF_MEMORY;
    }
    return DFRT_OK;
}

static int compare_key_names(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The top-level keys are tensor names: a name given twice is named as such. */
static dfrt_status check_tensor_names(const dfrt_st_file *f, const cJSON *root, size_t n) {
    const char **names = dfrt_calloc(n, sizeof *names, "safetensors names");
    if (!names) return DFRT_OUT_OF_MEMORY;
    size_t k = 0;
    for (const cJSON *c = root->child; c; c = c->next) names[k++] = c->string ? c->string : "";
    qsort(names, k, sizeof *names, compare_key_names);
    dfrt_status s = DFRT_OK;
    for (size_t i = 1; i < k && s == DFRT_OK; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            s = strcmp(names[i], "__metadata__") == 0
                    ? dfrt_fail(DFRT_FORMAT_ERROR, "%s: \"__metadata__\" appears twice", f->path)
                    : dfrt_fail(DFRT_FORMAT_ERROR, "%s: duplicate tensor name %s in the header", f->path, names[i]);
    free(names);
    return s;
}

static dfrt_status parse_header(dfrt_st_file *f, const char *json, size_t json_len) {
    /* The header may be padded with spaces (the writers' alignment) or NUL bytes. */
    size_t text_len = json_len;
    while (text_len && (json[text_len - 1] == '\0' || json[text_len - 1] == ' ' || json[text_len - 1] == '\n' ||
                        json[text_len - 1] == '\r' || json[text_len - 1] == '\t'))
        text_len--;
    if (text_len == 0 || json[0] != '{')
        return dfrt_fail(DFRT_FORMAT_ERROR, "%s: not a safetensors file: the header does not start with '{'", f->path);
    char *source = dfrt_asprintf("%s: header", f->path);
    if (!source) return DFRT_OUT_OF_MEMORY;
    cJSON *root = NULL;
    dfrt_status s = dfrt_json_parse_unchecked(json, text_len, source, &root);
    if (s != DFRT_OK) {
        free(source);
        return s;
    }
    if (!cJSON_IsObject(root)) {
        s = dfrt_fail(DFRT_FORMAT_ERROR, "%s: header is not a JSON object", f->path);
        goto done;
    }
    size_t n = 0;
    for (const cJSON *c = root->child; c; c = c->next) n++;
    if ((s = check_tensor_names(f, root, n)) != DFRT_OK) goto done;
    if ((s = dfrt_json_check_duplicates(root, source)) != DFRT_OK) goto done;
    f->tensors = dfrt_calloc(n, sizeof *f->tensors, "safetensors tensors");
    if (!f->tensors) {
        s = DFRT_OUT_OF_MEMORY;
        goto done;
    }
    const uint8_t *data_start = (const uint8_t *)f->map + 8 + json_len;
    uint64_t data_size = f->map_size - 8 - json_len;
    const cJSON *item;
    bool seen_metadata = false;
    cJSON_ArrayForEach(item, root) {
        if (item->string && strcmp(item->string, "__metadata__") == 0) {
            if (seen_metadata) {
                s = dfrt_fail(DFRT_FORMAT_ERROR, "%s: \"__metadata__\" appears twice", f->path);
                goto done;
            }
            seen_metadata = true;
            if ((s = parse_metadata(f, item)) != DFRT_OK) goto done;
            continue;
        }
        dfrt_tensor *t = &f->tensors[f->count];
        if ((s = parse_tensor_entry(f->path, item, data_start, data_size, t)) != DFRT_OK) goto done;
        if (!(t->name = dfrt_strdup(item->string))) {
            s = DFRT_OUT_OF_MEMORY;
            goto done;
        }
        t->file = f->path;
        f->count++;
    }
    qsort(f->tensors, f->count, sizeof *f->tensors, compare_offsets);
    /* Empty tensors may sit anywhere; every other byte belongs to at most one tensor. */
    const dfrt_tensor *furthest = NULL; /* the non-empty tensor reaching furthest so far */
    for (size_t i = 0; i < f->count; i++) {
        const dfrt_tensor *t = &f->tensors[i];
        if (!t->n_bytes) continue;
        if (furthest && (const uint8_t *)furthest->data + furthest->n_bytes > (const uint8_t *)t->data) {
            s = dfrt_fail(DFRT_FORMAT_ERROR, "%s: tensors %s and %s overlap in the data section", f->path,
                          furthest->name, t->name);
            goto done;
        }
        furthest = t;
    }
    f->by_name = dfrt_calloc(f->count, sizeof *f->by_name, "safetensors index");
    if (!f->by_name) {
        s = DFRT_OUT_OF_MEMORY;
        goto done;
    }
    for (size_t i = 0; i < f->count; i++) f->by_name[i] = i;
    qsort_r(f->by_name, f->count, sizeof *f->by_name, compare_names_r, f);
    for (size_t i = 1; i < f->count; i++)
        if (strcmp(f->tensors[f->by_name[i - 1]].name, f->tensors[f->by_name[i]].name) == 0) {
            s = dfrt_fail(DFRT_FORMAT_ERROR, "%s: duplicate tensor name %s in the header", f->path,
                          f->tensors[f->by_name[i]].name);
            goto done;
        }
done:
    cJSON_Delete(root);
    free(source);
    return s;
}

/* The header length prefix, then the header, of f->map (at least 8 bytes). */
static dfrt_status parse_file(dfrt_st_file *f) {
    uint64_t header_len;
    memcpy(&header_len, f->map, 8);
    /* The length field is not printed: in a file that is not safetensors, it is the file's
     * first 8 bytes (say, "root:x:0"). */
    if (header_len > f->map_size - 8)
        return dfrt_fail(DFRT_FORMAT_ERROR,
                         "%s: not a safetensors file: the 8-byte header length is larger than the file (%zu bytes)",
                         f->path, f->map_size);
    if (header_len > MAX_HEADER_BYTES)
        return dfrt_fail(DFRT_FORMAT_ERROR,
                         "%s: not a safetensors file, or one whose header is over the %llu MB limit (as in the "
                         "safetensors library)",
                         f->path, (unsigned long long)(MAX_HEADER_BYTES / 1000000));
    return parse_header(f, (const char *)f->map + 8, (size_t)header_len);
}

dfrt_status dfrt_st_file_open(const char *path, dfrt_st_file **out_file) {
    *out_file = NULL;
    if (!path) return dfrt_fail(DFRT_INVALID_ARGUMENT, "safetensors path is NULL");
    dfrt_st_file *f = dfrt_calloc(1, sizeof *f, "a safetensors file");
    if (!f) return DFRT_OUT_OF_MEMORY;
    dfrt_status s = DFRT_OK;
    if (!(f->path = dfrt_strdup(path))) {
        s = DFRT_OUT_OF_MEMORY;
        goto fail;
    }
    int fd;
    struct stat st;
    if ((s = dfrt_open_regular(path, false, &fd, &st)) != DFRT_OK) goto fail;
    if (st.st_size < 8) {
        close(fd);
        s = dfrt_fail(DFRT_FORMAT_ERROR, "%s: truncated: %lld bytes, a safetensors file has at least 8", path,
                      (long long)st.st_size);
        goto fail;
    }
    f->map_size = (size_t)st.st_size;
    f->map = mmap(NULL, f->map_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (f->map == MAP_FAILED) {
        f->map = NULL;
        s = dfrt_fail(DFRT_IO_ERROR, "%s: cannot map: %s", path, strerror(errno));
        goto fail;
    }
    f->owns_map = true;
    if ((s = parse_file(f)) != DFRT_OK) goto fail;
    *out_file = f;
    return DFRT_OK;
fail:
    dfrt_st_file_close(f);
    return s;
}

dfrt_status dfrt_st_file_parse(const char *name, const void *data, size_t size, dfrt_st_file **out_file) {
    *out_file = NULL;
    if (size < 8)
        return dfrt_fail(DFRT_FORMAT_ERROR, "%s: truncated: %zu bytes, a safetensors file has at least 8", name, size);
    dfrt_st_file *f = dfrt_calloc(1, sizeof *f, "a safetensors file");
    if (!f) return DFRT_OUT_OF_MEMORY;
    f->map = (void *)data;
    f->map_size = size;
    dfrt_status s = (f->path = dfrt_strdup(name)) ? parse_file(f) : DFRT_OUT_OF_MEMORY;
    if (s != DFRT_OK) {
        dfrt_st_file_close(f);
        return s;
    }
    *out_file = f;
    return DFRT_OK;
}

static int compare_tensor_names_r(const void *a, const void *b, void *ctx) {
    const dfrt_tensor *t = ctx;
    return strcmp(t[*(const size_t *)a].name, t[*(const size_t *)b].name);
}

dfrt_status dfrt_st_file_from_tensors(const char *name, const dfrt_tensor *tensors, size_t n,
                                      void (*release)(void *ctx), void *release_ctx, dfrt_st_file **out_file) {
    *out_file = NULL;
    dfrt_st_file *f = dfrt_calloc(1, sizeof *f, "a safetensors file");
    if (!f) {
        if (release) release(release_ctx);
        return DFRT_OUT_OF_MEMORY;
    }
    f->release = release;
    f->release_ctx = release_ctx;
    dfrt_status s = DFRT_OK;
    if (!(f->path = dfrt_strdup(name)) || !(f->tensors = dfrt_calloc(n ? n : 1, sizeof *f->tensors, "tensors")) ||
        !(f->by_name = dfrt_calloc(n ? n : 1, sizeof *f->by_name, "tensor index")))
        s = DFRT_OUT_OF_MEMORY;
    for (size_t i = 0; i < n && s == DFRT_OK; i++) {
        f->tensors[i] = tensors[i];
        f->tensors[i].file = f->path;
        if (!(f->tensors[i].name = dfrt_strdup(tensors[i].name))) s = DFRT_OUT_OF_MEMORY;
        else f->count++;
        f->by_name[i] = i;
    }
    if (s == DFRT_OK) {
        qsort_r(f->by_name, n, sizeof *f->by_name, compare_tensor_names_r, f->tensors);
        for (size_t i = 1; i < n && s == DFRT_OK; i++)
            if (strcmp(f->tensors[f->by_name[i - 1]].name, f->tensors[f->by_name[i]].name) == 0)
                s = dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: tensor %s given twice", name, f->tensors[f->by_name[i]].name);
    }
    if (s != DFRT_OK) {
        dfrt_st_file_close(f);
        return s;
    }
    *out_file = f;
    return DFRT_OK;
}

void dfrt_st_file_close(dfrt_st_file *f) {
    if (!f) return;
    if (f->release) f->release(f->release_ctx);
    if (f->map && f->owns_map) munmap(f->map, f->map_size);
    for (size_t i = 0; i < f->count; i++) free((char *)f->tensors[i].name);
    free(f->tensors);
    free(f->by_name);
    for (size_t i = 0; i < f->n_metadata; i++) {
        free(f->metadata[i].key);
        free(f->metadata[i].value);
    }
    free(f->metadata);
    free(f->path);
    free(f);
}

const char *dfrt_st_file_path(const dfrt_st_file *f) { return f->path; }
size_t dfrt_st_file_count(const dfrt_st_file *f) { return f->count; }

const dfrt_tensor *dfrt_st_file_tensor(const dfrt_st_file *f, size_t index) {
    return index < f->count ? &f->tensors[index] : NULL;
}

const dfrt_tensor *dfrt_st_file_find(const dfrt_st_file *f, const char *name) {
    size_t lo = 0, hi = f->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(f->tensors[f->by_name[mid]].name, name);
        if (c == 0) return &f->tensors[f->by_name[mid]];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

const char *dfrt_st_file_metadata(const dfrt_st_file *f, const char *key) {
    for (size_t i = 0; i < f->n_metadata; i++)
        if (strcmp(f->metadata[i].key, key) == 0) return f->metadata[i].value;
    return NULL;
}

/* ---- directories ---- */

struct dfrt_tensor_set {
    size_t n_files;
    dfrt_st_file **files;
    size_t count;
    const dfrt_tensor **tensors; /* by name */
};

static int compare_tensor_ptr_names(const void *a, const void *b) {
    return strcmp((*(const dfrt_tensor *const *)a)->name, (*(const dfrt_tensor *const *)b)->name);
}

#define INDEX_NAME "model.safetensors.index.json"

/* model.safetensors.index.json: which shard holds each tensor. */
typedef struct shard_index {
    cJSON *root;
    const cJSON *map;   /* weight_map */
    char **shards;      /* the distinct file names, sorted */
    const char **first; /* per shard: a tensor the index puts in it (for messages) */
    size_t n_shards;
} shard_index;

static void shard_index_free(shard_index *x) {
    cJSON_Delete(x->root);
    free(x->shards); /* the names belong to the cJSON tree */
    free(x->first);
    memset(x, 0, sizeof *x);
}

static int compare_cstr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static dfrt_status read_index(const char *index_path, shard_index *x) {
    memset(x, 0, sizeof *x);
    char *text;
    size_t len;
    DFRT_TRY(dfrt_read_file(index_path, DFRT_MAX_INDEX_BYTES, &text, &len));
    dfrt_status s = dfrt_json_parse(text, len, index_path, &x->root);
    free(text);
    DFRT_TRY(s);
    x->map = cJSON_IsObject(x->root) ? cJSON_GetObjectItemCaseSensitive(x->root, "weight_map") : NULL;
    if (!cJSON_IsObject(x->map)) {
        shard_index_free(x);
        return dfrt_fail(DFRT_FORMAT_ERROR, "%s: has no \"weight_map\" object", index_path);
    }
    size_t n = 0;
    for (const cJSON *e = x->map->child; e; e = e->next) n++;
    x->shards = dfrt_calloc(n, sizeof *x->shards, "index shards");
    x->first = dfrt_calloc(n, sizeof *x->first, "index shards");
    if (!x->shards || !x->first) {
        shard_index_free(x);
        return DFRT_OUT_OF_MEMORY;
    }
    for (const cJSON *e = x->map->child; e; e = e->next) {
        const char *file = cJSON_IsString(e) ? e->valuestring : NULL;
        if (!file || !*file || strchr(file, '/') || strcmp(file, ".") == 0 || strcmp(file, "..") == 0) {
            s = dfrt_fail(DFRT_FORMAT_ERROR, "%s: weight_map entry \"%s\" is not the name of a file in the directory",
                          index_path, e->string ? e->string : "");
            shard_index_free(x);
            return s;
        }
        x->shards[x->n_shards++] = e->valuestring;
    }
    if (x->n_shards == 0) {
        shard_index_free(x);
        return dfrt_fail(DFRT_FORMAT_ERROR, "%s: weight_map is empty", index_path);
    }
    qsort(x->shards, x->n_shards, sizeof *x->shards, compare_cstr);
    size_t unique = 0;
    for (size_t i = 0; i < x->n_shards; i++)
        if (!unique || strcmp(x->shards[unique - 1], x->shards[i]) != 0) x->shards[unique++] = x->shards[i];
    x->n_shards = unique;
    for (const cJSON *e = x->map->child; e; e = e->next) {
        char **at = bsearch(&e->valuestring, x->shards, x->n_shards, sizeof *x->shards, compare_cstr);
        if (at && !x->first[at - x->shards]) x->first[at - x->shards] = e->string;
    }
    return DFRT_OK;
}

static bool index_lists(const shard_index *x, const char *name) {
    return bsearch(&name, x->shards, x->n_shards, sizeof *x->shards, compare_cstr) != NULL;
}

/* Every tensor the index names is in the shard it names. */
static dfrt_status check_index(dfrt_tensor_set *set, const shard_index *x, const char *index_path) {
    for (const cJSON *e = x->map->child; e; e = e->next) {
        const dfrt_tensor *t = dfrt_tensor_set_find(set, e->string);
        if (!t)
            return dfrt_fail(DFRT_FORMAT_ERROR, "%s: tensor %s is listed in the index but not in %s", index_path,
                             e->string, e->valuestring);
        if (strcmp(dfrt_basename(t->file), e->valuestring) != 0)
            return dfrt_fail(DFRT_FORMAT_ERROR, "%s: tensor %s is listed in %s but found in %s", index_path,
                             e->string, e->valuestring, dfrt_basename(t->file));
    }
    return DFRT_OK;
}

/* The set's tensors from its files, sorted by name; a name in two files is an error. */
static dfrt_status collect_tensors(dfrt_tensor_set *set, const char *dir) {
    size_t total = 0;
    for (size_t i = 0; i < set->n_files; i++) total += dfrt_st_file_count(set->files[i]);
    if (!(set->tensors = dfrt_calloc(total ? total : 1, sizeof *set->tensors, "tensor list"))) return DFRT_OUT_OF_MEMORY;
    for (size_t i = 0; i < set->n_files; i++)
        for (size_t j = 0; j < dfrt_st_file_count(set->files[i]); j++)
            set->tensors[set->count++] = dfrt_st_file_tensor(set->files[i], j);
    qsort(set->tensors, set->count, sizeof *set->tensors, compare_tensor_ptr_names);
    for (size_t i = 1; i < set->count; i++)
        if (strcmp(set->tensors[i - 1]->name, set->tensors[i]->name) == 0)
            return dfrt_fail(DFRT_FORMAT_ERROR, "%s: duplicate tensor name %s: in both %s and %s", dir,
                             set->tensors[i]->name, dfrt_basename(set->tensors[i - 1]->file),
                             dfrt_basename(set->tensors[i]->file));
    return DFRT_OK;
}

dfrt_status dfrt_tensor_set_from_files(const char *name, dfrt_st_file **files, size_t n, dfrt_tensor_set **out_set) {
    *out_set = NULL;
    dfrt_tensor_set *set = dfrt_calloc(1, sizeof *set, "a tensor set");
    if (set && !(set->files = dfrt_calloc(n ? n : 1, sizeof *set->files, "file list"))) {
        free(set);
        set = NULL;
    }
    if (!set) {
        for (size_t i = 0; i < n; i++) dfrt_st_file_close(files[i]);
        return DFRT_OUT_OF_MEMORY;
    }
    memcpy(set->files, files, n * sizeof *files);
    set->n_files = n;
    dfrt_status s = n ? collect_tensors(set, name) : dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: no files", name);
    if (s != DFRT_OK) {
        dfrt_tensor_set_close(set);
        return s;
    }
    *out_set = set;
    return DFRT_OK;
}

static dfrt_status open_shard(dfrt_tensor_set *set, const char *dir, const char *name) {
    char *path = dfrt_path_join(dir, name);
    if (!path) return DFRT_OUT_OF_MEMORY;
    dfrt_status s = dfrt_st_file_open(path, &set->files[set->n_files]);
    free(path);
    if (s == DFRT_OK) set->n_files++;
    return s;
}

dfrt_status dfrt_tensor_set_open(const char *dir, dfrt_tensor_set **out_set) {
    *out_set = NULL;
    dfrt_dir_entry *entries;
    size_t n_entries;
    DFRT_TRY(dfrt_list_dir_entries(dir, &entries, &n_entries));
    shard_index index = {0};
    char *index_path = NULL;
    bool has_index = false;
    dfrt_tensor_set *set = dfrt_calloc(1, sizeof *set, "a tensor set");
    dfrt_status s = set ? DFRT_OK : DFRT_OUT_OF_MEMORY;
    if (s == DFRT_OK && !(index_path = dfrt_path_join(dir, INDEX_NAME))) s = DFRT_OUT_OF_MEMORY;
    for (size_t i = 0; i < n_entries && s == DFRT_OK; i++)
        if (strcmp(entries[i].name, INDEX_NAME) == 0) has_index = true;
    if (s == DFRT_OK && has_index) s = read_index(index_path, &index);
    if (s != DFRT_OK) goto fail;
    size_t max_files = has_index ? index.n_shards : n_entries;
    if (!(set->files = dfrt_calloc(max_files, sizeof *set->files, "file list"))) {
        s = DFRT_OUT_OF_MEMORY;
        goto fail;
    }
    if (has_index) {
        /* Only the shards the index lists are weights: a consolidated.safetensors beside it (as
         * Mistral repositories ship) holds the same weights again. */
        for (size_t i = 0; i < n_entries; i++)
            if (dfrt_str_ends_with(entries[i].name, ".safetensors") && !index_lists(&index, entries[i].name))
                dfrt_warn("%s/%s: not listed in %s; not read as weights", dir, entries[i].name, INDEX_NAME);
        for (size_t i = 0; i < index.n_shards && s == DFRT_OK; i++) {
            char *path = dfrt_path_join(dir, index.shards[i]);
            struct stat st;
            bool exists = path && lstat(path, &st) == 0;
            free(path);
            if (!exists)
                s = dfrt_fail(DFRT_FORMAT_ERROR, "%s: shard %s is missing (%s puts tensor %s in it)", dir,
                              index.shards[i], INDEX_NAME, index.first[i]);
            else
                s = open_shard(set, dir, index.shards[i]);
        }
    } else {
        /* Every *.safetensors entry is a shard: one that is a directory, FIFO or device is an
         * error (dfrt_st_file_open names it), not something to skip. */
        for (size_t i = 0; i < n_entries && s == DFRT_OK; i++)
            if (dfrt_str_ends_with(entries[i].name, ".safetensors")) s = open_shard(set, dir, entries[i].name);
    }
    if (s != DFRT_OK) goto fail;
    if (set->n_files == 0) {
        s = dfrt_fail(DFRT_FORMAT_ERROR, "%s: no *.safetensors files in the directory", dir);
        goto fail;
    }
    if ((s = collect_tensors(set, dir)) != DFRT_OK) goto fail;
    if (has_index && (s = check_index(set, &index, index_path)) != DFRT_OK) goto fail;
    shard_index_free(&index);
    free(index_path);
    dfrt_free_dir_entries(entries, n_entries);
    *out_set = set;
    return DFRT_OK;
fail:
    shard_index_free(&index);
    free(index_path);
    dfrt_free_dir_entries(entries, n_entries);
    dfrt_tensor_set_close(set);
    return s;
}

void dfrt_tensor_set_close(dfrt_tensor_set *set) {
    if (!set) return;
    for (size_t i = 0; i < set->n_files; i++) dfrt_st_file_close(set->files[i]);
    free(set->files);
    free(set->tensors);
    free(set);
}

size_t dfrt_tensor_set_count(const dfrt_tensor_set *set) { return set->count; }

const dfrt_tensor *dfrt_tensor_set_get(const dfrt_tensor_set *set, size_t index) {
    return index < set->count ? set->tensors[index] : NULL;
}

const dfrt_tensor *dfrt_tensor_set_find(const dfrt_tensor_set *set, const char *name) {
    size_t lo = 0, hi = set->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(set->tensors[mid]->name, name);
        if (c == 0) return set->tensors[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

size_t dfrt_tensor_set_file_count(const dfrt_tensor_set *set) { return set->n_files; }

const dfrt_st_file *dfrt_tensor_set_file(const dfrt_tensor_set *set, size_t index) {
    return index < set->n_files ? set->files[index] : NULL;
}
