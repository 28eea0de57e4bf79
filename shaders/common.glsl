// Helpers shared by the compute shaders: #include "common.glsl" (glslang -I shaders/, with
// GL_GOOGLE_include_directive).
#ifndef DFRT_COMMON_GLSL
#define DFRT_COMMON_GLSL

// The workgroup's index in a dispatch of groups_x workgroups per row of the grid: the host
// lays long 1-D dispatches out in 2-D to stay within maxComputeWorkGroupCount.
uint flat_group(uint groups_x) { return gl_WorkGroupID.x + gl_WorkGroupID.y * groups_x; }

// BF16 -> fp32: a BF16 is the high half of an fp32. bf16_lo widens the low half of a 32-bit
// word (or a lone BF16 in a uint), bf16_hi the high half: the elements 2i and 2i + 1 of
// little-endian BF16 data read as words.
float bf16_lo(uint w) { return uintBitsToFloat(w << 16); }
float bf16_hi(uint w) { return uintBitsToFloat(w & 0xFFFF0000u); }
// Element `odd` (0 or 1) of the two BF16 in a word.
float bf16_half(uint w, uint odd) { return odd != 0u ? bf16_hi(w) : bf16_lo(w); }

// fp32 -> BF16 bits (in the low half), rounded to nearest even; a NaN stays a quiet NaN. The
// same bits as the host's dfrt_f32_to_bf16 and CUDA's f32_to_bf16.
uint f32_to_bf16(float f) {
    uint u = floatBitsToUint(f);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (u >> 16) | 0x40u;
    return (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
}

#endif
