/* The backend registry and the public wrappers, which validate every argument before a
 * backend sees it. */
#include "backend.h"

#include "base/internal.h"
#include "format/df11_internal.h"

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

dfrt_status dfrt_backend_finish_open(dfrt_status status, const dfrt_backend_vtable *vt, const dfrt_device_info *info,
                                     void *impl, dfrt_backend **out) {
    *out = NULL;
    dfrt_backend *b = status == DFRT_OK ? dfrt_backend_new(vt, info) : NULL;
    if (!b) {
        dfrt_backend unopened = {.vt = vt, .impl = impl}; /* destroy releases only impl */
        vt->destroy(&unopened);
        return status == DFRT_OK ? DFRT_OUT_OF_MEMORY : status;
    }
    b->impl = impl;
    *out = b;
    return DFRT_OK;
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

const char *dfrt_device_type_name(dfrt_device_type t) {
    switch (t) {
    case DFRT_DEVICE_DISCRETE_GPU: return "discrete GPU";
    case DFRT_DEVICE_INTEGRATED_GPU: return "integrated GPU";
    case DFRT_DEVICE_VIRTUAL_GPU: return "virtual GPU";
    case DFRT_DEVICE_CPU: return "CPU";
    default: return "other";
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
                 dfrt_device_type_name(infos[chosen].type));
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

/* The backend releases what it made (impl, the device); the base object is the generic
 * layer's. */
void dfrt_backend_close(dfrt_backend *b) {
    if (!b) return;
    b->vt->destroy(b);
    free(b);
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

/* dfrt_buffer_copy between two backends: the backend's peer copy where both are of one kind
 * and it has one, else through host memory in pieces of up to 64 MB (each read waits for the
 * source's work; each write is ordered after the destination's). */
static dfrt_status copy_between(dfrt_buffer *dst, size_t dst_offset, const dfrt_buffer *src, size_t src_offset,
                                size_t size) {
    if (!size) return DFRT_OK;
    dfrt_backend *db = dst->backend, *sb = src->backend;
    if (db->vt == sb->vt && db->vt->peer_copy)
        return db->vt->peer_copy(db, dst->impl, dst_offset, sb, src->impl, src_offset, size);
    const size_t piece = DFRT_MIN(size, (size_t)64 << 20);
    uint8_t *host = dfrt_malloc(piece, "a copy between devices");
    if (!host) return DFRT_OUT_OF_MEMORY;
    dfrt_status s = DFRT_OK;
    for (size_t at = 0; at < size && s == DFRT_OK; at += piece) {
        size_t n = DFRT_MIN(piece, size - at);
        s = sb->vt->buffer_read(sb, src->impl, src_offset + at, host, n);
        if (s == DFRT_OK) s = db->vt->buffer_write(db, dst->impl, dst_offset + at, host, n);
    }
    free(host); /* buffer_write is done with its source when it returns */
    return s;
}

dfrt_status dfrt_buffer_copy(dfrt_buffer *dst, size_t dst_offset, const dfrt_buffer *src, size_t src_offset,
                             size_t size) {
    DFRT_TRY(check_range("dfrt_buffer_copy destination", dst, dst_offset, size));
    DFRT_TRY(check_range("dfrt_buffer_copy source", src, src_offset, size));
    if (dst->backend != src->backend) return copy_between(dst, dst_offset, src, src_offset, size);
    if (dst == src && dst_offset < src_offset + size && src_offset < dst_offset + size)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "dfrt_buffer_copy: source and destination overlap");
    if (!size) return DFRT_OK;
    return dst->backend->vt->buffer_copy(dst->backend, dst->impl, dst_offset, src->impl, src_offset, size);
}

struct dfrt_comm {
    int n;
    dfrt_backend *backends[DFRT_MAX_DEVICES];
    void *impl; /* the backend's communicator; NULL: sums through host memory */
    float *host, *sum; /* the host sum's (count values each, grown as needed) */
    uint64_t host_count;
    char name[320];
};

dfrt_status dfrt_comm_create(dfrt_backend *const *backends, int n, dfrt_comm **out) {
    *out = NULL;
    if (!backends || n < 1 || n > DFRT_MAX_DEVICES)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "dfrt_comm_create: %d backends (1 .. %d)", n, DFRT_MAX_DEVICES);
    dfrt_comm *c = dfrt_calloc(1, sizeof *c, "a communicator");
    if (!c) return DFRT_OUT_OF_MEMORY;
    c->n = n;
    bool same = true;
    for (int i = 0; i < n; i++) {
        if (!backends[i]) {
            free(c);
            return dfrt_fail(DFRT_INVALID_ARGUMENT, "dfrt_comm_create: backend %d is NULL", i);
        }
        c->backends[i] = backends[i];
        same &= backends[i]->vt == backends[0]->vt;
    }
    const dfrt_backend_vtable *vt = backends[0]->vt;
    char why[256] = "";
    if (same && vt->comm_create) {
        dfrt_status s = vt->comm_create(c->backends, n, &c->impl, c->name, sizeof c->name);
        if (s != DFRT_OK && s != DFRT_UNSUPPORTED) {
            free(c);
            return s;
        }
        if (s == DFRT_UNSUPPORTED) snprintf(why, sizeof why, "%s", dfrt_last_error());
        dfrt_clear_error();
    } else {
        snprintf(why, sizeof why, "the %s backend has no collective library", vt->name);
    }
    if (!c->impl) snprintf(c->name, sizeof c->name, "host memory (%s)", why);
    *out = c;
    return DFRT_OK;
}

void dfrt_comm_free(dfrt_comm *c) {
    if (!c) return;
    if (c->impl) c->backends[0]->vt->comm_free(c->impl);
    DFRT_FREE_ALL(c->host, c->sum, c);
}

const char *dfrt_comm_name(const dfrt_comm *c) { return c ? c->name : ""; }

dfrt_status dfrt_comm_all_reduce(dfrt_comm *c, dfrt_buffer *const *bufs, size_t offset, uint64_t count) {
    if (!c || !bufs) return dfrt_fail(DFRT_INVALID_ARGUMENT, "dfrt_comm_all_reduce: NULL argument");
    void *impls[DFRT_MAX_DEVICES];
    for (int i = 0; i < c->n; i++) {
        if (!bufs[i] || bufs[i]->backend != c->backends[i])
            return dfrt_fail(DFRT_INVALID_ARGUMENT, "dfrt_comm_all_reduce: buffer %d is not on the communicator's device %d",
                             i, i);
        DFRT_TRY(check_range("dfrt_comm_all_reduce", bufs[i], offset, count * 4));
        impls[i] = bufs[i]->impl;
    }
    if (!count) return DFRT_OK;
    if (c->impl) return c->backends[0]->vt->all_reduce(c->impl, c->backends, impls, offset, count);
    if (c->n == 1) return DFRT_OK;
    if (count > c->host_count) {
        float *h = realloc(c->host, count * sizeof *h), *sum = h ? realloc(c->sum, count * sizeof *sum) : NULL;
        if (h) c->host = h;
        if (!h || !sum) return dfrt_fail(DFRT_OUT_OF_MEMORY, "out of memory for an all-reduce of %llu values",
                                         (unsigned long long)count);
        c->sum = sum;
        c->host_count = count;
    }
    for (int i = 0; i < c->n; i++) {
        dfrt_backend *b = c->backends[i];
        DFRT_TRY(b->vt->buffer_read(b, impls[i], offset, i ? c->host : c->sum, count * 4));
        if (i)
            for (uint64_t k = 0; k < count; k++) c->sum[k] += c->host[k];
    }
    for (int i = 0; i < c->n; i++) {
        dfrt_backend *b = c->backends[i];
        DFRT_TRY(b->vt->buffer_write(b, impls[i], offset, c->sum, count * 4));
    }
    return DFRT_OK;
}

void *dfrt_host_alloc(dfrt_backend *b, size_t size) {
    if (!b || !size) return NULL;
    void *p = NULL;
    if (!b->vt->host_alloc) return malloc(size);
    return b->vt->host_alloc(b, size, &p) == DFRT_OK ? p : NULL;
}

void dfrt_host_free(dfrt_backend *b, void *p) {
    if (!b || !p) return;
    if (!b->vt->host_free) {
        free(p);
        return;
    }
    b->vt->host_free(b, p);
}

/* ---- DF11 units on a device ------------------------------------------------------------------ */

void dfrt_device_df11_free(dfrt_device_df11 *u) {
    if (!u) return;
    if (u->borrowed) return; /* a view: the slot and the image own its parts */
    dfrt_buffer *bufs[] = {u->luts, u->stream, u->sign_mantissa, u->positions_buf, u->gaps, u->segments, u->fast};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) dfrt_buffer_free(bufs[i]);
    DFRT_FREE_ALL(u->positions, u->name, u);
}

