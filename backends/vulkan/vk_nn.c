/* Placeholder: the transformer ops of the Vulkan backend (issue 4). */
#include "vk_internal.h"
