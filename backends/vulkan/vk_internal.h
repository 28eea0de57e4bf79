/* The Vulkan backend's shared state. Host code splits into device (instance, physical and
 * logical device), memory (buffers, transfers), commands (recording, submission, barriers,
 * descriptors, timestamps), pipelines and ops. */
#ifndef DFRT_VK_INTERNAL_H
#define DFRT_VK_INTERNAL_H

#include "backend.h"
#include "internal.h"

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
_Static_assert(sizeof(vk_decode_push) == 32, "decode push constants");
_Static_assert(sizeof(vk_matmul_push) == 40, "matmul push constants");

#define VK_GEMV_WORKGROUP 256
#define VK_GEMV_THREADS_PER_ROW 32
#define VK_GEMV_MAX_M 8
#define VK_GEMM_TILE 64

/* One descriptor: a range of a buffer. */
typedef struct vk_binding {
    VkBuffer buffer;
    VkDeviceSize offset, range;
} vk_binding;

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

#endif
