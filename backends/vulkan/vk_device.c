/* Vulkan: loader (volk), instance, physical devices and their capabilities, logical device;
 * the vtable and the driver. The top of the backend: it calls every layer below (vk_internal.h
 * lists them), and none calls it. */
#define VOLK_IMPLEMENTATION
#include "vk_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static VKAPI_ATTR VkBool32 VKAPI_CALL on_validation(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                    VkDebugUtilsMessageTypeFlagsEXT types,
                                                    const VkDebugUtilsMessengerCallbackDataEXT *data, void *user) {
    (void)severity;
    (void)types;
    vk_backend *vk = user;
    if (vk->validation_messages++ == 0)
        snprintf(vk->validation_first, sizeof vk->validation_first, "%s", data && data->pMessage ? data->pMessage : "?");
    fprintf(stderr, "dfrt vulkan validation: %s\n", data && data->pMessage ? data->pMessage : "?");
    return VK_FALSE;
}

static bool validation_requested(void) {
    const char *v = getenv("DFRT_VULKAN_VALIDATION");
    return v && *v && strcmp(v, "0") != 0;
}

static dfrt_status loader(void) {
    static int state = 0; /* 0 untried, 1 ok, -1 missing */
    if (state == 0) state = volkInitialize() == VK_SUCCESS ? 1 : -1;
    if (state < 0)
        return dfrt_fail(DFRT_UNAVAILABLE, "no Vulkan loader (libvulkan.so.1) on this machine");
    if (volkGetInstanceVersion() < VK_API_VERSION_1_2)
        return dfrt_fail(DFRT_UNAVAILABLE, "the Vulkan loader supports only 1.%u; dfrt needs 1.2",
                         VK_API_VERSION_MINOR(volkGetInstanceVersion()));
    return DFRT_OK;
}

static dfrt_status create_instance(vk_backend *vk, bool validation) {
    VkApplicationInfo app = {
        .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
        .pApplicationName = "dfrt",
        .pEngineName = "dfrt",
        .apiVersion = VK_API_VERSION_1_2,
    };
    const char *layers[] = {"VK_LAYER_KHRONOS_validation"};
    const char *extensions[] = {VK_EXT_DEBUG_UTILS_EXTENSION_NAME};
    VkInstanceCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
        .pApplicationInfo = &app,
        .enabledLayerCount = validation ? 1 : 0,
        .ppEnabledLayerNames = layers,
        .enabledExtensionCount = validation ? 1 : 0,
        .ppEnabledExtensionNames = extensions,
    };
    VkResult r = vkCreateInstance(&ci, NULL, &vk->instance);
    if (r == VK_ERROR_LAYER_NOT_PRESENT || r == VK_ERROR_EXTENSION_NOT_PRESENT)
        return dfrt_fail(DFRT_UNAVAILABLE, "DFRT_VULKAN_VALIDATION is set but the Khronos validation layer is not "
                                           "installed (Debian: vulkan-validationlayers)");
    if (r == VK_ERROR_INCOMPATIBLE_DRIVER)
        return dfrt_fail(DFRT_UNAVAILABLE, "no Vulkan driver (ICD) supports Vulkan 1.2 here");
    VK_TRY(r);
    /* Device functions too, as the loader's entry points, which dispatch on the handle: dfrt
     * may hold several devices at once (a layer split), each of its own instance, and volk's
     * functions are global; taken straight from one device's driver (volkLoadDevice), they
     * would serve every other device with that driver's code, even once it is destroyed. */
    volkLoadInstance(vk->instance);
    if (validation) {
        VkDebugUtilsMessengerCreateInfoEXT mi = {
            .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
            .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                               VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
            .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
            .pfnUserCallback = on_validation,
            .pUserData = vk,
        };
        VK_TRY(vkCreateDebugUtilsMessengerEXT(vk->instance, &mi, NULL, &vk->messenger));
    }
    return DFRT_OK;
}

