/* Vulkan command recording: many dispatches per command buffer, one submit when the host
 * needs results (a read, a synchronize, a timer) or the descriptor pool is spent. Recorded
 * passes (the vtable's capture_begin .. graph_free): a command buffer of its own, with its own
 * descriptor pools, recorded once and submitted again at each launch. */
#include "vk_internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FENCE_TIMEOUT_NS (600ull * 1000 * 1000 * 1000) /* a GPU that takes longer is hung */

/* A pool of VK_MAX_SETS_PER_SUBMIT sets of up to VK_MAX_BINDINGS storage buffers. */
static dfrt_status create_descriptor_pool(vk_backend *vk, VkDescriptorPool *out) {
    VkDescriptorPoolSize size = {.type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                 .descriptorCount = VK_MAX_SETS_PER_SUBMIT * VK_MAX_BINDINGS};
    VkDescriptorPoolCreateInfo di = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
        .maxSets = VK_MAX_SETS_PER_SUBMIT,
        .poolSizeCount = 1,
        .pPoolSizes = &size,
    };
    VK_TRY(vkCreateDescriptorPool(vk->device, &di, NULL, out));
    return DFRT_OK;
}

dfrt_status vk_commands_init(vk_backend *vk) {
    VkCommandPoolCreateInfo pi = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
        .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
        .queueFamilyIndex = vk->queue_family,
    };
    VK_TRY(vkCreateCommandPool(vk->device, &pi, NULL, &vk->command_pool));
    VkCommandBufferAllocateInfo ai = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
        .commandPool = vk->command_pool,
        .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
        .commandBufferCount = 1,
    };
    VK_TRY(vkAllocateCommandBuffers(vk->device, &ai, &vk->cmd));
    VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    VK_TRY(vkCreateFence(vk->device, &fi, NULL, &vk->fence));
    DFRT_TRY(create_descriptor_pool(vk, &vk->descriptor_pool));
    if (vk->timestamp_mask) {
        VkQueryPoolCreateInfo qi = {
            .sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
            .queryType = VK_QUERY_TYPE_TIMESTAMP,
            .queryCount = 2,
        };
        VK_TRY(vkCreateQueryPool(vk->device, &qi, NULL, &vk->queries));
    }
    return DFRT_OK;
}

void vk_commands_destroy(vk_backend *vk) {
    if (vk->capture) { /* a recording left open: its pools are not the backend's */
        vk->cmd = vk->capture->saved_cmd;
        vk->descriptor_pool = vk->capture->saved_pool;
        vk_graph_free(vk, vk->capture);
        vk->capture = NULL;
    }
    if (vk->queries) vkDestroyQueryPool(vk->device, vk->queries, NULL);
    if (vk->copy_queue_on) { /* the ring's pools, the current one among them */
        for (int i = 0; i < VK_FRAMES; i++)
            if (vk->frames[i].pool) vkDestroyDescriptorPool(vk->device, vk->frames[i].pool, NULL);
        vk->descriptor_pool = VK_NULL_HANDLE;
        if (vk->compute_timeline) vkDestroySemaphore(vk->device, vk->compute_timeline, NULL);
        if (vk->copy_timeline) vkDestroySemaphore(vk->device, vk->copy_timeline, NULL);
        if (vk->copy_pool) vkDestroyCommandPool(vk->device, vk->copy_pool, NULL);
    }
    if (vk->descriptor_pool) vkDestroyDescriptorPool(vk->device, vk->descriptor_pool, NULL);
    if (vk->fence) vkDestroyFence(vk->device, vk->fence, NULL);
    if (vk->command_pool) vkDestroyCommandPool(vk->device, vk->command_pool, NULL);
}

dfrt_status vk_begin(vk_backend *vk) {
    if (vk->recording) return DFRT_OK;
    VkCommandBufferBeginInfo bi = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
        .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT,
    };
    VK_TRY(vkBeginCommandBuffer(vk->cmd, &bi));
    vk->recording = true;
    return DFRT_OK;
}

/* ---- the copy queue ---------------------------------------------------------------------- */

