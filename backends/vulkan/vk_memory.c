/* Vulkan buffers: device-local memory, with a host-visible staging buffer for transfers (or
 * direct mapping where device-local memory is host-visible, as on lavapipe and integrated
 * GPUs). */
#include "vk_internal.h"

#define STAGING_BYTES ((size_t)64 << 20)
#define INLINE_UPDATE_MAX 65536 /* vkCmdUpdateBuffer's limit */

static int memory_type(vk_backend *vk, uint32_t allowed, bool host_visible) {
    uint32_t want = host_visible ? vk->staging_type : vk->device_local_type;
    if (allowed & (1u << want)) return (int)want;
    VkPhysicalDeviceMemoryProperties mem;
    vkGetPhysicalDeviceMemoryProperties(vk->physical, &mem);
    VkMemoryPropertyFlags flags = host_visible ? VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT
                                               : VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
    for (uint32_t i = 0; i < mem.memoryTypeCount; i++)
        if ((allowed & (1u << i)) && (mem.memoryTypes[i].propertyFlags & flags) == flags) return (int)i;
    return -1;
}

dfrt_status vk_buffer_create(vk_backend *vk, size_t size, bool host_visible, vk_buffer *out) {
    memset(out, 0, sizeof *out);
    size_t rounded = (size + 15) / 16 * 16;
    VkBufferCreateInfo bi = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
        .size = rounded,
        .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT,
        .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
    };
    uint32_t families[2] = {vk->queue_family, vk->copy_family};
    if (vk->copy_queue_on && vk->copy_family != vk->queue_family) { /* the copy queue writes them too */
        bi.sharingMode = VK_SHARING_MODE_CONCURRENT;
        bi.queueFamilyIndexCount = 2;
        bi.pQueueFamilyIndices = families;
    }
    VkResult r = vkCreateBuffer(vk->device, &bi, NULL, &out->buffer);
    if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY)
        return dfrt_fail(DFRT_OUT_OF_MEMORY, "vulkan: cannot create a buffer of %zu bytes", size);
    VK_TRY(r);
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(vk->device, out->buffer, &req);
    int type = memory_type(vk, req.memoryTypeBits, host_visible);
    dfrt_status s = DFRT_OK;
    VkPhysicalDeviceMaintenance3Properties m3 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &m3};
    vkGetPhysicalDeviceProperties2(vk->physical, &p2);
    if (type < 0) {
        s = dfrt_fail(DFRT_DEVICE_ERROR, "vulkan: no memory type for a buffer");
    } else if (req.size > m3.maxMemoryAllocationSize) {
        s = dfrt_fail(DFRT_OUT_OF_MEMORY, "vulkan: a buffer of %zu bytes exceeds the device's largest allocation (%llu bytes)",
                      size, (unsigned long long)m3.maxMemoryAllocationSize);
    } else {
        VkMemoryAllocateInfo ai = {
            .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
            .allocationSize = req.size,
            .memoryTypeIndex = (uint32_t)type,
        };
        r = vkAllocateMemory(vk->device, &ai, NULL, &out->memory);
        if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY)
            s = dfrt_fail(DFRT_OUT_OF_MEMORY, "vulkan: out of device memory allocating %zu bytes", size);
        else if (r != VK_SUCCESS)
            s = vk_fail(r, "vkAllocateMemory", __FILE__, __LINE__);
        else if ((r = vkBindBufferMemory(vk->device, out->buffer, out->memory, 0)) != VK_SUCCESS)
            s = vk_fail(r, "vkBindBufferMemory", __FILE__, __LINE__);
        else if ((host_visible || vk->unified) &&
                 (r = vkMapMemory(vk->device, out->memory, 0, VK_WHOLE_SIZE, 0, &out->mapped)) != VK_SUCCESS)
            s = vk_fail(r, "vkMapMemory", __FILE__, __LINE__);
    }
    if (s != DFRT_OK) {
        vk_buffer_destroy(vk, out);
        return s;
    }
    out->size = size;
    return DFRT_OK;
}

void vk_buffer_destroy(vk_backend *vk, vk_buffer *buf) {
    if (buf->mapped) vkUnmapMemory(vk->device, buf->memory);
    if (buf->buffer) vkDestroyBuffer(vk->device, buf->buffer, NULL);
    if (buf->memory) vkFreeMemory(vk->device, buf->memory, NULL);
    memset(buf, 0, sizeof *buf);
}

