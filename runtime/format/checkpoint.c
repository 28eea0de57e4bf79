/* Checkpoints: config.json + safetensors + DF11 units of a Hugging Face model directory. */
#include "format/checkpoint_internal.h"

#include <errno.h>
#include <sys/stat.h>

static const char *const unit_fields[6] = {"luts", "encoded_exponent", "sign_mantissa",
                                           "output_positions", "gaps", "split_positions"};

/* Compares names so that numbered components sort numerically ("layers.2" < "layers.10"). */
int dfrt_natural_compare(const char *a, const char *b) {
    while (*a && *b) {
        if (*a >= '0' && *a <= '9' && *b >= '0' && *b <= '9') {
            const char *a0 = a, *b0 = b;
            while (*a0 == '0' && a0[1] >= '0' && a0[1] <= '9') a0++;
            while (*b0 == '0' && b0[1] >= '0' && b0[1] <= '9') b0++;
            const char *a1 = a0, *b1 = b0;
            while (*a1 >= '0' && *a1 <= '9') a1++;
            while (*b1 >= '0' && *b1 <= '9') b1++;
            if (a1 - a0 != b1 - b0) return (a1 - a0) < (b1 - b0) ? -1 : 1;
            int c = strncmp(a0, b0, (size_t)(a1 - a0));
            if (c) return c;
            a = a1;
            b = b1;
            continue;
        }
        if (*a != *b) return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
        a++;
        b++;
    }
    return *a ? 1 : (*b ? -1 : 0);
}

/* The shape an architecture gives a unit weight, or false if unknown. */
bool dfrt_weight_shape(const dfrt_config *c, const char *name, int64_t shape[2]) {
    if (!dfrt_architecture_known(c->architecture)) return false;
    int64_t h = c->hidden_size, v = c->vocab_size;
    if ((dfrt_str_ends_with(name, "lm_head.weight") || dfrt_str_ends_with(name, "embed_tokens.weight")) && v > 0 && h > 0) {
        shape[0] = v;
        shape[1] = h;
        return true;
    }
    const dfrt_layer_layout *lay = dfrt_layer_layout_of(c->architecture);
    char suffix[64];
    for (int i = 0; i < lay->n; i++) {
        snprintf(suffix, sizeof suffix, "%s.weight", lay->names[i]);
        int64_t s[2];
        dfrt_proj_shape(c, lay->roles[i], s);
        if (dfrt_str_ends_with(name, suffix) && s[0] > 0 && s[1] > 0) {
            shape[0] = s[0];
            shape[1] = s[1];
            return true;
        }
    }
    return false;
}

static int compare_units(const void *a, const void *b) {
    return dfrt_natural_compare(((const checkpoint_unit *)a)->unit.name, ((const checkpoint_unit *)b)->unit.name);
}

static int compare_strings_natural(const void *a, const void *b) {
    return dfrt_natural_compare(*(char *const *)a, *(char *const *)b);
}

static bool has_suffix_field(const char *name, size_t *prefix_len, int *field) {
    for (int f = 0; f < 6; f++) {
        size_t n = strlen(name), m = strlen(unit_fields[f]);
        if (n > m + 1 && name[n - m - 1] == '.' && strcmp(name + n - m, unit_fields[f]) == 0) {
            *prefix_len = n - m - 1;
            *field = f;
            return true;
        }
    }
    return false;
}

/* Refuses the pre-May-2025 format (pickled layers and a PTX file). */
static dfrt_status refuse_pickles(const char *dir) {
    char **names;
    size_t n;
    DFRT_TRY(dfrt_list_dir(dir, &names, &n));
    const char *pickle = NULL;
    bool any_safetensors = false;
    for (size_t i = 0; i < n; i++) {
        if (dfrt_str_ends_with(names[i], ".pkl") && !pickle) pickle = names[i];
        if (dfrt_str_ends_with(names[i], ".safetensors")) any_safetensors = true;
    }
    dfrt_status s = DFRT_OK;
    if (pickle && !any_safetensors)
        s = dfrt_fail(DFRT_UNSUPPORTED,
                      "%s: holds %s, a DFloat11 model in the old pickle format (0.1.0, before May 2025); dfrt reads "
                      "format 0.2.0 and later: compress the BF16 original again with dfrt compress",
                      dir, pickle);
    dfrt_free_strings(names, n);
    return s;
}