bool vk_copy_queue_family(vk_backend *vk, uint32_t *out_family) {
    const char *env = getenv("DFRT_VULKAN_COPY_QUEUE");
    if (env && strcmp(env, "0") == 0) return false;
    VkPhysicalDeviceProperties props;
    vkGetPhysicalDeviceProperties(vk->physical, &props);
    VkPhysicalDeviceVulkan12Features f12 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
    VkPhysicalDeviceFeatures2 f = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &f12};
    if (props.apiVersion < VK_API_VERSION_1_2) return false;
    vkGetPhysicalDeviceFeatures2(vk->physical, &f);
    if (!f12.timelineSemaphore) return false;
    uint32_t n = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(vk->physical, &n, NULL);
    VkQueueFamilyProperties fams[32];
    if (n > 32) n = 32;
    vkGetPhysicalDeviceQueueFamilyProperties(vk->physical, &n, fams);
    for (uint32_t i = 0; i < n; i++)
        if ((fams[i].queueFlags & VK_QUEUE_TRANSFER_BIT) &&
            !(fams[i].queueFlags & (VK_QUEUE_GRAPHICS_BIT | VK_QUEUE_COMPUTE_BIT)) && fams[i].queueCount > 0) {
            *out_family = i;
            return true;
        }
    if (env && strcmp(env, "1") == 0) { /* tests: the same queue, through the same machinery */
        *out_family = vk->queue_family;
        return true;
    }
    return false;
}

static dfrt_status timeline(vk_backend *vk, VkSemaphore *out) {
    VkSemaphoreTypeCreateInfo ti = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO,
                                    .semaphoreType = VK_SEMAPHORE_TYPE_TIMELINE};
    VkSemaphoreCreateInfo si = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO, .pNext = &ti};
    VK_TRY(vkCreateSemaphore(vk->device, &si, NULL, out));
    return DFRT_OK;
}

dfrt_status vk_copy_queue_init(vk_backend *vk) {
    vk->frames[0] = (struct vk_frame){vk->cmd, vk->descriptor_pool, 0}; /* first: destroy frees the pools by frame */
    DFRT_TRY(timeline(vk, &vk->compute_timeline));
    DFRT_TRY(timeline(vk, &vk->copy_timeline));
    for (int i = 1; i < VK_FRAMES; i++) {
        VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                          .commandPool = vk->command_pool,
                                          .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                          .commandBufferCount = 1};
        VK_TRY(vkAllocateCommandBuffers(vk->device, &ai, &vk->frames[i].cmd));
        DFRT_TRY(create_descriptor_pool(vk, &vk->frames[i].pool));
    }
    VkCommandPoolCreateInfo pi = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                  .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                  .queueFamilyIndex = vk->copy_family};
    VK_TRY(vkCreateCommandPool(vk->device, &pi, NULL, &vk->copy_pool));
    VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                      .commandPool = vk->copy_pool,
                                      .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                      .commandBufferCount = VK_COPY_CMDS};
    VK_TRY(vkAllocateCommandBuffers(vk->device, &ai, vk->copy_cmds));
    return DFRT_OK;
}

static dfrt_status wait_value(vk_backend *vk, VkSemaphore sem, uint64_t value) {
    if (!value) return DFRT_OK;
    VkSemaphoreWaitInfo wi = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO,
                              .semaphoreCount = 1,
                              .pSemaphores = &sem,
                              .pValues = &value};
    VkResult r = vkWaitSemaphores(vk->device, &wi, FENCE_TIMEOUT_NS);
    if (r == VK_TIMEOUT)
        return dfrt_fail(DFRT_DEVICE_ERROR, "vulkan: the device did not finish its work within %llu s",
                         FENCE_TIMEOUT_NS / 1000000000ull);
    VK_TRY(r);
    return DFRT_OK;
}

/* One submission to queue: cmd (may be NULL), after `wait` on wait_sem (0: none), signalling
 * signal_sem's next value (*value, incremented). */
