// What the subgroup GEMVs share (matmul_gemv_sg.comp over BF16 weights, df11_gemv.comp over a
// DF11 unit), so that both give the same bits: a row's sum is taken by TPR lanes of one
// subgroup, lane l taking the row's 8-weight vectors l, l + TPR, l + 2 TPR, ... in increasing
// order, each by dot8 (one fma at a time, in weight order), and the lanes' sums are added by
// the same butterfly of subgroup shuffles.
#ifndef DFRT_GEMV_SG_GLSL
#define DFRT_GEMV_SG_GLSL
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require

// s + a.x w[0] + a.y w[1] + ... + b.w w[7], one fma at a time (precise: no other contraction
// or reordering).
float dot8(float s, vec4 a, vec4 b, float w0, float w1, float w2, float w3, float w4, float w5, float w6,
           float w7) {
    precise float r = fma(a.x, w0, s);
    r = fma(a.y, w1, r);
    r = fma(a.z, w2, r);
    r = fma(a.w, w3, r);
    r = fma(b.x, w4, r);
    r = fma(b.y, w5, r);
    r = fma(b.z, w6, r);
    r = fma(b.w, w7, r);
    return r;
}

// The sum of v over the TPR lanes of this invocation's lane group (TPR a power of two that
// divides the subgroup size; lane groups are aligned within the subgroup), in every lane.
float lanes_sum(float v0, uint tpr) {
    precise float v = v0;
    for (uint s = tpr / 2u; s > 0u; s >>= 1) {
        precise float o = subgroupShuffleXor(v, s);
        v = v + o;
    }
    return v;
}

#endif