static void destroy_instance(vk_backend *vk) {
    if (vk->messenger) { /* this instance's: volk's global one is that of the instance loaded last, which may
                            lack the extension (dfrt_device_list's) */
        PFN_vkDestroyDebugUtilsMessengerEXT destroy =
            (PFN_vkDestroyDebugUtilsMessengerEXT)vkGetInstanceProcAddr(vk->instance, "vkDestroyDebugUtilsMessengerEXT");
        if (destroy) destroy(vk->instance, vk->messenger, NULL);
    }
    if (vk->instance) vkDestroyInstance(vk->instance, NULL);
    vk->messenger = VK_NULL_HANDLE;
    vk->instance = VK_NULL_HANDLE;
}

/* A queue family with compute, preferring one with graphics too: on most drivers it is the
 * one to submit to, and it always has timestamps. */
static uint32_t compute_queue_family(VkPhysicalDevice pd, uint32_t *out_timestamp_bits) {
    uint32_t n = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, NULL);
    VkQueueFamilyProperties props[32];
    if (n > 32) n = 32;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, props);
    uint32_t best = UINT32_MAX;
    for (uint32_t i = 0; i < n; i++) {
        if (!(props[i].queueFlags & VK_QUEUE_COMPUTE_BIT)) continue;
        if (best == UINT32_MAX ||
            ((props[i].queueFlags & VK_QUEUE_GRAPHICS_BIT) && !(props[best].queueFlags & VK_QUEUE_GRAPHICS_BIT)))
            best = i;
    }
    if (best != UINT32_MAX && out_timestamp_bits) *out_timestamp_bits = props[best].timestampValidBits;
    return best;
}

/* Whether the device offers the extension `name`. */
static bool has_extension(VkPhysicalDevice pd, const char *name) {
    uint32_t n = 0;
    if (vkEnumerateDeviceExtensionProperties(pd, NULL, &n, NULL) != VK_SUCCESS || n == 0) return false;
    VkExtensionProperties *ext = malloc(n * sizeof *ext);
    bool found = false;
    if (ext && vkEnumerateDeviceExtensionProperties(pd, NULL, &n, ext) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++) found = strcmp(ext[i].extensionName, name) == 0;
    free(ext);
    return found;
}

static const char *component_name(VkComponentTypeNV t) {
    static const char *const names[] = {"f16", "f32", "f64", "s8", "s16", "s32", "s64", "u8", "u16", "u32", "u64"};
    return (unsigned)t < sizeof names / sizeof *names ? names[t] : "?";
}

/* The cooperative-matrix shapes of subgroup scope that VK_NV_cooperative_matrix reports. */
static void describe_coopmat(VkPhysicalDevice pd, dfrt_device_info *info) {
    if (!has_extension(pd, VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME) || !vkGetPhysicalDeviceCooperativeMatrixPropertiesNV)
        return;
    snprintf(info->coopmat_extension, sizeof info->coopmat_extension, "%s", VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME);
    uint32_t n = 0;
    if (vkGetPhysicalDeviceCooperativeMatrixPropertiesNV(pd, &n, NULL) != VK_SUCCESS || n == 0) return;
    VkCooperativeMatrixPropertiesNV *p = calloc(n, sizeof *p);
    if (!p) return;
    for (uint32_t i = 0; i < n; i++) p[i].sType = VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_NV;
    VkResult r = vkGetPhysicalDeviceCooperativeMatrixPropertiesNV(pd, &n, p);
    const uint32_t most = sizeof info->coopmat / sizeof *info->coopmat;
    for (uint32_t i = 0; (r == VK_SUCCESS || r == VK_INCOMPLETE) && i < n && info->n_coopmat < most; i++) {
        if (p[i].scope != VK_SCOPE_SUBGROUP_NV) continue;
        dfrt_coopmat_shape *c = &info->coopmat[info->n_coopmat++];
        c->m = p[i].MSize, c->n = p[i].NSize, c->k = p[i].KSize;
        snprintf(c->a, sizeof c->a, "%s", component_name(p[i].AType));
        snprintf(c->b, sizeof c->b, "%s", component_name(p[i].BType));
        snprintf(c->c, sizeof c->c, "%s", component_name(p[i].CType));
        snprintf(c->result, sizeof c->result, "%s", component_name(p[i].DType));
    }
    free(p);
}

