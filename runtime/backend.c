/* The backend registry and the public wrappers, which validate every argument before a
 * backend sees it. */
#include "backend.h"

#include "internal.h"

static const dfrt_backend_driver *const drivers[] = {
#ifdef DFRT_HAVE_CUDA
    &dfrt_cuda_driver,
#endif
#ifdef DFRT_HAVE_VULKAN
    &dfrt_vulkan_driver,
#endif
    &dfrt_cpu_driver,
};
#define N_DRIVERS (sizeof drivers / sizeof *drivers)

static const dfrt_backend_driver *find_driver(const char *name) {
    for (size_t i = 0; i < N_DRIVERS; i++)
        if (strcmp(drivers[i]->name, name) == 0) return drivers[i];
    return NULL;
}

dfrt_backend *dfrt_backend_new(const dfrt_backend_vtable *vt, const dfrt_device_info *info) {
    dfrt_backend *b = dfrt_calloc(1, sizeof *b, "a backend");
    if (!b) return NULL;
    b->vt = vt;
    b->info = *info;
    return b;
}

dfrt_bound_range dfrt_bind_range(size_t offset, size_t size, size_t alignment) {
    dfrt_bound_range r;
    if (alignment < 1) alignment = 1;
    r.bind_offset = offset / alignment * alignment;
    r.delta = offset - r.bind_offset;
    r.bind_size = size + r.delta;
    return r;
}

dfrt_status dfrt_device_list(dfrt_device_info **out, size_t *out_count) {
    *out = NULL;
    *out_count = 0;
    dfrt_device_info *all = NULL;
    size_t n = 0;
    for (size_t d = 0; d < N_DRIVERS; d++) {
        dfrt_device_info *infos = NULL;
        size_t count = 0;
        dfrt_status s = drivers[d]->probe(&infos, &count);
        if (s != DFRT_OK) {
            free(all);
            return s;
        }
        dfrt_device_info *grown = realloc(all, (n + count) * sizeof *all);
        if (!grown && n + count) {
            free(infos);
            free(all);
            return dfrt_fail(DFRT_OUT_OF_MEMORY, "out of memory listing devices");
        }
        all = grown;
        if (count) memcpy(all + n, infos, count * sizeof *infos);
        n += count;
        free(infos);
    }
    *out = all;
    *out_count = n;
    return DFRT_OK;
}

static const char *type_name(dfrt_device_type t) {
    switch (t) {
    case DFRT_DEVICE_DISCRETE_GPU: return "discrete GPU";
    case DFRT_DEVICE_INTEGRATED_GPU: return "integrated GPU";
    case DFRT_DEVICE_VIRTUAL_GPU: return "virtual GPU";
    case DFRT_DEVICE_CPU: return "CPU";
    default: return "device";
    }
}

/* Opens device `index` of a driver (-1: the first available one of an acceptable type). */
static dfrt_status open_driver(const dfrt_backend_driver *drv, int index, bool gpus_only, dfrt_backend **out,
                               char *why, size_t why_size) {
    dfrt_device_info *infos = NULL;
    size_t count = 0;
    DFRT_TRY(drv->probe(&infos, &count));
    dfrt_status s = DFRT_OK;
    int chosen = -1;
    if (index >= 0) {
        if ((size_t)index >= count || !infos[index].available) {
            if (count == 1 && infos[0].index < 0) /* no devices: the entry only says why */
                s = dfrt_fail(DFRT_UNAVAILABLE, "%s backend is unavailable: %s", drv->name,
                              infos[0].unavailable_reason);
            else if ((size_t)index < count)
                s = dfrt_fail(DFRT_UNAVAILABLE, "%s device %d (%s) is unavailable: %s", drv->name, index,
                              infos[index].name, infos[index].unavailable_reason);
            else if (count == 1 && !infos[0].available)
                s = dfrt_fail(DFRT_UNAVAILABLE, "%s backend is unavailable: %s", drv->name,
                              infos[0].unavailable_reason);
            else
                s = dfrt_fail(DFRT_INVALID_ARGUMENT, "%s device %d does not exist (%zu device%s)", drv->name, index,
                              count, count == 1 ? "" : "s");
        } else {
            chosen = index;
        }
    } else {
        /* Discrete before integrated before virtual; CPU implementations only when not
         * restricted to GPUs. */
        static const dfrt_device_type order[] = {DFRT_DEVICE_DISCRETE_GPU, DFRT_DEVICE_INTEGRATED_GPU,
                                                 DFRT_DEVICE_VIRTUAL_GPU, DFRT_DEVICE_OTHER, DFRT_DEVICE_CPU};
        for (size_t o = 0; o < sizeof order / sizeof *order && chosen < 0; o++) {
            if (gpus_only && order[o] == DFRT_DEVICE_CPU) break;
            for (size_t i = 0; i < count && chosen < 0; i++)
                if (infos[i].available && infos[i].type == order[o]) chosen = (int)i;
        }
        if (chosen < 0) {
            const char *reason = "no devices";
            for (size_t i = 0; i < count; i++)
                if (!infos[i].available) reason = infos[i].unavailable_reason;
                else if (gpus_only && infos[i].type == DFRT_DEVICE_CPU) reason = "only a CPU implementation";
            s = dfrt_fail(DFRT_UNAVAILABLE, "%s: %s", drv->name, reason);
        }
    }
    if (s == DFRT_OK) {
        snprintf(why, why_size, "%s device %d, %s (%s)", drv->name, chosen, infos[chosen].name,
                 type_name(infos[chosen].type));
        s = drv->open(chosen, out);
    }
    free(infos);
    return s;
}

