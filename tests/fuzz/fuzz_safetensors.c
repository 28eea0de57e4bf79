/* The safetensors header parser: a whole file as input. */
#include "format/safetensors.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* A copy of exactly `size` bytes, so that the sanitizers see any read past the file. */
    uint8_t *file = malloc(size ? size : 1);
    if (!file) abort();
    memcpy(file, data, size);
    dfrt_st_file *f;
    dfrt_status s = dfrt_st_file_parse("fuzz.safetensors", file, size, &f);
    FUZZ_EXPECT_MESSAGE(s, "fuzz.safetensors");
    if (s == DFRT_OK) {
        const uint8_t *data_start = size >= 8 ? file + 8 : file;
        uint64_t sum = 0;
        for (size_t i = 0; i < dfrt_st_file_count(f); i++) {
            const dfrt_tensor *t = dfrt_st_file_tensor(f, i);
            FUZZ_ASSERT(t->n_bytes == t->n_elements * dfrt_dtype_size(t->dtype), "tensor %s size", t->name);
            FUZZ_ASSERT((const uint8_t *)t->data >= data_start && (const uint8_t *)t->data + t->n_bytes <= file + size,
                        "tensor %s lies outside the file", t->name);
            FUZZ_ASSERT(dfrt_st_file_find(f, t->name) == t, "tensor %s is not found by name", t->name);
            uint64_t elements = 1;
            for (int d = 0; d < t->n_dims; d++) elements *= (uint64_t)t->shape[d];
            FUZZ_ASSERT(elements == t->n_elements, "tensor %s element count", t->name);
            for (uint64_t b = 0; b < t->n_bytes; b++) sum += ((const uint8_t *)t->data)[b];
        }
        (void)dfrt_st_file_metadata(f, "format");
        (void)sum;
        dfrt_st_file_close(f);
    }
    free(file);
    return 0;
}
