/* Each op's kind: the tensors of a case and the op calls they make (see op_cases.h). */
#include "op_cases.h"

#include <stdio.h>
#include <string.h>

#define F32(name_, n_, role_) ((op_tensor){.name = (name_), .bytes = 4 * (size_t)(n_), .type = OPT_F32, .role = (role_)})
#define BF16(name_, n_, role_) ((op_tensor){.name = (name_), .bytes = 2 * (size_t)(n_), .type = OPT_BF16, .role = (role_)})
#define I32(name_, n_, role_) ((op_tensor){.name = (name_), .bytes = 4 * (size_t)(n_), .type = OPT_I32, .role = (role_)})

/* Elements spanned by rows of `width` values, `stride` apart. */
static size_t span(int64_t rows, int64_t stride, int64_t width) { return (size_t)((rows - 1) * stride + width); }

/* ---- df11_decode: out --------------------------------------------------------------------- */

static int decode_tensors(const op_case *c, op_tensor *t) {
    uint32_t first = (uint32_t)c->s[0], end = c->s[1] ? first + (uint32_t)c->s[1] : c->unit->n_chunks;
    t[0] = BF16("out", dfrt_df11_chunk_start(c->unit, end) - dfrt_df11_chunk_start(c->unit, first), OPT_OUT);
    t[0].exact = 1;
    return 1;
}
static int decode_calls(const op_case *c, const dfrt_tensor_arg *t, const dfrt_device_df11 *u, op_args *a) {
    a->df11_decode = (dfrt_df11_decode_args){.unit = u, .first_chunk = (uint32_t)c->s[0],
                                             .n_chunks = (uint32_t)c->s[1], .out = t[0]};
    return 1;
}

/* ---- matmul: y, x, w, bias ------------------------------------------------------------------ */

static int matmul_tensors(const op_case *c, op_tensor *t) {
    int64_t m = c->s[0], n = c->s[1], k = c->s[2];
    t[0] = F32("Y", m * n, OPT_OUT);
    t[1] = F32("X", m * k, OPT_IN), t[1].offset = c->off[0];
    t[2] = BF16("W", n * k, OPT_IN), t[2].offset = c->off[1];
    t[3] = F32("bias", n, c->flags & OPC_BIAS ? OPT_IN : OPT_ABSENT);
    return 4;
}
static int matmul_calls(const op_case *c, const dfrt_tensor_arg *t, const dfrt_device_df11 *u, op_args *a) {
    (void)u;
    a->matmul = (dfrt_matmul_args){.y = t[0], .x = t[1], .w = t[2], .bias = c->flags & OPC_BIAS ? t[3] : (dfrt_tensor_arg){0},
                                   .m = c->s[0], .n = c->s[1], .k = c->s[2]};
    return 1;
}

/* ---- df11_matmul: y, x, bias (W: rows of the case's unit) --------------------------------- */

static int df11_matmul_tensors(const op_case *c, op_tensor *t) {
    int64_t m = c->s[0], n = c->s[1], k = c->s[2];
    t[0] = F32("Y", m * n, OPT_OUT);
    t[1] = F32("X", m * k, OPT_IN);
    t[2] = F32("bias", n, c->flags & OPC_BIAS ? OPT_IN : OPT_ABSENT);
    return 3;
}
static int df11_matmul_calls(const op_case *c, const dfrt_tensor_arg *t, const dfrt_device_df11 *u, op_args *a) {
    a->df11_matmul = (dfrt_df11_matmul_args){.y = t[0], .x = t[1], .unit = u, .first = (uint64_t)c->s[3],
                                             .bias = c->flags & OPC_BIAS ? t[2] : (dfrt_tensor_arg){0},
                                             .m = c->s[0], .n = c->s[1], .k = c->s[2]};
    return 1;
}

/* ---- embedding: out, table, offsets --------------------------------------------------------- */