/* Collects the distinct unit prefixes: names that carry at least one of the six fields.
 * Sorted and deduplicated, so that a shard of many unit-like names costs n log n. */
static dfrt_status collect_unit_names(const dfrt_tensor_set *ts, char ***out, size_t *out_n) {
    size_t count = dfrt_tensor_set_count(ts), n = 0;
    char **names = dfrt_calloc(count ? count : 1, sizeof *names, "unit names");
    if (!names) return DFRT_OUT_OF_MEMORY;
    for (size_t i = 0; i < count; i++) {
        size_t plen;
        int field;
        const char *tn = dfrt_tensor_set_get(ts, i)->name;
        if (!has_suffix_field(tn, &plen, &field)) continue;
        if (!(names[n] = dfrt_strndup(tn, plen))) {
            dfrt_free_strings(names, n);
            return DFRT_OUT_OF_MEMORY;
        }
        n++;
    }
    size_t kept = dfrt_sort_unique_strings(names, n);
    qsort(names, kept, sizeof *names, compare_strings_natural);
    *out = names;
    *out_n = kept;
    return DFRT_OK;
}

static dfrt_status init_unit(dfrt_checkpoint *cp, const dfrt_matcher *matcher, const char *name, checkpoint_unit *cu) {
    const dfrt_tensor *six[6];
    for (int f = 0; f < 6; f++) {
        char *tn = dfrt_asprintf("%s.%s", name, unit_fields[f]);
        if (!tn) return DFRT_OUT_OF_MEMORY;
        six[f] = dfrt_tensor_set_find(cp->tensors, tn);
        free(tn);
    }
    for (int f = 0; f < 6; f++)
        if (!six[f])
            return dfrt_fail(DFRT_FORMAT_ERROR, "%s: DF11 unit %s: tensor %s.%s is missing", cp->dir, name, name,
                             unit_fields[f]);
    int pi;
    DFRT_TRY(dfrt_matcher_match(matcher, name, &pi));
    if (pi < 0)
        return dfrt_fail(DFRT_FORMAT_ERROR, "%s: DF11 unit %s matches no pattern of dfloat11_config.pattern_dict",
                         dfrt_basename(six[1]->file), name);
    const dfrt_df11_pattern *pat = &cp->config->patterns[pi];
    int n_parts = pat->n_attrs ? pat->n_attrs : 1;
    char **part_names = dfrt_calloc((size_t)n_parts, sizeof *part_names, "part names");
    if (!part_names) return DFRT_OUT_OF_MEMORY;
    dfrt_status s = DFRT_OK;
    for (int i = 0; i < n_parts && s == DFRT_OK; i++) {
        part_names[i] = pat->n_attrs ? dfrt_asprintf("%s.%s.weight", name, pat->attrs[i])
                                     : dfrt_asprintf("%s.weight", name);
        if (!part_names[i]) s = DFRT_OUT_OF_MEMORY;
    }
    dfrt_df11_tensors ts = {six[0], six[1], six[2], six[3], six[4], six[5]};
    if (s == DFRT_OK) s = dfrt_df11_unit_init(name, &ts, n_parts, (const char *const *)part_names, &cu->unit);
    dfrt_free_strings(part_names, (size_t)n_parts);
    if (s != DFRT_OK) return s;
    cu->file = six[1]->file;
    for (int f = 0; f < 6; f++) cu->compressed_bytes += six[f]->n_bytes;
    /* Shapes from the architecture, when it gives them. */
    for (int i = 0; i < cu->unit.n_parts; i++) {
        dfrt_df11_part *p = &cu->unit.parts[i];
        int64_t shape[2];
        if (!dfrt_weight_shape(cp->config, p->name, shape)) continue;
        uint64_t elements;
        if (dfrt_mul_overflow_u64((uint64_t)shape[0], (uint64_t)shape[1], &elements) || elements != p->count) {
            dfrt_fail(DFRT_FORMAT_ERROR,
                             "%s: DF11 unit %s: weight %s has %llu elements, but config.json makes it [%lld, %lld]",
                      dfrt_basename(cu->file), name, p->name, (unsigned long long)p->count, (long long)shape[0],
                      (long long)shape[1]);
            dfrt_df11_unit_release(&cu->unit);
            return DFRT_FORMAT_ERROR;
        }
        p->n_dims = 2;
        p->shape[0] = shape[0];
        p->shape[1] = shape[1];
    }
    return DFRT_OK;
}

