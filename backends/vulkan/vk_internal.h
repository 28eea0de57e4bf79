/* The Vulkan backend's shared state and its layers, a one-way stack: each file calls only the
 * files listed above it here (libplacebo's src/vulkan/ is the model).
 *   vk_status.c     VkResult -> dfrt status, validation messages
 *   vk_commands.c   recording, submission, barriers, descriptors, dispatch, timestamps
 *   vk_memory.c     buffers and transfers
 *   vk_pipelines.c  compute pipelines from embedded SPIR-V
 *   vk_copy.c       buffer_copy (the copy shader)
 *   vk_op_<family>.c  one file per op family (shaders/<family>.comp): push constants, pipelines,
 *                   dispatch planning within the binding and grid limits, supports();
 *                   vk_op_df11_matmul.c sits above vk_op_matmul.c and vk_op_df11_decode.c
 *   vk_device.c     instance, devices, the vtable and the driver (the top) */
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
    VK_PIPE_COPY,
    VK_PIPE_GEMV,
    VK_PIPE_GEMV_VEC,
    VK_PIPE_GEMM,
    VK_PIPE_GEMM_COOPMAT,   /* made only where vk->coopmat: 128 x 128 blocks */
    VK_PIPE_GEMM_COOPMAT64, /* and 64 x 64 */
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

/* Push-constant blocks mirror the shaders and live beside their op (vk_op_<family>.c), each
 * with a size assertion. */
#define VK_OP_WORKGROUP 256 /* the row-wise ops: embedding, rmsnorm, rope, kv_store, silu_mul, add */

/* One descriptor: a range of a buffer. */
typedef struct vk_binding {
    VkBuffer buffer;
    VkDeviceSize offset, range;
} vk_binding;

/* Binds [offset, offset + size) of a buffer: from the offset aligned down to `align`, up to a
 * whole number of 32-bit words (shaders read words; buffers are padded to 16 bytes).
 * *out_delta is the offset of the range within the binding. */
static inline vk_binding vk_bind(const vk_buffer *buf, size_t offset, size_t size, uint64_t align, size_t *out_delta) {
    if (align < 1) align = 1;
    size_t bind_offset = (size_t)(offset / align * align);
    size_t end = DFRT_MIN((offset + size + 3) / 4 * 4, (buf->size + 15) / 16 * 16);
    *out_delta = offset - bind_offset;
    return (vk_binding){buf->buffer, bind_offset, end - bind_offset};
}

#define VK_MAX_SETS_PER_SUBMIT 4096

/* A recorded pass: its command buffer and descriptor pools; while it is recorded, the
 * backend's own command buffer and pool wait in saved_*. Valid while the scratch has not
 * moved (scratch_moves). */
