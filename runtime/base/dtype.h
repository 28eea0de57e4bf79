/* Dtype helpers on the host: BF16 <-> fp32. */
#ifndef DFRT_BASE_DTYPE_H
#define DFRT_BASE_DTYPE_H

#include <stdint.h>
#include <string.h>

/* The fp32 value of a BF16 bit pattern (exact: BF16 is fp32's upper half). */
static inline float dfrt_bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* The BF16 value at p (two little-endian bytes, any alignment) as fp32. */
static inline float dfrt_bf16_load(const void *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return dfrt_bf16_to_f32(h);
}

/* fp32 to BF16, rounded to nearest even; a NaN stays a (quiet) NaN. */
static inline uint16_t dfrt_f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((u >> 16) | 0x40);
    return (uint16_t)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

#endif
