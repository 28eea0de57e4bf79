/* The ops' descriptors and the generic checks every op goes through before a backend sees it.
 * A descriptor lists the op's tensor arguments (where they sit in its args struct, their
 * element size, whether they are written) and a function for the op's own rules, which also
 * gives each tensor's element count. From that, one piece of code checks ownership, alignment,
 * bounds and overlap for every op. */
#include "backend.h"
#include "base/internal.h"

#include <math.h>
#include <stddef.h>

enum {
    T_IN = 0,
    T_OUT = 1,      /* written by the op */
    T_OPTIONAL = 2, /* buf may be NULL */
    T_INPLACE = 4,  /* an output that may be exactly one of the inputs (same buffer, offset, size) */
};

#define MAX_TENSORS 6

typedef struct tensor_desc {
    const char *name; /* with dtype and shape, for messages */
    size_t field;     /* offsetof(args, tensor) */
    uint8_t elem;     /* bytes per element: also the alignment of the offset */
    uint8_t flags;
} tensor_desc;

/* The op's own rules: checks the scalars, sets counts[i] (elements of tensor i) and may
 * normalise the args (the wrapper's copy); *empty when there is nothing to do. */
typedef dfrt_status (*rules_fn)(const dfrt_backend *b, void *args, uint64_t *counts, bool *empty);

typedef struct op_desc {
    const char *name;
    size_t args_size;
    rules_fn rules;
    int n;
    tensor_desc t[MAX_TENSORS];
} op_desc;

/* ---- helpers for the rules ---------------------------------------------------------------- */

static dfrt_status nonzero(const char *op, const char *what, uint64_t v) {
    return v ? DFRT_OK : dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: %s is 0", op, what);
}

/* Elements spanned by `rows` rows of `width` values, `stride` apart. */
static dfrt_status extent(const char *op, const char *name, uint64_t rows, uint64_t stride, uint64_t width,
                          uint64_t *out) {
    uint64_t span;
    if (rows == 0 || width == 0) return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: %s is empty", op, name);
    if (width > stride && rows > 1)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: %s rows of %llu values do not fit a stride of %llu", op, name,
                         (unsigned long long)width, (unsigned long long)stride);
    if (dfrt_mul_overflow_u64(rows - 1, stride, &span) || dfrt_add_overflow_u64(span, width, out))
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: %s is too large", op, name);
    return DFRT_OK;
}

static dfrt_status product(const char *op, uint64_t a, uint64_t b, uint64_t c, uint64_t *out) {
    if (dfrt_mul_overflow_u64(a, b, out) || dfrt_mul_overflow_u64(*out, c, out))
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: shape too large", op);
    return DFRT_OK;
}

/* ---- each op's rules ------------------------------------------------------------------------ */

static dfrt_status df11_decode_rules(const dfrt_backend *b, void *args, uint64_t *counts, bool *empty) {
    dfrt_df11_decode_args *a = args;
    const char *op = "df11_decode";
    const dfrt_device_df11 *u = a->unit;
    if (!u) return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: unit is NULL", op);
    if (u->backend != b)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: unit %s lives on backend %s, not %s", op, u->name,
                         u->backend->vt->name, b->vt->name);
    if (a->first_chunk >= u->n_chunks)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: unit %s: first chunk %u, but it has %u chunks", op, u->name,
                         a->first_chunk, u->n_chunks);
    if (a->n_chunks == 0) a->n_chunks = u->n_chunks - a->first_chunk;
    if (a->n_chunks > u->n_chunks - a->first_chunk)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: unit %s: chunks [%u, %u) run past its %u chunks", op, u->name,
                         a->first_chunk, a->first_chunk + a->n_chunks, u->n_chunks);
    counts[0] = (uint64_t)u->positions[a->first_chunk + a->n_chunks] - u->positions[a->first_chunk];
    *empty = counts[0] == 0;
    return DFRT_OK;
}

/* The matmuls' shape (matmul, df11_matmul, dfrt_vendor_matmul): each of M, N, K in 1 .. 2^31 - 1;
 * out: the elements of X (M K), W (N K) and Y (M N). */