typedef struct vk_graph {
    VkCommandBuffer cmd;
    VkDescriptorPool *pools;
    uint32_t n_pools;
    uint64_t scratch_moves;
    VkCommandBuffer saved_cmd;
    VkDescriptorPool saved_pool;
    uint32_t saved_sets_used;
} vk_graph;
#define VK_GEMV_SG_MAX_M 16   /* the subgroup GEMVs (matmul_gemv_sg, df11_gemv) run M = 1 .. 16 */
#define VK_GEMV_SG_RPT 4      /* rows per row group: 1, 2, 4 or 8 (variants 0 .. 3) */
#define VK_MAX_BINDINGS 8
#define VK_FRAMES 3     /* batches of work in flight with the copy queue */
#define VK_COPY_CMDS 32 /* copies in flight on it */

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
    /* dfrt_host_alloc's blocks: host-visible buffers, so that copy_async copies from them on the
     * device (offloaded DF11 layers) with no bounce through staging and no wait */
    struct vk_host_block {
        vk_buffer buf;
    } *host_blocks;
    size_t n_host_blocks;

    /* The copy queue (vk_copy_queue_*): a transfer-only family's queue where the device has one
     * and timeline semaphores (DFRT_VULKAN_COPY_QUEUE=0: none; =1: the compute queue itself
     * where there is no such family, for tests). copy_async then submits each copy there,
     * ordered against the work by two timelines, and the work goes to the compute queue in
     * batches submitted without waiting, from a ring of command buffers and descriptor pools
     * (vk->cmd and vk->descriptor_pool are the current one's). */
    bool copy_queue_on;
    uint32_t copy_family;
    VkQueue copy_queue;
    VkCommandPool copy_pool;
    VkCommandBuffer copy_cmds[VK_COPY_CMDS];
    uint64_t copy_cmd_done[VK_COPY_CMDS]; /* copy timeline value when each is free again */
    uint32_t copy_next;
    VkSemaphore compute_timeline, copy_timeline;
    uint64_t compute_value, copy_value; /* the last values submitted to be signaled */
    uint64_t copy_waits_for;   /* compute value the copies enqueued from now wait for */
    uint64_t compute_waits_for; /* copy value the next batch of work waits for (0: none) */
    struct vk_frame {
        VkCommandBuffer cmd;
        VkDescriptorPool pool;
        uint64_t done_at; /* compute value that marks its work done (0: nothing in flight) */
    } frames[VK_FRAMES];
    uint32_t frame;
    vk_buffer dummy;       /* bound where an op has no tensor (no bias) */
    vk_buffer attention_partial; /* attention's per-split partial results, grown on demand */
    uint64_t scratch_moves;      /* times attention_partial or df11_scratch was replaced (recorded passes bind them) */
    vk_graph *capture;           /* the pass being recorded, or NULL */
    vk_pipeline pipes[VK_PIPE_COUNT];
    /* DF11 units in the segment layout: the decode, and its workgroup size (segments decoded at
     * once: 256 where shared memory has room, else 128; 0: the device has too little) */
    vk_pipeline df11_decode;
    uint32_t seg_workgroup;
    /* The subgroup GEMVs (gemv_tpr lanes a row: the subgroup size; 0 where the device lacks
     * subgroup shuffles or its subgroups are not 4 .. 64 wide), created at first use, by M and
     * rows per row group (matmul_gemv_sg) or by M (df11_gemv). */
    uint32_t gemv_tpr;
    uint32_t gemv_rpt; /* DFRT_VULKAN_GEMV_RPT (1, 2, 4 or 8 rows a row group for every M), or 0 */
    bool coopmat; /* VK_NV_cooperative_matrix enabled: matmul_coopmat.comp for M > 16 */
    vk_pipeline gemv_sg[VK_GEMV_SG_MAX_M + 1][VK_GEMV_SG_RPT];
    vk_pipeline df11_gemv[VK_GEMV_SG_MAX_M + 1];
    vk_buffer df11_scratch; /* df11_matmul's decoded rows where it is not fused, grown on demand */

    VkQueryPool queries;
    double timestamp_period_ns;
    uint64_t timestamp_mask;
    double timer_wall_start; /* when the queue has no timestamps */

    uint64_t max_range;    /* largest range one binding may cover (maybe lowered for tests) */
    uint64_t min_align;    /* minStorageBufferOffsetAlignment */
    uint32_t max_groups;   /* maxComputeWorkGroupCount[0] and [1] */
    uint32_t subgroup_size; /* at least 1 */

    bool pipeline_stats; /* DFRT_VULKAN_PIPELINE_STATS: print compiled pipeline statistics */

    /* Validation messages (DFRT_VULKAN_VALIDATION=1): any message fails the next call. */
    int validation_messages;
    char validation_first[768];
} vk_backend;

static inline vk_backend *vk_of(dfrt_backend *b) { return (vk_backend *)b->impl; }

/* ---- status (vk_status.c) ---------------------------------------------------------------- */
/* Fails with the first validation message seen since the last check, if any. */
dfrt_status vk_check_validation(vk_backend *vk);