dfrt_status dfrt_backend_open(const char *which, int device_index, dfrt_backend **out) {
    *out = NULL;
    if (!which) which = "auto";
    char why[300];
    if (strcmp(which, "auto") != 0) {
        const dfrt_backend_driver *drv = find_driver(which);
        if (!drv) {
            if (strcmp(which, "cuda") == 0 || strcmp(which, "vulkan") == 0)
                return dfrt_fail(DFRT_UNAVAILABLE, "backend %s: this dfrt was built without it (meson option -D%s)",
                                 which, which);
            return dfrt_fail(DFRT_INVALID_ARGUMENT, "unknown backend \"%s\" (auto, cuda, vulkan, cpu)", which);
        }
        DFRT_TRY(open_driver(drv, device_index, false, out, why, sizeof why));
        snprintf((*out)->selection, sizeof (*out)->selection, "%s", why);
        return DFRT_OK;
    }
    /* auto: CUDA, then a Vulkan GPU, then the CPU backend; say why each was passed over. */
    char passed[400] = "";
    static const char *const preference[] = {"cuda", "vulkan"};
    for (size_t p = 0; p < 2; p++) {
        const dfrt_backend_driver *drv = find_driver(preference[p]);
        if (!drv) {
            size_t len = strlen(passed);
            snprintf(passed + len, sizeof passed - len, "%s%s not built", len ? "; " : "", preference[p]);
            continue;
        }
        if (open_driver(drv, device_index, true, out, why, sizeof why) == DFRT_OK) {
            snprintf((*out)->selection, sizeof (*out)->selection, "auto: %s%s%s%s", why, *passed ? " (" : "", passed,
                     *passed ? ")" : "");
            return DFRT_OK;
        }
        size_t len = strlen(passed);
        snprintf(passed + len, sizeof passed - len, "%s%s", len ? "; " : "", dfrt_last_error());
    }
    DFRT_TRY(open_driver(&dfrt_cpu_driver, -1, false, out, why, sizeof why));
    snprintf((*out)->selection, sizeof (*out)->selection, "auto: %s (%s)", why, passed);
    return DFRT_OK;
}

void dfrt_backend_close(dfrt_backend *b) {
    if (b) b->vt->destroy(b);
}

const dfrt_device_info *dfrt_backend_info(const dfrt_backend *b) { return &b->info; }
const char *dfrt_backend_name(const dfrt_backend *b) { return b->vt->name; }
const char *dfrt_backend_selection(const dfrt_backend *b) { return b->selection; }
uint64_t dfrt_backend_allocated(const dfrt_backend *b) { return b->allocated; }
uint64_t dfrt_backend_peak_allocated(const dfrt_backend *b) { return b->peak_allocated; }
void dfrt_backend_reset_peak(dfrt_backend *b) { b->peak_allocated = b->allocated; }

dfrt_status dfrt_backend_synchronize(dfrt_backend *b) {
    if (!b) return dfrt_fail(DFRT_INVALID_ARGUMENT, "backend is NULL");
    return b->vt->synchronize(b);
}

dfrt_status dfrt_backend_timer_begin(dfrt_backend *b) {
    if (!b) return dfrt_fail(DFRT_INVALID_ARGUMENT, "backend is NULL");
    return b->vt->timer_begin(b);
}

dfrt_status dfrt_backend_timer_end(dfrt_backend *b, double *out_ms) {
    if (!b || !out_ms) return dfrt_fail(DFRT_INVALID_ARGUMENT, "backend or result is NULL");
    return b->vt->timer_end(b, out_ms);
}

/* ---- buffers ------------------------------------------------------------------------------ */