/* Fills a device's info, and says whether dfrt can use it. */
static void describe(VkPhysicalDevice pd, int index, dfrt_device_info *info) {
    memset(info, 0, sizeof *info);
    snprintf(info->backend, sizeof info->backend, "vulkan");
    info->index = index;
    VkPhysicalDeviceSubgroupProperties sub = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    VkPhysicalDeviceMaintenance3Properties m3 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES,
                                                 .pNext = &sub};
    VkPhysicalDeviceDriverProperties drv = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES, .pNext = &m3};
    VkPhysicalDeviceProperties2 props = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &drv};
    vkGetPhysicalDeviceProperties2(pd, &props);
    VkPhysicalDeviceVulkan12Features f12 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
    VkPhysicalDeviceVulkan11Features f11 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES, .pNext = &f12};
    VkPhysicalDeviceFeatures2 feats = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &f11};
    uint32_t api = props.properties.apiVersion;
    if (api >= VK_API_VERSION_1_2) vkGetPhysicalDeviceFeatures2(pd, &feats);
    VkPhysicalDeviceMemoryProperties mem;
    vkGetPhysicalDeviceMemoryProperties(pd, &mem);

    const VkPhysicalDeviceLimits *l = &props.properties.limits;
    snprintf(info->name, sizeof info->name, "%s", props.properties.deviceName);
    switch (props.properties.deviceType) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: info->type = DFRT_DEVICE_DISCRETE_GPU; break;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: info->type = DFRT_DEVICE_INTEGRATED_GPU; break;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: info->type = DFRT_DEVICE_VIRTUAL_GPU; break;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: info->type = DFRT_DEVICE_CPU; break;
    default: info->type = DFRT_DEVICE_OTHER; break;
    }
    for (uint32_t h = 0; h < mem.memoryHeapCount; h++)
        if (mem.memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT && mem.memoryHeaps[h].size > info->memory_bytes)
            info->memory_bytes = mem.memoryHeaps[h].size;
    snprintf(info->api_version, sizeof info->api_version, "Vulkan %u.%u.%u", VK_API_VERSION_MAJOR(api),
             VK_API_VERSION_MINOR(api), VK_API_VERSION_PATCH(api));
    if (api >= VK_API_VERSION_1_2)
        snprintf(info->driver_version, sizeof info->driver_version, "%.31s %.31s", drv.driverName, drv.driverInfo);
    info->subgroup_size = sub.subgroupSize;
    info->shared_memory_bytes = l->maxComputeSharedMemorySize;
    info->max_storage_buffer_range = l->maxStorageBufferRange;
    info->max_allocation_bytes = m3.maxMemoryAllocationSize;
    info->min_storage_buffer_offset_alignment = (uint32_t)l->minStorageBufferOffsetAlignment;
    info->storage_8bit = f12.storageBuffer8BitAccess;
    info->storage_16bit = f11.storageBuffer16BitAccess;
    info->int64 = feats.features.shaderInt64;
    info->subgroup_arithmetic = (sub.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT) &&
                                (sub.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT);
    uint32_t ts_bits = 0;
    uint32_t family = compute_queue_family(pd, &ts_bits);
    info->timestamps = ts_bits > 0 && l->timestampPeriod > 0;
    describe_coopmat(pd, info);

    info->available = true;
    if (api < VK_API_VERSION_1_2) {
        info->available = false;
        snprintf(info->unavailable_reason, sizeof info->unavailable_reason, "supports Vulkan %u.%u; dfrt needs 1.2",
                 VK_API_VERSION_MAJOR(api), VK_API_VERSION_MINOR(api));
    } else if (family == UINT32_MAX) {
        info->available = false;
        snprintf(info->unavailable_reason, sizeof info->unavailable_reason, "no compute queue");
    } else if (!info->subgroup_arithmetic) {
        info->available = false;
        snprintf(info->unavailable_reason, sizeof info->unavailable_reason,
                 "no subgroup arithmetic in compute shaders");
    } else if (!info->storage_16bit) {
        info->available = false;
        snprintf(info->unavailable_reason, sizeof info->unavailable_reason,
                 "no 16-bit storage buffer access (storageBuffer16BitAccess)");
    } else if (l->maxComputeSharedMemorySize < 16384 || l->maxComputeWorkGroupInvocations < 512 ||
               l->maxComputeWorkGroupSize[0] < 512) {
        info->available = false;
        snprintf(info->unavailable_reason, sizeof info->unavailable_reason,
                 "compute limits too small (needs 16 KiB shared memory and 512-invocation workgroups)");
    }
}