uint64_t dfrt_device_df11_bytes(const dfrt_device_df11 *u) {
    const dfrt_buffer *bufs[] = {u->luts, u->stream, u->sign_mantissa, u->positions_buf, u->gaps, u->segments, u->fast};
    uint64_t total = 0;
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) total += bufs[i] ? bufs[i]->size : 0;
    return total;
}

int dfrt_backend_df11_layout(const dfrt_backend *b) { return (int)b->vt->df11_layout; }

/* A part's bytes on the device for size bytes of data. */
static uint64_t padded_size(uint64_t size) { return size ? (size + 15) / 16 * 16 : 16; }

/* LAYOUT_SEGMENTS's decode table (dfrt_df11_fast_table) in bytes; put_parts checks it. */
#define FAST_TABLE_BYTES (sizeof(uint32_t) << DFRT_DF11_FAST_BITS)

/* The code stream's buffer holds this many bytes before padding: LAYOUT_SEGMENTS reads three
 * words from the word a code starts in, so two words of zeros follow the stream. */
static uint64_t stream_bytes(uint64_t n_bytes, int layout) {
    return layout == DFRT_DF11_LAYOUT_SEGMENTS ? n_bytes + 8 : n_bytes;
}

/* The buffers dfrt_df11_upload makes, by layout. */
uint64_t dfrt_df11_device_bytes(const dfrt_df11_unit *unit, int layout) {
    if (layout != DFRT_DF11_LAYOUT_CHUNKS && layout != DFRT_DF11_LAYOUT_SEGMENTS) return 0;
    uint64_t total = padded_size(256 * ((uint64_t)unit->n_tables + 1)) + padded_size(stream_bytes(unit->n_bytes, layout)) +
                     padded_size(unit->n) + padded_size(((uint64_t)unit->n_chunks + 1) * 4);
    if (layout == DFRT_DF11_LAYOUT_SEGMENTS)
        return total + padded_size(dfrt_df11_segment_groups(unit->n) * DFRT_DF11_GROUP_WORDS * 4) +
               padded_size(FAST_TABLE_BYTES);
    return total + padded_size((uint64_t)unit->n_chunks * DFRT_DF11_GAP_BYTES_PER_CHUNK);
}