static dfrt_status matmul_shape(const char *op, int64_t m, int64_t n, int64_t k, uint64_t out[3]) {
    if (m < 1 || n < 1 || k < 1 || m > INT32_MAX || n > INT32_MAX || k > INT32_MAX)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: shape M=%lld N=%lld K=%lld (each must be 1 .. 2^31-1)", op,
                         (long long)m, (long long)n, (long long)k);
    DFRT_TRY(product(op, (uint64_t)m, (uint64_t)k, 1, &out[0]));
    DFRT_TRY(product(op, (uint64_t)n, (uint64_t)k, 1, &out[1]));
    return product(op, (uint64_t)m, (uint64_t)n, 1, &out[2]);
}

static dfrt_status matmul_rules(const dfrt_backend *b, void *args, uint64_t *counts, bool *empty) {
    DFRT_UNUSED(b), DFRT_UNUSED(empty);
    const dfrt_matmul_args *a = args;
    DFRT_TRY(matmul_shape("matmul", a->m, a->n, a->k, counts)); /* X, W, Y */
    counts[3] = (uint64_t)a->n;
    return DFRT_OK;
}

static dfrt_status df11_matmul_rules(const dfrt_backend *b, void *args, uint64_t *counts, bool *empty) {
    DFRT_UNUSED(empty);
    const dfrt_df11_matmul_args *a = args;
    const char *op = "df11_matmul";
    const dfrt_device_df11 *u = a->unit;
    if (!u) return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: unit is NULL", op);
    if (u->backend != b)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: unit %s lives on backend %s, not %s", op, u->name,
                         u->backend->vt->name, b->vt->name);
    uint64_t shape[3] = {0, 0, 0}; /* X, W, Y */
    DFRT_TRY(matmul_shape(op, a->m, a->n, a->k, shape));
    const uint64_t n = (uint64_t)a->n, k = (uint64_t)a->k, nk = shape[1];
    if (a->first > u->n || nk > u->n - a->first)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: unit %s: weights [%llu, %llu + %llu x %llu) run past its %llu weights",
                         op, u->name, (unsigned long long)a->first, (unsigned long long)a->first,
                         (unsigned long long)n, (unsigned long long)k, (unsigned long long)u->n);
    counts[0] = shape[0]; /* X */
    counts[1] = shape[2]; /* Y */
    counts[2] = n;        /* bias */
    return DFRT_OK;
}

static dfrt_status embedding_rules(const dfrt_backend *b, void *args, uint64_t *counts, bool *empty) {
    DFRT_UNUSED(b), DFRT_UNUSED(empty);
    dfrt_embedding_args *a = args;
    const char *op = "embedding";
    if (!(a->scale >= 0) || !isfinite(a->scale))
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: scale %g must be finite and non-negative (0: 1)", op, a->scale);
    if (a->scale == 0) a->scale = 1; /* the backends see the value itself */
    DFRT_TRY(nonzero(op, "rows", a->rows));
    DFRT_TRY(nonzero(op, "dim", a->dim));
    counts[0] = (uint64_t)a->rows * a->dim;
    counts[1] = a->table_elems;
    counts[2] = a->rows;
    return DFRT_OK;
}

static dfrt_status rmsnorm_rules(const dfrt_backend *b, void *args, uint64_t *counts, bool *empty) {
    DFRT_UNUSED(b), DFRT_UNUSED(empty);
    const dfrt_rmsnorm_args *a = args;
    const char *op = "rmsnorm";
    DFRT_TRY(nonzero(op, "heads", a->heads));
    DFRT_TRY(nonzero(op, "dim", a->dim));
    if (!(a->eps >= 0.0f) || a->eps > 1.0f) return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: eps %g", op, (double)a->eps);
    if (!a->residual.buf != !a->sum.buf)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: residual and sum go together (residual %s, sum %s)", op,
                         a->residual.buf ? "given" : "NULL", a->sum.buf ? "given" : "NULL");
    DFRT_TRY(extent(op, "x", a->rows, a->row_stride, (uint64_t)a->heads * a->dim, &counts[0]));
    counts[1] = counts[3] = counts[4] = counts[0];
    counts[2] = a->dim;
    return DFRT_OK;
}

