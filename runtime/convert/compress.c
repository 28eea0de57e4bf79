/* dfrt_compress_dir: a BF16 Hugging Face directory -> a DF11 directory laid out as the
 * reference compressor lays it out. */
#include "convert/convert_internal.h"
#include "model/model_internal.h"

#include "format/safetensors.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

typedef struct compress_unit {
    char *name; /* module name */
    int n_parts;
    const dfrt_tensor **parts;
    uint64_t n;
} compress_unit;

typedef struct compress_job {
    const dfrt_tensor_set *ts;
    compress_unit *units;
    size_t n_units;
    size_t *order; /* largest first, for load balance */
    int *owner;    /* per tensor: unit whose file holds it, -1 for model.safetensors, -2 for unit weights */
    const char *out_dir;
    dfrt_progress *progress;
    const volatile int *cancel;
    /* In memory (dfrt_compress_memory): fill makes each tensor's BF16 data, and each unit's
     * file goes to files[unit] instead of out_dir. */
    dfrt_fill_fn fill;
    void *fill_ctx;
    dfrt_st_file **files;
} compress_job;

static void free_units(compress_unit *units, size_t n) {
    if (!units) return;
    for (size_t i = 0; i < n; i++) {
        free(units[i].name);
        free(units[i].parts);
    }
    free(units);
}

/* "model.layers.0" -> "model_layers_0.safetensors" */
static char *unit_file_name(const char *unit) {
    char *f = dfrt_asprintf("%s.safetensors", unit);
    if (f)
        for (char *p = f; p < f + strlen(unit); p++)
            if (*p == '.') *p = '_';
    return f;
}

/* The six tensors of an encoded unit, as the reference names and shapes them, their data
 * enc's; their names are malloc'ed (none is left after a failure). */
static dfrt_status unit_tensors(const char *unit, const dfrt_df11_encoded *enc, dfrt_tensor six[6]) {
    dfrt_df11_encoded_tensors(enc, six);
    for (int i = 0; i < 6; i++)
        if (!(six[i].name = dfrt_asprintf("%s.%s", unit, six[i].name))) {
            for (int k = 0; k < i; k++) free((char *)six[k].name);
            return DFRT_OUT_OF_MEMORY;
        }
    return DFRT_OK;
}

/* What a file made in memory holds: a block of BF16 tensors made by fill, and an encoded unit. */
typedef struct memory_block {
    void *data;
    size_t size;
    dfrt_df11_encoded *enc;
} memory_block;

static void memory_block_release(void *ctx) {
    memory_block *b = ctx;
    if (!b) return;
    dfrt_free_large(b->data, b->size);
    if (b->enc) dfrt_df11_encoded_free(b->enc);
    free(b->enc);
    free(b);
}

/* In memory: the file `name` of the n_extra tensors given (their data enc's, which it takes
 * over) and the set's tensors that `owner` names (their data made by fill). */
static dfrt_status memory_file(compress_job *job, const char *name, int owner, const dfrt_tensor *extra, int n_extra,
                               dfrt_df11_encoded *enc, dfrt_st_file **out) {
    size_t count = dfrt_tensor_set_count(job->ts), n = (size_t)n_extra;
    memory_block *b = dfrt_calloc(1, sizeof *b, "a file in memory");
    dfrt_tensor *list = dfrt_calloc(count + (size_t)n_extra + 1, sizeof *list, "tensors");
    if (!b || !list) {
        free(b);
        free(list);
        if (enc) dfrt_df11_encoded_free(enc);
        free(enc);
        return DFRT_OUT_OF_MEMORY;
    }
    b->enc = enc;
    if (n_extra) memcpy(list, extra, (size_t)n_extra * sizeof *list);
    for (size_t t = 0; t < count; t++)
        if (job->owner[t] == owner) {
            list[n] = *dfrt_tensor_set_get(job->ts, t);
            b->size += list[n++].n_bytes;
        }
    dfrt_status s = DFRT_OK;
    if (b->size && !(b->data = dfrt_alloc_large(b->size, name))) s = DFRT_OUT_OF_MEMORY;
    uint8_t *at = b->data;
    for (size_t i = (size_t)n_extra; i < n && s == DFRT_OK; i++) {
        s = job->fill(job->fill_ctx, &list[i], at);
        list[i].data = at;
        at += list[i].n_bytes;
    }
    if (s == DFRT_OK) s = dfrt_st_file_from_tensors(name, list, n, memory_block_release, b, out);
    else memory_block_release(b);
    free(list);
    return s;
}

