/* Vulkan compute pipelines from the SPIR-V embedded at build time (each op family creates its
 * own, vk_op_<family>.c); DFRT_VULKAN_PIPELINE_STATS prints their compiled statistics. */
#include "vk_internal.h"

#include <stdio.h>

static void print_statistics(vk_backend *vk, VkPipeline pipeline, const char *name) {
    VkPipelineInfoKHR pi = {.sType = VK_STRUCTURE_TYPE_PIPELINE_INFO_KHR, .pipeline = pipeline};
    uint32_t n = 0;
    if (vkGetPipelineExecutablePropertiesKHR(vk->device, &pi, &n, NULL) != VK_SUCCESS) return;
    for (uint32_t e = 0; e < n; e++) {
        VkPipelineExecutableInfoKHR ei = {.sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_INFO_KHR, .pipeline = pipeline,
                                          .executableIndex = e};
        uint32_t ns = 0;
        if (vkGetPipelineExecutableStatisticsKHR(vk->device, &ei, &ns, NULL) != VK_SUCCESS || ns == 0) continue;
        VkPipelineExecutableStatisticKHR *st = dfrt_calloc(ns, sizeof *st, "statistics");
        if (!st) return;
        for (uint32_t i = 0; i < ns; i++) st[i].sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_STATISTIC_KHR;
        if (vkGetPipelineExecutableStatisticsKHR(vk->device, &ei, &ns, st) == VK_SUCCESS) {
            fprintf(stderr, "dfrt vulkan pipeline %s:", name);
            for (uint32_t i = 0; i < ns; i++) {
                fprintf(stderr, " %s=", st[i].name);
                switch (st[i].format) {
                case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_BOOL32_KHR: fprintf(stderr, "%u", st[i].value.b32); break;
                case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_INT64_KHR: fprintf(stderr, "%lld", (long long)st[i].value.i64); break;
                case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_UINT64_KHR:
                    fprintf(stderr, "%llu", (unsigned long long)st[i].value.u64);
                    break;
                default: fprintf(stderr, "%g", st[i].value.f64); break;
                }
            }
            fprintf(stderr, "\n");
        }
        free(st);
    }
}

dfrt_status vk_pipeline_create(vk_backend *vk, vk_pipeline *p, const char *name, const uint32_t *code,
                               size_t code_size, uint32_t n_bindings, uint32_t push_size, const uint32_t *spec,
                               uint32_t n_spec) {
    p->n_bindings = n_bindings;
    p->push_size = push_size;
    VkDescriptorSetLayoutBinding bindings[VK_MAX_BINDINGS];
    for (uint32_t i = 0; i < n_bindings; i++)
        bindings[i] = (VkDescriptorSetLayoutBinding){
            .binding = i,
            .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
            .descriptorCount = 1,
            .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
        };
    VkDescriptorSetLayoutCreateInfo li = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
        .bindingCount = n_bindings,
        .pBindings = bindings,
    };
    VK_TRY(vkCreateDescriptorSetLayout(vk->device, &li, NULL, &p->set_layout));
    VkPushConstantRange range = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .offset = 0, .size = push_size};
    VkPipelineLayoutCreateInfo pli = {
        .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
        .setLayoutCount = 1,
        .pSetLayouts = &p->set_layout,
        .pushConstantRangeCount = 1,
        .pPushConstantRanges = &range,
    };
    VK_TRY(vkCreatePipelineLayout(vk->device, &pli, NULL, &p->layout));
    VkShaderModuleCreateInfo mi = {
        .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
        .codeSize = code_size,
        .pCode = code,
    };
    VkShaderModule module;
    VK_TRY(vkCreateShaderModule(vk->device, &mi, NULL, &module));
    VkSpecializationMapEntry entries[8];
    for (uint32_t i = 0; i < n_spec; i++) entries[i] = (VkSpecializationMapEntry){i, 4 * i, 4};
    VkSpecializationInfo si = {.mapEntryCount = n_spec, .pMapEntries = entries, .dataSize = 4 * n_spec, .pData = spec};
    VkComputePipelineCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .flags = vk->pipeline_stats ? VK_PIPELINE_CREATE_CAPTURE_STATISTICS_BIT_KHR : 0,
        .stage =
            {
                .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                .module = module,
                .pName = "main",
                .pSpecializationInfo = n_spec ? &si : NULL,
            },
        .layout = p->layout,
    };
    VkResult r = vkCreateComputePipelines(vk->device, VK_NULL_HANDLE, 1, &ci, NULL, &p->pipeline);
    vkDestroyShaderModule(vk->device, module, NULL);
    VK_TRY(r);
    if (vk->pipeline_stats) print_statistics(vk, p->pipeline, name);
    return DFRT_OK;
}

void vk_pipeline_destroy(vk_backend *vk, vk_pipeline *p) {
    if (p->pipeline) vkDestroyPipeline(vk->device, p->pipeline, NULL);
    if (p->layout) vkDestroyPipelineLayout(vk->device, p->layout, NULL);
    if (p->set_layout) vkDestroyDescriptorSetLayout(vk->device, p->set_layout, NULL);
    memset(p, 0, sizeof *p);
}

dfrt_status vk_pipeline_lazy(vk_backend *vk, vk_pipeline *p, const char *name, const uint32_t *code, size_t code_size,
                             uint32_t n_bindings, uint32_t push_size, const uint32_t *spec, uint32_t n_spec) {
    if (p->pipeline) return DFRT_OK;
    dfrt_status s = vk_pipeline_create(vk, p, name, code, code_size, n_bindings, push_size, spec, n_spec);
    if (s != DFRT_OK) vk_pipeline_destroy(vk, p);
    return s;
}

dfrt_status vk_op_pipeline_create(vk_backend *vk, vk_pipeline_id id, const char *name, const uint32_t *code,
                                  size_t code_size, uint32_t n_bindings, uint32_t push_size) {
    uint32_t wg = VK_OP_WORKGROUP;
    return vk_pipeline_create(vk, &vk->pipes[id], name, code, code_size, n_bindings, push_size, &wg, 1);
}

void vk_pipelines_destroy(vk_backend *vk) {
    for (int i = 0; i < VK_PIPE_COUNT; i++) vk_pipeline_destroy(vk, &vk->pipes[i]);
    vk_pipeline_destroy(vk, &vk->df11_decode);
    for (int m = 0; m <= VK_GEMV_SG_MAX_M; m++) {
        for (int r = 0; r < VK_GEMV_SG_RPT; r++) vk_pipeline_destroy(vk, &vk->gemv_sg[m][r]);
        vk_pipeline_destroy(vk, &vk->df11_gemv[m]);
    }
}