dfrt_status dfrt_buffer_alloc(dfrt_backend *b, size_t size, dfrt_buffer **out) {
    *out = NULL;
    if (!b) return dfrt_fail(DFRT_INVALID_ARGUMENT, "dfrt_buffer_alloc: backend is NULL");
    if (size == 0) return dfrt_fail(DFRT_INVALID_ARGUMENT, "dfrt_buffer_alloc: size is 0");
    dfrt_buffer *buf = dfrt_calloc(1, sizeof *buf, "a buffer");
    if (!buf) return DFRT_OUT_OF_MEMORY;
    dfrt_status s = b->vt->buffer_alloc(b, size, &buf->impl);
    if (s != DFRT_OK) {
        free(buf);
        return s;
    }
    buf->backend = b;
    buf->size = size;
    b->allocated += size;
    if (b->allocated > b->peak_allocated) b->peak_allocated = b->allocated;
    *out = buf;
    return DFRT_OK;
}

void dfrt_buffer_free(dfrt_buffer *buf) {
    if (!buf) return;
    buf->backend->vt->buffer_free(buf->backend, buf->impl, buf->size);
    buf->backend->allocated -= buf->size;
    free(buf);
}

size_t dfrt_buffer_size(const dfrt_buffer *buf) { return buf ? buf->size : 0; }

static dfrt_status check_range(const char *what, const dfrt_buffer *buf, size_t offset, size_t size) {
    if (!buf) return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: buffer is NULL", what);
    if (offset > buf->size || size > buf->size - offset)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: bytes [%zu, %zu + %zu) are outside the %zu-byte buffer", what,
                         offset, offset, size, buf->size);
    return DFRT_OK;
}

dfrt_status dfrt_buffer_write(dfrt_buffer *buf, size_t offset, const void *src, size_t size) {
    DFRT_TRY(check_range("dfrt_buffer_write", buf, offset, size));
    if (!size) return DFRT_OK;
    if (!src) return dfrt_fail(DFRT_INVALID_ARGUMENT, "dfrt_buffer_write: source is NULL");
    return buf->backend->vt->buffer_write(buf->backend, buf->impl, offset, src, size);
}

dfrt_status dfrt_buffer_read(const dfrt_buffer *buf, size_t offset, void *dst, size_t size) {
    DFRT_TRY(check_range("dfrt_buffer_read", buf, offset, size));
    if (!size) return buf->backend->vt->synchronize(buf->backend);
    if (!dst) return dfrt_fail(DFRT_INVALID_ARGUMENT, "dfrt_buffer_read: destination is NULL");
    return buf->backend->vt->buffer_read(buf->backend, buf->impl, offset, dst, size);
}

dfrt_status dfrt_buffer_fill(dfrt_buffer *buf, size_t offset, size_t size, uint8_t value) {
    DFRT_TRY(check_range("dfrt_buffer_fill", buf, offset, size));
    if (!size) return DFRT_OK;
    return buf->backend->vt->buffer_fill(buf->backend, buf->impl, offset, size, value);
}

dfrt_status dfrt_buffer_copy(dfrt_buffer *dst, size_t dst_offset, const dfrt_buffer *src, size_t src_offset,
                             size_t size) {
    DFRT_TRY(check_range("dfrt_buffer_copy destination", dst, dst_offset, size));
    DFRT_TRY(check_range("dfrt_buffer_copy source", src, src_offset, size));
    if (dst->backend != src->backend)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "dfrt_buffer_copy: the buffers belong to different backends");
    if (dst == src && dst_offset < src_offset + size && src_offset < dst_offset + size)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "dfrt_buffer_copy: source and destination overlap");
    if (!size) return DFRT_OK;
    return dst->backend->vt->buffer_copy(dst->backend, dst->impl, dst_offset, src->impl, src_offset, size);
}

/* ---- DF11 units on a device ------------------------------------------------------------------ */

void dfrt_device_df11_free(dfrt_device_df11 *u) {
    if (!u) return;
    dfrt_buffer_free(u->luts);
    dfrt_buffer_free(u->stream);
    dfrt_buffer_free(u->sign_mantissa);
    dfrt_buffer_free(u->positions_buf);
    dfrt_buffer_free(u->gaps);
    free(u->positions);
    free(u->name);
    free(u);
}

uint64_t dfrt_device_df11_bytes(const dfrt_device_df11 *u) {
    return u->luts->size + u->stream->size + u->sign_mantissa->size + u->positions_buf->size + u->gaps->size;
}

/* A buffer holding data, zero-padded to a multiple of 16 bytes (vector loads may run past the
 * end of the data, never past the buffer). */