static dfrt_status rope_rules(const dfrt_backend *b, void *args, uint64_t *counts, bool *empty) {
    DFRT_UNUSED(b), DFRT_UNUSED(empty);
    dfrt_rope_args *a = args;
    const char *op = "rope";
    DFRT_TRY(nonzero(op, "heads", a->heads));
    if (a->dim == 0 || a->dim % 2)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: dim %u must be even and positive", op, a->dim);
    if (!(a->scale >= 0) || !isfinite(a->scale))
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: scale %g must be finite and non-negative (0: 1)", op, a->scale);
    if (a->rot_dim % 2 || a->rot_dim > a->dim)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: rot_dim %u must be even and at most dim %u (0: dim)", op, a->rot_dim,
                         a->dim);
    /* the backends see the values themselves */
    if (a->rot_dim == 0) a->rot_dim = a->dim;
    if (a->scale == 0) a->scale = 1;
    DFRT_TRY(extent(op, "x", a->rows, a->row_stride, (uint64_t)a->heads * a->dim, &counts[0]));
    counts[1] = a->rows;
    counts[2] = a->rot_dim / 2;
    return DFRT_OK;
}

const char *dfrt_kv_type_name(dfrt_kv_type type) {
    return type == DFRT_KV_F32 ? "f32" : type == DFRT_KV_BF16 ? "bf16" : "?";
}

/* The 4-byte words of a cache of `values` values of kv_type (the descriptors count caches in
 * words: an fp32 value or two BF16 ones), and its type's own rules. */
static dfrt_status kv_cache_words(const char *op, dfrt_kv_type type, const char *row, uint64_t row_values,
                                  uint64_t values, uint64_t *out_words) {
    if (type != DFRT_KV_F32 && type != DFRT_KV_BF16)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: kv_type %d is neither DFRT_KV_F32 nor DFRT_KV_BF16", op, (int)type);
    if (type == DFRT_KV_BF16 && row_values % 2)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: a BF16 KV cache needs an even %s, not %llu", op, row,
                         (unsigned long long)row_values);
    *out_words = type == DFRT_KV_BF16 ? values / 2 : values;
    return DFRT_OK;
}

static dfrt_status kv_store_rules(const dfrt_backend *b, void *args, uint64_t *counts, bool *empty) {
    DFRT_UNUSED(b), DFRT_UNUSED(empty);
    const dfrt_kv_store_args *a = args;
    const char *op = "kv_store";
    DFRT_TRY(nonzero(op, "n_slots", a->n_slots));
    DFRT_TRY(nonzero(op, "max_ctx", a->max_ctx));
    if ((uint64_t)a->k_col + a->width > a->src_stride || (uint64_t)a->v_col + a->width > a->src_stride)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: K or V columns run past the source row of %u", op, a->src_stride);
    DFRT_TRY(extent(op, "src", a->rows, a->src_stride, a->src_stride, &counts[0]));
    DFRT_TRY(product(op, a->n_slots, a->max_ctx, a->width, &counts[1]));
    DFRT_TRY(kv_cache_words(op, a->kv_type, "width", a->width, counts[1], &counts[1]));
    counts[2] = counts[1];
    counts[3] = counts[4] = a->rows;
    return DFRT_OK;
}

static dfrt_status attention_rules(const dfrt_backend *b, void *args, uint64_t *counts, bool *empty) {
    DFRT_UNUSED(b), DFRT_UNUSED(empty);
    const dfrt_attention_args *a = args;
    const char *op = "attention";
    DFRT_TRY(nonzero(op, "n_heads", a->n_heads));
    DFRT_TRY(nonzero(op, "n_kv", a->n_kv));
    DFRT_TRY(nonzero(op, "dim", a->dim));
    DFRT_TRY(nonzero(op, "n_slots", a->n_slots));
    DFRT_TRY(nonzero(op, "max_ctx", a->max_ctx));
    if (a->n_heads % a->n_kv)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: %u heads do not divide into %u KV heads", op, a->n_heads, a->n_kv);
    if (!(a->scale > 0.0f) || a->scale > 1e6f)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: scale %g", op, (double)a->scale);
    if (a->window >= a->max_ctx) ((dfrt_attention_args *)args)->window = 0; /* every key is in it */
    if (!(a->softcap >= 0.0f) || a->softcap > 1e6f)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: softcap %g (0: none, else positive)", op, (double)a->softcap);
    DFRT_TRY(extent(op, "out", a->rows, a->out_stride, (uint64_t)a->n_heads * a->dim, &counts[0]));
    DFRT_TRY(extent(op, "q", a->rows, a->q_stride, (uint64_t)a->n_heads * a->dim, &counts[1]));
    DFRT_TRY(product(op, a->n_slots, a->max_ctx, (uint64_t)a->n_kv * a->dim, &counts[2]));
    DFRT_TRY(kv_cache_words(op, a->kv_type, "dim", a->dim, counts[2], &counts[2]));
    counts[3] = counts[2];
    counts[4] = counts[5] = a->rows;
    return DFRT_OK;
}

