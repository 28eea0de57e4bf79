/* dfrt_verify_dir: validate and decode every unit, and compare with a BF16 original. */
#include "format/checkpoint_internal.h"


static uint64_t first_difference(const uint8_t *a, const uint8_t *b, uint64_t n_bytes) {
    for (uint64_t i = 0; i < n_bytes; i++)
        if (a[i] != b[i]) return i;
    return n_bytes;
}

static bool same_shape(const dfrt_tensor *t, int n_dims, const int64_t *shape) {
    if (t->n_dims != n_dims) return false;
    for (int d = 0; d < n_dims; d++)
        if (t->shape[d] != shape[d]) return false;
    return true;
}

/* Decodes one unit twice and compares it with the BF16 directory; the result's message is
 * the calling thread's error message. */
static dfrt_status verify_unit(const checkpoint_unit *cu, const dfrt_tensor_set *bf16, int n_threads,
                               int *out_compared) {
    const dfrt_df11_unit *u = &cu->unit;
    *out_compared = 0;
    if (cu->status != DFRT_OK) return dfrt_fail(cu->status, "%s", cu->message);
    size_t bytes = u->n * sizeof(uint16_t);
    uint16_t *a = dfrt_alloc_large(bytes, u->name), *b = dfrt_alloc_large(bytes, u->name);
    dfrt_status s = (a && b) ? DFRT_OK : DFRT_OUT_OF_MEMORY;
    if (s == DFRT_OK) s = dfrt_df11_decode(u, a, n_threads);
    if (s == DFRT_OK) s = dfrt_df11_decode_sequential(u, b);
    if (s == DFRT_OK) {
        uint64_t d = first_difference((const uint8_t *)a, (const uint8_t *)b, u->n * 2) / 2;
        if (d < u->n)
            s = dfrt_fail(DFRT_FORMAT_ERROR, "indexed and sequential decoders disagree at weight %llu (0x%04x vs 0x%04x)",
                          (unsigned long long)d, a[d], b[d]);
    }
    for (int p = 0; bf16 && s == DFRT_OK && p < u->n_parts; p++) {
        const dfrt_df11_part *part = &u->parts[p];
        const dfrt_tensor *t = dfrt_tensor_set_find(bf16, part->name);
        if (!t) {
            s = dfrt_fail(DFRT_FORMAT_ERROR, "the BF16 directory has no tensor %s", part->name);
        } else if (t->dtype != DFRT_DTYPE_BF16 || t->n_elements != part->count) {
            s = dfrt_fail(DFRT_FORMAT_ERROR, "%s: %s with %llu elements in the BF16 directory, %llu BF16 in the unit",
                          part->name, dfrt_dtype_name(t->dtype), (unsigned long long)t->n_elements,
                          (unsigned long long)part->count);
        } else if (part->n_dims == 2 && !same_shape(t, 2, part->shape)) {
            s = dfrt_fail(DFRT_FORMAT_ERROR, "%s: shape differs from the architecture's [%lld, %lld]", part->name,
                          (long long)part->shape[0], (long long)part->shape[1]);
        } else {
            uint64_t d = first_difference((const uint8_t *)(a + part->offset), t->data, part->count * 2) / 2;
            if (d < part->count) {
                uint16_t want;
                memcpy(&want, (const uint8_t *)t->data + 2 * d, 2);
                s = dfrt_fail(DFRT_FORMAT_ERROR, "%s: element %llu decodes to 0x%04x, the BF16 original is 0x%04x",
                              part->name, (unsigned long long)d, a[part->offset + d], want);
            } else {
                (*out_compared)++;
            }
        }
    }
    dfrt_free_large(a, bytes);
    dfrt_free_large(b, bytes);
    return s;
}

static void tensor_failure(const dfrt_verify_options *o, dfrt_verify_summary *sum, const char *name, const char *fmt,
                           ...) DFRT_PRINTF(4, 5);
static void tensor_failure(const dfrt_verify_options *o, dfrt_verify_summary *sum, const char *name, const char *fmt,
                           ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sum->n_tensors_failed++;
    if (o->on_tensor_failure) o->on_tensor_failure(o->user, name, msg);
}