enum { EMBEDDING_VOCAB = 300 };
static int embedding_tensors(const op_case *c, op_tensor *t) {
    t[0] = F32("out", c->s[0] * c->s[1], OPT_OUT), t[0].exact = 1;
    t[1] = BF16("table", EMBEDDING_VOCAB * c->s[1], OPT_IN);
    t[2] = I32("offsets", c->s[0], OPT_IN);
    return 3;
}
static int embedding_calls(const op_case *c, const dfrt_tensor_arg *t, const dfrt_device_df11 *u, op_args *a) {
    (void)u;
    a->embedding = (dfrt_embedding_args){.scale = c->flags & OPC_SCALE ? OPC_EMBED_SCALE : 0.0f,
                                         .out = t[0], .table = t[1], .offsets = t[2],
                                         .table_elems = (uint64_t)EMBEDDING_VOCAB * (uint64_t)c->s[1],
                                         .rows = (uint32_t)c->s[0], .dim = (uint32_t)c->s[1]};
    return 1;
}

/* ---- rmsnorm: x, w, y (absent in place), residual and sum (OPC_RESIDUAL; sum absent in place) */

static int rmsnorm_tensors(const op_case *c, op_tensor *t) {
    size_t n = span(c->s[0], c->s[3], c->s[1] * c->s[2]);
    int in_place = c->flags & OPC_IN_PLACE, res = c->flags & OPC_RESIDUAL;
    t[0] = F32("x", n, in_place ? OPT_INOUT : OPT_IN);
    t[1] = F32("w", c->s[2], OPT_IN);
    t[2] = F32("y", n, in_place && !res ? OPT_ABSENT : OPT_INOUT); /* in-out: its padding must keep its values */
    if (!res) return 3;
    t[0].exact = in_place; /* x + residual, rounded once: the same bits everywhere */
    t[3] = F32("residual", n, OPT_IN);
    t[4] = F32("sum", n, in_place ? OPT_ABSENT : OPT_INOUT), t[4].exact = 1;
    return 5;
}
static int rmsnorm_calls(const op_case *c, const dfrt_tensor_arg *t, const dfrt_device_df11 *u, op_args *a) {
    (void)u;
    int in_place = c->flags & OPC_IN_PLACE, res = c->flags & OPC_RESIDUAL;
    a->rmsnorm = (dfrt_rmsnorm_args){.y = in_place && !res ? t[0] : t[2], .x = t[0], .w = t[1],
                                     .residual = res ? t[3] : (dfrt_tensor_arg){0},
                                     .sum = res ? (in_place ? t[0] : t[4]) : (dfrt_tensor_arg){0},
                                     .rows = (uint32_t)c->s[0], .heads = (uint32_t)c->s[1], .dim = (uint32_t)c->s[2],
                                     .row_stride = (uint32_t)c->s[3], .eps = 1e-6f};
    return 1;
}

/* ---- rope: x, positions, inv_freq ----------------------------------------------------------- */

static int rope_tensors(const op_case *c, op_tensor *t) {
    t[0] = F32("x", span(c->s[0], c->s[3], c->s[1] * c->s[2]), OPT_INOUT);
    t[1] = I32("positions", c->s[0], OPT_IN);
    t[2] = F32("inv_freq", (c->s[4] ? c->s[4] : c->s[2]) / 2, OPT_IN);
    return 3;
}
static int rope_calls(const op_case *c, const dfrt_tensor_arg *t, const dfrt_device_df11 *u, op_args *a) {
    (void)u;
    a->rope = (dfrt_rope_args){.x = t[0], .positions = t[1], .inv_freq = t[2], .rows = (uint32_t)c->s[0],
                               .heads = (uint32_t)c->s[1], .dim = (uint32_t)c->s[2], .row_stride = (uint32_t)c->s[3],
                               .rot_dim = (uint32_t)c->s[4], .scale = c->flags & OPC_SCALE ? 1.25f : 0.0f};
    return 1;
}

/* ---- kv_store + attention: out, src (q, k, v per row), k_cache, v_cache, slots, positions ----- */

enum { ATTENTION_SLOTS = 3 };
/* The padded layouts of a case: q, k, v of a row side by side and 5 spare values; 3 after a
 * row of output. */