static dfrt_status silu_mul_rules(const dfrt_backend *b, void *args, uint64_t *counts, bool *empty) {
    DFRT_UNUSED(b), DFRT_UNUSED(empty);
    const dfrt_silu_mul_args *a = args;
    const char *op = "silu_mul";
    if ((unsigned)a->act > DFRT_GATE_GELU_TANH)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: act %d is neither silu (0) nor gelu_tanh (1)", op, (int)a->act);
    if (a->up_col < a->width || (uint64_t)a->up_col + a->width > a->in_stride)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: gate [0, %u) and up [%u, %u) must be disjoint within rows of %u", op,
                         a->width, a->up_col, a->up_col + a->width, a->in_stride);
    counts[0] = (uint64_t)a->rows * a->width;
    DFRT_TRY(extent(op, "in", a->rows, a->in_stride, a->in_stride, &counts[1]));
    return DFRT_OK;
}

static dfrt_status add_rules(const dfrt_backend *b, void *args, uint64_t *counts, bool *empty) {
    DFRT_UNUSED(b), DFRT_UNUSED(empty);
    const dfrt_add_args *a = args;
    DFRT_TRY(nonzero("add", "n", a->n));
    counts[0] = counts[1] = counts[2] = a->n;
    return DFRT_OK;
}

static dfrt_status argmax_rules(const dfrt_backend *b, void *args, uint64_t *counts, bool *empty) {
    DFRT_UNUSED(b), DFRT_UNUSED(empty);
    const dfrt_argmax_args *a = args;
    counts[0] = a->rows;
    return extent("argmax", "x", a->rows, a->stride, a->n, &counts[1]);
}

/* ---- the descriptors ---------------------------------------------------------------------- */

#define T(type, field, label, elem, flags) {label, offsetof(type, field), elem, flags}