dfrt_status vk_buffer_alloc(dfrt_backend *b, size_t size, void **out) {
    vk_backend *vk = vk_of(b);
    vk_buffer *buf = dfrt_calloc(1, sizeof *buf, "a Vulkan buffer");
    if (!buf) return DFRT_OUT_OF_MEMORY;
    dfrt_status s = vk_buffer_create(vk, size, false, buf);
    if (s != DFRT_OK) {
        free(buf);
        return s;
    }
    *out = buf;
    return DFRT_OK;
}

void vk_buffer_free(dfrt_backend *b, void *impl, size_t size) {
    (void)size;
    vk_backend *vk = vk_of(b);
    /* The buffer may be in use by recorded work (or work in flight with the copy queue): finish it first. */
    if (vk->recording || vk->copy_queue_on) vk_submit_and_wait(vk);
    vk_buffer_destroy(vk, impl);
    free(impl);
}

dfrt_status vk_scratch_reserve(vk_backend *vk, vk_buffer *buf, uint64_t bytes, uint64_t granule) {
    if (buf->buffer && buf->size >= bytes) return DFRT_OK;
    if (buf->buffer) {
        DFRT_TRY(vk_submit_and_wait(vk));
        vk_buffer_destroy(vk, buf);
        vk->scratch_moves++;
    }
    return vk_buffer_create(vk, (size_t)(vk_ceil_div(bytes, granule) * granule), false, buf);
}

static dfrt_status ensure_staging(vk_backend *vk) {
    if (vk->staging.buffer) return DFRT_OK;
    return vk_buffer_create(vk, STAGING_BYTES, true, &vk->staging);
}

dfrt_status vk_buffer_write(dfrt_backend *b, void *impl, size_t offset, const void *src, size_t size) {
    vk_backend *vk = vk_of(b);
    vk_buffer *buf = impl;
    if (size <= INLINE_UPDATE_MAX && offset % 4 == 0 && size % 4 == 0) { /* ordered in the command stream */
        DFRT_TRY(vk_begin(vk));
        vkCmdUpdateBuffer(vk->cmd, buf->buffer, offset, size, src);
        vk_barrier(vk);
        return DFRT_OK;
    }
    DFRT_TRY(vk_submit_and_wait(vk)); /* earlier work may still use the buffer */
    if (buf->mapped) {
        memcpy((uint8_t *)buf->mapped + offset, src, size);
        return DFRT_OK;
    }
    DFRT_TRY(ensure_staging(vk));
    for (size_t done = 0; done < size;) {
        size_t step = DFRT_MIN(size - done, STAGING_BYTES);
        memcpy(vk->staging.mapped, (const uint8_t *)src + done, step);
        DFRT_TRY(vk_begin(vk));
        VkBufferCopy region = {.srcOffset = 0, .dstOffset = offset + done, .size = step};
        vkCmdCopyBuffer(vk->cmd, vk->staging.buffer, buf->buffer, 1, &region);
        vk_barrier(vk);
        DFRT_TRY(vk_submit_and_wait(vk));
        done += step;
    }
    return DFRT_OK;
}

dfrt_status vk_buffer_read(dfrt_backend *b, void *impl, size_t offset, void *dst, size_t size) {
    vk_backend *vk = vk_of(b);
    vk_buffer *buf = impl;
    DFRT_TRY(vk_submit_and_wait(vk));
    if (buf->mapped) {
        memcpy(dst, (const uint8_t *)buf->mapped + offset, size);
        return DFRT_OK;
    }
    DFRT_TRY(ensure_staging(vk));
    for (size_t done = 0; done < size;) {
        size_t step = DFRT_MIN(size - done, STAGING_BYTES);
        DFRT_TRY(vk_begin(vk));
        VkBufferCopy region = {.srcOffset = offset + done, .dstOffset = 0, .size = step};
        vkCmdCopyBuffer(vk->cmd, buf->buffer, vk->staging.buffer, 1, &region);
        vk_barrier(vk);
        DFRT_TRY(vk_submit_and_wait(vk));
        memcpy((uint8_t *)dst + done, vk->staging.mapped, step);
        done += step;
    }
    return DFRT_OK;
}