/* ---- commands (vk_commands.c) ------------------------------------------------------------- */
dfrt_status vk_commands_init(vk_backend *vk);
void vk_commands_destroy(vk_backend *vk);
dfrt_status vk_begin(vk_backend *vk);  /* starts recording if not already */
dfrt_status vk_submit_and_wait(vk_backend *vk);
void vk_barrier(vk_backend *vk);       /* every earlier write is visible to every later access */
/* Records a dispatch (a descriptor set, push constants, a barrier after it). */
dfrt_status vk_dispatch(vk_backend *vk, const vk_pipeline *pipe, const vk_binding *bindings, const void *push,
                        uint32_t groups_x, uint32_t groups_y);
/* Records a dispatch of `groups` workgroups as a 2-D grid within maxComputeWorkGroupCount; the
 * shaders flatten it with groups_x (common.glsl's flat_group), which this stores through
 * `groups_x` (a field of `push`) unless NULL. Nothing for 0 groups. */
dfrt_status vk_launch(vk_backend *vk, const vk_pipeline *pipe, const vk_binding *bindings, void *push,
                      uint32_t *groups_x, uint64_t groups);
dfrt_status vk_synchronize(dfrt_backend *b);
/* Recorded passes (the vtable's capture_begin, capture_end, graph_launch, graph_free). While
 * one is recorded, vk_submit_and_wait fails: nothing may wait for the device then. */
dfrt_status vk_capture_begin(dfrt_backend *b);
dfrt_status vk_capture_end(dfrt_backend *b, bool keep, void **out);
dfrt_status vk_graph_launch(dfrt_backend *b, void *graph);
void vk_graph_destroy(dfrt_backend *b, void *graph);
void vk_graph_free(vk_backend *vk, vk_graph *g);
dfrt_status vk_timer_begin(dfrt_backend *b);
dfrt_status vk_timer_end(dfrt_backend *b, double *out_ms);

/* ---- memory (vk_memory.c) ----------------------------------------------------------------- */
dfrt_status vk_buffer_create(vk_backend *vk, size_t size, bool host_visible, vk_buffer *out);
void vk_buffer_destroy(vk_backend *vk, vk_buffer *buf);
dfrt_status vk_buffer_alloc(dfrt_backend *b, size_t size, void **out);
void vk_buffer_free(dfrt_backend *b, void *impl, size_t size);
dfrt_status vk_buffer_write(dfrt_backend *b, void *impl, size_t offset, const void *src, size_t size);
/* Host memory the device reads (host_alloc, host_free), and copies from it into a buffer
 * (copy_async): on the copy queue where there is one, else recorded in the command stream
 * between barriers (copies_after_ops and ops_after_copies then have nothing to add). */
dfrt_status vk_host_alloc(dfrt_backend *b, size_t size, void **out);
void vk_host_free(dfrt_backend *b, void *p);
void vk_host_blocks_destroy(vk_backend *vk);
dfrt_status vk_copy_async(dfrt_backend *b, void *dst, size_t offset, const void *src, size_t size);
/* The copy queue (vk_commands.c): created with the device where there is one (family chosen
 * by vk_copy_queue_family before the device exists); copies_after_ops / ops_after_copies. */
bool vk_copy_queue_family(vk_backend *vk, uint32_t *out_family);
dfrt_status vk_copy_queue_init(vk_backend *vk);
dfrt_status vk_copy_queue_submit(vk_backend *vk, const vk_buffer *src, size_t src_offset, const vk_buffer *dst,
                                 size_t dst_offset, size_t size);
dfrt_status vk_copies_after_ops(dfrt_backend *b);
dfrt_status vk_ops_after_copies(dfrt_backend *b);
dfrt_status vk_buffer_read(dfrt_backend *b, void *impl, size_t offset, void *dst, size_t size);
dfrt_status vk_buffer_fill(dfrt_backend *b, void *impl, size_t offset, size_t size, uint8_t value);
/* A scratch buffer of the backend's (attention_partial, df11_scratch) holding at least `bytes`,
 * in whole granules. Growing it waits for the work recorded so far, which may use the old one,
 * and counts a move (scratch_moves: recorded passes that bind it are recorded again). */