static int compare_names(const void *a, const void *b) {
    return strcmp(((const struct checkpoint_name *)a)->name, ((const struct checkpoint_name *)b)->name);
}

/* The lookup tables of a checkpoint whose units are final. A weight named by two units is
 * refused here, where the table makes it cheap to see. */
static dfrt_status build_indexes(dfrt_checkpoint *cp) {
    cp->units_by_name = dfrt_calloc(cp->n_units ? cp->n_units : 1, sizeof *cp->units_by_name, "unit index");
    if (!cp->units_by_name) return DFRT_OUT_OF_MEMORY;
    size_t n_weights = 0;
    for (size_t i = 0; i < cp->n_units; i++) {
        cp->units_by_name[i] = (struct checkpoint_name){cp->units[i].unit.name, i, -1};
        n_weights += (size_t)cp->units[i].unit.n_parts;
    }
    cp->weights = dfrt_calloc(n_weights ? n_weights : 1, sizeof *cp->weights, "weight index");
    if (!cp->weights) return DFRT_OUT_OF_MEMORY;
    for (size_t i = 0; i < cp->n_units; i++)
        for (int j = 0; j < cp->units[i].unit.n_parts; j++)
            cp->weights[cp->n_weights++] = (struct checkpoint_name){cp->units[i].unit.parts[j].name, i, j};
    qsort(cp->units_by_name, cp->n_units, sizeof *cp->units_by_name, compare_names);
    qsort(cp->weights, cp->n_weights, sizeof *cp->weights, compare_names);
    for (size_t i = 1; i < cp->n_weights; i++)
        if (strcmp(cp->weights[i - 1].name, cp->weights[i].name) == 0)
            return dfrt_fail(DFRT_FORMAT_ERROR, "%s: weight %s is part of two DF11 units, %s and %s", cp->dir,
                             cp->weights[i].name, cp->units[cp->weights[i - 1].unit].unit.name,
                             cp->units[cp->weights[i].unit].unit.name);
    return DFRT_OK;
}

/* The prefix of the text model's weights (dfrt_config.weight_prefix): an image-text model's
 * text model is "language_model.model." (transformers before 4.52) or "model.language_model."
 * (later, and 5.x); whichever some weight or unit starts with, else "model.". */
static dfrt_status set_weight_prefix(dfrt_checkpoint *cp) {
    static const char *const nested[] = {"language_model.model.", "model.language_model."};
    for (int k = 0; k < 2; k++) {
        bool found = false;
        for (size_t i = 0; i < dfrt_tensor_set_count(cp->tensors) && !found; i++)
            found = dfrt_str_starts_with(dfrt_tensor_set_get(cp->tensors, i)->name, nested[k]);
        for (size_t i = 0; i < cp->n_units && !found; i++) found = dfrt_str_starts_with(cp->units[i].unit.name, nested[k]);
        if (!found) continue;
        free(cp->config->weight_prefix);
        cp->config->weight_prefix = dfrt_strdup(nested[k]);
        return cp->config->weight_prefix ? DFRT_OK : DFRT_OUT_OF_MEMORY;
    }
    return DFRT_OK;
}