static dfrt_status write_unit(compress_job *job, size_t ui) {
    const compress_unit *cu = &job->units[ui];
    const void *data[64];
    uint64_t counts[64];
    const char *names[64];
    uint16_t *made = NULL; /* in memory: the parts, made by fill */
    if (job->fill && !(made = dfrt_alloc_large(2 * cu->n, cu->name))) return DFRT_OUT_OF_MEMORY;
    dfrt_status s = DFRT_OK;
    uint64_t at = 0;
    for (int p = 0; p < cu->n_parts; p++) {
        data[p] = cu->parts[p]->data;
        counts[p] = cu->parts[p]->n_elements;
        names[p] = cu->parts[p]->name;
        if (made && s == DFRT_OK) {
            data[p] = made + at;
            at += counts[p];
            s = job->fill(job->fill_ctx, cu->parts[p], (void *)data[p]);
            dfrt_progress_add(job->progress, counts[p]);
        }
    }
    dfrt_df11_encoded *enc = dfrt_calloc(1, sizeof *enc, "an encoded unit");
    if (s == DFRT_OK && !enc) s = DFRT_OUT_OF_MEMORY;
    if (s == DFRT_OK) s = df11_encode(cu->name, cu->n_parts, data, counts, names, job->cancel, job->progress, enc);
    dfrt_free_large(made, made ? 2 * cu->n : 0); /* before the file is made: the weights are encoded */
    if (s != DFRT_OK) {
        free(enc);
        return s;
    }
    dfrt_tensor six[6];
    char *file = NULL;
    if ((s = unit_tensors(cu->name, enc, six)) != DFRT_OK || !(file = unit_file_name(cu->name))) {
        if (s == DFRT_OK) {
            s = DFRT_OUT_OF_MEMORY;
            for (int f = 0; f < 6; f++) free((char *)six[f].name);
        }
        dfrt_df11_encoded_free(enc);
        free(enc);
        return s;
    }
    if (job->files) {
        s = memory_file(job, file, (int)ui, six, 6, enc, &job->files[ui]);
        enc = NULL; /* the file's, or freed */
    } else {
        char *path = dfrt_path_join(job->out_dir, file);
        dfrt_st_writer *w = NULL;
        s = path ? dfrt_st_writer_create(path, &w) : DFRT_OUT_OF_MEMORY;
        for (int f = 0; f < 6 && s == DFRT_OK; f++)
            s = dfrt_st_writer_add(w, six[f].name, six[f].dtype, six[f].n_dims, six[f].shape, six[f].data);
        size_t count = dfrt_tensor_set_count(job->ts);
        for (size_t t = 0; t < count && s == DFRT_OK; t++)
            if (job->owner[t] == (int)ui) {
                const dfrt_tensor *x = dfrt_tensor_set_get(job->ts, t);
                s = dfrt_st_writer_add(w, x->name, x->dtype, x->n_dims, x->shape, x->data);
            }
        if (s == DFRT_OK && dfrt_cancelled(job->cancel)) s = dfrt_fail(DFRT_CANCELLED, "cancelled");
        if (s == DFRT_OK) {
            s = dfrt_st_writer_finish(w);
            w = NULL;
        }
        dfrt_st_writer_abort(w);
        free(path);
    }
    for (int f = 0; f < 6; f++) free((char *)six[f].name);
    free(file);
    if (enc) dfrt_df11_encoded_free(enc);
    free(enc);
    return s;
}