static dfrt_status submit_timed(VkQueue queue, VkCommandBuffer cmd, VkSemaphore wait_sem,
                                uint64_t wait, VkSemaphore signal_sem, uint64_t *value) {
    uint64_t signal = *value + 1;
    VkPipelineStageFlags stage = VK_PIPELINE_STAGE_ALL_COMMANDS_BIT;
    VkTimelineSemaphoreSubmitInfo ti = {.sType = VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO,
                                        .waitSemaphoreValueCount = wait ? 1 : 0,
                                        .pWaitSemaphoreValues = &wait,
                                        .signalSemaphoreValueCount = 1,
                                        .pSignalSemaphoreValues = &signal};
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
                       .pNext = &ti,
                       .waitSemaphoreCount = wait ? 1 : 0,
                       .pWaitSemaphores = &wait_sem,
                       .pWaitDstStageMask = &stage,
                       .commandBufferCount = cmd ? 1 : 0,
                       .pCommandBuffers = &cmd,
                       .signalSemaphoreCount = 1,
                       .pSignalSemaphores = &signal_sem};
    VK_TRY(vkQueueSubmit(queue, 1, &si, VK_NULL_HANDLE));
    *value = signal;
    return DFRT_OK;
}

/* Makes the ring's current frame vk->cmd and vk->descriptor_pool, once its work is done. */
static dfrt_status use_frame(vk_backend *vk) {
    struct vk_frame *f = &vk->frames[vk->frame];
    if (f->done_at) {
        DFRT_TRY(wait_value(vk, vk->compute_timeline, f->done_at));
        VK_TRY(vkResetCommandBuffer(f->cmd, 0));
        VK_TRY(vkResetDescriptorPool(vk->device, f->pool, 0));
        f->done_at = 0;
    }
    vk->cmd = f->cmd;
    vk->descriptor_pool = f->pool;
    vk->sets_used = 0;
    return DFRT_OK;
}

/* Submits the work recorded so far without waiting for it, after the copies it must wait for;
 * with `signal`, also when nothing is recorded (a point later copies can wait for). */
static dfrt_status flush(vk_backend *vk, bool signal) {
    bool work = vk->recording;
    if (!work && !signal) return DFRT_OK;
    if (work) {
        vk->recording = false;
        VK_TRY(vkEndCommandBuffer(vk->cmd));
    }
    DFRT_TRY(submit_timed(vk->queue, work ? vk->cmd : VK_NULL_HANDLE, vk->copy_timeline,
                          work ? vk->compute_waits_for : 0, vk->compute_timeline, &vk->compute_value));
    if (!work) return DFRT_OK;
    vk->compute_waits_for = 0;
    vk->frames[vk->frame].done_at = vk->compute_value;
    vk->frame = (vk->frame + 1) % VK_FRAMES;
    return use_frame(vk);
}

dfrt_status vk_copies_after_ops(dfrt_backend *b) {
    vk_backend *vk = vk_of(b);
    if (!vk->copy_queue_on) return DFRT_OK;
    DFRT_TRY(flush(vk, true));
    vk->copy_waits_for = vk->compute_value;
    return DFRT_OK;
}

dfrt_status vk_ops_after_copies(dfrt_backend *b) {
    vk_backend *vk = vk_of(b);
    if (!vk->copy_queue_on || vk->compute_waits_for == vk->copy_value) return DFRT_OK;
    DFRT_TRY(flush(vk, false)); /* the work before runs while the copies do */
    vk->compute_waits_for = vk->copy_value;
    return DFRT_OK;
}

dfrt_status vk_copy_queue_submit(vk_backend *vk, const vk_buffer *src, size_t src_offset, const vk_buffer *dst,
                                 size_t dst_offset, size_t size) {
    uint32_t i = vk->copy_next++ % VK_COPY_CMDS;
    VkCommandBuffer cmd = vk->copy_cmds[i];
    DFRT_TRY(wait_value(vk, vk->copy_timeline, vk->copy_cmd_done[i]));
    VK_TRY(vkResetCommandBuffer(cmd, 0));
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    VK_TRY(vkBeginCommandBuffer(cmd, &bi));
    VkBufferCopy region = {.srcOffset = src_offset, .dstOffset = dst_offset, .size = size};
    vkCmdCopyBuffer(cmd, src->buffer, dst->buffer, 1, &region);
    VK_TRY(vkEndCommandBuffer(cmd));
    DFRT_TRY(submit_timed(vk->copy_queue, cmd, vk->compute_timeline, vk->copy_waits_for, vk->copy_timeline,
                          &vk->copy_value));
    vk->copy_cmd_done[i] = vk->copy_value;
    return DFRT_OK;
}