/* The units and lookups of a checkpoint whose config and tensors are read. */
static dfrt_status find_units(dfrt_checkpoint *cp, bool keep_invalid_units) {
    const char *dir = cp->dir;
    dfrt_status s;
    dfrt_matcher *matcher = NULL;
    char **names = NULL;
    size_t n_names = 0;
    if ((s = collect_unit_names(cp->tensors, &names, &n_names)) != DFRT_OK) goto done;
    if (!cp->config->is_df11) {
        if (n_names)
            s = dfrt_fail(DFRT_FORMAT_ERROR, "%s: holds DF11 tensors (%s.*) but config.json has no dfloat11_config",
                          dir, names[0]);
        goto done;
    }
    if ((s = dfrt_matcher_create(cp->config->n_patterns, cp->config->patterns, "config.json: dfloat11_config",
                                 &matcher)) != DFRT_OK)
        goto done;
    cp->units = dfrt_calloc(n_names ? n_names : 1, sizeof *cp->units, "units");
    if (!cp->units) {
        s = DFRT_OUT_OF_MEMORY;
        goto done;
    }
    for (size_t i = 0; i < n_names; i++) {
        checkpoint_unit *cu = &cp->units[cp->n_units];
        s = init_unit(cp, matcher, names[i], cu);
        if (s != DFRT_OK) {
            if (!keep_invalid_units) goto done;
            /* Keep it, marked invalid, so that verify can report every unit. */
            dfrt_df11_unit_release(&cu->unit);
            memset(cu, 0, sizeof *cu);
            cu->status = s;
            cu->message = dfrt_strdup(dfrt_last_error());
            cu->unit.name = dfrt_strdup(names[i]);
            if (!cu->message || !cu->unit.name) {
                s = DFRT_OUT_OF_MEMORY;
                goto done;
            }
            s = DFRT_OK;
        }
        cp->n_units++;
    }
    qsort(cp->units, cp->n_units, sizeof *cp->units, compare_units);
    if ((s = build_indexes(cp)) != DFRT_OK) goto done;
    /* A weight may not be both a plain tensor and part of a unit. */
    for (size_t i = 0; i < cp->n_units; i++)
        for (int j = 0; j < cp->units[i].unit.n_parts; j++) {
            const char *pn = cp->units[i].unit.parts[j].name;
            const dfrt_tensor *t = dfrt_tensor_set_find(cp->tensors, pn);
            if (t) {
                s = dfrt_fail(DFRT_FORMAT_ERROR, "%s: weight %s is both a plain tensor (in %s) and part of DF11 unit %s",
                              dir, pn, dfrt_basename(t->file), cp->units[i].unit.name);
                goto done;
            }
        }
done:
    dfrt_matcher_free(matcher);
    dfrt_free_strings(names, n_names);
    return s;
}

/* The rest of an open whose config and tensors are read (s: how reading them went): the units
 * and the weight prefix; *out on success, the checkpoint closed otherwise. */
static dfrt_status finish_open(dfrt_checkpoint *cp, dfrt_status s, bool keep_invalid_units, dfrt_checkpoint **out) {
    if (s == DFRT_OK) s = find_units(cp, keep_invalid_units);
    if (s == DFRT_OK) s = set_weight_prefix(cp);
    if (s != DFRT_OK) {
        dfrt_checkpoint_close(cp);
        return s;
    }
    *out = cp;
    return DFRT_OK;
}

dfrt_status dfrt_checkpoint_open_ex(const char *dir, bool keep_invalid_units, dfrt_checkpoint **out) {
    *out = NULL;
    if (!dir) return dfrt_fail(DFRT_INVALID_ARGUMENT, "model directory is NULL");
    struct stat st;
    if (stat(dir, &st) != 0) return dfrt_fail(DFRT_IO_ERROR, "%s: cannot open model directory: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode)) return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: not a directory", dir);
    DFRT_TRY(refuse_pickles(dir));
    dfrt_checkpoint *cp = dfrt_calloc(1, sizeof *cp, "a checkpoint");
    if (!cp) return DFRT_OUT_OF_MEMORY;
    dfrt_status s = (cp->dir = dfrt_strdup(dir)) ? DFRT_OK : DFRT_OUT_OF_MEMORY;
    if (s == DFRT_OK) s = dfrt_config_load(dir, &cp->config);
    if (s == DFRT_OK) s = dfrt_tensor_set_open(dir, &cp->tensors);
    return finish_open(cp, s, keep_invalid_units, out);
}