static dfrt_status vk_probe(dfrt_device_info **out, size_t *out_count) {
    *out = NULL;
    *out_count = 0;
    dfrt_device_info *infos = NULL;
    vk_backend vk = {0};
    dfrt_status s = loader();
    if (s == DFRT_OK) s = create_instance(&vk, false);
    uint32_t n = 0;
    if (s == DFRT_OK) {
        VkResult r = vkEnumeratePhysicalDevices(vk.instance, &n, NULL);
        if (r != VK_SUCCESS) s = vk_fail(r, "vkEnumeratePhysicalDevices", __FILE__, __LINE__);
        else if (n == 0) s = dfrt_fail(DFRT_UNAVAILABLE, "no Vulkan devices (no driver installed?)");
    }
    if (s != DFRT_OK) { /* one entry that says why the backend is unavailable */
        destroy_instance(&vk);
        if (s != DFRT_UNAVAILABLE && s != DFRT_DEVICE_ERROR) return s;
        infos = dfrt_calloc(1, sizeof *infos, "device info");
        if (!infos) return DFRT_OUT_OF_MEMORY;
        snprintf(infos->backend, sizeof infos->backend, "vulkan");
        snprintf(infos->name, sizeof infos->name, "(none)");
        infos->index = -1; /* no device: the entry only says why */
        snprintf(infos->unavailable_reason, sizeof infos->unavailable_reason, "%s", dfrt_last_error());
        *out = infos;
        *out_count = 1;
        return DFRT_OK;
    }
    VkPhysicalDevice pds[16];
    if (n > 16) n = 16;
    vkEnumeratePhysicalDevices(vk.instance, &n, pds);
    infos = dfrt_calloc(n, sizeof *infos, "device info");
    if (!infos) {
        destroy_instance(&vk);
        return DFRT_OUT_OF_MEMORY;
    }
    for (uint32_t i = 0; i < n; i++) describe(pds[i], (int)i, &infos[i]);
    destroy_instance(&vk);
    *out = infos;
    *out_count = n;
    return DFRT_OK;
}

static void destroy_impl(vk_backend *vk) {
    if (!vk) return;
    if (vk->device) {
        vkDeviceWaitIdle(vk->device);
        vk_pipelines_destroy(vk);
        vk_commands_destroy(vk);
        vk_host_blocks_destroy(vk);
        vk_buffer_destroy(vk, &vk->staging);
        vk_buffer_destroy(vk, &vk->dummy);
        vk_buffer_destroy(vk, &vk->attention_partial);
        vk_buffer_destroy(vk, &vk->df11_scratch);
        vkDestroyDevice(vk->device, NULL);
    }
    destroy_instance(vk);
    free(vk);
}

static void vk_destroy(dfrt_backend *b) {
    destroy_impl(vk_of(b));
}

static int find_memory_type(const VkPhysicalDeviceMemoryProperties *mem, VkMemoryPropertyFlags want,
                            VkMemoryPropertyFlags avoid) {
    for (uint32_t i = 0; i < mem->memoryTypeCount; i++)
        if ((mem->memoryTypes[i].propertyFlags & want) == want && !(mem->memoryTypes[i].propertyFlags & avoid))
            return (int)i;
    return -1;
}