static dfrt_status compress_task(void *ctx, size_t index) {
    compress_job *job = ctx;
    if (dfrt_cancelled(job->cancel)) return dfrt_fail(DFRT_CANCELLED, "cancelled");
    return write_unit(job, job->order[index]);
}

/* Every dotted prefix of every tensor name ("model", "model.layers", "model.layers.0", ...). */
static dfrt_status module_names(const dfrt_tensor_set *ts, char ***out, size_t *out_n) {
    size_t count = dfrt_tensor_set_count(ts), n = 0, cap = 0;
    char **names = NULL;
    for (size_t i = 0; i < count; i++) {
        const char *tn = dfrt_tensor_set_get(ts, i)->name;
        for (const char *dot = strchr(tn, '.'); dot; dot = strchr(dot + 1, '.')) {
            if (n == cap) {
                cap = cap ? 2 * cap : 256;
                char **grown = realloc(names, cap * sizeof *names);
                if (!grown) {
                    dfrt_free_strings(names, n);
                    return dfrt_fail(DFRT_OUT_OF_MEMORY, "out of memory listing modules");
                }
                names = grown;
            }
            if (!(names[n] = dfrt_strndup(tn, (size_t)(dot - tn)))) {
                dfrt_free_strings(names, n);
                return DFRT_OUT_OF_MEMORY;
            }
            n++;
        }
    }
    *out = names;
    *out_n = dfrt_sort_unique_strings(names, n);
    return DFRT_OK;
}

/* The unit (of units, sorted by name) whose name followed by '.' begins name[0, len), or
 * SIZE_MAX. */
static size_t find_unit_prefix(const compress_unit *units, size_t n_units, const char *name, size_t len) {
    for (size_t k = 0; k < len; k++) {
        if (name[k] != '.') continue;
        size_t lo = 0, hi = n_units;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            int c = strncmp(units[mid].name, name, k);
            if (c == 0 && units[mid].name[k] != '\0') c = 1;
            if (c == 0) return mid;
            if (c < 0) lo = mid + 1;
            else hi = mid;
        }
    }
    return SIZE_MAX;
}

/* The index of t in the tensor set (sorted by name). */
static size_t tensor_index(const dfrt_tensor_set *ts, const dfrt_tensor *t) {
    size_t lo = 0, hi = dfrt_tensor_set_count(ts);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(dfrt_tensor_set_get(ts, mid)->name, t->name);
        if (c == 0) return mid;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return SIZE_MAX;
}

static int compare_file_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Each unit gets a file of its own: a name that cannot leave the output directory, is not the
 * file of the uncompressed tensors, and is no other unit's ("model.layers_0" and
 * "model_layers.0" would both be model_layers_0.safetensors). */
static dfrt_status check_unit_files(const compress_unit *units, size_t n) {
    char **files = dfrt_calloc(n ? n : 1, sizeof *files, "unit file names");
    if (!files) return DFRT_OUT_OF_MEMORY;
    dfrt_status s = DFRT_OK;
    size_t made = 0;
    for (; made < n && s == DFRT_OK; made++) {
        if (strchr(units[made].name, '/'))
            s = dfrt_fail(DFRT_INVALID_ARGUMENT, "pattern_dict: unit %s: a name with '/' cannot be a file name",
                          units[made].name);
        else if (!(files[made] = unit_file_name(units[made].name)))
            s = DFRT_OUT_OF_MEMORY;
        else if (strcmp(files[made], "model.safetensors") == 0)
            s = dfrt_fail(DFRT_INVALID_ARGUMENT,
                          "pattern_dict: unit %s would be written to model.safetensors, the file of the uncompressed "
                          "tensors",
                          units[made].name);
    }
    if (s == DFRT_OK) {
        qsort(files, n, sizeof *files, compare_file_names);
        for (size_t i = 1; i < n && s == DFRT_OK; i++)
            if (strcmp(files[i - 1], files[i]) == 0)
                s = dfrt_fail(DFRT_INVALID_ARGUMENT, "pattern_dict: two units would both be written to %s", files[i]);
    }
    dfrt_free_strings(files, made);
    return s;
}