static dfrt_status upload_padded(dfrt_backend *b, const void *data, size_t size, dfrt_buffer **out) {
    size_t padded = (size + 15) / 16 * 16;
    if (padded == 0) padded = 16;
    DFRT_TRY(dfrt_buffer_alloc(b, padded, out));
    dfrt_status s = dfrt_buffer_write(*out, 0, data, size);
    if (s == DFRT_OK && padded > size) s = dfrt_buffer_fill(*out, size, padded - size, 0);
    return s;
}

dfrt_status dfrt_df11_upload(dfrt_backend *b, const dfrt_df11_unit *unit, dfrt_device_df11 **out) {
    *out = NULL;
    if (!b || !unit || !unit->n) return dfrt_fail(DFRT_INVALID_ARGUMENT, "dfrt_df11_upload: no backend or unit");
    dfrt_device_df11 *u = dfrt_calloc(1, sizeof *u, "a device unit");
    if (!u) return DFRT_OUT_OF_MEMORY;
    u->backend = b;
    u->n = unit->n;
    u->n_bytes = unit->n_bytes;
    u->n_chunks = unit->n_chunks;
    u->n_tables = unit->n_tables;
    u->max_chunk_weights = unit->max_chunk_weights;
    dfrt_status s = DFRT_OK;
    u->name = dfrt_strdup(unit->name);
    u->positions = dfrt_malloc(((size_t)unit->n_chunks + 1) * sizeof *u->positions, "output positions");
    if (!u->name || !u->positions) s = DFRT_OUT_OF_MEMORY;
    for (uint32_t c = 0; s == DFRT_OK && c <= unit->n_chunks; c++)
        u->positions[c] = (uint32_t)dfrt_df11_chunk_start(unit, c);
    if (s == DFRT_OK) s = upload_padded(b, unit->luts, 256 * ((size_t)unit->n_tables + 1), &u->luts);
    if (s == DFRT_OK) s = upload_padded(b, unit->stream, unit->n_bytes, &u->stream);
    if (s == DFRT_OK) s = upload_padded(b, unit->sign_mantissa, unit->n, &u->sign_mantissa);
    if (s == DFRT_OK) s = upload_padded(b, u->positions, ((size_t)unit->n_chunks + 1) * 4, &u->positions_buf);
    if (s == DFRT_OK) s = upload_padded(b, unit->gaps, (size_t)unit->n_chunks * DFRT_DF11_GAP_BYTES_PER_CHUNK, &u->gaps);
    if (s != DFRT_OK) {
        dfrt_fail_prefix(s, "uploading DF11 unit %s to %s", unit->name, b->vt->name);
        dfrt_device_df11_free(u);
        return s;
    }
    *out = u;
    return DFRT_OK;
}

/* ---- ops -------------------------------------------------------------------------------------- */

static dfrt_status check_owner(const char *op, const dfrt_backend *b, const dfrt_buffer *buf, const char *name) {
    if (!buf) return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: %s is NULL", op, name);
    if (buf->backend != b)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: %s belongs to backend %s, not %s", op, name, buf->backend->vt->name,
                         b->vt->name);
    return DFRT_OK;
}

/* A typed region [offset, offset + count * elem) inside buf, offset aligned to elem. */
static dfrt_status check_region(const char *op, const char *name, const dfrt_buffer *buf, size_t offset,
                                uint64_t count, size_t elem) {
    uint64_t bytes;
    if (offset % elem)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: %s offset %zu is not a multiple of %zu", op, name, offset, elem);
    if (dfrt_mul_overflow_u64(count, elem, &bytes) || offset > buf->size || bytes > buf->size - offset)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: %s needs %llu bytes at offset %zu, but the buffer has %zu", op,
                         name, (unsigned long long)(count * elem), offset, buf->size);
    return DFRT_OK;
}

static bool overlaps(const dfrt_buffer *a, size_t ao, uint64_t an, const dfrt_buffer *b, size_t bo, uint64_t bn) {
    return a == b && ao < bo + bn && bo < ao + an;
}

