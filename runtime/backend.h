/* The backend interface: one vtable per backend, filled with designated initializers.
 * Public wrappers in backend.c validate every argument; backends trust their inputs. Not
 * installed. */
#ifndef DFRT_BACKEND_H
#define DFRT_BACKEND_H

#include "dfrt.h"

typedef struct dfrt_backend_vtable dfrt_backend_vtable;

/* A device buffer. `impl` is the backend's handle (host pointer, device pointer, ...). */
struct dfrt_buffer {
    dfrt_backend *backend;
    size_t size;
    void *impl;
};

/* How a backend keeps DF11 units on its device (its vtable's df11_layout). Both are lossless
 * and decode bit-exactly; the file's bytes are read as they are either way. */
typedef enum dfrt_df11_layout {
    /* The file's tensors as they are: the decoder finds codes through gaps and output positions. */
    DFRT_DF11_LAYOUT_CHUNKS,
    /* No gaps; instead a segment index (format/df11_internal.h: the stream bit of every 64th
     * weight's code, 0.31 bits per weight) so that any weight range, matrix rows in particular,
     * decodes without a pass over its chunk, and a 12-bit table that gives up to three codes
     * per lookup (dfrt_df11_fast_table). Built at upload. */
    DFRT_DF11_LAYOUT_SEGMENTS,
} dfrt_df11_layout;

/* A DF11 unit resident on a device, with the host-side index the backends use to plan work. */
struct dfrt_device_df11 {
    dfrt_backend *backend;
    char *name;
    uint64_t n;
    uint64_t n_bytes;
    uint32_t n_chunks;
    uint32_t n_tables;
    uint32_t max_chunk_weights;
    uint32_t *positions; /* host copy, n_chunks + 1 entries (the last is n) */
    dfrt_buffer *luts;      /* (n_tables + 1) * 256 bytes */
    dfrt_buffer *stream;    /* n_bytes (LAYOUT_SEGMENTS: n_bytes + 8), padded with zeros to a multiple of 16 */
    dfrt_buffer *sign_mantissa; /* n bytes, padded to a multiple of 16 */
    dfrt_buffer *positions_buf; /* (n_chunks + 1) uint32 */
    dfrt_buffer *gaps;      /* LAYOUT_CHUNKS: n_chunks * 320 bytes, padded to a multiple of 16; else NULL */
    dfrt_buffer *segments;  /* LAYOUT_SEGMENTS: dfrt_df11_segment_groups(n) records of 10 uint32; else NULL */
    dfrt_buffer *fast;      /* LAYOUT_SEGMENTS: uint32 (4096) multi-code table (dfrt_df11_fast_table); else NULL */
    bool borrowed;          /* a view (dfrt_df11_view): the buffers and positions are not its own */
};

/* Offloading: a DF11 unit kept in host memory in its device layout (the buffers above, in
 * that order, as "parts" of one host block), copied into a slot's buffers before each use. */
#define DFRT_DF11_PARTS 7
typedef struct dfrt_df11_image {
    dfrt_device_df11 meta; /* counts, name, positions; no buffers */
    uint8_t *data;         /* dfrt_host_alloc'ed */
    size_t off[DFRT_DF11_PARTS], len[DFRT_DF11_PARTS]; /* len 0: the layout has no such part */
    size_t size;
} dfrt_df11_image;
dfrt_status dfrt_df11_image_build(dfrt_backend *b, const dfrt_df11_unit *unit, dfrt_df11_image **out);
void dfrt_df11_image_free(dfrt_df11_image *im);
/* A slot: device buffers that can hold any of these images (each part as large as the
 * largest). */
dfrt_status dfrt_df11_slot_alloc(dfrt_backend *b, dfrt_df11_image *const *images, size_t n, dfrt_device_df11 **out);
/* Makes *view the image's unit in the slot's buffers (for the ops' arguments). */
void dfrt_df11_view(const dfrt_device_df11 *slot, const dfrt_df11_image *im, dfrt_device_df11 *view);
/* Copies the image into the slot: after the ops enqueued so far (which may still read the
 * slot), and on the backend's copy queue where it has one (copy_async), overlapping the ops
 * enqueued later; dfrt_backend_ops_after_copies then orders the ops that read it after it. */
