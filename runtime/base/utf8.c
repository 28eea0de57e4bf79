/* UTF-8 validation, shared by error escaping, the tokenizer and dfrt run's prompt check. */
#include "base/internal.h"

/* Length of the valid UTF-8 character at p (1 to 4), or 0 with *bad set to the length of the
 * maximal invalid prefix (what one U+FFFD replaces, as Rust's from_utf8_lossy does). */
size_t dfrt_utf8_char(const uint8_t *p, size_t n, uint32_t *cp, size_t *bad) {
    uint8_t b = p[0];
    if (b < 0x80) {
        *cp = b;
        return 1;
    }
    size_t need;
    uint8_t lo = 0x80, hi = 0xBF;
    if (b < 0xC2) need = 0;
    else if (b < 0xE0) need = 2;
    else if (b < 0xF0) {
        need = 3;
        if (b == 0xE0) lo = 0xA0;
        if (b == 0xED) hi = 0x9F;
    } else if (b < 0xF5) {
        need = 4;
        if (b == 0xF0) lo = 0x90;
        if (b == 0xF4) hi = 0x8F;
    } else need = 0;
    *bad = 1;
    if (!need || n < 2 || p[1] < lo || p[1] > hi) return 0;
    for (size_t k = 2; k < need; k++) {
        if (k >= n || (p[k] & 0xC0) != 0x80) {
            *bad = k;
            return 0;
        }
    }
    uint32_t c = b & (0xFF >> (need + 1));
    for (size_t k = 1; k < need; k++) c = (c << 6) | (p[k] & 0x3F);
    *cp = c;
    return need;
}

/* Offset of the first invalid byte, or n. */
size_t dfrt_utf8_invalid_at(const char *s, size_t n) {
    const uint8_t *p = (const uint8_t *)s;
    for (size_t i = 0; i < n;) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        size_t bad, k = dfrt_utf8_char(p + i, n - i, &cp, &bad);
        if (!k) return i;
        i += k;
    }
    return n;
}