dfrt_status dfrt_op_df11_decode(dfrt_backend *b, const dfrt_device_df11 *unit, uint32_t first_chunk,
                                uint32_t n_chunks, dfrt_buffer *out, size_t out_offset) {
    const char *op = "df11_decode";
    if (!b || !unit) return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: backend or unit is NULL", op);
    if (unit->backend != b)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: unit %s lives on backend %s, not %s", op, unit->name,
                         unit->backend->vt->name, b->vt->name);
    DFRT_TRY(check_owner(op, b, out, "output"));
    if (first_chunk >= unit->n_chunks)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: unit %s: first chunk %u, but it has %u chunks", op, unit->name,
                         first_chunk, unit->n_chunks);
    if (n_chunks == 0) n_chunks = unit->n_chunks - first_chunk;
    if (n_chunks > unit->n_chunks - first_chunk)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: unit %s: chunks [%u, %u) run past its %u chunks", op, unit->name,
                         first_chunk, first_chunk + n_chunks, unit->n_chunks);
    uint64_t weights = (uint64_t)unit->positions[first_chunk + n_chunks] - unit->positions[first_chunk];
    DFRT_TRY(check_region(op, "output", out, out_offset, weights, 2));
    if (weights == 0) return DFRT_OK;
    dfrt_df11_decode_args a = {unit, first_chunk, n_chunks, out, out_offset};
    return b->vt->df11_decode(b, &a);
}

dfrt_status dfrt_op_matmul(dfrt_backend *b, const dfrt_buffer *x, size_t x_offset, const dfrt_buffer *w,
                           size_t w_offset, const dfrt_buffer *bias, size_t bias_offset, dfrt_buffer *y,
                           size_t y_offset, int64_t m, int64_t n, int64_t k) {
    const char *op = "matmul";
    if (!b) return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: backend is NULL", op);
    if (m < 1 || n < 1 || k < 1 || m > INT32_MAX || n > INT32_MAX || k > INT32_MAX)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: shape M=%lld N=%lld K=%lld (each must be 1 .. 2^31-1)", op,
                         (long long)m, (long long)n, (long long)k);
    DFRT_TRY(check_owner(op, b, x, "X"));
    DFRT_TRY(check_owner(op, b, w, "W"));
    DFRT_TRY(check_owner(op, b, y, "Y"));
    if (bias) DFRT_TRY(check_owner(op, b, bias, "bias"));
    uint64_t mk, nk, mn;
    if (dfrt_mul_overflow_u64((uint64_t)m, (uint64_t)k, &mk) || dfrt_mul_overflow_u64((uint64_t)n, (uint64_t)k, &nk) ||
        dfrt_mul_overflow_u64((uint64_t)m, (uint64_t)n, &mn))
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: shape too large", op);
    DFRT_TRY(check_region(op, "X (fp32 M x K)", x, x_offset, mk, 4));
    DFRT_TRY(check_region(op, "W (bf16 N x K)", w, w_offset, nk, 2));
    DFRT_TRY(check_region(op, "Y (fp32 M x N)", y, y_offset, mn, 4));
    if (bias) DFRT_TRY(check_region(op, "bias (fp32 N)", bias, bias_offset, (uint64_t)n, 4));
    if (overlaps(y, y_offset, mn * 4, x, x_offset, mk * 4) || overlaps(y, y_offset, mn * 4, w, w_offset, nk * 2) ||
        (bias && overlaps(y, y_offset, mn * 4, bias, bias_offset, (uint64_t)n * 4)))
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: Y overlaps an input", op);
    dfrt_matmul_args a = {x, x_offset, w, w_offset, bias, bias_offset, y, y_offset, m, n, k};
    return b->vt->matmul(b, &a);
}

/* ---- transformer ops ----------------------------------------------------------------------- */

/* Elements spanned by `rows` rows of `width` values, `stride` apart. */
static dfrt_status extent(const char *op, const char *name, uint64_t rows, uint64_t stride, uint64_t width,
                          uint64_t *out) {
    uint64_t span;
    if (rows == 0 || width == 0) return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: %s is empty", op, name);
    if (width > stride && rows > 1)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: %s rows of %llu values do not fit a stride of %llu", op, name,
                         (unsigned long long)width, (unsigned long long)stride);
    if (dfrt_mul_overflow_u64(rows - 1, stride, &span) || dfrt_add_overflow_u64(span, width, out))
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: %s is too large", op, name);
    return DFRT_OK;
}

/* Checks a tensor argument: owned by b, `elems` elements of `elem` bytes inside the buffer. */
static dfrt_status check_tensor(const char *op, const char *name, const dfrt_backend *b, const dfrt_buffer *buf,
                                size_t offset, uint64_t elems, size_t elem) {
    DFRT_TRY(check_owner(op, b, buf, name));
    return check_region(op, name, buf, offset, elems, elem);
}

/* A backend that does not implement an op says so instead of crashing. */
#define CHECK_IMPLEMENTED(b, fn, op) \
    do { \
        if (!(b)->vt->fn) return dfrt_fail(DFRT_UNSUPPORTED, "%s: the %s backend does not implement it", op, (b)->vt->name); \
    } while (0)

