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
    dfrt_buffer *stream;    /* n_bytes, padded with zeros to a multiple of 16 */
    dfrt_buffer *sign_mantissa; /* n bytes, padded to a multiple of 16 */
    dfrt_buffer *positions_buf; /* (n_chunks + 1) uint32 */
    dfrt_buffer *gaps;      /* n_chunks * 320 bytes, padded to a multiple of 16 */
};

/* Arguments of the ops, validated by the wrappers. Offsets are in bytes. */
typedef struct dfrt_df11_decode_args {
    const dfrt_device_df11 *unit;
    uint32_t first_chunk, n_chunks; /* n_chunks >= 1 */
    dfrt_buffer *out;               /* BF16; weight positions[first_chunk] lands at out_offset */
    size_t out_offset;              /* even */
} dfrt_df11_decode_args;

typedef struct dfrt_matmul_args {
    const dfrt_buffer *x;    /* fp32 (M, K), rows K apart */
    size_t x_offset;         /* multiple of 4 */
    const dfrt_buffer *w;    /* bf16 (N, K), row-major as checkpoints store it */
    size_t w_offset;         /* multiple of 2 */
    const dfrt_buffer *bias; /* fp32 (N) or NULL */
    size_t bias_offset;
    dfrt_buffer *y; /* fp32 (M, N) */
    size_t y_offset;
    int64_t m, n, k;
} dfrt_matmul_args;

/* The transformer ops. Element offsets and strides are in elements of the tensor's type;
 * buffers are given with a byte offset. All validated by the wrappers. */
typedef struct dfrt_tensor_arg {
    const dfrt_buffer *buf;
    size_t offset; /* bytes */
} dfrt_tensor_arg;

typedef struct dfrt_embedding_args {
    dfrt_tensor_arg out;     /* fp32 (rows, dim) */
    dfrt_tensor_arg table;   /* BF16, table_elems elements */
    dfrt_tensor_arg offsets; /* uint32 (rows): element index of each row's first value */
    uint64_t table_elems;
    uint32_t rows, dim;
} dfrt_embedding_args;

typedef struct dfrt_rmsnorm_args {
    dfrt_tensor_arg y, x; /* fp32, same layout; may be the same */
    dfrt_tensor_arg w;    /* fp32 (dim) */
    uint32_t rows, heads, dim, row_stride;
    float eps;
} dfrt_rmsnorm_args;

typedef struct dfrt_rope_args {
    dfrt_tensor_arg x;         /* fp32, in place */
    dfrt_tensor_arg positions; /* int32 (rows) */
    dfrt_tensor_arg inv_freq;  /* fp32 (dim / 2) */
    uint32_t rows, heads, dim, row_stride;
} dfrt_rope_args;

typedef struct dfrt_kv_store_args {
    dfrt_tensor_arg k_cache, v_cache; /* fp32 (n_slots, max_ctx, width) each */
    dfrt_tensor_arg src;              /* fp32 rows of src_stride; K at column k_col, V at v_col */
    dfrt_tensor_arg slots, positions; /* int32 (rows) */
    uint32_t rows, width, src_stride, k_col, v_col, n_slots, max_ctx;
} dfrt_kv_store_args;

typedef struct dfrt_attention_args {
    dfrt_tensor_arg out;              /* fp32 rows of out_stride, head h at column h * dim */
    dfrt_tensor_arg q;                /* fp32 rows of q_stride, head h at column h * dim */
    dfrt_tensor_arg k_cache, v_cache; /* fp32 (n_slots, max_ctx, n_kv * dim) */
    dfrt_tensor_arg slots, positions; /* int32 (rows): row r attends to keys 0..positions[r] */
    uint32_t rows, n_heads, n_kv, dim, q_stride, out_stride, n_slots, max_ctx;
    float scale;
} dfrt_attention_args;

typedef struct dfrt_silu_mul_args {
    dfrt_tensor_arg out; /* fp32 (rows, width) */
    dfrt_tensor_arg in;  /* fp32 rows of in_stride: gate at column 0, up at column up_col */
    uint32_t rows, width, in_stride, up_col;
} dfrt_silu_mul_args;

typedef struct dfrt_add_args {
    dfrt_tensor_arg y, a, b; /* fp32 (n); y may be a or b */
    uint64_t n;
} dfrt_add_args;

typedef struct dfrt_argmax_args {
    dfrt_tensor_arg out; /* int32 (rows) */
    dfrt_tensor_arg x;   /* fp32 rows of stride, n values each */
    uint32_t rows, n, stride;
} dfrt_argmax_args;

struct dfrt_backend_vtable {
    const char *name;
    void (*destroy)(dfrt_backend *b);

    dfrt_status (*buffer_alloc)(dfrt_backend *b, size_t size, void **out_impl);
    void (*buffer_free)(dfrt_backend *b, void *impl, size_t size);
    /* write and copy are ordered with the work enqueued before them; read waits for it. */
    dfrt_status (*buffer_write)(dfrt_backend *b, void *impl, size_t offset, const void *src, size_t size);
    dfrt_status (*buffer_read)(dfrt_backend *b, void *impl, size_t offset, void *dst, size_t size);
    dfrt_status (*buffer_copy)(dfrt_backend *b, void *dst, size_t dst_offset, void *src, size_t src_offset,
                               size_t size);
    dfrt_status (*buffer_fill)(dfrt_backend *b, void *impl, size_t offset, size_t size, uint8_t value);

    dfrt_status (*df11_decode)(dfrt_backend *b, const dfrt_df11_decode_args *a);
    dfrt_status (*matmul)(dfrt_backend *b, const dfrt_matmul_args *a);
    dfrt_status (*embedding)(dfrt_backend *b, const dfrt_embedding_args *a);
    dfrt_status (*rmsnorm)(dfrt_backend *b, const dfrt_rmsnorm_args *a);
    dfrt_status (*rope)(dfrt_backend *b, const dfrt_rope_args *a);
    dfrt_status (*kv_store)(dfrt_backend *b, const dfrt_kv_store_args *a);
    dfrt_status (*attention)(dfrt_backend *b, const dfrt_attention_args *a);
    dfrt_status (*silu_mul)(dfrt_backend *b, const dfrt_silu_mul_args *a);
    dfrt_status (*add)(dfrt_backend *b, const dfrt_add_args *a);
    dfrt_status (*argmax)(dfrt_backend *b, const dfrt_argmax_args *a);

    dfrt_status (*synchronize)(dfrt_backend *b);
    /* Device timestamps around the work enqueued between begin and end; end waits. */
    dfrt_status (*timer_begin)(dfrt_backend *b);
    dfrt_status (*timer_end)(dfrt_backend *b, double *out_ms);
};

struct dfrt_backend {
    const dfrt_backend_vtable *vt;
    dfrt_device_info info;
    char selection[512]; /* how dfrt_backend_open chose it */
    uint64_t allocated;  /* bytes in live buffers */
    uint64_t peak_allocated;
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

/* A region of a buffer bound by a backend whose bindings are limited in size: the range
 * [offset, offset + size) of the buffer, bound from `bind_offset` (aligned down), with the
 * first element `delta` bytes into the binding. */
typedef struct dfrt_bound_range {
    size_t bind_offset, bind_size, delta;
} dfrt_bound_range;
dfrt_bound_range dfrt_bind_range(size_t offset, size_t size, size_t alignment);

#endif