/* The device unit's buffers in a fixed order: the parts of an image. */
static dfrt_buffer **df11_part(dfrt_device_df11 *u, int i) {
    dfrt_buffer **parts[DFRT_DF11_PARTS] = {&u->luts,  &u->stream,   &u->sign_mantissa, &u->positions_buf,
                                            &u->gaps,  &u->segments, &u->fast};
    return parts[i];
}

/* Where the parts of a unit go: device buffers (upload) or one host block (an image). Each
 * part is its data and zeros up to at least `room` bytes, rounded up to a multiple of 16
 * (vector loads may run past the end of the data, never past the buffer). */
typedef struct part_sink {
    dfrt_backend *b;
    dfrt_device_df11 *u; /* upload: buffers made here */
    dfrt_df11_image *im; /* image: bytes placed at im->off[i] (im->data NULL: sizes only) */
} part_sink;

static dfrt_status put_part(part_sink *k, int i, const void *data, size_t size, size_t room) {
    size_t padded = (size_t)padded_size(size > room ? size : room);
    if (k->im) {
        dfrt_df11_image *im = k->im;
        if (im->data) {
            memcpy(im->data + im->off[i], data, size);
            memset(im->data + im->off[i] + size, 0, padded - size);
        } else {
            im->off[i] = im->size;
            im->len[i] = padded;
            im->size += padded;
        }
        return DFRT_OK;
    }
    dfrt_buffer **out = df11_part(k->u, i);
    DFRT_TRY(dfrt_buffer_alloc(k->b, padded, out));
    dfrt_status s = dfrt_buffer_write(*out, 0, data, size);
    if (s == DFRT_OK && padded > size) s = dfrt_buffer_fill(*out, size, padded - size, 0);
    return s;
}

