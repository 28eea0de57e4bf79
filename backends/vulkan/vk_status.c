/* Vulkan results and validation messages as dfrt statuses: the bottom of the backend. */
#include "vk_internal.h"

dfrt_status vk_fail(VkResult r, const char *call, const char *file, int line) {
    dfrt_status s = DFRT_DEVICE_ERROR;
    const char *what = "error";
    switch (r) {
    case VK_ERROR_OUT_OF_HOST_MEMORY: what = "VK_ERROR_OUT_OF_HOST_MEMORY"; s = DFRT_OUT_OF_MEMORY; break;
    case VK_ERROR_OUT_OF_DEVICE_MEMORY: what = "VK_ERROR_OUT_OF_DEVICE_MEMORY"; s = DFRT_OUT_OF_MEMORY; break;
    case VK_ERROR_DEVICE_LOST: what = "VK_ERROR_DEVICE_LOST"; break;
    case VK_ERROR_INITIALIZATION_FAILED: what = "VK_ERROR_INITIALIZATION_FAILED"; break;
    case VK_ERROR_LAYER_NOT_PRESENT: what = "VK_ERROR_LAYER_NOT_PRESENT"; s = DFRT_UNAVAILABLE; break;
    case VK_ERROR_EXTENSION_NOT_PRESENT: what = "VK_ERROR_EXTENSION_NOT_PRESENT"; s = DFRT_UNAVAILABLE; break;
    case VK_ERROR_FEATURE_NOT_PRESENT: what = "VK_ERROR_FEATURE_NOT_PRESENT"; s = DFRT_UNAVAILABLE; break;
    case VK_ERROR_INCOMPATIBLE_DRIVER: what = "VK_ERROR_INCOMPATIBLE_DRIVER"; s = DFRT_UNAVAILABLE; break;
    case VK_ERROR_TOO_MANY_OBJECTS: what = "VK_ERROR_TOO_MANY_OBJECTS"; break;
    case VK_ERROR_MEMORY_MAP_FAILED: what = "VK_ERROR_MEMORY_MAP_FAILED"; break;
    case VK_TIMEOUT: what = "VK_TIMEOUT"; break;
    default: break;
    }
    return dfrt_fail(s, "vulkan: %s failed: %s (%d) at %s:%d", call, what, (int)r, dfrt_basename(file), line);
}

dfrt_status vk_check_validation(vk_backend *vk) {
    if (!vk->validation_messages) return DFRT_OK;
    return dfrt_fail(DFRT_DEVICE_ERROR, "vulkan: %d validation message%s, the first: %s", vk->validation_messages,
                     vk->validation_messages == 1 ? "" : "s", vk->validation_first);
}