/* Finds the units: modules that match a pattern, with their weights. */
static dfrt_status find_units(const char *dir, const dfrt_tensor_set *ts, int n_patterns,
                              const dfrt_df11_pattern *patterns, compress_unit **out_units, size_t *out_n) {
    *out_units = NULL;
    *out_n = 0;
    dfrt_matcher *m;
    DFRT_TRY(dfrt_matcher_create(n_patterns, patterns, "pattern_dict", &m));
    char **mods = NULL;
    size_t n_mods = 0, n_units = 0;
    compress_unit *units = NULL;
    int *pattern_hits = dfrt_calloc((size_t)n_patterns, sizeof *pattern_hits, "pattern hits");
    dfrt_status s = pattern_hits ? module_names(ts, &mods, &n_mods) : DFRT_OUT_OF_MEMORY;
    if (s == DFRT_OK && !(units = dfrt_calloc(n_mods, sizeof *units, "units"))) s = DFRT_OUT_OF_MEMORY;
    for (size_t i = 0; i < n_mods && s == DFRT_OK; i++) {
        int pi;
        if ((s = dfrt_matcher_match(m, mods[i], &pi)) != DFRT_OK || pi < 0) continue;
        const dfrt_df11_pattern *pat = &patterns[pi];
        pattern_hits[pi]++;
        compress_unit *cu = &units[n_units++];
        cu->name = mods[i];
        mods[i] = NULL;
        cu->n_parts = pat->n_attrs ? pat->n_attrs : 1;
        if (cu->n_parts > 64) {
            s = dfrt_fail(DFRT_UNSUPPORTED, "pattern_dict[\"%s\"]: %d attributes, at most 64", pat->regex, cu->n_parts);
            break;
        }
        if (!(cu->parts = dfrt_calloc((size_t)cu->n_parts, sizeof *cu->parts, "unit parts"))) {
            s = DFRT_OUT_OF_MEMORY;
            break;
        }
        for (int p = 0; p < cu->n_parts && s == DFRT_OK; p++) {
            char *wn = pat->n_attrs ? dfrt_asprintf("%s.%s.weight", cu->name, pat->attrs[p])
                                    : dfrt_asprintf("%s.weight", cu->name);
            if (!wn) {
                s = DFRT_OUT_OF_MEMORY;
                break;
            }
            const dfrt_tensor *t = dfrt_tensor_set_find(ts, wn);
            if (!t)
                s = dfrt_fail(DFRT_FORMAT_ERROR, "%s: module %s matches pattern \"%s\", but has no tensor %s", dir,
                              cu->name, pat->regex, wn);
            else if (t->dtype != DFRT_DTYPE_BF16)
                s = dfrt_fail(DFRT_UNSUPPORTED, "%s: tensor %s is %s; DF11 compresses BF16 weights only",
                              dfrt_basename(t->file), wn, dfrt_dtype_name(t->dtype));
            else if (t->n_elements == 0)
                s = dfrt_fail(DFRT_FORMAT_ERROR, "%s: tensor %s is empty", dfrt_basename(t->file), wn);
            else {
                cu->parts[p] = t;
                cu->n += t->n_elements;
            }
            free(wn);
        }
        if (s == DFRT_OK && cu->n > UINT32_MAX)
            s = dfrt_fail(DFRT_UNSUPPORTED, "%s: unit %s has %llu weights; DF11 allows at most %u per unit", dir,
                          cu->name, (unsigned long long)cu->n, UINT32_MAX);
    }
    for (int i = 0; i < n_patterns && s == DFRT_OK; i++)
        if (!pattern_hits[i])
            s = dfrt_fail(DFRT_INVALID_ARGUMENT, "pattern_dict: pattern \"%s\" matches no module of %s",
                          patterns[i].regex, dir);
    /* Nested units would claim the same tensors. The units come in name order (from the sorted
     * module names), so each unit's dotted prefixes are looked up by binary search. */
    for (size_t j = 0; j < n_units && s == DFRT_OK; j++) {
        size_t outer = find_unit_prefix(units, n_units, units[j].name, strlen(units[j].name));
        if (outer != SIZE_MAX)
            s = dfrt_fail(DFRT_INVALID_ARGUMENT, "pattern_dict: units %s and %s are nested", units[outer].name,
                          units[j].name);
    }
    if (s == DFRT_OK) s = check_unit_files(units, n_units);
    dfrt_free_strings(mods, n_mods);
    free(pattern_hits);
    dfrt_matcher_free(m);
    if (s != DFRT_OK) {
        free_units(units, n_units);
        return s;
    }
    *out_units = units;
    *out_n = n_units;
    return DFRT_OK;
}