/* Every part of a unit in the backend's layout; u's metadata must be set. */
static dfrt_status put_parts(part_sink *k, const dfrt_df11_unit *unit, const dfrt_device_df11 *u) {
    int layout = (int)k->b->vt->df11_layout;
    DFRT_TRY(put_part(k, 0, unit->luts, 256 * ((size_t)unit->n_tables + 1), 0));
    DFRT_TRY(put_part(k, 1, unit->stream, unit->n_bytes, (size_t)stream_bytes(unit->n_bytes, layout)));
    DFRT_TRY(put_part(k, 2, unit->sign_mantissa, unit->n, 0));
    DFRT_TRY(put_part(k, 3, u->positions, ((size_t)unit->n_chunks + 1) * 4, 0));
    if (layout != DFRT_DF11_LAYOUT_SEGMENTS)
        return put_part(k, 4, unit->gaps, (size_t)unit->n_chunks * DFRT_DF11_GAP_BYTES_PER_CHUNK, 0);
    /* LAYOUT_SEGMENTS: the segment index and the one-lookup table, built here from the unit */
    size_t words = (size_t)dfrt_df11_segment_groups(unit->n) * DFRT_DF11_GROUP_WORDS;
    uint32_t fast[1u << DFRT_DF11_FAST_BITS];
    _Static_assert(sizeof fast == FAST_TABLE_BYTES, "dfrt_df11_device_bytes counts FAST_TABLE_BYTES");
    if (k->im && !k->im->data) { /* sizes only */
        DFRT_TRY(put_part(k, 5, NULL, words * 4, 0));
        return put_part(k, 6, NULL, sizeof fast, 0);
    }
    uint32_t *index = dfrt_malloc(words * 4, "a DF11 segment index");
    if (!index) return DFRT_OUT_OF_MEMORY;
    dfrt_status s = dfrt_df11_segment_index(unit, 0, index);
    if (s == DFRT_OK) s = put_part(k, 5, index, words * 4, 0);
    free(index);
    dfrt_df11_fast_table(unit, fast);
    if (s == DFRT_OK) s = put_part(k, 6, fast, sizeof fast, 0);
    return s;
}

/* A device unit's metadata from a host unit: counts, name and output positions. */
static dfrt_status df11_meta(dfrt_backend *b, const dfrt_df11_unit *unit, dfrt_device_df11 *u) {
    u->backend = b;
    u->n = unit->n;
    u->n_bytes = unit->n_bytes;
    u->n_chunks = unit->n_chunks;
    u->n_tables = unit->n_tables;
    u->max_chunk_weights = unit->max_chunk_weights;
    u->name = dfrt_strdup(unit->name);
    u->positions = dfrt_malloc(((size_t)unit->n_chunks + 1) * sizeof *u->positions, "output positions");
    if (!u->name || !u->positions) return DFRT_OUT_OF_MEMORY;
    for (uint32_t c = 0; c <= unit->n_chunks; c++) u->positions[c] = (uint32_t)dfrt_df11_chunk_start(unit, c);
    return DFRT_OK;
}

dfrt_status dfrt_df11_upload(dfrt_backend *b, const dfrt_df11_unit *unit, dfrt_device_df11 **out) {
    *out = NULL;
    if (!b || !unit || !unit->n) return dfrt_fail(DFRT_INVALID_ARGUMENT, "dfrt_df11_upload: no backend or unit");
    dfrt_device_df11 *u = dfrt_calloc(1, sizeof *u, "a device unit");
    if (!u) return DFRT_OUT_OF_MEMORY;
    dfrt_status s = df11_meta(b, unit, u);
    part_sink k = {.b = b, .u = u};
    if (s == DFRT_OK) s = put_parts(&k, unit, u);
    if (s != DFRT_OK) {
        dfrt_fail_prefix(s, "uploading DF11 unit %s to %s", unit->name, b->vt->name);
        dfrt_device_df11_free(u);
        return s;
    }
    *out = u;
    return DFRT_OK;
}

/* ---- DF11 units kept in host memory (offloading) ------------------------------------------------ */