static uint32_t q_stride(const op_case *c) { return (uint32_t)((c->s[1] + 2 * c->s[2]) * c->s[3] + 5); }
static uint32_t out_stride(const op_case *c) { return (uint32_t)(c->s[1] * c->s[3] + 3); }

static int attention_tensors(const op_case *c, op_tensor *t) {
    int64_t rows = c->s[0], cache = ATTENTION_SLOTS * c->s[4] * c->s[2] * c->s[3];
    t[0] = F32("out", span(rows, out_stride(c), c->s[1] * c->s[3]), OPT_OUT);
    t[1] = F32("src", rows * q_stride(c), OPT_IN);
    if (c->flags & OPC_KV_BF16) {
        t[2] = BF16("k_cache", cache, OPT_INOUT);
        t[3] = BF16("v_cache", cache, OPT_INOUT);
    } else {
        t[2] = F32("k_cache", cache, OPT_INOUT);
        t[3] = F32("v_cache", cache, OPT_INOUT);
    }
    t[2].exact = t[3].exact = 1;
    t[4] = I32("slots", rows, OPT_IN);
    t[5] = I32("positions", rows, OPT_IN);
    return 6;
}
static int attention_calls(const op_case *c, const dfrt_tensor_arg *t, const dfrt_device_df11 *u, op_args *a) {
    (void)u;
    uint32_t rows = (uint32_t)c->s[0], n_heads = (uint32_t)c->s[1], n_kv = (uint32_t)c->s[2], dim = (uint32_t)c->s[3],
             max_ctx = (uint32_t)c->s[4];
    dfrt_kv_type kv_type = c->flags & OPC_KV_BF16 ? DFRT_KV_BF16 : DFRT_KV_F32;
    a[0].kv_store = (dfrt_kv_store_args){.k_cache = t[2], .v_cache = t[3], .src = t[1], .slots = t[4], .positions = t[5],
                                         .rows = rows, .width = n_kv * dim, .src_stride = q_stride(c),
                                         .k_col = n_heads * dim, .v_col = (n_heads + n_kv) * dim,
                                         .n_slots = ATTENTION_SLOTS, .max_ctx = max_ctx, .kv_type = kv_type};
    a[1].attention = (dfrt_attention_args){.out = t[0], .q = t[1], .k_cache = t[2], .v_cache = t[3], .slots = t[4],
                                           .positions = t[5], .rows = rows, .n_heads = n_heads, .n_kv = n_kv,
                                           .dim = dim, .q_stride = q_stride(c), .out_stride = out_stride(c),
                                           .n_slots = ATTENTION_SLOTS, .max_ctx = max_ctx,
                                           .scale = (float)(1.0 / __builtin_sqrt((double)dim)), .kv_type = kv_type,
                                           .window = c->flags & OPC_WINDOW ? opc_window(c->s[4]) : 0,
                                           .softcap = c->flags & OPC_SOFTCAP ? OPC_SOFTCAP_VALUE : 0.0f};
    return 2;
}

/* ---- silu_mul: out, in ---------------------------------------------------------------------- */

static int silu_mul_tensors(const op_case *c, op_tensor *t) {
    t[0] = F32("out", c->s[0] * c->s[1], OPT_OUT);
    t[1] = F32("in", c->s[0] * c->s[2], OPT_IN);
    return 2;
}
static int silu_mul_calls(const op_case *c, const dfrt_tensor_arg *t, const dfrt_device_df11 *u, op_args *a) {
    (void)u;
    a->silu_mul = (dfrt_silu_mul_args){.act = c->flags & OPC_GELU ? DFRT_GATE_GELU_TANH : DFRT_GATE_SILU,
                                       .out = t[0], .in = t[1], .rows = (uint32_t)c->s[0], .width = (uint32_t)c->s[1],
                                       .in_stride = (uint32_t)c->s[2], .up_col = (uint32_t)c->s[3]};
    return 1;
}

