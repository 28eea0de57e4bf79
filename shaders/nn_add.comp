#version 450
// y = a + b over n fp32 values (y may be a or b: the same range bound twice). Each invocation
// adds 4 values a workgroup apart, so every load and store is coalesced. The host splits n
// into dispatches whose three ranges each fit one binding, and passes the element of each
// binding where the dispatch's first value is.
layout(local_size_x_id = 0) in;

layout(std430, set = 0, binding = 0) readonly buffer A { float a[]; };
layout(std430, set = 0, binding = 1) readonly buffer B { float b[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push {
    uint n;          // values in this dispatch
    uint a0, b0, y0; // element of each binding holding value 0
    uint groups_x;   // workgroups per row of the dispatch grid
} pc;

void main() {
    uint group = gl_WorkGroupID.x + gl_WorkGroupID.y * pc.groups_x;
    uint i = group * 4u * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    for (uint k = 0u; k < 4u; k++, i += gl_WorkGroupSize.x)
        if (i < pc.n) y[pc.y0 + i] = a[pc.a0 + i] + b[pc.b0 + i];
}
