/* The tokenizer's text building blocks: GPT-2's byte-level alphabet, UTF-8, the character
 * classes of Rust's regex and Oniguruma, and compiling tokenizer.json's regexes for PCRE2. */
#include "text/tokenizer_internal.h"

#include <utf8proc.h>

/* ---------------------------------------------------------------------------------------- */
/* GPT-2's byte <-> character mapping                                                        */
/* ---------------------------------------------------------------------------------------- */

static bool byte_is_printable(unsigned b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
}

uint32_t tok_byte_char(uint8_t byte) {
    if (byte_is_printable(byte)) return byte;
    /* The others take 256, 257, ... in byte order. */
    uint32_t n = 0;
    for (unsigned b = 0; b < byte; b++)
        if (!byte_is_printable(b)) n++;
    return 256 + n;
}

int tok_char_byte(uint32_t cp) {
    if (cp < 256) return byte_is_printable(cp) ? (int)cp : -1;
    if (cp >= 256 + 68) return -1;
    uint32_t n = cp - 256;
    for (unsigned b = 0; b < 256; b++)
        if (!byte_is_printable(b) && n-- == 0) return (int)b;
    return -1;
}

/* ---------------------------------------------------------------------------------------- */
/* UTF-8                                                                                     */
/* ---------------------------------------------------------------------------------------- */

uint32_t tok_utf8_decode(const char *s, size_t n, size_t *len) {
    uint32_t cp = 0xFFFD;
    size_t bad;
    *len = dfrt_utf8_char((const uint8_t *)s, n, &cp, &bad);
    if (!*len) *len = 1;
    return cp;
}

/* ---------------------------------------------------------------------------------------- */
/* Character classes                                                                         */
/* ---------------------------------------------------------------------------------------- */

/* The code point that ends at s[end] (s[..end] is valid UTF-8). */
uint32_t tok_utf8_last(const char *s, size_t end, size_t *start) {
    size_t i = end - 1;
    while (i > 0 && ((uint8_t)s[i] & 0xC0) == 0x80) i--;
    size_t len;
    *start = i;
    return tok_utf8_decode(s + i, end - i, &len);
}

/* Unicode White_Space (Rust's and Oniguruma's \s). */
bool tok_is_white_space(uint32_t c) {
    return (c >= 9 && c <= 13) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
           c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* Rust regex's Unicode \w: Alphabetic, marks, decimal digits, connector punctuation,
 * join controls. */
bool tok_is_word_char(uint32_t c) {
    if (c == 0x200C || c == 0x200D) return true;
    if ((c >= 0x24B6 && c <= 0x24E9) || (c >= 0x1F130 && c <= 0x1F149) || (c >= 0x1F150 && c <= 0x1F169) ||
        (c >= 0x1F170 && c <= 0x1F189))
        return true; /* Other_Alphabetic symbols (circled and squared letters) */
    switch (utf8proc_category((utf8proc_int32_t)c)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT: case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_PC:
        return true;
    default:
        return false;
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Regexes                                                                                   */
/* ---------------------------------------------------------------------------------------- */

/* Unicode White_Space, for a character class. */
#define WHITE_SPACE_CLASS                                                                                              \
    "\\t\\n\\x{0b}\\f\\r\\x{20}\\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}"

/* Oniguruma's \s is White_Space; PCRE2's (with UCP) also matches U+180E. Spell it out. */
static char *rewrite_regex(const char *src) {
    dfrt_buf b = {0};
    bool in_class = false, class_start = false;
    for (size_t i = 0; src[i]; i++) {
        char c = src[i];
        if (c == '\\' && src[i + 1]) {
            char d = src[++i];
            if (d == 's') dfrt_buf_puts(&b, in_class ? WHITE_SPACE_CLASS : "[" WHITE_SPACE_CLASS "]");
            else if (d == 'S' && !in_class) dfrt_buf_puts(&b, "[^" WHITE_SPACE_CLASS "]");
            else {
                char two[2] = {c, d};
                dfrt_buf_append(&b, two, 2);
            }
            class_start = false;
            continue;
        }
        dfrt_buf_append(&b, &c, 1);
        if (!in_class) {
            if (c == '[') {
                in_class = class_start = true;
                if (src[i + 1] == '^') dfrt_buf_append(&b, &src[++i], 1);
            }
        } else if (c == '[' && src[i + 1] == ':') {
            const char *end = strstr(src + i + 2, ":]");
            if (end) {
                dfrt_buf_append(&b, src + i + 1, (size_t)(end + 2 - (src + i + 1)));
                i = (size_t)(end + 1 - src);
            }
            class_start = false;
        } else {
            if (c == ']' && !class_start) in_class = false;
            class_start = false;
        }
    }
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    return b.p ? b.p : dfrt_strdup("");
}

dfrt_status tok_regex_compile(const char *src_file, const char *where, const char *pattern, bool literal,
                              tok_regex *out) {
    char *rewritten = literal ? dfrt_strdup(pattern) : rewrite_regex(pattern);
    out->source = dfrt_strdup(pattern);
    pcre2_compile_context *cc = pcre2_compile_context_create(NULL);
    if (!rewritten || !out->source || !cc) {
        free(rewritten);
        pcre2_compile_context_free(cc);
        return dfrt_fail(DFRT_OUT_OF_MEMORY, "out of memory compiling %s", where);
    }
    pcre2_set_newline(cc, PCRE2_NEWLINE_LF);
    int err;
    PCRE2_SIZE off;
    uint32_t options = PCRE2_UTF | PCRE2_USE_OFFSET_LIMIT | (literal ? PCRE2_LITERAL : PCRE2_UCP | PCRE2_MULTILINE);
    out->code = pcre2_compile((PCRE2_SPTR)rewritten, PCRE2_ZERO_TERMINATED, options, &err, &off, cc);
    pcre2_compile_context_free(cc);
    free(rewritten);
    if (!out->code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        return dfrt_fail(DFRT_FORMAT_ERROR, "%s: %s \"%.200s\" is not a valid regular expression: %s", src_file, where,
                         pattern, (const char *)msg);
    }
    out->jit = pcre2_jit_compile(out->code, PCRE2_JIT_COMPLETE) == 0;
    return DFRT_OK;
}