static dfrt_status check_dims(const char *op, const char *what, uint64_t v) {
    if (v == 0) return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: %s is 0", op, what);
    return DFRT_OK;
}

dfrt_status dfrt_op_embedding(dfrt_backend *b, dfrt_buffer *out, size_t out_offset, const dfrt_buffer *table,
                              size_t table_offset, uint64_t table_elems, const dfrt_buffer *offsets,
                              size_t offsets_offset, uint32_t rows, uint32_t dim) {
    const char *op = "embedding";
    if (!b) return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: backend is NULL", op);
    CHECK_IMPLEMENTED(b, embedding, op);
    DFRT_TRY(check_dims(op, "rows", rows));
    DFRT_TRY(check_dims(op, "dim", dim));
    DFRT_TRY(check_tensor(op, "out (fp32 rows x dim)", b, out, out_offset, (uint64_t)rows * dim, 4));
    DFRT_TRY(check_tensor(op, "table (bf16)", b, table, table_offset, table_elems, 2));
    DFRT_TRY(check_tensor(op, "offsets (uint32 rows)", b, offsets, offsets_offset, rows, 4));
    if (overlaps(out, out_offset, (uint64_t)rows * dim * 4, offsets, offsets_offset, (uint64_t)rows * 4))
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: out overlaps offsets", op);
    dfrt_embedding_args a = {{out, out_offset}, {table, table_offset}, {offsets, offsets_offset}, table_elems, rows, dim};
    return b->vt->embedding(b, &a);
}

dfrt_status dfrt_op_rmsnorm(dfrt_backend *b, dfrt_buffer *y, size_t y_offset, const dfrt_buffer *x, size_t x_offset,
                            const dfrt_buffer *w, size_t w_offset, uint32_t rows, uint32_t heads, uint32_t dim,
                            uint32_t row_stride, float eps) {
    const char *op = "rmsnorm";
    if (!b) return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: backend is NULL", op);
    CHECK_IMPLEMENTED(b, rmsnorm, op);
    DFRT_TRY(check_dims(op, "heads", heads));
    DFRT_TRY(check_dims(op, "dim", dim));
    if (!(eps >= 0.0f) || eps > 1.0f) return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: eps %g", op, (double)eps);
    uint64_t n = 0;
    DFRT_TRY(extent(op, "x", rows, row_stride, (uint64_t)heads * dim, &n));
    DFRT_TRY(check_tensor(op, "x (fp32)", b, x, x_offset, n, 4));
    DFRT_TRY(check_tensor(op, "y (fp32)", b, y, y_offset, n, 4));
    DFRT_TRY(check_tensor(op, "w (fp32 dim)", b, w, w_offset, dim, 4));
    if (overlaps(y, y_offset, n * 4, x, x_offset, n * 4) && !(y == x && y_offset == x_offset))
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: y partly overlaps x", op);
    dfrt_rmsnorm_args a = {{y, y_offset}, {x, x_offset}, {w, w_offset}, rows, heads, dim, row_stride, eps};
    return b->vt->rmsnorm(b, &a);
}

dfrt_status dfrt_op_rope(dfrt_backend *b, dfrt_buffer *x, size_t x_offset, const dfrt_buffer *positions,
                         size_t positions_offset, const dfrt_buffer *inv_freq, size_t inv_freq_offset, uint32_t rows,
                         uint32_t heads, uint32_t dim, uint32_t row_stride) {
    const char *op = "rope";
    if (!b) return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: backend is NULL", op);
    CHECK_IMPLEMENTED(b, rope, op);
    DFRT_TRY(check_dims(op, "heads", heads));
    if (dim == 0 || dim % 2) return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: dim %u must be even and positive", op, dim);
    uint64_t n = 0;
    DFRT_TRY(extent(op, "x", rows, row_stride, (uint64_t)heads * dim, &n));
    DFRT_TRY(check_tensor(op, "x (fp32)", b, x, x_offset, n, 4));
    DFRT_TRY(check_tensor(op, "positions (int32 rows)", b, positions, positions_offset, rows, 4));
    DFRT_TRY(check_tensor(op, "inv_freq (fp32 dim/2)", b, inv_freq, inv_freq_offset, dim / 2, 4));
    if (overlaps(x, x_offset, n * 4, positions, positions_offset, (uint64_t)rows * 4) ||
        overlaps(x, x_offset, n * 4, inv_freq, inv_freq_offset, (uint64_t)dim * 2))
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: x overlaps positions or inv_freq", op);
    dfrt_rope_args a = {{x, x_offset}, {positions, positions_offset}, {inv_freq, inv_freq_offset}, rows, heads, dim, row_stride};
    return b->vt->rope(b, &a);
}