static dfrt_status create_device(vk_backend *vk, int index, dfrt_device_info *info) {
    uint32_t n = 0;
    VK_TRY(vkEnumeratePhysicalDevices(vk->instance, &n, NULL));
    VkPhysicalDevice pds[16];
    if (n > 16) n = 16;
    VK_TRY(vkEnumeratePhysicalDevices(vk->instance, &n, pds));
    if ((uint32_t)index >= n) return dfrt_fail(DFRT_INVALID_ARGUMENT, "vulkan device %d does not exist", index);
    vk->physical = pds[index];
    describe(vk->physical, index, info);
    if (!info->available)
        return dfrt_fail(DFRT_UNAVAILABLE, "vulkan device %d (%s): %s", index, info->name, info->unavailable_reason);
    VkPhysicalDeviceProperties props;
    vkGetPhysicalDeviceProperties(vk->physical, &props);
    vk->limits = props.limits;
    uint32_t ts_bits = 0;
    vk->queue_family = compute_queue_family(vk->physical, &ts_bits);
    vk->timestamp_period_ns = props.limits.timestampPeriod;
    vk->timestamp_mask = ts_bits >= 64 ? ~0ull : ts_bits ? (1ull << ts_bits) - 1 : 0;

    float priority = 1.0f;
    VkDeviceQueueCreateInfo qi[2] = {{
        .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
        .queueFamilyIndex = vk->queue_family,
        .queueCount = 1,
        .pQueuePriorities = &priority,
    }};
    vk->copy_queue_on = vk_copy_queue_family(vk, &vk->copy_family);
    uint32_t n_queues = 1;
    if (vk->copy_queue_on && vk->copy_family != vk->queue_family) {
        qi[1] = qi[0];
        qi[1].queueFamilyIndex = vk->copy_family;
        n_queues = 2;
    }
    /* The cooperative-matrix GEMM (matmul_coopmat.comp): VK_NV_cooperative_matrix with the
     * 16x16x16 f16 x f16 + f32 shape, fp16 arithmetic, and 32-lane subgroups (its 8 subgroups
     * tile the block). DFRT_VULKAN_COOPMAT=0 leaves it off. */
    const char *cm_env = getenv("DFRT_VULKAN_COOPMAT");
    bool want_coopmat = !(cm_env && *cm_env == '0') && info->subgroup_size == 32;
    bool shape = false;
    for (uint32_t i = 0; i < info->n_coopmat && want_coopmat; i++) {
        const dfrt_coopmat_shape *c = &info->coopmat[i];
        shape |= c->m == 16 && c->n == 16 && c->k == 16 && !strcmp(c->a, "f16") && !strcmp(c->b, "f16") &&
                 !strcmp(c->c, "f32") && !strcmp(c->result, "f32");
    }
    VkPhysicalDeviceCooperativeMatrixFeaturesNV cm_have = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV};
    VkPhysicalDeviceVulkan12Features f12_have = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES, .pNext = &cm_have};
    VkPhysicalDeviceFeatures2 have = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &f12_have};
    if (shape) vkGetPhysicalDeviceFeatures2(vk->physical, &have);
    vk->coopmat = shape && cm_have.cooperativeMatrix && f12_have.shaderFloat16;
    VkPhysicalDeviceCooperativeMatrixFeaturesNV cm_feature = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV,
        .cooperativeMatrix = VK_TRUE,
    };
    VkPhysicalDeviceVulkan12Features f12 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
        .shaderFloat16 = vk->coopmat,
        .timelineSemaphore = vk->copy_queue_on,
        .pNext = vk->coopmat ? &cm_feature : NULL,
    };
    VkPhysicalDeviceVulkan11Features f11 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES,
        .storageBuffer16BitAccess = VK_TRUE,
        .pNext = vk->coopmat || vk->copy_queue_on ? &f12 : NULL,
    };
    VkPhysicalDeviceFeatures2 feats = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &f11};
    /* DFRT_VULKAN_PIPELINE_STATS=1: report each pipeline's compiled statistics (registers...)
     * where the driver offers VK_KHR_pipeline_executable_properties. */
    const char *extensions[2];
    uint32_t n_extensions = 0;
    if (vk->coopmat) extensions[n_extensions++] = VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME;
    VkPhysicalDevicePipelineExecutablePropertiesFeaturesKHR exec_feature = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PIPELINE_EXECUTABLE_PROPERTIES_FEATURES_KHR,
        .pipelineExecutableInfo = VK_TRUE,
    };
    const char *stats = getenv("DFRT_VULKAN_PIPELINE_STATS");
    if (stats && *stats && strcmp(stats, "0") != 0) {
        uint32_t n_ext = 0;
        vkEnumerateDeviceExtensionProperties(vk->physical, NULL, &n_ext, NULL);
        VkExtensionProperties *ext = dfrt_calloc(n_ext, sizeof *ext, "extension list");
        if (ext && vkEnumerateDeviceExtensionProperties(vk->physical, NULL, &n_ext, ext) == VK_SUCCESS)
            for (uint32_t i = 0; i < n_ext; i++)
                if (strcmp(ext[i].extensionName, VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME) == 0) {
                    extensions[n_extensions++] = VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME;
                    exec_feature.pNext = f11.pNext;
                    f11.pNext = &exec_feature;
                    vk->pipeline_stats = true;
                }
        free(ext);
        if (!vk->pipeline_stats) fprintf(stderr, "dfrt vulkan: the driver has no pipeline statistics\n");
    }
    VkDeviceCreateInfo di = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
        .pNext = &feats,
        .queueCreateInfoCount = n_queues,
        .pQueueCreateInfos = qi,
        .enabledExtensionCount = n_extensions,
        .ppEnabledExtensionNames = extensions,
    };
    VK_TRY(vkCreateDevice(vk->physical, &di, NULL, &vk->device));
    vkGetDeviceQueue(vk->device, vk->queue_family, 0, &vk->queue);
    if (vk->copy_queue_on) vkGetDeviceQueue(vk->device, vk->copy_family, 0, &vk->copy_queue);

    VkPhysicalDeviceMemoryProperties mem;
    vkGetPhysicalDeviceMemoryProperties(vk->physical, &mem);
    int local = find_memory_type(&mem, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, 0);
    int staging = find_memory_type(&mem, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT |
                                             VK_MEMORY_PROPERTY_HOST_CACHED_BIT, 0);
    if (staging < 0)
        staging = find_memory_type(&mem, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT, 0);
    if (local < 0 || staging < 0)
        return dfrt_fail(DFRT_UNAVAILABLE, "vulkan device %d (%s): no device-local or host-visible memory type", index,
                         info->name);
    vk->device_local_type = (uint32_t)local;
    vk->staging_type = (uint32_t)staging;
    VkMemoryPropertyFlags lf = mem.memoryTypes[local].propertyFlags;
    vk->unified = (lf & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) && (lf & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT);

    vk->max_range = props.limits.maxStorageBufferRange;
    const char *override = getenv("DFRT_VULKAN_MAX_RANGE"); /* lower only: tests exercise range splitting */
    if (override && *override) {
        unsigned long long v = strtoull(override, NULL, 0);
        if (v < (1u << 20))
            return dfrt_fail(DFRT_INVALID_ARGUMENT, "DFRT_VULKAN_MAX_RANGE=%s: at least 1 MiB", override);
        if (v < vk->max_range) vk->max_range = v;
    }
    vk->min_align = props.limits.minStorageBufferOffsetAlignment ? props.limits.minStorageBufferOffsetAlignment : 1;
    vk->max_groups = DFRT_MIN(props.limits.maxComputeWorkGroupCount[0], props.limits.maxComputeWorkGroupCount[1]);
    vk->subgroup_size = DFRT_MAX(info->subgroup_size, 1u);
    /* the subgroup GEMVs: a row group is a subgroup of 4 to 64 lanes with shuffles, and a
     * workgroup of 128 holds whole subgroups. DFRT_VULKAN_GEMV_SG=0 turns them off. */
    VkPhysicalDeviceSubgroupProperties sub = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &sub};
    vkGetPhysicalDeviceProperties2(vk->physical, &p2);
    const char *sg = getenv("DFRT_VULKAN_GEMV_SG");
    uint32_t lanes = sub.subgroupSize;
    if ((sub.supportedOperations & VK_SUBGROUP_FEATURE_SHUFFLE_BIT) && (sub.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
        lanes >= 4 && lanes <= 64 && (lanes & (lanes - 1)) == 0 && !(sg && *sg == '0'))
        vk->gemv_tpr = lanes;
    const char *rpt = getenv("DFRT_VULKAN_GEMV_RPT"); /* for measurements */
    if (rpt && (*rpt == '1' || *rpt == '2' || *rpt == '4' || *rpt == '8') && !rpt[1]) vk->gemv_rpt = (uint32_t)(*rpt - '0');
    info->max_storage_buffer_range = vk->max_range;
    return DFRT_OK;
}

