/* Vulkan compute pipelines, created once from the SPIR-V embedded at build time. */
#include "vk_internal.h"

#include "copy.spv.h"
#include "df11_decode.spv.h"
#include "matmul_gemm.spv.h"
#include "matmul_gemv.spv.h"
#include "matmul_gemv_vec.spv.h"

/* The decode shader's shared memory besides its staging area: the chunk (1026 words), the
 * tables (64 x 18 words), the fused first table (256), the scan (512) and a flag. */
#define DECODE_FIXED_SHARED ((1026 + 64 * 18 + 256 + 512 + 1) * 4)

static dfrt_status create(vk_backend *vk, vk_pipeline *p, const uint32_t *code, size_t code_size, uint32_t n_bindings,
                          uint32_t push_size, const uint32_t *spec, uint32_t n_spec) {
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
    VkSpecializationMapEntry entries[4];
    for (uint32_t i = 0; i < n_spec; i++) entries[i] = (VkSpecializationMapEntry){i, 4 * i, 4};
    VkSpecializationInfo si = {.mapEntryCount = n_spec, .pMapEntries = entries, .dataSize = 4 * n_spec, .pData = spec};
    VkComputePipelineCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
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
    return DFRT_OK;
}

dfrt_status vk_pipelines_init(vk_backend *vk) {
    uint32_t shared = vk->limits.maxComputeSharedMemorySize;
    uint32_t stage = shared > DECODE_FIXED_SHARED + 64 ? (shared - DECODE_FIXED_SHARED - 64) / 4 : 1;
    vk->stage_words = DFRT_MIN(stage, 16384u);
    uint32_t decode_spec[1] = {vk->stage_words};
    DFRT_TRY(create(vk, &vk->pipes[VK_PIPE_DF11_DECODE], df11_decode_spv, sizeof df11_decode_spv, 6,
                    sizeof(vk_decode_push), decode_spec, 1));
    uint32_t gemv_spec[2] = {VK_GEMV_WORKGROUP, VK_GEMV_THREADS_PER_ROW};
    DFRT_TRY(create(vk, &vk->pipes[VK_PIPE_GEMV], matmul_gemv_spv, sizeof matmul_gemv_spv, 4, sizeof(vk_matmul_push),
                    gemv_spec, 2));
    DFRT_TRY(create(vk, &vk->pipes[VK_PIPE_GEMV_VEC], matmul_gemv_vec_spv, sizeof matmul_gemv_vec_spv, 4,
                    sizeof(vk_matmul_push), gemv_spec, 2));
    DFRT_TRY(create(vk, &vk->pipes[VK_PIPE_GEMM], matmul_gemm_spv, sizeof matmul_gemm_spv, 4, sizeof(vk_matmul_push), NULL,
                    0));
    DFRT_TRY(create(vk, &vk->pipes[VK_PIPE_COPY], copy_spv, sizeof copy_spv, 2, sizeof(vk_copy_push), NULL, 0));
    return DFRT_OK;
}

void vk_pipelines_destroy(vk_backend *vk) {
    for (int i = 0; i < VK_PIPE_COUNT; i++) {
        vk_pipeline *p = &vk->pipes[i];
        if (p->pipeline) vkDestroyPipeline(vk->device, p->pipeline, NULL);
        if (p->layout) vkDestroyPipelineLayout(vk->device, p->layout, NULL);
        if (p->set_layout) vkDestroyDescriptorSetLayout(vk->device, p->set_layout, NULL);
        memset(p, 0, sizeof *p);
    }
}