/* Submits the command buffer being recorded (if any) and then `extra` (if not NULL), waits,
 * and makes the command buffer and descriptor pool ready for new work. */
static dfrt_status submit_and_wait(vk_backend *vk, VkCommandBuffer extra) {
    if (vk->copy_queue_on) { /* everything in flight on both queues */
        DFRT_TRY(flush(vk, false));
        if (extra)
            DFRT_TRY(submit_timed(vk->queue, extra, vk->copy_timeline, vk->compute_waits_for, vk->compute_timeline,
                                  &vk->compute_value));
        DFRT_TRY(wait_value(vk, vk->compute_timeline, vk->compute_value));
        DFRT_TRY(wait_value(vk, vk->copy_timeline, vk->copy_value));
        return vk_check_validation(vk);
    }
    VkCommandBuffer cmds[2];
    uint32_t n = 0;
    if (vk->recording) {
        vk->recording = false;
        VK_TRY(vkEndCommandBuffer(vk->cmd));
        cmds[n++] = vk->cmd;
    }
    if (extra) cmds[n++] = extra;
    if (!n) return vk_check_validation(vk);
    VkSubmitInfo si = {
        .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
        .commandBufferCount = n,
        .pCommandBuffers = cmds,
    };
    VK_TRY(vkQueueSubmit(vk->queue, 1, &si, vk->fence));
    VkResult r = vkWaitForFences(vk->device, 1, &vk->fence, VK_TRUE, FENCE_TIMEOUT_NS);
    if (r == VK_TIMEOUT)
        return dfrt_fail(DFRT_DEVICE_ERROR, "vulkan: the device did not finish its work within %llu s",
                         FENCE_TIMEOUT_NS / 1000000000ull);
    VK_TRY(r);
    VK_TRY(vkResetFences(vk->device, 1, &vk->fence));
    if (cmds[0] == vk->cmd) {
        VK_TRY(vkResetCommandBuffer(vk->cmd, 0));
        VK_TRY(vkResetDescriptorPool(vk->device, vk->descriptor_pool, 0));
        vk->sets_used = 0;
    }
    return vk_check_validation(vk);
}

dfrt_status vk_submit_and_wait(vk_backend *vk) {
    if (vk->capture)
        return dfrt_fail(DFRT_UNSUPPORTED, "vulkan: a pass being recorded for replay cannot wait for the device "
                                           "(a buffer allocated, read or written, or scratch grown, while recording)");
    return submit_and_wait(vk, VK_NULL_HANDLE);
}

void vk_barrier(vk_backend *vk) {
    VkMemoryBarrier mb = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
        .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                         VK_ACCESS_TRANSFER_WRITE_BIT,
    };
    VkPipelineStageFlags stages = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
    vkCmdPipelineBarrier(vk->cmd, stages, stages, 0, 1, &mb, 0, NULL, 0, NULL);
}

/* A recording's next descriptor pool, when the current one is spent. */
static dfrt_status capture_next_pool(vk_backend *vk) {
    vk_graph *g = vk->capture;
    VkDescriptorPool *pools = realloc(g->pools, (g->n_pools + 1) * sizeof *pools);
    if (!pools) return dfrt_fail(DFRT_OUT_OF_MEMORY, "out of memory for a recorded pass's descriptor pools");
    g->pools = pools;
    DFRT_TRY(create_descriptor_pool(vk, &g->pools[g->n_pools]));
    vk->descriptor_pool = g->pools[g->n_pools++];
    vk->sets_used = 0;
    return DFRT_OK;
}

