/* Writes the binary seed inputs of the fuzz corpora from the shipped model:
 *   fuzz_seeds OUT_DIR   ->  OUT_DIR/safetensors/..., OUT_DIR/df11/...
 * safetensors seeds are the shipped model's smallest file, the header of a layer file with the
 * start of its data, and small files from dfrt's writer (every dtype, a scalar, an empty
 * tensor, metadata). df11 seeds are units compressed by dfrt's encoder from slices of the
 * shipped model's weights (1 to 4 chunks, one and several parts), in fuzz_df11.c's layout.
 * The JSON seeds (config, tokenizer) are written by hand. */
#include "fuzz.h"

#include <sys/stat.h>

static void fail(const char *what) {
    fprintf(stderr, "fuzz_seeds: %s: %s\n", what, dfrt_last_error());
    exit(1);
}

static void put(const char *dir, const char *name, const void *data, size_t len) {
    char *path = dfrt_path_join(dir, name);
    if (!path || dfrt_write_file_atomic(path, data, len) != DFRT_OK) fail(name);
    free(path);
}

static void safetensors_seeds(const char *out) {
    char *text;
    size_t len;
    char *src = dfrt_path_join(DFRT_MODEL_DIR, "model.safetensors");
    if (dfrt_read_file(src, 1 << 20, &text, &len) != DFRT_OK) fail(src);
    put(out, "shipped-norm", text, len);
    free(text);
    free(src);
    src = dfrt_path_join(DFRT_MODEL_DIR, "model_layers_0.safetensors");
    if (dfrt_read_file(src, 1 << 24, &text, &len) != DFRT_OK) fail(src);
    uint64_t header;
    memcpy(&header, text, 8);
    put(out, "shipped-layer-truncated", text, DFRT_MIN(len, 8 + header + 4096));
    free(text);
    free(src);

    static const dfrt_dtype dtypes[] = {DFRT_DTYPE_BOOL, DFRT_DTYPE_U8,  DFRT_DTYPE_I8,  DFRT_DTYPE_I16, DFRT_DTYPE_U16,
                                        DFRT_DTYPE_F16,  DFRT_DTYPE_BF16, DFRT_DTYPE_I32, DFRT_DTYPE_U32, DFRT_DTYPE_F32,
                                        DFRT_DTYPE_I64,  DFRT_DTYPE_U64,  DFRT_DTYPE_F64};
    uint8_t bytes[8 * 6];
    for (size_t i = 0; i < sizeof bytes; i++) bytes[i] = (uint8_t)(i * 37 + 1);
    char *path = dfrt_path_join(out, "writer-dtypes");
    dfrt_st_writer *w;
    if (!path || dfrt_st_writer_create(path, &w) != DFRT_OK) fail("writer");
    dfrt_st_writer_set_metadata(w, "format", "pt");
    for (size_t i = 0; i < sizeof dtypes / sizeof *dtypes; i++) {
        char name[32];
        snprintf(name, sizeof name, "t.%s", dfrt_dtype_name(dtypes[i]));
        int64_t shape[2] = {2, 3};
        if (dfrt_st_writer_add(w, name, dtypes[i], 2, shape, bytes) != DFRT_OK) fail(name);
    }
    int64_t empty[2] = {0, 5};
    if (dfrt_st_writer_add(w, "empty", DFRT_DTYPE_BF16, 2, empty, bytes) != DFRT_OK ||
        dfrt_st_writer_add(w, "scalar", DFRT_DTYPE_F32, 0, NULL, bytes) != DFRT_OK || dfrt_st_writer_finish(w) != DFRT_OK)
        fail("writer");
    free(path);
}

/* fuzz_df11.c's layout: header, then luts, encoded_exponent, sign_mantissa, output_positions,
 * gaps, split_positions. */
