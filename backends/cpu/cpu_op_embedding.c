/* The CPU backend: embedding rows from a BF16 table. */
#include "cpu_internal.h"

dfrt_status cpu_embedding(dfrt_backend *b, const dfrt_embedding_args *a) {
    (void)b;
    float *out = F32(a->out);
    const uint8_t *table = CPU_PTR(a->table);
    const uint32_t *offsets = CPU_PTR(a->offsets);
    for (uint32_t r = 0; r < a->rows; r++) {
        uint64_t first = offsets[r];
        float *row = out + (size_t)r * a->dim;
        if (first + a->dim > a->table_elems) {
            memset(row, 0, (size_t)a->dim * sizeof *row);
            continue;
        }
        for (uint32_t k = 0; k < a->dim; k++) row[k] = dfrt_bf16_load(table + 2 * (first + k)) * a->scale;
    }
    return DFRT_OK;
}