static const op_desc descs[DFRT_OP_COUNT] = {
    [DFRT_OP_DF11_DECODE] = {"df11_decode", sizeof(dfrt_df11_decode_args), df11_decode_rules, 1,
                             {T(dfrt_df11_decode_args, out, "output", 2, T_OUT)}},
    [DFRT_OP_MATMUL] = {"matmul", sizeof(dfrt_matmul_args), matmul_rules, 4,
                        {T(dfrt_matmul_args, x, "X (fp32 M x K)", 4, T_IN),
                         T(dfrt_matmul_args, w, "W (bf16 N x K)", 2, T_IN),
                         T(dfrt_matmul_args, y, "Y (fp32 M x N)", 4, T_OUT),
                         T(dfrt_matmul_args, bias, "bias (fp32 N)", 4, T_OPTIONAL)}},
    [DFRT_OP_DF11_MATMUL] = {"df11_matmul", sizeof(dfrt_df11_matmul_args), df11_matmul_rules, 3,
                             {T(dfrt_df11_matmul_args, x, "X (fp32 M x K)", 4, T_IN),
                              T(dfrt_df11_matmul_args, y, "Y (fp32 M x N)", 4, T_OUT),
                              T(dfrt_df11_matmul_args, bias, "bias (fp32 N)", 4, T_OPTIONAL)}},
    [DFRT_OP_EMBEDDING] = {"embedding", sizeof(dfrt_embedding_args), embedding_rules, 3,
                           {T(dfrt_embedding_args, out, "out (fp32 rows x dim)", 4, T_OUT),
                            T(dfrt_embedding_args, table, "table (bf16)", 2, T_IN),
                            T(dfrt_embedding_args, offsets, "offsets (uint32 rows)", 4, T_IN)}},
    [DFRT_OP_RMSNORM] = {"rmsnorm", sizeof(dfrt_rmsnorm_args), rmsnorm_rules, 5,
                         {T(dfrt_rmsnorm_args, x, "x (fp32)", 4, T_IN),
                          T(dfrt_rmsnorm_args, y, "y (fp32)", 4, T_OUT | T_INPLACE),
                          T(dfrt_rmsnorm_args, w, "w (fp32 dim)", 4, T_IN),
                          T(dfrt_rmsnorm_args, residual, "residual (fp32)", 4, T_IN | T_OPTIONAL),
                          T(dfrt_rmsnorm_args, sum, "sum (fp32)", 4, T_OUT | T_INPLACE | T_OPTIONAL)}},
    [DFRT_OP_ROPE] = {"rope", sizeof(dfrt_rope_args), rope_rules, 3,
                      {T(dfrt_rope_args, x, "x (fp32)", 4, T_OUT),
                       T(dfrt_rope_args, positions, "positions (int32 rows)", 4, T_IN),
                       T(dfrt_rope_args, inv_freq, "inv_freq (fp32 dim/2)", 4, T_IN)}},
    [DFRT_OP_KV_STORE] = {"kv_store", sizeof(dfrt_kv_store_args), kv_store_rules, 5,
                          {T(dfrt_kv_store_args, src, "src (fp32)", 4, T_IN),
                           T(dfrt_kv_store_args, k_cache, "k_cache (kv_type n_slots x max_ctx x width)", 4, T_OUT),
                           T(dfrt_kv_store_args, v_cache, "v_cache (kv_type n_slots x max_ctx x width)", 4, T_OUT),
                           T(dfrt_kv_store_args, slots, "slots (int32 rows)", 4, T_IN),
                           T(dfrt_kv_store_args, positions, "positions (int32 rows)", 4, T_IN)}},
    [DFRT_OP_ATTENTION] = {"attention", sizeof(dfrt_attention_args), attention_rules, 6,
                           {T(dfrt_attention_args, out, "out (fp32)", 4, T_OUT),
                            T(dfrt_attention_args, q, "q (fp32)", 4, T_IN),
                            T(dfrt_attention_args, k_cache, "k_cache (kv_type)", 4, T_IN),
                            T(dfrt_attention_args, v_cache, "v_cache (kv_type)", 4, T_IN),
                            T(dfrt_attention_args, slots, "slots (int32 rows)", 4, T_IN),
                            T(dfrt_attention_args, positions, "positions (int32 rows)", 4, T_IN)}},
    [DFRT_OP_SILU_MUL] = {"silu_mul", sizeof(dfrt_silu_mul_args), silu_mul_rules, 2,
                          {T(dfrt_silu_mul_args, out, "out (fp32 rows x width)", 4, T_OUT),
                           T(dfrt_silu_mul_args, in, "in (fp32)", 4, T_IN)}},
    [DFRT_OP_ADD] = {"add", sizeof(dfrt_add_args), add_rules, 3,
                     {T(dfrt_add_args, y, "y (fp32 n)", 4, T_OUT | T_INPLACE), T(dfrt_add_args, a, "a (fp32 n)", 4, T_IN),
                      T(dfrt_add_args, b, "b (fp32 n)", 4, T_IN)}},
    [DFRT_OP_ARGMAX] = {"argmax", sizeof(dfrt_argmax_args), argmax_rules, 2,
                        {T(dfrt_argmax_args, out, "out (int32 rows)", 4, T_OUT), T(dfrt_argmax_args, x, "x (fp32)", 4, T_IN)}},
};

const char *dfrt_op_name(dfrt_op op) { return (unsigned)op < DFRT_OP_COUNT ? descs[op].name : "unknown op"; }

/* ---- the generic checks --------------------------------------------------------------------- */

static const dfrt_tensor_arg *tensor_at(const void *args, const tensor_desc *t) {
    return (const dfrt_tensor_arg *)((const char *)args + t->field);
}

static dfrt_status check_tensor(const dfrt_backend *b, const char *op, const tensor_desc *t, const dfrt_tensor_arg *a,
                                uint64_t count) {
    if (!a->buf) return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: %s is NULL", op, t->name);
    if (a->buf->backend != b)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: %s belongs to backend %s, not %s", op, t->name,
                         a->buf->backend->vt->name, b->vt->name);
    if (a->offset % t->elem)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: %s offset %zu is not a multiple of %u", op, t->name, a->offset,
                         (unsigned)t->elem);
    uint64_t bytes;
    if (dfrt_mul_overflow_u64(count, t->elem, &bytes) || a->offset > a->buf->size || bytes > a->buf->size - a->offset)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: %s needs %llu bytes at offset %zu, but the buffer has %zu", op,
                         t->name, (unsigned long long)(count * t->elem), a->offset, a->buf->size);
    return DFRT_OK;
}