static void put_unit(const char *out, const char *name, const dfrt_df11_encoded *e, uint32_t first, uint32_t count) {
    uint32_t h[8] = {e->n_tables + 1, (uint32_t)e->n_bytes, (uint32_t)e->n, 4 * e->n_positions, (uint32_t)e->gaps_bytes,
                     e->n_splits, first, count};
    dfrt_buf b = {0};
    dfrt_buf_append(&b, (const char *)h, sizeof h);
    dfrt_buf_append(&b, (const char *)e->luts, 256 * ((size_t)e->n_tables + 1));
    dfrt_buf_append(&b, (const char *)e->stream, e->n_bytes);
    dfrt_buf_append(&b, (const char *)e->sign_mantissa, e->n);
    dfrt_buf_append(&b, (const char *)e->output_positions, 4 * (size_t)e->n_positions);
    dfrt_buf_append(&b, (const char *)e->gaps, e->gaps_bytes);
    dfrt_buf_append(&b, (const char *)e->split_positions, 8 * (size_t)e->n_splits);
    if (b.failed) fail("out of memory");
    put(out, name, b.p, b.len);
    free(b.p);
}

static void df11_seeds(const char *out) {
    dfrt_checkpoint *cp;
    if (dfrt_checkpoint_open(DFRT_MODEL_DIR, &cp) != DFRT_OK) fail(DFRT_MODEL_DIR);
    const dfrt_df11_unit *layer = NULL, *head = NULL;
    for (size_t i = 0; i < dfrt_checkpoint_unit_count(cp); i++) {
        const dfrt_df11_unit *u = dfrt_checkpoint_unit(cp, i);
        if (strcmp(u->name, "model.layers.0") == 0) layer = u;
        if (strcmp(u->name, "lm_head") == 0) head = u;
    }
    if (!layer || !head) fail("the shipped model has no model.layers.0 or lm_head unit");
    const dfrt_df11_unit *units[2] = {layer, head};
    uint16_t *w[2];
    for (int i = 0; i < 2; i++)
        if (!(w[i] = malloc(units[i]->n * 2)) || dfrt_df11_decode(units[i], w[i], 0) != DFRT_OK) fail(units[i]->name);
    static const struct {
        const char *name;
        int source, n_parts;
        uint64_t offset, count;
    } seeds[] = {
        {"layer-1", 0, 1, 0, 1},           {"layer-7", 0, 1, 1000, 7},          {"layer-1000", 0, 1, 5000, 1000},
        {"layer-12000-2parts", 0, 2, 0, 12000}, {"layer-40000-3parts", 0, 3, 20000, 40000},
        {"head-20000", 1, 1, 0, 20000},
    };
    for (size_t i = 0; i < sizeof seeds / sizeof *seeds; i++) {
        const uint16_t *parts[3];
        uint64_t counts[3];
        uint64_t each = seeds[i].count / (uint64_t)seeds[i].n_parts;
        for (int p = 0; p < seeds[i].n_parts; p++) {
            parts[p] = w[seeds[i].source] + seeds[i].offset + (uint64_t)p * each;
            counts[p] = p + 1 < seeds[i].n_parts ? each : seeds[i].count - (uint64_t)p * each;
        }
        dfrt_df11_encoded e;
        if (dfrt_df11_encode("seed", seeds[i].n_parts, parts, counts, NULL, NULL, &e) != DFRT_OK) fail(seeds[i].name);
        put_unit(out, seeds[i].name, &e, (uint32_t)i, (uint32_t)(i * 7 + 1));
        dfrt_df11_encoded_free(&e);
    }
    free(w[0]);
    free(w[1]);
    dfrt_checkpoint_close(cp);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz_seeds OUT_DIR\n");
        return 2;
    }
    char *st = dfrt_path_join(argv[1], "safetensors"), *df = dfrt_path_join(argv[1], "df11");
    if (!st || !df || dfrt_make_dirs(st) != DFRT_OK || dfrt_make_dirs(df) != DFRT_OK) fail(argv[1]);
    safetensors_seeds(st);
    df11_seeds(df);
    free(st);
    free(df);
    return 0;
}