/* The cases the device's limits refuse (args validated by ops.c); the launchers trust them. */
static dfrt_status vk_supports(dfrt_backend *b, dfrt_op op, const void *args) {
    const vk_backend *vk = vk_of(b);
    switch (op) {
#define VK_OP_SUPPORTS(fn, OP) \
    case OP: return vk_##fn##_supports(vk, args);
        DFRT_FOR_EACH_BASIC_OP(VK_OP_SUPPORTS)
#undef VK_OP_SUPPORTS
    case DFRT_OP_DF11_MATMUL: return vk_df11_matmul_supports(vk, args);
    default: return DFRT_OK;
    }
}

static const dfrt_backend_vtable vk_vtable = {
    DFRT_BACKEND_MEMBERS(vk, "vulkan", vk_supports),
    .df11_layout = DFRT_DF11_LAYOUT_SEGMENTS,
    .df11_matmul = vk_df11_matmul,
    .matmul_kernel = vk_matmul_kernel,
#define VK_OP_MEMBER(fn, OP) .fn = vk_##fn,
    DFRT_FOR_EACH_BASIC_OP(VK_OP_MEMBER)
#undef VK_OP_MEMBER
    .host_alloc = vk_host_alloc,
    .host_free = vk_host_free,
    .copy_async = vk_copy_async,
    .copies_after_ops = vk_copies_after_ops,
    .ops_after_copies = vk_ops_after_copies,
    .capture_begin = vk_capture_begin,
    .capture_end = vk_capture_end,
    .graph_launch = vk_graph_launch,
    .graph_free = vk_graph_destroy,
};

