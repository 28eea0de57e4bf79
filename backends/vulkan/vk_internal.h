/* The Vulkan backend's shared state. Host code splits into device (instance, physical and
 * logical device), memory (buffers, transfers), commands (recording, submission, barriers,
 * descriptors, timestamps), pipelines and ops. */
#ifndef DFRT_VK_INTERNAL_H
#define DFRT_VK_INTERNAL_H

#include "backend.h"
#include "base/internal.h"

#include <volk.h>

/* VkResult -> dfrt status, with the call, file and line. */
dfrt_status vk_fail(VkResult r, const char *call, const char *file, int line);
#define VK_TRY(call) \
    do { \
        VkResult vk_try_result_ = (call); \
        if (vk_try_result_ != VK_SUCCESS) return vk_fail(vk_try_result_, #call, __FILE__, __LINE__); \
    } while (0)

typedef struct vk_buffer {
    VkBuffer buffer;
    VkDeviceMemory memory;
    size_t size;
    void *mapped; /* non-NULL when the memory is host-visible (unified memory) */
} vk_buffer;

typedef struct vk_pipeline {
    VkPipeline pipeline;
    VkPipelineLayout layout;
    VkDescriptorSetLayout set_layout;
    uint32_t n_bindings;
    uint32_t push_size;
} vk_pipeline;

typedef enum vk_pipeline_id {
    VK_PIPE_GEMV,
    VK_PIPE_GEMV_VEC,
    VK_PIPE_GEMM,
    VK_PIPE_COPY,
    VK_PIPE_EMBEDDING,
    VK_PIPE_RMSNORM,
    VK_PIPE_ROPE,
    VK_PIPE_KV_STORE,
    VK_PIPE_ATTENTION,      /* head_dim <= 128 */
    VK_PIPE_ATTENTION_MID,  /* head_dim <= 256 */
    VK_PIPE_ATTENTION_WIDE, /* head_dim <= 1024 */
    VK_PIPE_ATTENTION_COMBINE,
    VK_PIPE_SILU_MUL,
    VK_PIPE_ADD,
    VK_PIPE_ARGMAX,
    VK_PIPE_COUNT
} vk_pipeline_id;

/* Push-constant blocks, mirrored from the shaders (shaders/). */
typedef struct vk_decode_push {
    uint32_t first_chunk, n_tables, stream_word0, stream_words, sm_byte0, sm_bytes, out_elem0, n_group_chunks;
} vk_decode_push;
typedef struct vk_matmul_push {
    uint32_t m, n, k, x0, w0, y0, y_stride, bias0, has_bias, groups_x;
} vk_matmul_push;
typedef struct vk_copy_push {
    uint32_t n, groups_x;
} vk_copy_push;
/* The transformer ops (shaders/nn_*.comp): element offsets are within each binding. */
typedef struct vk_embedding_push {
    uint32_t rows, dim, offsets0, out0, table0, w_lo, w_last, max_first, flags, groups_per_row, groups_x;
} vk_embedding_push;
typedef struct vk_rmsnorm_push {
    uint32_t rows, heads, dim, row_stride, x0, y0, w0;
    float eps;
    uint32_t groups_x;
} vk_rmsnorm_push;
typedef struct vk_rope_push {
    uint32_t rows, heads, half_dim, row_stride, x0, pos0, inv0, groups_per_row, groups_x;
} vk_rope_push;
typedef struct vk_kv_store_push {
    uint32_t rows, width, src_stride, k_col, v_col, src0, slots0, pos0, k0, v0;
    uint32_t slot_lo, slot_end, key_lo, key_end, max_ctx, groups_per_row, groups_x;
} vk_kv_store_push;
typedef struct vk_attention_push {
    uint32_t rows, n_heads, group, dim, q_stride, out_stride, width, n_slots, max_ctx;
    uint32_t q0, out0, k0, v0, slots0, pos0, part0;
    uint32_t slot_lo, slot_end, key_lo, key_end, kps, n_splits, split_count, flags;
    float scale;
    uint32_t groups_x;
} vk_attention_push;
typedef struct vk_silu_mul_push {
    uint32_t rows, width, in_stride, up_col, in0, out0, groups_per_row, groups_x;
} vk_silu_mul_push;
typedef struct vk_add_push {
    uint32_t n, a0, b0, y0, groups_x;
} vk_add_push;
typedef struct vk_argmax_push {
    uint32_t rows, n, stride, x0, out0, groups_x;
} vk_argmax_push;
_Static_assert(sizeof(vk_decode_push) == 32, "decode push constants");
_Static_assert(sizeof(vk_matmul_push) == 40, "matmul push constants");
_Static_assert(sizeof(vk_embedding_push) == 44, "embedding push constants");
_Static_assert(sizeof(vk_rmsnorm_push) == 36, "rmsnorm push constants");
_Static_assert(sizeof(vk_rope_push) == 36, "rope push constants");
_Static_assert(sizeof(vk_kv_store_push) == 68, "kv_store push constants");
_Static_assert(sizeof(vk_attention_push) == 104, "attention push constants");
_Static_assert(sizeof(vk_silu_mul_push) == 32, "silu_mul push constants");
_Static_assert(sizeof(vk_add_push) == 20, "add push constants");
_Static_assert(sizeof(vk_argmax_push) == 24, "argmax push constants");

#define VK_GEMV_WORKGROUP 256
#define VK_GEMV_THREADS_PER_ROW 32
#define VK_GEMV_MAX_M 8
#define VK_GEMM_TILE 64
#define VK_NN_WORKGROUP 256        /* the transformer ops but attention and argmax */
#define VK_ARGMAX_WORKGROUP 512    /* the backend requires 512-invocation workgroups */
#define VK_ATTENTION_WORKGROUP 128 /* attention (at least one subgroup) */
#define VK_ATTENTION_COMBINE_WORKGROUP 256
/* The attention pipelines: the head_dim each takes, and the query heads (of one KV head) that
 * a workgroup serves with each load of a key or value row. */
#define VK_ATTENTION_DIM 128
#define VK_ATTENTION_QH 4
#define VK_ATTENTION_MID_DIM 256
#define VK_ATTENTION_MID_QH 2
#define VK_ATTENTION_WIDE_DIM 1024
#define VK_ATTENTION_WIDE_QH 1

/* One descriptor: a range of a buffer. */
typedef struct vk_binding {
    VkBuffer buffer;
    VkDeviceSize offset, range;
} vk_binding;

/* Binds [offset, offset + size) of a buffer: from the offset aligned down to `align`, up to a
 * whole number of 32-bit words (shaders read words; buffers are padded to 16 bytes).
 * *out_delta is the offset of the range within the binding. */
vk_binding vk_bind(const vk_buffer *buf, size_t offset, size_t size, uint64_t align, size_t *out_delta);

#define VK_MAX_SETS_PER_SUBMIT 4096
#define VK_DECODE_VARIANTS 6
#define VK_MAX_BINDINGS 8

typedef struct vk_backend {
    VkInstance instance;
    VkDebugUtilsMessengerEXT messenger;
    VkPhysicalDevice physical;
    VkDevice device;
    VkQueue queue;
    uint32_t queue_family;
    VkPhysicalDeviceLimits limits;
    uint32_t device_local_type, staging_type;
    bool unified; /* device-local memory is host-visible: buffers are mapped directly */

    VkCommandPool command_pool;
    VkCommandBuffer cmd;
    bool recording;
    VkFence fence;
    VkDescriptorPool descriptor_pool;
    uint32_t sets_used;

    vk_buffer staging;     /* host-visible bounce buffer for transfers */
    vk_buffer dummy;       /* bound where an op has no tensor (no bias) */
    vk_buffer attention_partial; /* attention's per-split partial results, grown on demand */
    vk_pipeline pipes[VK_PIPE_COUNT];
    /* DF11 decode, one pipeline per size of its shared staging area (in words of four
     * exponents): a unit takes the smallest that holds its largest chunk, so that workgroups
     * reserve no more shared memory than they use. */
    vk_pipeline decode[VK_DECODE_VARIANTS];
    uint32_t decode_stage_words[VK_DECODE_VARIANTS];
    int n_decode;

    VkQueryPool queries;
    double timestamp_period_ns;
    uint64_t timestamp_mask;
    double timer_wall_start; /* when the queue has no timestamps */

    uint64_t max_range;    /* largest range one binding may cover (maybe lowered for tests) */
    uint64_t min_align;    /* minStorageBufferOffsetAlignment */
    uint32_t max_groups;   /* maxComputeWorkGroupCount[0] and [1] */

    bool pipeline_stats; /* DFRT_VULKAN_PIPELINE_STATS: print compiled pipeline statistics */

    /* Validation messages (DFRT_VULKAN_VALIDATION=1): any message fails the next call. */
    int validation_messages;
    char validation_first[768];
} vk_backend;

static inline vk_backend *vk_of(dfrt_backend *b) { return (vk_backend *)b->impl; }

/* device */
dfrt_status vk_check_validation(vk_backend *vk);

/* memory */
dfrt_status vk_buffer_create(vk_backend *vk, size_t size, bool host_visible, vk_buffer *out);
void vk_buffer_destroy(vk_backend *vk, vk_buffer *buf);
dfrt_status vk_buffer_alloc(dfrt_backend *b, size_t size, void **out);
void vk_buffer_free(dfrt_backend *b, void *impl, size_t size);
dfrt_status vk_buffer_write(dfrt_backend *b, void *impl, size_t offset, const void *src, size_t size);
dfrt_status vk_buffer_read(dfrt_backend *b, void *impl, size_t offset, void *dst, size_t size);
dfrt_status vk_buffer_copy(dfrt_backend *b, void *dst, size_t dst_offset, void *src, size_t src_offset, size_t size);
dfrt_status vk_buffer_fill(dfrt_backend *b, void *impl, size_t offset, size_t size, uint8_t value);

/* commands */
dfrt_status vk_commands_init(vk_backend *vk);
void vk_commands_destroy(vk_backend *vk);
dfrt_status vk_begin(vk_backend *vk);  /* starts recording if not already */
dfrt_status vk_submit_and_wait(vk_backend *vk);
void vk_barrier(vk_backend *vk);       /* every earlier write is visible to every later access */
dfrt_status vk_dispatch(vk_backend *vk, const vk_pipeline *pipe, const vk_binding *bindings, const void *push,
                        uint32_t groups_x, uint32_t groups_y);
dfrt_status vk_synchronize(dfrt_backend *b);
dfrt_status vk_timer_begin(dfrt_backend *b);
dfrt_status vk_timer_end(dfrt_backend *b, double *out_ms);

/* pipelines */
dfrt_status vk_pipelines_init(vk_backend *vk);
void vk_pipelines_destroy(vk_backend *vk);

/* ops */
/* Copies with the copy shader when offsets and size are multiples of 16; false otherwise. */
dfrt_status vk_shader_copy(vk_backend *vk, const vk_buffer *dst, size_t dst_offset, const vk_buffer *src,
                           size_t src_offset, size_t size, bool *out_done);
dfrt_status vk_df11_decode(dfrt_backend *b, const dfrt_df11_decode_args *a);
dfrt_status vk_matmul(dfrt_backend *b, const dfrt_matmul_args *a);

/* the transformer ops (vk_nn.c) */
dfrt_status vk_embedding(dfrt_backend *b, const dfrt_embedding_args *a);
dfrt_status vk_rmsnorm(dfrt_backend *b, const dfrt_rmsnorm_args *a);
dfrt_status vk_rope(dfrt_backend *b, const dfrt_rope_args *a);
dfrt_status vk_kv_store(dfrt_backend *b, const dfrt_kv_store_args *a);
dfrt_status vk_attention(dfrt_backend *b, const dfrt_attention_args *a);
dfrt_status vk_silu_mul(dfrt_backend *b, const dfrt_silu_mul_args *a);
dfrt_status vk_add(dfrt_backend *b, const dfrt_add_args *a);
dfrt_status vk_argmax(dfrt_backend *b, const dfrt_argmax_args *a);

#endif
