/* dfrt_decompress_dir: a DF11 directory -> the BF16 directory it was made from. */
#include "convert/convert_internal.h"

/* One output shard per input file that has something to write. */
typedef struct shard {
    const dfrt_st_file *file;
    char *name;
} shard;

static dfrt_status write_shard(const dfrt_checkpoint *cp, const shard *sh, const char *path, int n_threads,
                               dfrt_progress *progress, const volatile int *cancel) {
    dfrt_st_writer *w = NULL;
    DFRT_TRY(dfrt_st_writer_create(path, &w));
    dfrt_status s = dfrt_st_writer_set_metadata(w, "format", "pt");
    uint16_t **decoded = dfrt_calloc(cp->n_units, sizeof *decoded, "decoded units");
    if (!decoded) s = DFRT_OUT_OF_MEMORY;
    for (size_t i = 0; i < dfrt_st_file_count(sh->file) && s == DFRT_OK; i++) {
        const dfrt_tensor *t = dfrt_st_file_tensor(sh->file, i);
        if (!dfrt_checkpoint_is_unit_tensor(cp, t->name))
            s = dfrt_st_writer_add(w, t->name, t->dtype, t->n_dims, t->shape, t->data);
    }
    for (size_t u = 0; u < cp->n_units && s == DFRT_OK; u++) {
        const checkpoint_unit *cu = &cp->units[u];
        if (strcmp(cu->file, dfrt_st_file_path(sh->file)) != 0) continue;
        if (dfrt_cancelled(cancel)) {
            s = dfrt_fail(DFRT_CANCELLED, "cancelled");
            break;
        }
        if (!(decoded[u] = dfrt_alloc_large(cu->unit.n * sizeof(uint16_t), cu->unit.name))) {
            s = DFRT_OUT_OF_MEMORY;
            break;
        }
        if ((s = dfrt_df11_decode(&cu->unit, decoded[u], n_threads)) != DFRT_OK) break;
        for (int p = 0; p < cu->unit.n_parts && s == DFRT_OK; p++) {
            const dfrt_df11_part *part = &cu->unit.parts[p];
            s = dfrt_st_writer_add(w, part->name, DFRT_DTYPE_BF16, part->n_dims, part->shape,
                                   decoded[u] + part->offset);
        }
        dfrt_progress_add(progress, cu->unit.n);
    }
    if (s == DFRT_OK) {
        s = dfrt_st_writer_finish(w);
        w = NULL;
    }
    dfrt_st_writer_abort(w);
    if (decoded)
        for (size_t u = 0; u < cp->n_units; u++) dfrt_free_large(decoded[u], cp->units[u].unit.n * sizeof(uint16_t));
    free(decoded);
    return s;
}

typedef struct index_entry {
    const char *name, *file;
} index_entry;

static int compare_index_entries(const void *a, const void *b) {
    return strcmp(((const index_entry *)a)->name, ((const index_entry *)b)->name);
}

static const char *shard_of(const shard *shards, size_t n_shards, const char *input_file) {
    for (size_t j = 0; j < n_shards; j++)
        if (strcmp(dfrt_st_file_path(shards[j].file), input_file) == 0) return shards[j].name;
    return "?";
}

/* model.safetensors.index.json as transformers writes it: total size, weight_map by name. */
static dfrt_status write_index(const dfrt_checkpoint *cp, const shard *shards, size_t n_shards, const char *dir) {
    const dfrt_tensor_set *ts = cp->tensors;
    size_t n_entries = 0, k = 0;
    for (size_t i = 0; i < dfrt_tensor_set_count(ts); i++)
        if (!dfrt_checkpoint_is_unit_tensor(cp, dfrt_tensor_set_get(ts, i)->name)) n_entries++;
    for (size_t u = 0; u < cp->n_units; u++) n_entries += (size_t)cp->units[u].unit.n_parts;
    index_entry *entries = dfrt_calloc(n_entries, sizeof *entries, "index entries");
    if (!entries) return DFRT_OUT_OF_MEMORY;
    uint64_t total = 0;
    for (size_t i = 0; i < dfrt_tensor_set_count(ts); i++) {
        const dfrt_tensor *t = dfrt_tensor_set_get(ts, i);
        if (dfrt_checkpoint_is_unit_tensor(cp, t->name)) continue;
        total += t->n_bytes;
        entries[k++] = (index_entry){t->name, shard_of(shards, n_shards, t->file)};
    }
    for (size_t u = 0; u < cp->n_units; u++)
        for (int p = 0; p < cp->units[u].unit.n_parts; p++) {
            total += 2 * cp->units[u].unit.parts[p].count;
            entries[k++] = (index_entry){cp->units[u].unit.parts[p].name, shard_of(shards, n_shards, cp->units[u].file)};
        }
    qsort(entries, n_entries, sizeof *entries, compare_index_entries);
    dfrt_buf b = {0};
    dfrt_buf_printf(&b, "{\n  \"metadata\": {\n    \"total_size\": %llu\n  },\n  \"weight_map\": {",
                    (unsigned long long)total);
    for (size_t i = 0; i < n_entries; i++) {
        dfrt_buf_puts(&b, i ? ",\n    " : "\n    ");
        dfrt_buf_json_string(&b, entries[i].name);
        dfrt_buf_puts(&b, ": ");
        dfrt_buf_json_string(&b, entries[i].file);
    }
    dfrt_buf_puts(&b, "\n  }\n}\n");
    free(entries);
    dfrt_status s;
    char *path = dfrt_path_join(dir, "model.safetensors.index.json");
    if (b.failed || !path) s = dfrt_fail(DFRT_OUT_OF_MEMORY, "out of memory writing the index");
    else s = dfrt_write_file_atomic(path, b.p, b.len);
    free(path);
    free(b.p);
    return s;
}