dfrt_status dfrt_df11_image_copy(dfrt_device_df11 *slot, const dfrt_df11_image *im);
dfrt_status dfrt_backend_ops_after_copies(dfrt_backend *b);

/* What a backend implements. Required members must be set; an optional one may be NULL, and
 * the generic layer then reports the op as unsupported (or, for supports, asks nothing).
 * Every op member receives arguments that ops.c has validated from the op's descriptor:
 * buffers are the backend's own, tensors lie inside them, aligned, and outputs do not overlap
 * inputs. The generic layer owns the dfrt_backend object: destroy frees only impl. */
struct dfrt_backend_vtable {
    const char *name;                     /* required */
    dfrt_df11_layout df11_layout;         /* how DF11 units are kept on the device (0: as in the file) */
    void (*destroy)(dfrt_backend *b);     /* required: releases impl and the device */

    /* required: buffers. write and copy are ordered with the work enqueued before them; read
     * waits for it. write is done with its source when it returns. */
    dfrt_status (*buffer_alloc)(dfrt_backend *b, size_t size, void **out_impl);
    void (*buffer_free)(dfrt_backend *b, void *impl, size_t size);
    dfrt_status (*buffer_write)(dfrt_backend *b, void *impl, size_t offset, const void *src, size_t size);
    dfrt_status (*buffer_read)(dfrt_backend *b, void *impl, size_t offset, void *dst, size_t size);
    dfrt_status (*buffer_copy)(dfrt_backend *b, void *dst, size_t dst_offset, void *src, size_t src_offset,
                               size_t size);
    dfrt_status (*buffer_fill)(dfrt_backend *b, void *impl, size_t offset, size_t size, uint8_t value);
    /* optional: host memory that buffer_write copies from fastest (CUDA: page-locked), and its
     * release once no copy from it is in flight; NULL: malloc and free */
    dfrt_status (*host_alloc)(dfrt_backend *b, size_t size, void **out);
    void (*host_free)(dfrt_backend *b, void *p);
    /* optional, all three or none: copies from host memory on a second queue that overlaps the
     * ops (offloading). copy_async enqueues one there (src stays valid until it is done);
     * copies_after_ops orders the copies enqueued later after the ops enqueued so far;
     * ops_after_copies the ops enqueued later after the copies enqueued so far. synchronize
     * waits for both queues. NULL: copies are buffer_write's, in the ops' order. */
    dfrt_status (*copy_async)(dfrt_backend *b, void *dst, size_t offset, const void *src, size_t size);
    dfrt_status (*copies_after_ops)(dfrt_backend *b);
    dfrt_status (*ops_after_copies)(dfrt_backend *b);

    /* optional: a copy between buffers of two backends of this vtable (two devices, or two
     * logical devices on one): after the work enqueued on both before it, and before the work
     * enqueued on either after it. NULL: dfrt_buffer_copy goes through host memory. */
    dfrt_status (*peer_copy)(dfrt_backend *dst_b, void *dst, size_t dst_offset, dfrt_backend *src_b, void *src,
                             size_t src_offset, size_t size);

    /* optional, all three or none: a communicator over n distinct devices, one backend of
     * this vtable each (NCCL on CUDA), for dfrt_comm_all_reduce: enqueued on every backend's
     * stream, after its work so far. comm_create is DFRT_UNSUPPORTED, with the reason, where
     * it cannot make one (no library, the same device twice): the host sum serves then. */
    dfrt_status (*comm_create)(dfrt_backend *const *bs, int n, void **out_comm, char *name, size_t name_size);
    void (*comm_free)(void *comm);
    dfrt_status (*all_reduce)(void *comm, dfrt_backend *const *bs, void *const *impls, size_t offset, uint64_t count);

    /* optional: whether this backend runs a case of an op (args validated): DFRT_OK, or
     * DFRT_UNSUPPORTED with the reason (a head_dim or a binding size beyond its limits). */
    dfrt_status (*supports)(dfrt_backend *b, dfrt_op op, const void *args);

    /* the ops (ops.h), each optional: enqueue on the backend's stream or command buffer.
     * dfrt_status (*rmsnorm)(dfrt_backend *b, const dfrt_rmsnorm_args *a), and so on. */
#define DFRT_OP_MEMBER(fn, OP) dfrt_status (*fn)(dfrt_backend * b, const dfrt_##fn##_args *a);
    DFRT_FOR_EACH_OP(DFRT_OP_MEMBER)
#undef DFRT_OP_MEMBER