static bool overlaps(const dfrt_tensor_arg *a, uint64_t a_bytes, const dfrt_tensor_arg *b, uint64_t b_bytes) {
    return a->buf == b->buf && a->offset < b->offset + b_bytes && b->offset < a->offset + a_bytes;
}

/* Validates args (a copy the rules may normalise) for op on b. */
static dfrt_status validate(dfrt_backend *b, dfrt_op op, void *args, bool *empty) {
    const op_desc *d = &descs[op];
    *empty = false;
    if (!b) return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: backend is NULL", d->name);
    uint64_t counts[MAX_TENSORS] = {0};
    DFRT_TRY(d->rules(b, args, counts, empty));
    for (int i = 0; i < d->n; i++) {
        const dfrt_tensor_arg *t = tensor_at(args, &d->t[i]);
        if (!t->buf && (d->t[i].flags & T_OPTIONAL)) continue;
        DFRT_TRY(check_tensor(b, d->name, &d->t[i], t, counts[i]));
    }
    /* An output may not overlap another tensor, unless it is exactly an input it may replace. */
    for (int i = 0; i < d->n; i++) {
        if (!(d->t[i].flags & T_OUT)) continue;
        const dfrt_tensor_arg *o = tensor_at(args, &d->t[i]);
        for (int j = 0; j < d->n; j++) {
            const dfrt_tensor_arg *t = tensor_at(args, &d->t[j]);
            if (j == i || !t->buf) continue;
            if ((d->t[j].flags & T_OUT) && j < i) continue; /* each pair of outputs once */
            uint64_t ob = counts[i] * d->t[i].elem, tb = counts[j] * d->t[j].elem;
            if (!overlaps(o, ob, t, tb)) continue;
            bool exact = o->offset == t->offset && ob == tb && !(d->t[j].flags & T_OUT);
            if ((d->t[i].flags & T_INPLACE) && exact) continue;
            return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: %s %s %s", d->name, d->t[i].name,
                             (d->t[i].flags & T_INPLACE) ? "partly overlaps" : "overlaps", d->t[j].name);
        }
    }
    return DFRT_OK;
}

static bool implemented(const dfrt_backend_vtable *vt, dfrt_op op) {
    switch (op) {
#define CASE(fn, OP) \
    case OP: return vt->fn != NULL;
        DFRT_FOR_EACH_OP(CASE)
#undef CASE
    default: return false;
    }
}

/* Whether b runs this case of op (args validated): the op implemented, and the backend's own
 * limits (supports). */
static dfrt_status check_backend(dfrt_backend *b, dfrt_op op, const void *args) {
    if (!implemented(b->vt, op))
        return dfrt_fail(DFRT_UNSUPPORTED, "%s: the %s backend does not implement it", descs[op].name, b->vt->name);
    return b->vt->supports ? b->vt->supports(b, op, args) : DFRT_OK;
}

bool dfrt_backend_supports(dfrt_backend *b, dfrt_op op, const void *args, dfrt_status *out_status) {
    dfrt_status s = DFRT_OK;
    if ((unsigned)op >= DFRT_OP_COUNT || !args) {
        s = dfrt_fail(DFRT_INVALID_ARGUMENT, "dfrt_backend_supports: no such op, or no arguments");
    } else {
        union {
            dfrt_df11_decode_args d;
            dfrt_matmul_args m;
            dfrt_df11_matmul_args dm;
            dfrt_attention_args a;
            dfrt_kv_store_args k;
        } copy; /* large enough for every args struct */
        _Static_assert(sizeof copy >= sizeof(dfrt_embedding_args) && sizeof copy >= sizeof(dfrt_rmsnorm_args) &&
                           sizeof copy >= sizeof(dfrt_rope_args) && sizeof copy >= sizeof(dfrt_silu_mul_args) &&
                           sizeof copy >= sizeof(dfrt_add_args) && sizeof copy >= sizeof(dfrt_argmax_args),
                       "the copy holds every args struct");
        memcpy(&copy, args, descs[op].args_size);
        bool empty;
        s = validate(b, op, &copy, &empty);
        if (s == DFRT_OK) s = check_backend(b, op, &copy);
    }
    if (out_status) *out_status = s;
    return s == DFRT_OK;
}

