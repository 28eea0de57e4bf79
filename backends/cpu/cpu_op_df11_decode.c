/* The CPU backend: DF11 decode, through the format code's multi-threaded decoder. */
#include "cpu_internal.h"
#include "format/df11_internal.h"

void cpu_df11_view(const dfrt_device_df11 *d, dfrt_df11_unit *out) {
    *out = (dfrt_df11_unit){
        .name = d->name,
        .n = d->n,
        .n_tables = d->n_tables,
        .luts = d->luts->impl,
        .stream = d->stream->impl,
        .n_bytes = d->n_bytes,
        .sign_mantissa = d->sign_mantissa->impl,
        .output_positions = d->positions_buf->impl,
        .n_positions = d->n_chunks + 1,
        .gaps = d->gaps->impl,
        .n_chunks = d->n_chunks,
        .max_chunk_weights = d->max_chunk_weights,
    };
}

dfrt_status cpu_df11_decode(dfrt_backend *b, const dfrt_df11_decode_args *a) {
    dfrt_df11_unit view;
    cpu_df11_view(a->unit, &view);
    uint16_t *out = (uint16_t *)CPU_PTR(a->out);
    return df11_decode_parallel(&view, a->first_chunk, a->n_chunks, out, cpu_threads(b));
}