/* The dfloat11_config block as the reference writes it (keys sorted, indent 2, nested one level). */
static char *df11_config_json(int n_patterns, const dfrt_df11_pattern *patterns) {
    dfrt_buf b = {0};
    dfrt_buf_puts(&b, "{\n    \"bytes_per_thread\": 8,\n    \"pattern_dict\": {");
    for (int i = 0; i < n_patterns; i++) {
        dfrt_buf_puts(&b, i ? ",\n      " : "\n      ");
        dfrt_buf_json_string(&b, patterns[i].regex);
        dfrt_buf_puts(&b, ": [");
        for (int j = 0; j < patterns[i].n_attrs; j++) {
            dfrt_buf_puts(&b, j ? ",\n        " : "\n        ");
            dfrt_buf_json_string(&b, patterns[i].attrs[j]);
        }
        dfrt_buf_puts(&b, patterns[i].n_attrs ? "\n      ]" : "]");
    }
    dfrt_buf_puts(&b, "\n    },\n    \"threads_per_block\": [\n      512\n    ],\n    \"version\": \"0.5.0\"\n  }");
    if (b.failed) {
        free(b.p);
        dfrt_fail(DFRT_OUT_OF_MEMORY, "out of memory building dfloat11_config");
        return NULL;
    }
    return b.p;
}

/* path lies inside dir (both resolved). */
static bool path_under(const char *path, const char *dir) {
    size_t n = strlen(dir);
    return strncmp(path, dir, n) == 0 && (path[n] == '/' || (n == 1 && dir[0] == '/'));
}

/* The Hugging Face cache keeps a snapshot's files as links into the repository's blobs:
 * REPO/snapshots/REV/FILE -> ../../blobs/HASH. For a snapshot directory, REPO/blobs resolved;
 * else NULL. */
static char *hf_blobs_dir(const char *root_real) {
    char *parent = dfrt_strndup(root_real, (size_t)(dfrt_basename(root_real) - root_real));
    if (!parent) return NULL;
    size_t n = strlen(parent);
    while (n > 1 && parent[n - 1] == '/') parent[--n] = '\0';
    char *blobs = NULL;
    if (strcmp(dfrt_basename(parent), "snapshots") == 0) {
        char *joined = dfrt_path_join(parent, "../blobs");
        blobs = joined ? realpath(joined, NULL) : NULL;
        free(joined);
    }
    free(parent);
    return blobs;
}

/* Copies the directory's other files (tokenizer, generation config, ...). A symbolic link is
 * copied only when it leads to a regular file inside the directory (or, for a snapshot of the
 * Hugging Face cache, to one of the repository's blobs); any other link, and anything that is
 * not a regular file, is skipped with a warning. Copies keep their source's permission bits. */