dfrt_status dfrt_checkpoint_from_memory(const char *name, const char *config_json, size_t config_len,
                                        dfrt_tensor_set *tensors, dfrt_checkpoint **out) {
    *out = NULL;
    dfrt_checkpoint *cp = dfrt_calloc(1, sizeof *cp, "a checkpoint");
    if (!cp) {
        dfrt_tensor_set_close(tensors);
        return DFRT_OUT_OF_MEMORY;
    }
    cp->tensors = tensors;
    char *source = dfrt_asprintf("%s: config.json", name);
    dfrt_status s = (cp->dir = dfrt_strdup(name)) && source ? DFRT_OK : DFRT_OUT_OF_MEMORY;
    if (s == DFRT_OK) s = dfrt_config_parse(config_json, config_len, source, &cp->config);
    free(source);
    return finish_open(cp, s, false, out);
}

dfrt_status dfrt_checkpoint_open(const char *dir, dfrt_checkpoint **out) {
    return dfrt_checkpoint_open_ex(dir, false, out);
}

void dfrt_checkpoint_close(dfrt_checkpoint *cp) {
    if (!cp) return;
    for (size_t i = 0; i < cp->n_units; i++) {
        dfrt_df11_unit_release(&cp->units[i].unit);
        free(cp->units[i].message);
    }
    dfrt_tensor_set_close(cp->tensors);
    dfrt_config_free(cp->config);
    DFRT_FREE_ALL(cp->units, cp->units_by_name, cp->weights, cp->dir, cp);
}

const char *dfrt_checkpoint_dir(const dfrt_checkpoint *cp) { return cp->dir; }
const dfrt_config *dfrt_checkpoint_config(const dfrt_checkpoint *cp) { return cp->config; }
const dfrt_tensor_set *dfrt_checkpoint_tensors(const dfrt_checkpoint *cp) { return cp->tensors; }
size_t dfrt_checkpoint_unit_count(const dfrt_checkpoint *cp) { return cp->n_units; }

const dfrt_df11_unit *dfrt_checkpoint_unit(const dfrt_checkpoint *cp, size_t index) {
    return index < cp->n_units ? &cp->units[index].unit : NULL;
}

/* The unit named by the first len bytes of name, or NULL. */
static const checkpoint_unit *find_unit(const dfrt_checkpoint *cp, const char *name, size_t len) {
    if (!cp->units_by_name) return NULL;
    size_t lo = 0, hi = cp->n_units;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *un = cp->units_by_name[mid].name;
        int c = strncmp(un, name, len);
        if (c == 0 && un[len] != '\0') c = 1;
        if (c == 0) return &cp->units[cp->units_by_name[mid].unit];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

bool dfrt_checkpoint_is_unit_tensor(const dfrt_checkpoint *cp, const char *name) {
    size_t plen;
    int field;
    return has_suffix_field(name, &plen, &field) && find_unit(cp, name, plen) != NULL;
}

dfrt_status dfrt_checkpoint_find_weight(const dfrt_checkpoint *cp, const char *name, const dfrt_tensor **out_tensor,
                                        const dfrt_df11_unit **out_unit, int *out_part) {
    if (out_tensor) *out_tensor = NULL;
    if (out_unit) *out_unit = NULL;
    if (out_part) *out_part = -1;
    size_t lo = 0, hi = cp->n_weights;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(cp->weights[mid].name, name);
        if (c == 0) {
            if (out_unit) *out_unit = &cp->units[cp->weights[mid].unit].unit;
            if (out_part) *out_part = cp->weights[mid].part;
            return DFRT_OK;
        }
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    const dfrt_tensor *t = dfrt_tensor_set_find(cp->tensors, name);
    if (t && !dfrt_checkpoint_is_unit_tensor(cp, name)) {
        if (out_tensor) *out_tensor = t;
        return DFRT_OK;
    }
    return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: no weight named %s", cp->dir, name);
}