const char *dfrt_matmul_kernel(dfrt_backend *b, dfrt_op op, const void *args) {
    if (!b || !args || !b->vt->matmul_kernel || (op != DFRT_OP_MATMUL && op != DFRT_OP_DF11_MATMUL)) return NULL;
    union {
        dfrt_matmul_args m;
        dfrt_df11_matmul_args dm;
    } copy;
    memcpy(&copy, args, descs[op].args_size);
    bool empty;
    if (validate(b, op, &copy, &empty) != DFRT_OK || check_backend(b, op, &copy) != DFRT_OK) return NULL;
    return b->vt->matmul_kernel(b, op, &copy);
}

void dfrt_backend_set_profile(dfrt_backend *b, dfrt_op_profile *profile) {
    if (b) b->profile = profile;
}

/* Runs an op between device timestamps and adds its time to the profile (dfrt_op_profile). */
static dfrt_status profiled(dfrt_backend *b, dfrt_op op, dfrt_status (*run)(dfrt_backend *, const void *),
                            const void *args) {
    dfrt_op_profile *p = b->profile;
    dfrt_status ts = b->vt->timer_begin(b);
    dfrt_status s = run(b, args);
    double ms = 0;
    if (ts == DFRT_OK) ts = b->vt->timer_end(b, &ms);
    if (s != DFRT_OK) return s;
    if (ts != DFRT_OK) {
        if (p->status == DFRT_OK) p->status = ts;
        return DFRT_OK;
    }
    p->ms[op] += ms;
    p->calls[op]++;
    return DFRT_OK;
}

/* The public wrappers: validate a copy of the args, ask the backend, then enqueue (timed on
 * its own while a profile is set). */
#define DEFINE_OP(fn, OP)                                                                                  \
    static dfrt_status run_##fn(dfrt_backend *b, const void *args) { return b->vt->fn(b, args); }          \
    dfrt_status dfrt_op_##fn(dfrt_backend *b, const dfrt_##fn##_args *args) {                              \
        if (!args) return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: arguments are NULL", #fn);                 \
        dfrt_##fn##_args a = *args;                                                                        \
        bool empty;                                                                                        \
        DFRT_TRY(validate(b, OP, &a, &empty));                                                             \
        DFRT_TRY(check_backend(b, OP, &a));                                                                \
        if (empty) return DFRT_OK;                                                                         \
        return b->profile ? profiled(b, OP, run_##fn, &a) : b->vt->fn(b, &a);                              \
    }

DFRT_FOR_EACH_OP(DEFINE_OP)

/* ---- the bench's reference matmul ----------------------------------------------------------- */

dfrt_status dfrt_vendor_matmul(dfrt_backend *b, const dfrt_vendor_matmul_args *args, const char **out_library) {
    const char *op = "vendor_matmul";
    if (out_library) *out_library = NULL;
    if (!b || !args) return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: backend or arguments are NULL", op);
    const dfrt_vendor_matmul_args *a = args;
    const tensor_desc t[3] = {T(dfrt_vendor_matmul_args, x, "X (bf16 M x K)", 2, T_IN),
                              T(dfrt_vendor_matmul_args, w, "W (bf16 N x K)", 2, T_IN),
                              T(dfrt_vendor_matmul_args, y, "Y (fp32 M x N)", 4, T_OUT)};
    uint64_t counts[3] = {0, 0, 0}; /* X, W, Y */
    DFRT_TRY(matmul_shape(op, a->m, a->n, a->k, counts));
    for (int i = 0; i < 3; i++) DFRT_TRY(check_tensor(b, op, &t[i], tensor_at(a, &t[i]), counts[i]));
    for (int i = 0; i < 2; i++)
        if (overlaps(&a->y, counts[2] * 4, tensor_at(a, &t[i]), counts[i] * 2))
            return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: Y (fp32 M x N) overlaps %s", op, t[i].name);
    if (!b->vt->vendor_matmul)
        return dfrt_fail(DFRT_UNSUPPORTED, "%s: the %s backend has no vendor library", op, b->vt->name);
    const char *library = NULL;
    dfrt_status s = b->vt->vendor_matmul(b, a, &library);
    if (out_library) *out_library = library;
    return s;
}