dfrt_status dfrt_copy_side_files(const char *src_dir, const char *dst_dir) {
    dfrt_dir_entry *entries;
    size_t n;
    DFRT_TRY(dfrt_list_dir_entries(src_dir, &entries, &n));
    char *root_real = realpath(src_dir, NULL);
    char *blobs_real = root_real ? hf_blobs_dir(root_real) : NULL;
    dfrt_status s = root_real ? DFRT_OK : dfrt_fail(DFRT_IO_ERROR, "%s: cannot resolve: %s", src_dir, strerror(errno));
    for (size_t i = 0; i < n && s == DFRT_OK; i++) {
        const dfrt_dir_entry *e = &entries[i];
        const char *f = e->name;
        if (dfrt_str_ends_with(f, ".safetensors") || strcmp(f, "model.safetensors.index.json") == 0 ||
            strcmp(f, "config.json") == 0 || strstr(f, ".dfrt-tmp-"))
            continue;
        char *src = dfrt_path_join(src_dir, f), *dst = dfrt_path_join(dst_dir, f), *target = NULL;
        if (!src || !dst) s = DFRT_OUT_OF_MEMORY;
        else if (S_ISLNK(e->lmode)) {
            target = realpath(src, NULL);
            if (target && S_ISREG(e->mode) &&
                (path_under(target, root_real) || (blobs_real && path_under(target, blobs_real))))
                s = dfrt_copy_file(target, dst, true);
            else if (!target || !e->mode)
                dfrt_warn("%s: a symbolic link that leads nowhere, not copied", src);
            else if (!S_ISREG(e->mode))
                dfrt_warn("%s: a symbolic link to %s, not copied", src, dfrt_file_kind(e->mode));
            else
                dfrt_warn("%s: a symbolic link to a file outside %s, not copied", src, src_dir);
        } else if (S_ISREG(e->lmode)) {
            s = dfrt_copy_file(src, dst, true);
        } else if (!(S_ISDIR(e->lmode) && f[0] == '.')) { /* hidden directories (.git, .cache) are tools' own */
            dfrt_warn("%s: %s, not copied", src, dfrt_file_kind(e->lmode));
        }
        free(target);
        free(src);
        free(dst);
    }
    free(root_real);
    free(blobs_real);
    dfrt_free_dir_entries(entries, n);
    return s;
}

static dfrt_status write_config(const char *bf16_dir, const char *out_dir, int n_patterns,
                                const dfrt_df11_pattern *patterns) {
    char *src = dfrt_path_join(bf16_dir, "config.json"), *dst = dfrt_path_join(out_dir, "config.json");
    char *text = NULL, *edited = NULL, *block = df11_config_json(n_patterns, patterns);
    size_t len, edited_len;
    dfrt_status s = (src && dst && block) ? DFRT_OK : DFRT_OUT_OF_MEMORY;
    if (s == DFRT_OK) s = dfrt_read_file(src, DFRT_MAX_CONFIG_BYTES, &text, &len);
    if (s == DFRT_OK) s = dfrt_json_add_key(text, len, "dfloat11_config", block, src, &edited, &edited_len);
    if (s == DFRT_OK) s = dfrt_write_file_atomic_mode(dst, edited, edited_len, dfrt_source_mode(src));
    free(src);
    free(dst);
    free(text);
    free(edited);
    free(block);
    return s;
}

static int compare_size_desc(const void *a, const void *b, void *ctx) {
    const compress_unit *u = ctx;
    uint64_t x = u[*(const size_t *)a].n, y = u[*(const size_t *)b].n;
    return x > y ? -1 : x < y;
}

/* The units of ts (find_units), which file holds each other tensor, and the order to encode
 * the units in. */
