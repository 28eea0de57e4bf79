/* buffer_copy: the copy shader (shaders/copy.comp) where offsets and size are multiples of 16,
 * else vkCmdCopyBuffer. Above memory and pipelines, as it dispatches a shader. */
#include "vk_internal.h"

#include "copy.spv.h"

typedef struct copy_push {
    uint32_t n, groups_x;
} copy_push;

dfrt_status vk_copy_pipelines(vk_backend *vk) {
    return vk_pipeline_create(vk, &vk->pipes[VK_PIPE_COPY], "copy", copy_spv, sizeof copy_spv, 2, sizeof(copy_push),
                              NULL, 0);
}

/* Copies with the copy shader when offsets and size are multiples of 16; false otherwise. */
static dfrt_status shader_copy(vk_backend *vk, const vk_buffer *dst, size_t dst_offset, const vk_buffer *src,
                              size_t src_offset, size_t size, bool *out_done) {
    *out_done = false;
    if (dst_offset % 16 || src_offset % 16 || size % 16 || vk->min_align > 16) return DFRT_OK;
    /* pieces within the binding limit and the grid limit (1024 vectors per workgroup) */
    uint64_t piece = DFRT_MIN((vk->max_range - 16) / 16 * 16, (uint64_t)1024 * 16 * vk->max_groups * 64);
    for (size_t done = 0; done < size;) {
        size_t step = (size_t)DFRT_MIN((uint64_t)(size - done), piece);
        size_t ds, dd;
        vk_binding bindings[2] = {
            vk_bind(src, src_offset + done, step, vk->min_align, &ds),
            vk_bind(dst, dst_offset + done, step, vk->min_align, &dd),
        };
        uint32_t vectors = (uint32_t)(step / 16);
        copy_push push = {vectors, 0};
        DFRT_TRY(vk_launch(vk, &vk->pipes[VK_PIPE_COPY], bindings, &push, &push.groups_x, (vectors + 1023) / 1024));
        done += step;
    }
    *out_done = true;
    return DFRT_OK;
}

dfrt_status vk_buffer_copy(dfrt_backend *b, void *dst, size_t dst_offset, void *src, size_t src_offset, size_t size) {
    vk_backend *vk = vk_of(b);
    bool done;
    DFRT_TRY(shader_copy(vk, dst, dst_offset, src, src_offset, size, &done));
    if (done) return DFRT_OK;
    DFRT_TRY(vk_begin(vk));
    VkBufferCopy region = {.srcOffset = src_offset, .dstOffset = dst_offset, .size = size};
    vkCmdCopyBuffer(vk->cmd, ((vk_buffer *)src)->buffer, ((vk_buffer *)dst)->buffer, 1, &region);
    vk_barrier(vk);
    return DFRT_OK;
}