/* ---- add: a, b, y (absent in place: y = a) --------------------------------------------------- */

static int add_tensors(const op_case *c, op_tensor *t) {
    int in_place = c->flags & OPC_IN_PLACE;
    t[0] = F32("a", c->s[0], in_place ? OPT_INOUT : OPT_IN), t[0].exact = 1;
    t[1] = F32("b", c->s[0], OPT_IN);
    t[2] = F32("y", c->s[0], in_place ? OPT_ABSENT : OPT_OUT), t[2].exact = 1;
    return 3;
}
static int add_calls(const op_case *c, const dfrt_tensor_arg *t, const dfrt_device_df11 *u, op_args *a) {
    (void)u;
    a->add = (dfrt_add_args){.y = c->flags & OPC_IN_PLACE ? t[0] : t[2], .a = t[0], .b = t[1], .n = (uint64_t)c->s[0]};
    return 1;
}

/* ---- argmax: out, x -------------------------------------------------------------------------- */

static int argmax_tensors(const op_case *c, op_tensor *t) {
    t[0] = I32("out", c->s[0], OPT_OUT), t[0].exact = 1;
    t[1] = F32("x", c->s[0] * c->s[2], OPT_IN);
    return 2;
}
static int argmax_calls(const op_case *c, const dfrt_tensor_arg *t, const dfrt_device_df11 *u, op_args *a) {
    (void)u;
    a->argmax = (dfrt_argmax_args){.out = t[0], .x = t[1], .rows = (uint32_t)c->s[0], .n = (uint32_t)c->s[1],
                                   .stride = (uint32_t)c->s[2]};
    return 1;
}

/* ---- the kinds -------------------------------------------------------------------------------- */

typedef struct op_kind {
    const char *name;
    const char *params; /* names of s[0..], for messages */
    int (*tensors)(const op_case *c, op_tensor *t);
    int (*calls)(const op_case *c, const dfrt_tensor_arg *t, const dfrt_device_df11 *unit, op_args *args);
    dfrt_op ops[OP_MAX_CALLS];
} op_kind;

/* kv_store has no kind of its own: attention cases store first. */
static const op_kind kinds[DFRT_OP_COUNT] = {
    [DFRT_OP_DF11_DECODE] = {"df11_decode", "first_chunk n_chunks", decode_tensors, decode_calls, {DFRT_OP_DF11_DECODE}},
    [DFRT_OP_MATMUL] = {"matmul", "M N K", matmul_tensors, matmul_calls, {DFRT_OP_MATMUL}},
    [DFRT_OP_DF11_MATMUL] = {"df11_matmul", "M N K first", df11_matmul_tensors, df11_matmul_calls, {DFRT_OP_DF11_MATMUL}},
    [DFRT_OP_EMBEDDING] = {"embedding", "rows dim", embedding_tensors, embedding_calls, {DFRT_OP_EMBEDDING}},
    [DFRT_OP_RMSNORM] = {"rmsnorm", "rows heads dim stride", rmsnorm_tensors, rmsnorm_calls, {DFRT_OP_RMSNORM}},
    [DFRT_OP_ROPE] = {"rope", "rows heads dim stride rot", rope_tensors, rope_calls, {DFRT_OP_ROPE}},
    [DFRT_OP_ATTENTION] = {"kv_store + attention", "rows heads kv_heads dim ctx", attention_tensors, attention_calls, {DFRT_OP_KV_STORE, DFRT_OP_ATTENTION}},
    [DFRT_OP_SILU_MUL] = {"silu_mul", "rows width stride up", silu_mul_tensors, silu_mul_calls, {DFRT_OP_SILU_MUL}},
    [DFRT_OP_ADD] = {"add", "n", add_tensors, add_calls, {DFRT_OP_ADD}},
    [DFRT_OP_ARGMAX] = {"argmax", "rows n stride", argmax_tensors, argmax_calls, {DFRT_OP_ARGMAX}},
};

const char *op_case_kind_name(const op_case *c) { return kinds[c->op].name; }