dfrt_status dfrt_df11_image_build(dfrt_backend *b, const dfrt_df11_unit *unit, dfrt_df11_image **out) {
    *out = NULL;
    dfrt_df11_image *im = dfrt_calloc(1, sizeof *im, "a DF11 unit image");
    if (!im) return DFRT_OUT_OF_MEMORY;
    dfrt_status s = df11_meta(b, unit, &im->meta);
    part_sink k = {.b = b, .im = im};
    if (s == DFRT_OK) s = put_parts(&k, unit, &im->meta); /* the sizes */
    if (s == DFRT_OK && !(im->data = dfrt_host_alloc(b, im->size)))
        s = dfrt_fail(DFRT_OUT_OF_MEMORY, "out of host memory (%zu bytes for a DF11 unit kept there)", im->size);
    if (s == DFRT_OK) s = put_parts(&k, unit, &im->meta); /* the bytes */
    if (s != DFRT_OK) {
        dfrt_fail_prefix(s, "keeping DF11 unit %s in host memory", unit->name);
        dfrt_df11_image_free(im);
        return s;
    }
    *out = im;
    return DFRT_OK;
}

void dfrt_df11_image_free(dfrt_df11_image *im) {
    if (!im) return;
    dfrt_host_free(im->meta.backend, im->data);
    DFRT_FREE_ALL(im->meta.positions, im->meta.name, im);
}

dfrt_status dfrt_df11_slot_alloc(dfrt_backend *b, dfrt_df11_image *const *images, size_t n, dfrt_device_df11 **out) {
    *out = NULL;
    dfrt_device_df11 *u = dfrt_calloc(1, sizeof *u, "a DF11 slot");
    if (!u) return DFRT_OUT_OF_MEMORY;
    u->backend = b;
    dfrt_status s = DFRT_OK;
    for (int i = 0; i < DFRT_DF11_PARTS && s == DFRT_OK; i++) {
        size_t most = 0;
        for (size_t k = 0; k < n; k++) most = DFRT_MAX(most, images[k]->len[i]);
        if (most) s = dfrt_buffer_alloc(b, most, df11_part(u, i));
    }
    if (s != DFRT_OK) {
        dfrt_device_df11_free(u);
        return s;
    }
    *out = u;
    return DFRT_OK;
}

void dfrt_df11_view(const dfrt_device_df11 *slot, const dfrt_df11_image *im, dfrt_device_df11 *view) {
    *view = im->meta;
    view->borrowed = true;
    for (int i = 0; i < DFRT_DF11_PARTS; i++) *df11_part(view, i) = *df11_part((dfrt_device_df11 *)slot, i);
}

dfrt_status dfrt_df11_image_copy(dfrt_device_df11 *slot, const dfrt_df11_image *im) {
    dfrt_backend *b = slot->backend;
    bool queue = b->vt->copy_async != NULL;
    if (queue) DFRT_TRY(b->vt->copies_after_ops(b));
    for (int i = 0; i < DFRT_DF11_PARTS; i++) {
        if (!im->len[i]) continue;
        dfrt_buffer *dst = *df11_part(slot, i);
        if (queue) DFRT_TRY(b->vt->copy_async(b, dst->impl, 0, im->data + im->off[i], im->len[i]));
        else DFRT_TRY(dfrt_buffer_write(dst, 0, im->data + im->off[i], im->len[i]));
    }
    return DFRT_OK;
}

dfrt_status dfrt_host_copy(dfrt_buffer *dst, size_t offset, const void *src, size_t size) {
    if (!dst || !src || offset > dst->size || size > dst->size - offset)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "dfrt_host_copy: %zu bytes at offset %zu do not fit a buffer of %zu",
                         size, offset, dst ? dst->size : 0);
    dfrt_backend *b = dst->backend;
    if (!b->vt->copy_async) return dfrt_buffer_write(dst, offset, src, size);
    DFRT_TRY(b->vt->copies_after_ops(b));
    DFRT_TRY(b->vt->copy_async(b, dst->impl, offset, src, size));
    return b->vt->ops_after_copies(b);
}

dfrt_status dfrt_backend_ops_after_copies(dfrt_backend *b) {
    return b->vt->ops_after_copies ? b->vt->ops_after_copies(b) : DFRT_OK;
}