dfrt_status vk_scratch_reserve(vk_backend *vk, vk_buffer *buf, uint64_t bytes, uint64_t granule);

/* ---- pipelines (vk_pipelines.c) ----------------------------------------------------------- */
/* A compute pipeline of `n_bindings` storage buffers (set 0, in order), `push_size` bytes of
 * push constants and `n_spec` uint32 specialization constants (ids 0..n_spec-1). */
dfrt_status vk_pipeline_create(vk_backend *vk, vk_pipeline *p, const char *name, const uint32_t *code,
                               size_t code_size, uint32_t n_bindings, uint32_t push_size, const uint32_t *spec,
                               uint32_t n_spec);
void vk_pipeline_destroy(vk_backend *vk, vk_pipeline *p);
void vk_pipelines_destroy(vk_backend *vk);
/* vk_pipeline_create for a pipeline made at first use: nothing when *p exists already; on
 * failure *p stays empty. */
dfrt_status vk_pipeline_lazy(vk_backend *vk, vk_pipeline *p, const char *name, const uint32_t *code, size_t code_size,
                             uint32_t n_bindings, uint32_t push_size, const uint32_t *spec, uint32_t n_spec);
/* The pipeline of a row-wise op (vk->pipes[id]): its one specialization constant is the
 * workgroup size, VK_OP_WORKGROUP. VK_OP_PIPELINE takes the SPIR-V array and the push-constant
 * type. */
dfrt_status vk_op_pipeline_create(vk_backend *vk, vk_pipeline_id id, const char *name, const uint32_t *code,
                                  size_t code_size, uint32_t n_bindings, uint32_t push_size);
#define VK_OP_PIPELINE(vk, id, name, spv, n_bindings, push_type) \
    vk_op_pipeline_create(vk, id, name, spv, sizeof spv, n_bindings, sizeof(push_type))

/* ---- what the op files share: planning within the binding limit (header-only) -------------- */
/* The most bytes one binding may cover with vk_bind()'s alignment and rounding. */
static inline uint64_t vk_range_limit(const vk_backend *vk) { return vk->max_range - vk->min_align - 16; }
static inline uint64_t vk_ceil_div(uint64_t a, uint64_t b) { return (a + b - 1) / b; }
/* Rows of `width` elements of `elem` bytes, `stride` elements apart, that fit `limit` bytes:
 * 0 when one row does not. */
static inline uint64_t vk_rows_within(uint64_t limit, uint64_t stride, uint64_t width, uint64_t elem) {
    uint64_t cap = limit / elem;
    if (width > cap) return 0;
    if (stride == 0) return UINT64_MAX;
    return (cap - width) / stride + 1;
}
/* Rows of `width` floats, `stride` apart, that fit one binding beside a vector of `side` floats
 * bound whole (rmsnorm's weights, rope's frequencies): 0 when a row or the vector does not. */
static inline uint64_t vk_rows_beside(const vk_backend *vk, uint64_t side, uint64_t stride, uint64_t width) {
    uint64_t limit = vk_range_limit(vk);
    return side * 4 > limit ? 0 : vk_rows_within(limit, stride, width, 4);
}
/* Binds `bytes` of a tensor argument from `first_byte` on. */
static inline vk_binding vk_bind_arg(const vk_backend *vk, dfrt_tensor_arg t, uint64_t first_byte, uint64_t bytes,
                                     size_t *out_delta) {
    return vk_bind(t.buf->impl, t.offset + (size_t)first_byte, (size_t)bytes, vk->min_align, out_delta);
}
/* vk_bind_arg(), with the 32-bit word of the binding where the range starts (what the push
 * constants carry) in *out_word0. */
static inline vk_binding vk_bind_words(const vk_backend *vk, dfrt_tensor_arg t, uint64_t first_byte, uint64_t bytes,
                                       uint32_t *out_word0) {
    size_t delta;
    vk_binding bound = vk_bind_arg(vk, t, first_byte, bytes, &delta);
    *out_word0 = (uint32_t)(delta / 4);
    return bound;
}
/* Bound where an op has no tensor (no bias, no partial results). */
static inline vk_binding vk_unbound(const vk_backend *vk) { return (vk_binding){vk->dummy.buffer, 0, VK_WHOLE_SIZE}; }
/* The supports() of an op that takes any size: it is split into dispatches within the
 * binding and grid limits. */