dfrt_status dfrt_op_kv_store(dfrt_backend *b, dfrt_buffer *k_cache, size_t k_offset, dfrt_buffer *v_cache,
                             size_t v_offset, const dfrt_buffer *src, size_t src_offset, uint32_t src_stride,
                             uint32_t k_col, uint32_t v_col, const dfrt_buffer *slots, size_t slots_offset,
                             const dfrt_buffer *positions, size_t positions_offset, uint32_t rows, uint32_t width,
                             uint32_t n_slots, uint32_t max_ctx) {
    const char *op = "kv_store";
    if (!b) return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: backend is NULL", op);
    CHECK_IMPLEMENTED(b, kv_store, op);
    DFRT_TRY(check_dims(op, "n_slots", n_slots));
    DFRT_TRY(check_dims(op, "max_ctx", max_ctx));
    if ((uint64_t)k_col + width > src_stride || (uint64_t)v_col + width > src_stride)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: K or V columns run past the source row of %u", op, src_stride);
    uint64_t n_src = 0, cache = (uint64_t)n_slots * max_ctx * width;
    DFRT_TRY(extent(op, "src", rows, src_stride, src_stride, &n_src));
    DFRT_TRY(check_tensor(op, "src (fp32)", b, src, src_offset, n_src, 4));
    DFRT_TRY(check_tensor(op, "k_cache (fp32 n_slots x max_ctx x width)", b, k_cache, k_offset, cache, 4));
    DFRT_TRY(check_tensor(op, "v_cache (fp32 n_slots x max_ctx x width)", b, v_cache, v_offset, cache, 4));
    DFRT_TRY(check_tensor(op, "slots (int32 rows)", b, slots, slots_offset, rows, 4));
    DFRT_TRY(check_tensor(op, "positions (int32 rows)", b, positions, positions_offset, rows, 4));
    if (overlaps(k_cache, k_offset, cache * 4, v_cache, v_offset, cache * 4) ||
        overlaps(k_cache, k_offset, cache * 4, src, src_offset, n_src * 4) ||
        overlaps(v_cache, v_offset, cache * 4, src, src_offset, n_src * 4))
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: the caches overlap each other or the source", op);
    dfrt_kv_store_args a = {{k_cache, k_offset}, {v_cache, v_offset}, {src, src_offset}, {slots, slots_offset},
                            {positions, positions_offset}, rows, width, src_stride, k_col, v_col, n_slots, max_ctx};
    return b->vt->kv_store(b, &a);
}

dfrt_status dfrt_op_attention(dfrt_backend *b, dfrt_buffer *out, size_t out_offset, uint32_t out_stride,
                              const dfrt_buffer *q, size_t q_offset, uint32_t q_stride, const dfrt_buffer *k_cache,
                              size_t k_offset, const dfrt_buffer *v_cache, size_t v_offset, const dfrt_buffer *slots,
                              size_t slots_offset, const dfrt_buffer *positions, size_t positions_offset, uint32_t rows,
                              uint32_t n_heads, uint32_t n_kv, uint32_t dim, uint32_t n_slots, uint32_t max_ctx,
                              float scale) {
    const char *op = "attention";
    if (!b) return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: backend is NULL", op);
    CHECK_IMPLEMENTED(b, attention, op);
    DFRT_TRY(check_dims(op, "n_heads", n_heads));
    DFRT_TRY(check_dims(op, "n_kv", n_kv));
    DFRT_TRY(check_dims(op, "dim", dim));
    DFRT_TRY(check_dims(op, "n_slots", n_slots));
    DFRT_TRY(check_dims(op, "max_ctx", max_ctx));
    if (n_heads % n_kv) return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: %u heads do not divide into %u KV heads", op, n_heads, n_kv);
    if (dim > 1024) return dfrt_fail(DFRT_UNSUPPORTED, "%s: head_dim %u (at most 1024)", op, dim);
    if (!(scale > 0.0f) || scale > 1e6f) return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: scale %g", op, (double)scale);
    uint64_t n_out = 0, n_q = 0, cache = (uint64_t)n_slots * max_ctx * n_kv * dim;
    DFRT_TRY(extent(op, "out", rows, out_stride, (uint64_t)n_heads * dim, &n_out));
    DFRT_TRY(extent(op, "q", rows, q_stride, (uint64_t)n_heads * dim, &n_q));
    DFRT_TRY(check_tensor(op, "out (fp32)", b, out, out_offset, n_out, 4));
    DFRT_TRY(check_tensor(op, "q (fp32)", b, q, q_offset, n_q, 4));
    DFRT_TRY(check_tensor(op, "k_cache (fp32)", b, k_cache, k_offset, cache, 4));
    DFRT_TRY(check_tensor(op, "v_cache (fp32)", b, v_cache, v_offset, cache, 4));
    DFRT_TRY(check_tensor(op, "slots (int32 rows)", b, slots, slots_offset, rows, 4));
    DFRT_TRY(check_tensor(op, "positions (int32 rows)", b, positions, positions_offset, rows, 4));
    if (overlaps(out, out_offset, n_out * 4, q, q_offset, n_q * 4) ||
        overlaps(out, out_offset, n_out * 4, k_cache, k_offset, cache * 4) ||
        overlaps(out, out_offset, n_out * 4, v_cache, v_offset, cache * 4))
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: out overlaps an input", op);
    dfrt_attention_args a = {{out, out_offset}, {q, q_offset}, {k_cache, k_offset}, {v_cache, v_offset},
                             {slots, slots_offset}, {positions, positions_offset}, rows, n_heads, n_kv, dim, q_stride,
                             out_stride, n_slots, max_ctx, scale};
    return b->vt->attention(b, &a);
}