/* Each family's pipelines (vk_copy.c, vk_op_<family>.c). */
static dfrt_status (*const create_pipelines[])(vk_backend *vk) = {
    vk_copy_pipelines,      vk_df11_decode_pipelines, vk_matmul_pipelines,      vk_embedding_pipelines,
    vk_norm_pipelines,      vk_rope_pipelines,        vk_kv_cache_pipelines,    vk_attention_pipelines,
    vk_elementwise_pipelines, vk_argmax_pipelines,
};

static dfrt_status vk_open(int index, dfrt_backend **out) {
    *out = NULL;
    DFRT_TRY(loader());
    vk_backend *vk = dfrt_calloc(1, sizeof *vk, "the Vulkan backend");
    if (!vk) return DFRT_OUT_OF_MEMORY;
    dfrt_device_info info;
    memset(&info, 0, sizeof info);
    dfrt_status s = create_instance(vk, validation_requested());
    if (s == DFRT_OK) s = create_device(vk, index, &info);
    if (s == DFRT_OK) s = vk_commands_init(vk);
    if (s == DFRT_OK && vk->copy_queue_on) s = vk_copy_queue_init(vk);
    if (s == DFRT_OK) s = vk_buffer_create(vk, 256, false, &vk->dummy);
    for (size_t i = 0; s == DFRT_OK && i < sizeof create_pipelines / sizeof *create_pipelines; i++)
        s = create_pipelines[i](vk);
    if (s == DFRT_OK) s = vk_check_validation(vk);
    return dfrt_backend_finish_open(s, &vk_vtable, &info, vk, out);
}

const dfrt_backend_driver dfrt_vulkan_driver = {
    .name = "vulkan",
    .probe = vk_probe,
    .open = vk_open,
};