static dfrt_status write_plain_config(const char *df11_dir, const char *out_dir) {
    char *src = dfrt_path_join(df11_dir, "config.json"), *dst = dfrt_path_join(out_dir, "config.json");
    char *text = NULL, *edited = NULL;
    size_t len, edited_len;
    dfrt_status s = (src && dst) ? dfrt_read_file(src, DFRT_MAX_CONFIG_BYTES, &text, &len) : DFRT_OUT_OF_MEMORY;
    if (s == DFRT_OK) s = dfrt_json_remove_key(text, len, "dfloat11_config", src, &edited, &edited_len);
    if (s == DFRT_OK) s = dfrt_write_file_atomic_mode(dst, edited, edited_len, dfrt_source_mode(src));
    free(src);
    free(dst);
    free(text);
    free(edited);
    return s;
}

dfrt_status dfrt_decompress_dir(const char *df11_dir, const char *out_dir, const dfrt_decompress_options *options) {
    dfrt_decompress_options defaults = {0};
    const dfrt_decompress_options *o = options ? options : &defaults;
    if (!df11_dir || !out_dir) return dfrt_fail(DFRT_INVALID_ARGUMENT, "decompress: input or output directory is NULL");
    DFRT_TRY(dfrt_check_output_dir(df11_dir, out_dir)); /* before anything is read */
    dfrt_checkpoint *cp = NULL;
    dfrt_staging staging = {0};
    shard *shards = NULL;
    size_t n_shards = 0;
    dfrt_progress *progress = NULL;
    dfrt_status s = dfrt_checkpoint_open(df11_dir, &cp);
    if (s != DFRT_OK) goto done;
    if (!cp->config->is_df11) {
        s = dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: not a DF11 model (config.json has no dfloat11_config)", df11_dir);
        goto done;
    }
    if ((s = dfrt_weight_set_check(cp, DFRT_WEIGHTS_CONVERT)) != DFRT_OK) goto done; /* no weight missing */
    size_t n_files = dfrt_tensor_set_file_count(cp->tensors);
    if (!(shards = dfrt_calloc(n_files, sizeof *shards, "shards"))) {
        s = DFRT_OUT_OF_MEMORY;
        goto done;
    }
    for (size_t f = 0; f < n_files; f++) {
        const dfrt_st_file *file = dfrt_tensor_set_file(cp->tensors, f);
        bool has_output = false;
        for (size_t i = 0; i < dfrt_st_file_count(file) && !has_output; i++)
            has_output = !dfrt_checkpoint_is_unit_tensor(cp, dfrt_st_file_tensor(file, i)->name);
        for (size_t u = 0; u < cp->n_units && !has_output; u++)
            has_output = strcmp(cp->units[u].file, dfrt_st_file_path(file)) == 0;
        if (has_output) shards[n_shards++].file = file;
    }
    for (size_t i = 0; i < n_shards; i++) {
        shards[i].name = n_shards == 1 ? dfrt_strdup("model.safetensors")
                                       : dfrt_asprintf("model-%05zu-of-%05zu.safetensors", i + 1, n_shards);
        if (!shards[i].name) {
            s = DFRT_OUT_OF_MEMORY;
            goto done;
        }
    }
    uint64_t total = 0;
    for (size_t u = 0; u < cp->n_units; u++) total += cp->units[u].unit.n;
    if ((s = dfrt_staging_begin(out_dir, &staging)) != DFRT_OK) goto done;
    progress = dfrt_progress_create(o->progress, o->progress_user, total);
    for (size_t i = 0; i < n_shards && s == DFRT_OK; i++) {
        char *path = dfrt_path_join(staging.tmp_path, shards[i].name);
        s = path ? write_shard(cp, &shards[i], path, o->n_threads, progress, o->cancel) : DFRT_OUT_OF_MEMORY;
        free(path);
    }
    if (s == DFRT_OK && n_shards > 1) s = write_index(cp, shards, n_shards, staging.tmp_path);
    if (s == DFRT_OK) s = dfrt_copy_side_files(df11_dir, staging.tmp_path);
    if (s == DFRT_OK) s = write_plain_config(df11_dir, staging.tmp_path);
    if (s == DFRT_OK && dfrt_cancelled(o->cancel)) s = dfrt_fail(DFRT_CANCELLED, "cancelled");
    if (s == DFRT_OK) s = dfrt_staging_commit(&staging);
done:
    if (staging.tmp_path) s = dfrt_staging_abort(&staging, s);
    dfrt_progress_free(progress);
    if (shards)
        for (size_t i = 0; i < n_shards; i++) free(shards[i].name);
    free(shards);
    dfrt_checkpoint_close(cp);
    return s;
}