#define VK_SUPPORTS_ANY_SIZE(fn)                                                         \
    dfrt_status vk_##fn##_supports(const vk_backend *vk, const dfrt_##fn##_args *a) {    \
        (void)vk;                                                                        \
        (void)a;                                                                         \
        return DFRT_OK;                                                                  \
    }
/* supports(): `what` of op does not fit one binding. */
static inline dfrt_status vk_too_large(const vk_backend *vk, const char *op, const char *what) {
    return dfrt_fail(DFRT_UNSUPPORTED, "vulkan %s: %s does not fit the device's %llu-byte binding limit", op, what,
                     (unsigned long long)vk->max_range);
}

/* ---- buffer_copy (vk_copy.c) -------------------------------------------------------------- */
dfrt_status vk_copy_pipelines(vk_backend *vk);
dfrt_status vk_buffer_copy(dfrt_backend *b, void *dst, size_t dst_offset, void *src, size_t src_offset, size_t size);

/* ---- the op families (vk_op_<family>.c) ---------------------------------------------------- */
/* Each op (ops.h) has, in its family's file, a launcher that trusts its arguments and a
 * supports function that says which cases the device's limits refuse, and why:
 *   dfrt_status vk_rmsnorm(dfrt_backend *b, const dfrt_rmsnorm_args *a);
 *   dfrt_status vk_rmsnorm_supports(const vk_backend *vk, const dfrt_rmsnorm_args *a);
 * Each family creates its pipelines (vk_<family>_pipelines, listed in vk_device.c); the
 * subgroup GEMVs' are made at first use, one per M. The backend implements every op. */
#define VK_OP_DECLARE(fn, OP)                                                 \
    dfrt_status vk_##fn(dfrt_backend *b, const dfrt_##fn##_args *a);          \
    dfrt_status vk_##fn##_supports(const vk_backend *vk, const dfrt_##fn##_args *a);
DFRT_FOR_EACH_BASIC_OP(VK_OP_DECLARE)
#undef VK_OP_DECLARE

dfrt_status vk_df11_decode_pipelines(vk_backend *vk);
/* df11_matmul (not a basic op): the fused DF11 GEMV where it applies, else rows decoded into
 * df11_scratch a piece at a time and multiplied by vk_matmul. */
dfrt_status vk_df11_matmul(dfrt_backend *b, const dfrt_df11_matmul_args *a);
dfrt_status vk_df11_matmul_supports(const vk_backend *vk, const dfrt_df11_matmul_args *a);
/* Decodes weights [a, b) of a unit (segment layout) into out, BF16 from byte offset out_byte. */
dfrt_status vk_df11_decode_range(vk_backend *vk, const dfrt_device_df11 *u, uint64_t a, uint64_t b, vk_buffer *out,
                                 size_t out_byte);
/* The stream and segment-index bindings that cover weights [wa, wb) of a unit (segment
 * layout), and the push-constant fields that go with them; false where a range does not fit
 * one binding. */
typedef struct vk_seg_bind {
    vk_binding stream, segments;
    uint32_t stream_word0, stream_words, seg_rec0, seg_word0;
} vk_seg_bind;
bool vk_seg_bindings(const vk_backend *vk, const dfrt_device_df11 *u, uint64_t wa, uint64_t wb, vk_seg_bind *out);
/* DFRT_UNSUPPORTED, naming op, where the device's shared memory cannot hold the decoder's tables. */
dfrt_status vk_seg_decoder_supported(const vk_backend *vk, const char *op);
/* Whether the subgroup GEMV takes this matmul (M <= 16, K % 8 == 0, W and X 16-byte aligned,
 * the device able), and its launch over W rows bound by the caller (matmul_push's layout). */