dfrt_status vk_buffer_fill(dfrt_backend *b, void *impl, size_t offset, size_t size, uint8_t value) {
    vk_backend *vk = vk_of(b);
    vk_buffer *buf = impl;
    /* vkCmdFillBuffer needs 4-byte alignment; unaligned edges go through a write. */
    size_t head = DFRT_MIN((4 - offset % 4) % 4, size);
    size_t body = (size - head) / 4 * 4, tail = size - head - body;
    uint8_t bytes[4] = {value, value, value, value};
    if (head) DFRT_TRY(vk_buffer_write(b, impl, offset, bytes, head));
    if (body) {
        DFRT_TRY(vk_begin(vk));
        uint32_t word = 0x01010101u * value;
        vkCmdFillBuffer(vk->cmd, buf->buffer, offset + head, body, word);
        vk_barrier(vk);
    }
    if (tail) DFRT_TRY(vk_buffer_write(b, impl, offset + head + body, bytes, tail));
    return DFRT_OK;
}

/* ---- host memory the device reads ------------------------------------------------------------ */

dfrt_status vk_host_alloc(dfrt_backend *b, size_t size, void **out) {
    vk_backend *vk = vk_of(b);
    struct vk_host_block *grown = realloc(vk->host_blocks, (vk->n_host_blocks + 1) * sizeof *grown);
    if (!grown) return dfrt_fail(DFRT_OUT_OF_MEMORY, "out of host memory for a list of %zu blocks", vk->n_host_blocks + 1);
    vk->host_blocks = grown;
    vk_buffer *buf = &vk->host_blocks[vk->n_host_blocks].buf;
    DFRT_TRY(vk_buffer_create(vk, size, true, buf));
    if (!buf->mapped) {
        vk_buffer_destroy(vk, buf);
        return dfrt_fail(DFRT_DEVICE_ERROR, "vulkan: host-visible memory could not be mapped");
    }
    vk->n_host_blocks++;
    *out = buf->mapped;
    return DFRT_OK;
}

/* The block holding [p, p + size), or NULL. */
static struct vk_host_block *host_block(vk_backend *vk, const void *p, size_t size) {
    for (size_t i = 0; i < vk->n_host_blocks; i++) {
        const uint8_t *base = vk->host_blocks[i].buf.mapped;
        if ((const uint8_t *)p >= base && (size_t)((const uint8_t *)p - base) + size <= vk->host_blocks[i].buf.size)
            return &vk->host_blocks[i];
    }
    return NULL;
}

void vk_host_free(dfrt_backend *b, void *p) {
    vk_backend *vk = vk_of(b);
    struct vk_host_block *hb = host_block(vk, p, 0);
    if (!hb) return;
    if (vk->recording || vk->copy_queue_on) vk_submit_and_wait(vk); /* copies from it may be pending */
    vk_buffer_destroy(vk, &hb->buf);
    *hb = vk->host_blocks[--vk->n_host_blocks];
}

void vk_host_blocks_destroy(vk_backend *vk) {
    for (size_t i = 0; i < vk->n_host_blocks; i++) vk_buffer_destroy(vk, &vk->host_blocks[i].buf);
    free(vk->host_blocks);
    vk->host_blocks = NULL;
    vk->n_host_blocks = 0;
}

dfrt_status vk_copy_async(dfrt_backend *b, void *dst, size_t offset, const void *src, size_t size) {
    vk_backend *vk = vk_of(b);
    const struct vk_host_block *hb = host_block(vk, src, size);
    if (!hb) return vk_buffer_write(b, dst, offset, src, size); /* not the device's to read */
    size_t src_offset = (size_t)((const uint8_t *)src - (const uint8_t *)hb->buf.mapped);
    if (vk->copy_queue_on) return vk_copy_queue_submit(vk, &hb->buf, src_offset, dst, offset, size);
    DFRT_TRY(vk_begin(vk));
    vk_barrier(vk); /* after the ops that read the buffer before */
    VkBufferCopy region = {.srcOffset = src_offset, .dstOffset = offset, .size = size};
    vkCmdCopyBuffer(vk->cmd, hb->buf.buffer, ((vk_buffer *)dst)->buffer, 1, &region);
    vk_barrier(vk); /* before the ops that read it */
    return DFRT_OK;
}