dfrt_status dfrt_op_silu_mul(dfrt_backend *b, dfrt_buffer *out, size_t out_offset, const dfrt_buffer *in,
                             size_t in_offset, uint32_t rows, uint32_t width, uint32_t in_stride, uint32_t up_col) {
    const char *op = "silu_mul";
    if (!b) return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: backend is NULL", op);
    CHECK_IMPLEMENTED(b, silu_mul, op);
    if (up_col < width || (uint64_t)up_col + width > in_stride)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: gate [0, %u) and up [%u, %u) must be disjoint within rows of %u", op,
                         width, up_col, up_col + width, in_stride);
    uint64_t n_in = 0;
    DFRT_TRY(extent(op, "in", rows, in_stride, in_stride, &n_in));
    DFRT_TRY(check_tensor(op, "out (fp32 rows x width)", b, out, out_offset, (uint64_t)rows * width, 4));
    DFRT_TRY(check_tensor(op, "in (fp32)", b, in, in_offset, n_in, 4));
    if (overlaps(out, out_offset, (uint64_t)rows * width * 4, in, in_offset, n_in * 4))
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: out overlaps in", op);
    dfrt_silu_mul_args a = {{out, out_offset}, {in, in_offset}, rows, width, in_stride, up_col};
    return b->vt->silu_mul(b, &a);
}

dfrt_status dfrt_op_add(dfrt_backend *bk, dfrt_buffer *y, size_t y_offset, const dfrt_buffer *a, size_t a_offset,
                        const dfrt_buffer *b, size_t b_offset, uint64_t n) {
    const char *op = "add";
    if (!bk) return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: backend is NULL", op);
    CHECK_IMPLEMENTED(bk, add, op);
    DFRT_TRY(check_dims(op, "n", n));
    DFRT_TRY(check_tensor(op, "y (fp32 n)", bk, y, y_offset, n, 4));
    DFRT_TRY(check_tensor(op, "a (fp32 n)", bk, a, a_offset, n, 4));
    DFRT_TRY(check_tensor(op, "b (fp32 n)", bk, b, b_offset, n, 4));
    if ((overlaps(y, y_offset, n * 4, a, a_offset, n * 4) && !(y == a && y_offset == a_offset)) ||
        (overlaps(y, y_offset, n * 4, b, b_offset, n * 4) && !(y == b && y_offset == b_offset)))
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: y partly overlaps an input", op);
    dfrt_add_args args = {{y, y_offset}, {a, a_offset}, {b, b_offset}, n};
    return bk->vt->add(bk, &args);
}

dfrt_status dfrt_op_argmax(dfrt_backend *b, dfrt_buffer *out, size_t out_offset, const dfrt_buffer *x, size_t x_offset,
                           uint32_t rows, uint32_t n, uint32_t stride) {
    const char *op = "argmax";
    if (!b) return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: backend is NULL", op);
    CHECK_IMPLEMENTED(b, argmax, op);
    uint64_t n_x = 0;
    DFRT_TRY(extent(op, "x", rows, stride, n, &n_x));
    DFRT_TRY(check_tensor(op, "out (int32 rows)", b, out, out_offset, rows, 4));
    DFRT_TRY(check_tensor(op, "x (fp32)", b, x, x_offset, n_x, 4));
    if (overlaps(out, out_offset, (uint64_t)rows * 4, x, x_offset, n_x * 4))
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: out overlaps x", op);
    dfrt_argmax_args a = {{out, out_offset}, {x, x_offset}, rows, n, stride};
    return b->vt->argmax(b, &a);
}