    /* optional: dfrt_matmul_kernel (ops.h), args validated and supported; a static string. */
    const char *(*matmul_kernel)(dfrt_backend *b, dfrt_op op, const void *args);

    /* optional: dfrt_vendor_matmul (ops.h), args validated; *library as there. */
    dfrt_status (*vendor_matmul)(dfrt_backend *b, const dfrt_vendor_matmul_args *a, const char **library);

    dfrt_status (*synchronize)(dfrt_backend *b); /* required: waits for all enqueued work */
    /* required: device timestamps around the work enqueued between begin and end; end waits. */
    dfrt_status (*timer_begin)(dfrt_backend *b);
    dfrt_status (*timer_end)(dfrt_backend *b, double *out_ms);

    /* optional, all four or none: recorded work (CUDA graphs). Between capture_begin and
     * capture_end the ops are recorded instead of run (no buffer may be allocated, written or
     * read then); capture_end returns the recording, ready to run (keep false: discards it,
     * *graph NULL). graph_launch enqueues a recording's work again, on the buffers and values
     * it was recorded with; DFRT_UNSUPPORTED when it no longer can (the backend's scratch has
     * moved since), and the caller records again. */
    dfrt_status (*capture_begin)(dfrt_backend *b);
    dfrt_status (*capture_end)(dfrt_backend *b, bool keep, void **graph);
    dfrt_status (*graph_launch)(dfrt_backend *b, void *graph);
    void (*graph_free)(dfrt_backend *b, void *graph);
};

struct dfrt_backend {
    const dfrt_backend_vtable *vt;
    dfrt_device_info info;
    char selection[512]; /* how dfrt_backend_open chose it */
    uint64_t allocated;  /* bytes in live buffers */
    uint64_t peak_allocated;
    struct dfrt_op_profile *profile; /* dfrt_backend_set_profile, or NULL */
    void *impl;
};

/* A compiled-in backend: lists its devices (available or not, with the reason) and opens one. */
typedef struct dfrt_backend_driver {
    const char *name;
    dfrt_status (*probe)(dfrt_device_info **out_infos, size_t *out_count);
    dfrt_status (*open)(int device_index, dfrt_backend **out);
} dfrt_backend_driver;

extern const dfrt_backend_driver dfrt_cpu_driver;
#ifdef DFRT_HAVE_VULKAN
extern const dfrt_backend_driver dfrt_vulkan_driver;
#endif
#ifdef DFRT_HAVE_CUDA
extern const dfrt_backend_driver dfrt_cuda_driver;
#endif

/* Allocates a dfrt_backend with its vtable and info; the backend fills impl. */
dfrt_backend *dfrt_backend_new(const dfrt_backend_vtable *vt, const dfrt_device_info *info);

/* The end of a driver's open: where `status` is DFRT_OK, *out becomes a backend of `vt` and
 * `info` over `impl` (the backend's state); otherwise, or out of memory, vt->destroy releases
 * impl and *out is NULL. Returns the failure, or DFRT_OK. */
dfrt_status dfrt_backend_finish_open(dfrt_status status, const dfrt_backend_vtable *vt, const dfrt_device_info *info,
                                     void *impl, dfrt_backend **out);

/* A vtable's members other than the ops, for a backend whose functions are named
 * <prefix>_<member> (cuda_destroy, cuda_buffer_alloc, ..., cuda_timer_end); SUPPORTS may be
 * NULL. */
#define DFRT_BACKEND_MEMBERS(prefix, NAME, SUPPORTS)                                                     \
    .name = NAME, .destroy = prefix##_destroy, .buffer_alloc = prefix##_buffer_alloc,                     \
    .buffer_free = prefix##_buffer_free, .buffer_write = prefix##_buffer_write,                           \
    .buffer_read = prefix##_buffer_read, .buffer_copy = prefix##_buffer_copy,                             \
    .buffer_fill = prefix##_buffer_fill, .supports = SUPPORTS, .synchronize = prefix##_synchronize,       \
    .timer_begin = prefix##_timer_begin, .timer_end = prefix##_timer_end

#endif
