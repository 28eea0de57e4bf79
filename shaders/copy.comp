#version 450
// A 16-byte-aligned buffer copy: vkCmdCopyBuffer runs far below memory bandwidth on some
// drivers; this does not.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x = 256) in;
layout(std430, set = 0, binding = 0) readonly buffer Src { uvec4 src[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Dst { uvec4 dst[]; };
layout(push_constant) uniform Push {
    uint n;        // uvec4 elements to copy
    uint groups_x; // workgroups per row of the grid
} pc;

void main() {
    uint group = flat_group(pc.groups_x);
    uint i = group * 1024u + gl_LocalInvocationID.x;
    for (uint k = 0u; k < 4u; k++, i += 256u)
        if (i < pc.n) dst[i] = src[i];
}
