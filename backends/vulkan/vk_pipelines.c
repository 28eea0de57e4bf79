/* Vulkan compute pipelines, created once from the SPIR-V embedded at build time. */
#include "vk_internal.h"

#include "copy.spv.h"
#include "df11_decode.spv.h"
#include "matmul_gemm.spv.h"
#include "matmul_gemv.spv.h"
#include "matmul_gemv_vec.spv.h"
#include "nn_add.spv.h"
#include "nn_argmax.spv.h"
#include "nn_attention.spv.h"
#include "nn_embedding.spv.h"
#include "nn_kv_store.spv.h"
#include "nn_rmsnorm.spv.h"
#include "nn_rope.spv.h"
#include "nn_silu_mul.spv.h"

/* The decode shader's shared memory besides its staging area: the fused first table (256
 * words), the scan (512) and a flag. */
#define DECODE_FIXED_SHARED ((256 + 512 + 1) * 4)

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

static dfrt_status create(vk_backend *vk, vk_pipeline *p, const char *name, const uint32_t *code, size_t code_size,
                          uint32_t n_bindings, uint32_t push_size, const uint32_t *spec, uint32_t n_spec) {
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

/* The transformer ops. Attention keeps head_dim / subgroup-size elements of each row per lane:
 * pipelines for head_dim up to 128, 256 and 1024, sized from the device's subgroup size (which
 * compute shaders of SPIR-V 1.5 run with), and the combine step of its splits. */
static dfrt_status nn_pipelines(vk_backend *vk) {
    VkPhysicalDeviceSubgroupProperties sub = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    VkPhysicalDeviceProperties2 props = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &sub};
    vkGetPhysicalDeviceProperties2(vk->physical, &props);
    uint32_t sg = DFRT_MAX(sub.subgroupSize, 1u);
    uint32_t wg = DFRT_MAX((uint32_t)VK_ATTENTION_WORKGROUP, sg); /* whole subgroups */
    if (wg > vk->limits.maxComputeWorkGroupSize[0] || wg > vk->limits.maxComputeWorkGroupInvocations)
        return dfrt_fail(DFRT_UNAVAILABLE, "vulkan: subgroups of %u invocations exceed the workgroup limits", sg);
    static const struct {
        vk_pipeline_id id;
        const char *name;
        uint32_t dim, qh;
    } attend[] = {
        {VK_PIPE_ATTENTION, "attention", VK_ATTENTION_DIM, VK_ATTENTION_QH},
        {VK_PIPE_ATTENTION_MID, "attention_mid", VK_ATTENTION_MID_DIM, VK_ATTENTION_MID_QH},
        {VK_PIPE_ATTENTION_WIDE, "attention_wide", VK_ATTENTION_WIDE_DIM, VK_ATTENTION_WIDE_QH},
    };
    uint32_t ps = (uint32_t)sizeof(vk_attention_push);
    for (size_t i = 0; i < sizeof attend / sizeof *attend; i++) {
        /* WG, MAXE, DIMMAX, MODE, QH, KU (keys per step: fewer for long rows), MAXSG */
        uint32_t maxe = (attend[i].dim + sg - 1) / sg;
        uint32_t spec[7] = {wg, maxe, attend[i].dim, 0, attend[i].qh, maxe > 16 ? 2 : 4, wg / sg};
        DFRT_TRY(create(vk, &vk->pipes[attend[i].id], attend[i].name, nn_attention_spv, sizeof nn_attention_spv, 7, ps,
                        spec, 7));
    }
    uint32_t combine[7] = {VK_ATTENTION_COMBINE_WORKGROUP, 1, 1, 1, 1, 1, VK_ATTENTION_COMBINE_WORKGROUP};
    DFRT_TRY(create(vk, &vk->pipes[VK_PIPE_ATTENTION_COMBINE], "attention_combine", nn_attention_spv,
                    sizeof nn_attention_spv, 7, ps, combine, 7));
    uint32_t nn_wg = VK_NN_WORKGROUP;
    DFRT_TRY(create(vk, &vk->pipes[VK_PIPE_EMBEDDING], "embedding", nn_embedding_spv, sizeof nn_embedding_spv, 3,
                    sizeof(vk_embedding_push), &nn_wg, 1));
    DFRT_TRY(create(vk, &vk->pipes[VK_PIPE_RMSNORM], "rmsnorm", nn_rmsnorm_spv, sizeof nn_rmsnorm_spv, 3,
                    sizeof(vk_rmsnorm_push), &nn_wg, 1));
    DFRT_TRY(create(vk, &vk->pipes[VK_PIPE_ROPE], "rope", nn_rope_spv, sizeof nn_rope_spv, 3, sizeof(vk_rope_push),
                    &nn_wg, 1));
    DFRT_TRY(create(vk, &vk->pipes[VK_PIPE_KV_STORE], "kv_store", nn_kv_store_spv, sizeof nn_kv_store_spv, 5,
                    sizeof(vk_kv_store_push), &nn_wg, 1));
    DFRT_TRY(create(vk, &vk->pipes[VK_PIPE_SILU_MUL], "silu_mul", nn_silu_mul_spv, sizeof nn_silu_mul_spv, 2,
                    sizeof(vk_silu_mul_push), &nn_wg, 1));
    DFRT_TRY(create(vk, &vk->pipes[VK_PIPE_ADD], "add", nn_add_spv, sizeof nn_add_spv, 3, sizeof(vk_add_push), &nn_wg,
                    1));
    uint32_t argmax_spec[2] = {VK_ARGMAX_WORKGROUP, DFRT_MAX(VK_ARGMAX_WORKGROUP / sg, 1u)};
    DFRT_TRY(create(vk, &vk->pipes[VK_PIPE_ARGMAX], "argmax", nn_argmax_spv, sizeof nn_argmax_spv, 2,
                    sizeof(vk_argmax_push), argmax_spec, 2));
    return DFRT_OK;
}