void op_case_describe(const op_case *c, char *out, size_t size) {
    int n = snprintf(out, size, "%s", kinds[c->op].name);
    if (c->name && n >= 0 && (size_t)n < size) n += snprintf(out + n, size - (size_t)n, " %s", c->name);
    const char *p = kinds[c->op].params;
    for (int i = 0; i < 5 && *p && n >= 0 && (size_t)n < size; i++) {
        size_t l = strcspn(p, " ");
        n += snprintf(out + n, size - (size_t)n, " %.*s=%lld", (int)l, p, (long long)c->s[i]);
        p += l + (p[l] == ' ');
    }
    if (n >= 0 && (size_t)n < size)
        snprintf(out + n, size - (size_t)n, "%s%s%s%s%s%s%s%s%s", c->flags & OPC_BIAS ? " +bias" : "",
                 c->flags & OPC_RESIDUAL ? " +residual" : "", c->flags & OPC_IN_PLACE ? " in place" : "",
                 c->flags & OPC_CORRUPT ? " (corrupted unit)" : "",
                 c->flags & OPC_KV_BF16 ? (c->flags & OPC_PREFILL ? " bf16 KV prefill" : " bf16 KV")
                                        : c->flags & OPC_PREFILL ? " prefill" : "",
                 c->flags & OPC_WINDOW ? " window" : "", c->flags & OPC_SOFTCAP ? " softcap" : "",
                 c->flags & OPC_GELU ? " gelu" : "", c->flags & OPC_SCALE ? " scaled" : "");
    if (c->off[0] || c->off[1]) {
        size_t l = strlen(out);
        snprintf(out + l, size - l, " offsets %zu, %zu", c->off[0], c->off[1]);
    }
}

int op_case_tensors(const op_case *c, op_tensor *t) {
    memset(t, 0, OP_MAX_TENSORS * sizeof *t);
    return kinds[c->op].tensors(c, t);
}

int op_case_calls(const op_case *c, const dfrt_tensor_arg *t, const dfrt_device_df11 *unit, dfrt_op *ops,
                  op_args *args) {
    int n = kinds[c->op].calls(c, t, unit, args);
    for (int i = 0; i < n; i++) ops[i] = kinds[c->op].ops[i];
    return n;
}

dfrt_status op_call(dfrt_backend *b, dfrt_op op, const op_args *a) {
    switch (op) {
#define CALL(name, ENUM) \
    case ENUM: return dfrt_op_##name(b, &a->name);
        DFRT_FOR_EACH_OP(CALL)
#undef CALL
    default: return DFRT_INVALID_ARGUMENT; /* not an op */
    }
}

dfrt_status op_case_run(dfrt_backend *b, const op_case *c, const dfrt_tensor_arg *t, const dfrt_device_df11 *unit) {
    dfrt_op ops[OP_MAX_CALLS];
    op_args args[OP_MAX_CALLS];
    int n = op_case_calls(c, t, unit, ops, args);
    dfrt_status s = DFRT_OK;
    for (int i = 0; i < n && s == DFRT_OK; i++) s = op_call(b, ops[i], &args[i]);
    return s;
}

void op_model_matmuls(const dfrt_config *cfg, int64_t m, op_case out[OP_MODEL_MATMULS]) {
    int64_t H = cfg->hidden_size, I = cfg->intermediate_size, q = cfg->n_heads * cfg->head_dim,
            kv = cfg->n_kv_heads * cfg->head_dim;
    out[0] = (op_case){DFRT_OP_MATMUL, {m, q + 2 * kv, H}, .name = "qkv"};
    out[1] = (op_case){DFRT_OP_MATMUL, {m, H, q}, .name = "o"};
    out[2] = (op_case){DFRT_OP_MATMUL, {m, 2 * I, H}, .name = "gate_up"};
    out[3] = (op_case){DFRT_OP_MATMUL, {m, H, I}, .name = "down"};
    out[4] = (op_case){DFRT_OP_MATMUL, {m, cfg->vocab_size, H}, .name = "lm_head"};
}