static dfrt_status plan_job(const char *dir, const dfrt_tensor_set *ts, int n_patterns,
                            const dfrt_df11_pattern *patterns, compress_job *job, bool *any_rest) {
    DFRT_TRY(find_units(dir, ts, n_patterns, patterns, &job->units, &job->n_units));
    size_t count = dfrt_tensor_set_count(ts), n_units = job->n_units;
    compress_unit *units = job->units;
    job->ts = ts;
    job->owner = dfrt_calloc(count, sizeof *job->owner, "tensor owners");
    job->order = dfrt_calloc(n_units ? n_units : 1, sizeof *job->order, "unit order");
    if (!job->owner || !job->order) return DFRT_OUT_OF_MEMORY;
    *any_rest = false;
    for (size_t t = 0; t < count; t++) job->owner[t] = -1;
    for (size_t u = 0; u < n_units; u++)
        for (int p = 0; p < units[u].n_parts; p++) {
            size_t t = tensor_index(ts, units[u].parts[p]);
            if (t != SIZE_MAX) job->owner[t] = -2;
        }
    for (size_t t = 0; t < count; t++) {
        if (job->owner[t] == -2) continue;
        const char *name = dfrt_tensor_set_get(ts, t)->name;
        size_t u = find_unit_prefix(units, n_units, name, strlen(name));
        if (u != SIZE_MAX) job->owner[t] = (int)u;
        else *any_rest = true;
    }
    for (size_t u = 0; u < n_units; u++) job->order[u] = u;
    qsort_r(job->order, n_units, sizeof *job->order, compare_size_desc, units);
    return DFRT_OK;
}

static uint64_t job_weights(const compress_job *job) {
    uint64_t total = 0;
    for (size_t u = 0; u < job->n_units; u++) total += job->units[u].n;
    return total;
}

static void job_free(compress_job *job) {
    dfrt_progress_free(job->progress);
    free(job->owner);
    free(job->order);
    free_units(job->units, job->n_units);
}

dfrt_status dfrt_compress_dir(const char *bf16_dir, const char *out_dir, const dfrt_compress_options *options) {
    dfrt_compress_options defaults = {0};
    const dfrt_compress_options *o = options ? options : &defaults;
    if (!bf16_dir || !out_dir) return dfrt_fail(DFRT_INVALID_ARGUMENT, "compress: input or output directory is NULL");
    /* What needs no model is checked before anything is read. */
    DFRT_TRY(dfrt_check_output_dir(bf16_dir, out_dir));
    dfrt_checkpoint *cp = NULL;
    dfrt_df11_pattern *patterns = NULL;
    int n_patterns = 0;
    compress_job job = {.cancel = o->cancel};
    dfrt_staging staging = {0};
    dfrt_status s = DFRT_OK;
    bool any_rest = false;
    if (o->pattern_dict_json &&
        (s = dfrt_pattern_dict_parse(o->pattern_dict_json, "--pattern-dict", &n_patterns, &patterns)) != DFRT_OK)
        goto done;
    if ((s = dfrt_checkpoint_open(bf16_dir, &cp)) != DFRT_OK) goto done;
    if (cp->config->is_df11) {
        s = dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: already a DF11 model (config.json has dfloat11_config)", bf16_dir);
        goto done;
    }
    if (!o->pattern_dict_json && (s = dfrt_default_patterns(cp->config, &n_patterns, &patterns)) != DFRT_OK)
        goto done;
    if ((s = plan_job(bf16_dir, cp->tensors, n_patterns, patterns, &job, &any_rest)) != DFRT_OK) goto done;
    size_t count = dfrt_tensor_set_count(cp->tensors);

    if ((s = dfrt_staging_begin(out_dir, &staging)) != DFRT_OK) goto done;
    job.out_dir = staging.tmp_path;
    job.progress = dfrt_progress_create(o->progress, o->progress_user, job_weights(&job));
    if ((s = dfrt_parallel_for(job.n_units, o->n_threads, compress_task, &job)) != DFRT_OK) goto done;

    if (any_rest) { /* everything else, BF16 as it was, in model.safetensors */
        char *path = dfrt_path_join(staging.tmp_path, "model.safetensors");
        dfrt_st_writer *w = NULL;
        s = path ? dfrt_st_writer_create(path, &w) : DFRT_OUT_OF_MEMORY;
        free(path);
        if (s == DFRT_OK) s = dfrt_st_writer_set_metadata(w, "format", "pt");
        for (size_t t = 0; t < count && s == DFRT_OK; t++)
            if (job.owner[t] == -1) {
                const dfrt_tensor *x = dfrt_tensor_set_get(cp->tensors, t);
                s = dfrt_st_writer_add(w, x->name, x->dtype, x->n_dims, x->shape, x->data);
            }
        if (s == DFRT_OK) {
            s = dfrt_st_writer_finish(w);
            w = NULL;
        }
        dfrt_st_writer_abort(w);
        if (s != DFRT_OK) goto done;
    }
    if ((s = dfrt_copy_side_files(bf16_dir, staging.tmp_path)) != DFRT_OK) goto done;
    if ((s = write_config(bf16_dir, staging.tmp_path, n_patterns, patterns)) != DFRT_OK) goto done;
    if (dfrt_cancelled(o->cancel)) {
        s = dfrt_fail(DFRT_CANCELLED, "cancelled");
        goto done;
    }
    s = dfrt_staging_commit(&staging);
    if (s == DFRT_OK) dfrt_model_check_warn(out_dir); /* a pattern_dict or config dfrt run refuses */
done:
    if (staging.tmp_path) s = dfrt_staging_abort(&staging, s);
    job_free(&job);
    dfrt_patterns_free(n_patterns, patterns);
    dfrt_checkpoint_close(cp);
    return s;
}