dfrt_status vk_pipelines_init(vk_backend *vk) {
    uint32_t shared = vk->limits.maxComputeSharedMemorySize;
    uint32_t stage_max = shared > DECODE_FIXED_SHARED + 64 ? (shared - DECODE_FIXED_SHARED - 64) / 4 : 1;
    stage_max = DFRT_MIN(stage_max, 8192u); /* 32768 weights: a chunk never holds more */
    /* Variants: no staging (1 word), and staging areas for chunks of up to 8K, 12K, 16K, ...
     * weights. DFRT_VULKAN_DECODE_STAGING=0 keeps only the first (for measurements). */
    const char *staging = getenv("DFRT_VULKAN_DECODE_STAGING");
    vk->decode_stage_words[vk->n_decode++] = 1;
    static const uint32_t sizes[] = {2048, 3072, 4096, 6144};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes && sizes[i] < stage_max && !(staging && *staging == '0'); i++)
        vk->decode_stage_words[vk->n_decode++] = sizes[i];
    if (!(staging && *staging == '0') && stage_max > 1) vk->decode_stage_words[vk->n_decode++] = stage_max;
    for (int i = 0; i < vk->n_decode; i++) {
        char name[32];
        snprintf(name, sizeof name, "df11_decode_%u", vk->decode_stage_words[i]);
        DFRT_TRY(create(vk, &vk->decode[i], name, df11_decode_spv, sizeof df11_decode_spv, 6, sizeof(vk_decode_push),
                        &vk->decode_stage_words[i], 1));
    }
    uint32_t gemv_spec[2] = {VK_GEMV_WORKGROUP, VK_GEMV_THREADS_PER_ROW};
    DFRT_TRY(create(vk, &vk->pipes[VK_PIPE_GEMV], "gemv", matmul_gemv_spv, sizeof matmul_gemv_spv, 4, sizeof(vk_matmul_push),
                    gemv_spec, 2));
    DFRT_TRY(create(vk, &vk->pipes[VK_PIPE_GEMV_VEC], "gemv_vec", matmul_gemv_vec_spv, sizeof matmul_gemv_vec_spv, 4,
                    sizeof(vk_matmul_push), gemv_spec, 2));
    DFRT_TRY(create(vk, &vk->pipes[VK_PIPE_GEMM], "gemm", matmul_gemm_spv, sizeof matmul_gemm_spv, 4, sizeof(vk_matmul_push), NULL,
                    0));
    DFRT_TRY(create(vk, &vk->pipes[VK_PIPE_COPY], "copy", copy_spv, sizeof copy_spv, 2, sizeof(vk_copy_push), NULL, 0));
    return nn_pipelines(vk);
}

static void destroy(vk_backend *vk, vk_pipeline *p) {
    if (p->pipeline) vkDestroyPipeline(vk->device, p->pipeline, NULL);
    if (p->layout) vkDestroyPipelineLayout(vk->device, p->layout, NULL);
    if (p->set_layout) vkDestroyDescriptorSetLayout(vk->device, p->set_layout, NULL);
    memset(p, 0, sizeof *p);
}

void vk_pipelines_destroy(vk_backend *vk) {
    for (int i = 0; i < VK_PIPE_COUNT; i++) destroy(vk, &vk->pipes[i]);
    for (int i = 0; i < vk->n_decode; i++) destroy(vk, &vk->decode[i]);
    vk->n_decode = 0;
}