dfrt_status vk_dispatch(vk_backend *vk, const vk_pipeline *p, const vk_binding *bindings, const void *push,
                        uint32_t groups_x, uint32_t groups_y) {
    if (vk->sets_used == VK_MAX_SETS_PER_SUBMIT)
        DFRT_TRY(vk->capture ? capture_next_pool(vk) : vk->copy_queue_on ? flush(vk, false) : vk_submit_and_wait(vk));
    DFRT_TRY(vk_begin(vk));
    VkDescriptorSetAllocateInfo ai = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
        .descriptorPool = vk->descriptor_pool,
        .descriptorSetCount = 1,
        .pSetLayouts = &p->set_layout,
    };
    VkDescriptorSet set;
    VK_TRY(vkAllocateDescriptorSets(vk->device, &ai, &set));
    vk->sets_used++;
    VkDescriptorBufferInfo infos[VK_MAX_BINDINGS];
    VkWriteDescriptorSet writes[VK_MAX_BINDINGS];
    for (uint32_t i = 0; i < p->n_bindings; i++) {
        infos[i] = (VkDescriptorBufferInfo){bindings[i].buffer, bindings[i].offset, bindings[i].range};
        writes[i] = (VkWriteDescriptorSet){
            .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
            .dstSet = set,
            .dstBinding = i,
            .descriptorCount = 1,
            .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
            .pBufferInfo = &infos[i],
        };
    }
    vkUpdateDescriptorSets(vk->device, p->n_bindings, writes, 0, NULL);
    vkCmdBindPipeline(vk->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p->pipeline);
    vkCmdBindDescriptorSets(vk->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p->layout, 0, 1, &set, 0, NULL);
    vkCmdPushConstants(vk->cmd, p->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, p->push_size, push);
    vkCmdDispatch(vk->cmd, groups_x, groups_y, 1);
    vk_barrier(vk);
    return DFRT_OK;
}

dfrt_status vk_launch(vk_backend *vk, const vk_pipeline *pipe, const vk_binding *bindings, void *push,
                      uint32_t *groups_x, uint64_t groups) {
    if (groups == 0) return DFRT_OK;
    if (groups > (uint64_t)vk->max_groups * vk->max_groups)
        return dfrt_fail(DFRT_UNSUPPORTED, "vulkan: %llu workgroups exceed the device's grid",
                         (unsigned long long)groups);
    uint32_t gx = (uint32_t)DFRT_MIN(groups, (uint64_t)vk->max_groups);
    if (groups_x) *groups_x = gx;
    return vk_dispatch(vk, pipe, bindings, push, gx, (uint32_t)((groups + gx - 1) / gx));
}

dfrt_status vk_synchronize(dfrt_backend *b) { return vk_submit_and_wait(vk_of(b)); }

/* ---- recorded passes ------------------------------------------------------------------------ */

void vk_graph_free(vk_backend *vk, vk_graph *g) {
    if (!g) return;
    if (g->cmd) vkFreeCommandBuffers(vk->device, vk->command_pool, 1, &g->cmd);
    for (uint32_t i = 0; i < g->n_pools; i++) vkDestroyDescriptorPool(vk->device, g->pools[i], NULL);
    free(g->pools);
    free(g);
}

/* The work enqueued so far runs first; from here dispatches go into the recording's command
 * buffer (vk->cmd and vk->descriptor_pool stand for the recording's until capture_end). */
dfrt_status vk_capture_begin(dfrt_backend *b) {
    vk_backend *vk = vk_of(b);
    if (vk->capture) return dfrt_fail(DFRT_INVALID_ARGUMENT, "vulkan: a pass is being recorded already");
    DFRT_TRY(vk_submit_and_wait(vk));
    vk_graph *g = dfrt_calloc(1, sizeof *g, "a recorded Vulkan pass");
    if (!g) return DFRT_OUT_OF_MEMORY;
    VkCommandBufferAllocateInfo ai = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
        .commandPool = vk->command_pool,
        .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
        .commandBufferCount = 1,
    };
    VkResult r = vkAllocateCommandBuffers(vk->device, &ai, &g->cmd);
    if (r != VK_SUCCESS) {
        free(g);
        return vk_fail(r, "vkAllocateCommandBuffers", __FILE__, __LINE__);
    }
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    if ((r = vkBeginCommandBuffer(g->cmd, &bi)) != VK_SUCCESS) {
        vk_graph_free(vk, g);
        return vk_fail(r, "vkBeginCommandBuffer", __FILE__, __LINE__);
    }
    g->saved_cmd = vk->cmd;
    g->saved_pool = vk->descriptor_pool;
    g->saved_sets_used = vk->sets_used;
    g->scratch_moves = vk->scratch_moves;
    vk->capture = g;
    vk->cmd = g->cmd;
    vk->recording = true;
    vk->sets_used = VK_MAX_SETS_PER_SUBMIT; /* the first dispatch creates the recording's first pool */
    vk_barrier(vk); /* after whatever was submitted before each launch */
    return DFRT_OK;
}