dfrt_status dfrt_compress_memory(const char *name, const dfrt_tensor_set *ts, const char *config_json, size_t config_len,
                                 dfrt_fill_fn fill, void *fill_ctx, const dfrt_compress_options *o,
                                 dfrt_checkpoint **out) {
    *out = NULL;
    dfrt_config *config = NULL;
    dfrt_df11_pattern *patterns = NULL;
    int n_patterns = 0;
    compress_job job = {.cancel = o->cancel, .fill = fill, .fill_ctx = fill_ctx};
    dfrt_st_file **files = NULL;
    char *block = NULL, *edited = NULL, *source = dfrt_asprintf("%s: config.json", name);
    size_t edited_len = 0, n_files = 0;
    bool any_rest = false;
    dfrt_status s = source ? dfrt_config_parse(config_json, config_len, source, &config) : DFRT_OUT_OF_MEMORY;
    if (s == DFRT_OK) s = dfrt_default_patterns(config, &n_patterns, &patterns);
    if (s == DFRT_OK) s = plan_job(name, ts, n_patterns, patterns, &job, &any_rest);
    if (s == DFRT_OK && !(files = dfrt_calloc(job.n_units + 1, sizeof *files, "files"))) s = DFRT_OUT_OF_MEMORY;
    if (s == DFRT_OK) {
        job.files = files;
        job.progress = dfrt_progress_create(o->progress, o->progress_user, 2 * job_weights(&job));
        s = dfrt_parallel_for(job.n_units, o->n_threads, compress_task, &job);
    }
    n_files = job.n_units;
    if (s == DFRT_OK && any_rest) s = memory_file(&job, "model.safetensors", -1, NULL, 0, NULL, &files[n_files++]);
    if (s == DFRT_OK && !(block = df11_config_json(n_patterns, patterns))) s = DFRT_OUT_OF_MEMORY;
    if (s == DFRT_OK)
        s = dfrt_json_add_key(config_json, config_len, "dfloat11_config", block, source, &edited, &edited_len);
    if (s == DFRT_OK && dfrt_cancelled(o->cancel)) s = dfrt_fail(DFRT_CANCELLED, "cancelled");
    dfrt_tensor_set *set = NULL;
    if (s == DFRT_OK) {
        s = dfrt_tensor_set_from_files(name, files, n_files, &set);
        n_files = 0; /* the set's now, or closed */
    }
    if (s == DFRT_OK) s = dfrt_checkpoint_from_memory(name, edited, edited_len, set, out);
    for (size_t i = 0; files && i < n_files; i++) dfrt_st_file_close(files[i]);
    free(files);
    job_free(&job);
    dfrt_patterns_free(n_patterns, patterns);
    dfrt_config_free(config);
    DFRT_FREE_ALL(block, edited, source);
    return s;
}