bool vk_gemv_sg_applies(const vk_backend *vk, const dfrt_matmul_args *a);
/* The kernels vk_matmul chooses from, and which one it takes for a case. */
typedef enum vk_matmul_kernel_id {
    VK_KERNEL_GEMV_SG1, /* matmul_gemv_sg, 1, 2, 4, 8 rows a row group */
    VK_KERNEL_GEMV_SG2,
    VK_KERNEL_GEMV_SG4,
    VK_KERNEL_GEMV_SG8,
    VK_KERNEL_GEMV,     /* matmul_gemv, 16-byte loads */
    VK_KERNEL_GEMV_ANY, /* matmul_gemv, element by element */
    VK_KERNEL_GEMM_COOPMAT,   /* matmul_coopmat, 128 x 128 blocks */
    VK_KERNEL_GEMM_COOPMAT64, /* 64 x 64 */
    VK_KERNEL_GEMM,
    VK_KERNEL_COUNT
} vk_matmul_kernel_id;
vk_matmul_kernel_id vk_matmul_kernel_of(const vk_backend *vk, const dfrt_matmul_args *a);
#define VK_COOPMAT_TILE 128 /* the cooperative-matrix GEMM's largest blocks: 128 x 128 of Y */
/* dfrt_matmul_kernel's names (vk_op_df11_matmul.c), for matmul and df11_matmul. */
const char *vk_matmul_kernel(dfrt_backend *b, dfrt_op op, const void *args);

/* vk_matmul with Y's rows ldy elements apart (the rows of a wider Y); a within the limits
 * vk_matmul_supports checks with the wider Y. */
dfrt_status vk_matmul_strided(vk_backend *vk, const dfrt_matmul_args *a, uint64_t ldy);
dfrt_status vk_matmul_pipelines(vk_backend *vk);
dfrt_status vk_embedding_pipelines(vk_backend *vk);
dfrt_status vk_norm_pipelines(vk_backend *vk);
dfrt_status vk_rope_pipelines(vk_backend *vk);
dfrt_status vk_kv_cache_pipelines(vk_backend *vk);
dfrt_status vk_attention_pipelines(vk_backend *vk);
dfrt_status vk_elementwise_pipelines(vk_backend *vk);
dfrt_status vk_argmax_pipelines(vk_backend *vk);

/* kv_cache: the ranges of a (n_slots, max_ctx, width) cache that one binding holds: slots
 * [slot_lo, slot_end) whole, or positions [key_lo, key_end) of one slot. Attention binds the
 * cache the same way. */
typedef struct vk_cache_range {
    uint32_t slot_lo, slot_end, key_lo, key_end;
} vk_cache_range;
/* `slots` whole slots at a time where a slot fits (keys == max_ctx), else `keys` positions of
 * one slot at a time; `count` ranges in all. */
typedef struct vk_cache_plan {
    uint32_t n_slots, max_ctx;
    uint64_t slots, keys, count;
} vk_cache_plan;
vk_cache_plan vk_plan_cache(uint32_t n_slots, uint32_t max_ctx, uint64_t slots, uint64_t keys);
vk_cache_range vk_cache_range_at(const vk_cache_plan *p, uint64_t i);
/* Bytes per cached value: 4 (fp32) or 2 (BF16). */
static inline uint64_t vk_kv_value_bytes(dfrt_kv_type type) { return type == DFRT_KV_BF16 ? 2 : 4; }
/* Binds range i of the plan in the K and V caches (rows of `width` values of `type`): *out_k
 * and *out_v, and the words of those bindings where the range starts, *out_k0 and *out_v0
 * (the shaders read caches as words: an fp32 value or two BF16 ones). */
vk_cache_range vk_bind_cache_range(const vk_backend *vk, const vk_cache_plan *p, uint64_t i, dfrt_tensor_arg k_cache,
                                   dfrt_tensor_arg v_cache, uint64_t width, dfrt_kv_type type, vk_binding *out_k,
                                   vk_binding *out_v, uint32_t *out_k0, uint32_t *out_v0);

#endif