/* Plain tensors must be equal, and every BF16 tensor must be somewhere in the DF11 directory. */
static void compare_plain(const dfrt_checkpoint *cp, const dfrt_tensor_set *bf16, const dfrt_verify_options *o,
                          dfrt_verify_summary *sum) {
    for (size_t i = 0; i < dfrt_tensor_set_count(cp->tensors); i++) {
        const dfrt_tensor *t = dfrt_tensor_set_get(cp->tensors, i);
        if (dfrt_checkpoint_is_unit_tensor(cp, t->name)) continue;
        const dfrt_tensor *r = dfrt_tensor_set_find(bf16, t->name);
        sum->n_tensors_compared++;
        if (!r) tensor_failure(o, sum, t->name, "missing from the BF16 directory");
        else if (r->dtype != t->dtype || !same_shape(r, t->n_dims, t->shape))
            tensor_failure(o, sum, t->name, "dtype or shape differs (%s here, %s in the BF16 directory)",
                           dfrt_dtype_name(t->dtype), dfrt_dtype_name(r->dtype));
        else if (first_difference(t->data, r->data, t->n_bytes) < t->n_bytes)
            tensor_failure(o, sum, t->name, "contents differ from the BF16 directory");
    }
    for (size_t i = 0; i < dfrt_tensor_set_count(bf16); i++) {
        const char *name = dfrt_tensor_set_get(bf16, i)->name;
        if (dfrt_tensor_set_find(cp->tensors, name)) continue;
        bool in_unit = false;
        for (size_t u = 0; u < cp->n_units && !in_unit; u++)
            for (int p = 0; p < cp->units[u].unit.n_parts && !in_unit; p++)
                in_unit = strcmp(cp->units[u].unit.parts[p].name, name) == 0;
        if (!in_unit) tensor_failure(o, sum, name, "in the BF16 directory but not in the DF11 directory");
    }
}

dfrt_status dfrt_verify_dir(const char *df11_dir, const char *bf16_dir, const dfrt_verify_options *options,
                            dfrt_verify_summary *out_summary) {
    dfrt_verify_options defaults = {0};
    const dfrt_verify_options *o = options ? options : &defaults;
    dfrt_verify_summary sum = {0};
    if (out_summary) *out_summary = sum;
    dfrt_checkpoint *cp;
    DFRT_TRY(dfrt_checkpoint_open_ex(df11_dir, true, &cp));
    dfrt_tensor_set *bf16 = NULL;
    dfrt_status s = DFRT_OK;
    if (!cp->config->is_df11) s = dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: not a DF11 model (config.json has no dfloat11_config)", df11_dir);
    else if (cp->n_units == 0) s = dfrt_fail(DFRT_FORMAT_ERROR, "%s: has a dfloat11_config but no DF11 units", df11_dir);
    if (s == DFRT_OK && bf16_dir) s = dfrt_tensor_set_open(bf16_dir, &bf16);
    if (s != DFRT_OK) {
        dfrt_checkpoint_close(cp);
        return s;
    }
    /* The whole weight set: nothing missing, nothing a disagreeing config.json would leave out.
     * Reported after the units, which are checked whatever it says. */
    char *weights_problem = NULL;
    dfrt_status weights = dfrt_weight_set_check(cp, DFRT_WEIGHTS_VERIFY);
    if (weights != DFRT_OK && !(weights_problem = dfrt_strdup(dfrt_last_error()))) {
        dfrt_tensor_set_close(bf16);
        dfrt_checkpoint_close(cp);
        return DFRT_OUT_OF_MEMORY;
    }
    for (size_t i = 0; i < cp->n_units; i++) {
        const checkpoint_unit *cu = &cp->units[i];
        double t0 = dfrt_now_seconds();
        dfrt_verify_unit r = {.name = cu->unit.name, .n = cu->unit.n, .compressed_bytes = cu->compressed_bytes};
        r.status = verify_unit(cu, bf16, o->n_threads, &r.n_parts_compared);
        r.message = r.status == DFRT_OK ? "" : dfrt_last_error();
        r.seconds = dfrt_now_seconds() - t0;
        sum.n_units++;
        sum.n_weights += cu->unit.n;
        if (r.status != DFRT_OK) sum.n_units_failed++;
        if (o->on_unit) o->on_unit(o->user, &r);
    }
    if (bf16) compare_plain(cp, bf16, o, &sum);
    dfrt_tensor_set_close(bf16);
    dfrt_checkpoint_close(cp);
    if (out_summary) *out_summary = sum;
    if (sum.n_units_failed || sum.n_tensors_failed) {
        s = dfrt_fail(DFRT_FORMAT_ERROR, "%s: %d of %d units and %d of %d plain tensors failed verification%s%s", df11_dir,
                      sum.n_units_failed, sum.n_units, sum.n_tensors_failed, sum.n_tensors_compared,
                      weights_problem ? "; and " : "", weights_problem ? weights_problem : "");
    } else if (weights_problem) {
        s = dfrt_fail(weights, "%s", weights_problem);
    }
    free(weights_problem);
    return s;
}