dfrt_status vk_capture_end(dfrt_backend *b, bool keep, void **out) {
    vk_backend *vk = vk_of(b);
    *out = NULL;
    vk_graph *g = vk->capture;
    if (!g) return dfrt_fail(DFRT_INVALID_ARGUMENT, "vulkan: no pass is being recorded");
    vk->capture = NULL;
    vk->cmd = g->saved_cmd;
    vk->descriptor_pool = g->saved_pool;
    vk->sets_used = g->saved_sets_used;
    vk->recording = false;
    VkResult r = vkEndCommandBuffer(g->cmd);
    if (!keep || r != VK_SUCCESS || g->scratch_moves != vk->scratch_moves) {
        vk_graph_free(vk, g);
        if (r != VK_SUCCESS) return vk_fail(r, "vkEndCommandBuffer", __FILE__, __LINE__);
        return keep ? dfrt_fail(DFRT_UNSUPPORTED, "vulkan: the scratch moved while a pass was recorded") : DFRT_OK;
    }
    *out = g;
    return vk_check_validation(vk);
}

/* Runs a recording after the work enqueued before it, and waits: the executor reads the
 * pass's results next. */
dfrt_status vk_graph_launch(dfrt_backend *b, void *graph) {
    vk_backend *vk = vk_of(b);
    vk_graph *g = graph;
    if (vk->capture) return dfrt_fail(DFRT_INVALID_ARGUMENT, "vulkan: a recorded pass launched while recording");
    if (g->scratch_moves != vk->scratch_moves)
        return dfrt_fail(DFRT_UNSUPPORTED, "vulkan: a recorded pass's scratch has moved since");
    return submit_and_wait(vk, g->cmd);
}

void vk_graph_destroy(dfrt_backend *b, void *graph) { vk_graph_free(vk_of(b), graph); }

static double wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return 1e3 * (double)ts.tv_sec + 1e-6 * (double)ts.tv_nsec;
}

dfrt_status vk_timer_begin(dfrt_backend *b) {
    vk_backend *vk = vk_of(b);
    if (!vk->queries) { /* no timestamps on this queue: the wall clock around a synchronize */
        DFRT_TRY(vk_submit_and_wait(vk));
        vk->timer_wall_start = wall_ms();
        return DFRT_OK;
    }
    DFRT_TRY(vk_begin(vk));
    vkCmdResetQueryPool(vk->cmd, vk->queries, 0, 2);
    vkCmdWriteTimestamp(vk->cmd, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, vk->queries, 0);
    return DFRT_OK;
}

dfrt_status vk_timer_end(dfrt_backend *b, double *out_ms) {
    vk_backend *vk = vk_of(b);
    if (!vk->queries) {
        DFRT_TRY(vk_submit_and_wait(vk));
        *out_ms = wall_ms() - vk->timer_wall_start;
        return DFRT_OK;
    }
    DFRT_TRY(vk_begin(vk));
    vkCmdWriteTimestamp(vk->cmd, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, vk->queries, 1);
    DFRT_TRY(vk_submit_and_wait(vk));
    uint64_t t[2];
    VK_TRY(vkGetQueryPoolResults(vk->device, vk->queries, 0, 2, sizeof t, t, sizeof t[0],
                                 VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT));
    *out_ms = (double)((t[1] - t[0]) & vk->timestamp_mask) * vk->timestamp_period_ns * 1e-6;
    return DFRT_OK;
}
