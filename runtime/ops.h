/*
 * dfrt ops: each op declared once. Its dfrt_<op>_args struct goes unchanged from the caller
 * (the executor, a test, the bench) through the validating wrapper dfrt_op_<op>() to the
 * backend, whose launcher resolves the device pointers itself. Included by dfrt.h.
 *
 * Tensor arguments are {buffer, byte offset}; the comment on each says its dtype and shape.
 * Element strides and offsets inside a tensor are in elements of its type. Rows of int32
 * `positions`/`slots` and uint32 `offsets` live in device buffers: out-of-range values there
 * never make a kernel read or write outside its buffers (the row is skipped or zero-filled).
 *
 * The wrappers check what generic code can check from the op's descriptor (runtime/ops.c):
 * every buffer belongs to the backend, every tensor lies inside its buffer and is aligned to
 * its element, outputs do not overlap inputs (except where an op allows exactly in place),
 * and the op's own rules (dimensions, eps, n_heads % n_kv...). Bad arguments are
 * DFRT_INVALID_ARGUMENT naming the op and the tensor; a backend that cannot run a case is
 * DFRT_UNSUPPORTED with its reason (dfrt_backend_supports asks first).
 */
#ifndef DFRT_OPS_H
#define DFRT_OPS_H

#ifndef DFRT_H
#error "include dfrt.h, which includes ops.h"
#endif

typedef struct dfrt_tensor_arg {
    const dfrt_buffer *buf; /* NULL only for an optional tensor that is absent */
    size_t offset;          /* bytes */
} dfrt_tensor_arg;

typedef enum dfrt_op {
    DFRT_OP_DF11_DECODE,
    DFRT_OP_MATMUL,
    DFRT_OP_DF11_MATMUL,
    DFRT_OP_EMBEDDING,
    DFRT_OP_RMSNORM,
    DFRT_OP_ROPE,
    DFRT_OP_KV_STORE,
    DFRT_OP_ATTENTION,
    DFRT_OP_SILU_MUL,
    DFRT_OP_ADD,
    DFRT_OP_ARGMAX,
    DFRT_OP_COUNT
} dfrt_op;

/* "df11_decode", "matmul", ... */
DFRT_API const char *dfrt_op_name(dfrt_op op);

/* Decodes chunks [first_chunk, first_chunk + n_chunks) of a device unit into out: weight
 * dfrt_df11_chunk_start(first_chunk) lands at out.offset. n_chunks = 0 means to the last
 * chunk. Bit-exact on every backend. */
typedef struct dfrt_df11_decode_args {
    const dfrt_device_df11 *unit;
    uint32_t first_chunk, n_chunks;
    dfrt_tensor_arg out; /* bf16 (positions[first_chunk + n_chunks] - positions[first_chunk]) */
} dfrt_df11_decode_args;

/* y = x . w^T (+ bias), fp32 accumulation; w as checkpoints store it. */
typedef struct dfrt_matmul_args {
    dfrt_tensor_arg y;    /* fp32 (m, n); overlaps no input */
    dfrt_tensor_arg x;    /* fp32 (m, k) */
    dfrt_tensor_arg w;    /* bf16 (n, k), row-major */
    dfrt_tensor_arg bias; /* fp32 (n), optional (buf NULL) */
    int64_t m, n, k;      /* each 1 .. 2^31 - 1 */
} dfrt_matmul_args;

/* y = x . W^T (+ bias) with W the BF16 weights [first, first + n k) of a device DF11 unit, row
 * r of W being weights first + r k .. first + r k + k - 1: the decode is fused into the
 * matmul, and no BF16 copy of the unit or of W is kept (a backend may decode a bounded piece
 * of rows at a time: CUDA for M > 8, at most 64 M weights). Bit-identical to dfrt_op_matmul
 * on the same backend over the decoded weights stored 16-byte aligned (the executor's
 * q|k|v, o, gate|up, down and lm_head are such row ranges). */
typedef struct dfrt_df11_matmul_args {
    dfrt_tensor_arg y;    /* fp32 (m, n); overlaps no input */
    dfrt_tensor_arg x;    /* fp32 (m, k) */
    const dfrt_device_df11 *unit;
    uint64_t first;       /* the unit's weight index of W[0, 0]; first + n k <= the unit's n */
    dfrt_tensor_arg bias; /* fp32 (n), optional (buf NULL) */
    int64_t m, n, k;      /* each 1 .. 2^31 - 1 */
} dfrt_df11_matmul_args;

/* out[r, 0..dim) = fp32(table[offsets[r] .. offsets[r] + dim)); a row beyond the table gives
 * zeros. */
typedef struct dfrt_embedding_args {
    dfrt_tensor_arg out;     /* fp32 (rows, dim) */
    dfrt_tensor_arg table;   /* bf16 (table_elems) */
    dfrt_tensor_arg offsets; /* uint32 (rows): element index of each row's first value */
    uint64_t table_elems;
    uint32_t rows, dim;
    float scale; /* each value multiplied by it in fp32 (Gemma's sqrt(hidden_size)); 0: 1 */
} dfrt_embedding_args;

/* For each (row, head) vector v = x[r * row_stride + h * dim + 0..dim):
 * y = v / sqrt(mean(v^2) + eps) * w. y may be x exactly.
 * With a residual (the residual add before a norm, fused): v = x + residual (fp32, as the add
 * op rounds it) is also stored to sum, then normalised as above; sum may be x exactly, y may
 * not overlap it. residual and sum are given together or not at all. */
typedef struct dfrt_rmsnorm_args {
    dfrt_tensor_arg y;        /* fp32, rows of row_stride, heads * dim used */
    dfrt_tensor_arg x;        /* fp32, the same layout */
    dfrt_tensor_arg w;        /* fp32 (dim) */
    dfrt_tensor_arg residual; /* optional: fp32, the same layout as x */
    dfrt_tensor_arg sum;      /* with residual: fp32, the same layout */
    uint32_t rows, heads, dim, row_stride;
    float eps; /* 0 .. 1 */
} dfrt_rmsnorm_args;

/* Rotary embedding in place, rotate-half convention (transformers' Llama and Qwen): for each
 * (row, head) vector v and i < dim/2, a = positions[r] * inv_freq[i] (fp32):
 * (v[i], v[i+dim/2]) <- (v[i] cos a - v[i+dim/2] sin a, v[i+dim/2] cos a + v[i] sin a). */
/* (The op wrappers hand backends rot_dim and scale resolved: never 0.) */
typedef struct dfrt_rope_args {
    dfrt_tensor_arg x;         /* fp32, rows of row_stride, heads * dim used */
    dfrt_tensor_arg positions; /* int32 (rows) */
    dfrt_tensor_arg inv_freq;  /* fp32 (rot / 2) */
    uint32_t rows, heads, dim, row_stride; /* dim even */
    /* rot: the first rot values of each head are rotated (pairs i, i + rot / 2), the rest left
     * as they are (partial rotary, as Phi-3's partial_rotary_factor); even, <= dim; 0: dim */
    uint32_t rot_dim;
    /* cos and sin multiplied by it (LongRoPE's attention factor: q and k grow by it); 0: 1 */
    float scale;
} dfrt_rope_args;

/* What a KV cache stores: fp32, or BF16 (half the memory; values rounded to nearest even when
 * stored, and attention's math in fp32 over them). A BF16 cache's offset is 4-byte aligned
 * and its rows (width; attention: dim) have an even number of values. */
typedef enum dfrt_kv_type { DFRT_KV_F32 = 0, DFRT_KV_BF16 = 1 } dfrt_kv_type;

/* "f32", "bf16"; "?" for an invalid value. */
DFRT_API const char *dfrt_kv_type_name(dfrt_kv_type type);

/* Row r's K (src[r * src_stride + k_col ..]) and V (src[r * src_stride + v_col ..]) go to
 * cache position (slots[r], positions[r]). */
typedef struct dfrt_kv_store_args {
    dfrt_tensor_arg k_cache;   /* kv_type (n_slots, max_ctx, width) */
    dfrt_tensor_arg v_cache;   /* kv_type (n_slots, max_ctx, width) */
    dfrt_tensor_arg src;       /* fp32 (rows, src_stride) */
    dfrt_tensor_arg slots;     /* int32 (rows) */
    dfrt_tensor_arg positions; /* int32 (rows) */
    uint32_t rows, width, src_stride, k_col, v_col, n_slots, max_ctx;
    dfrt_kv_type kv_type;
} dfrt_kv_store_args;

/* Causal attention with grouped-query heads: query row r, head h (q[r * q_stride + h * dim ..])
 * attends to keys 0..positions[r] of sequence slots[r] in KV head h / (n_heads / n_kv), with
 * softmax(s) in fp32 over the scores s = q.k * scale; the result goes to out[r * out_stride +
 * h * dim ..]. With a window W > 0 (sliding-window layers: Gemma 3, Mistral, Phi-3), only the
 * last W keys, positions[r] - W < j <= positions[r], as transformers' sliding-window mask. With
 * softcap c > 0 (Gemma's attn_logit_softcapping), s = c tanh(s / c) before the softmax. */
typedef struct dfrt_attention_args {
    dfrt_tensor_arg out;       /* fp32 (rows, out_stride), n_heads * dim used */
    dfrt_tensor_arg q;         /* fp32 (rows, q_stride), n_heads * dim used */
    dfrt_tensor_arg k_cache;   /* kv_type (n_slots, max_ctx, n_kv * dim) */
    dfrt_tensor_arg v_cache;   /* kv_type (n_slots, max_ctx, n_kv * dim) */
    dfrt_tensor_arg slots;     /* int32 (rows) */
    dfrt_tensor_arg positions; /* int32 (rows) */
    uint32_t rows, n_heads, n_kv, dim, q_stride, out_stride, n_slots, max_ctx;
    float scale;
    dfrt_kv_type kv_type;
    uint32_t window; /* keys seen, 0: all */
    float softcap;   /* 0: none */
} dfrt_attention_args;

/* The gate's activation in silu_mul: silu(x) = x / (1 + e^-x) (Llama, Qwen, Mistral, Phi), or
 * GELU's tanh approximation, x / 2 (1 + tanh(y)) with y = sqrt(2 / pi) (x + 0.044715 x^3)
 * (Gemma's gelu_pytorch_tanh), computed as x / (1 + e^(-2y)), the same function without the
 * cancellation of 1 + tanh(y) for negative x. */
typedef enum dfrt_gate_act { DFRT_GATE_SILU = 0, DFRT_GATE_GELU_TANH = 1 } dfrt_gate_act;

/* out[r, i] = act(in[r * in_stride + i]) * in[r * in_stride + up_col + i] for i < width. */
typedef struct dfrt_silu_mul_args {
    dfrt_tensor_arg out; /* fp32 (rows, width) */
    dfrt_tensor_arg in;  /* fp32 (rows, in_stride): gate at column 0, up at column up_col */
    uint32_t rows, width, in_stride, up_col;
    dfrt_gate_act act;
} dfrt_silu_mul_args;

/* y = a + b; y may be a or b exactly. */
typedef struct dfrt_add_args {
    dfrt_tensor_arg y, a, b; /* fp32 (n) each */
    uint64_t n;
} dfrt_add_args;

/* out[r] = the first index of the largest of x[r * stride + 0..n) (NaN never wins). */
typedef struct dfrt_argmax_args {
    dfrt_tensor_arg out; /* int32 (rows) */
    dfrt_tensor_arg x;   /* fp32 (rows, stride), n used */
    uint32_t rows, n, stride;
} dfrt_argmax_args;

/* Every op as X(name, ENUM): the vtable (backend.h) and the wrappers (ops.c) are generated
 * from this list, so a new op is a line here, its args struct and prototype above and below,
 * its descriptor in ops.c, and its implementations in the backends. The fused ops are those
 * the executor can do without (df11_matmul: decode the unit, then matmul), so a backend may
 * implement only DFRT_FOR_EACH_BASIC_OP. */
#define DFRT_FOR_EACH_OP(X) DFRT_FOR_EACH_BASIC_OP(X) DFRT_FOR_EACH_FUSED_OP(X)
#define DFRT_FOR_EACH_FUSED_OP(X) X(df11_matmul, DFRT_OP_DF11_MATMUL)
#define DFRT_FOR_EACH_BASIC_OP(X)                                                                      \
    X(df11_decode, DFRT_OP_DF11_DECODE)                                                                \
    X(matmul, DFRT_OP_MATMUL)                                                                          \
    X(embedding, DFRT_OP_EMBEDDING)                                                                    \
    X(rmsnorm, DFRT_OP_RMSNORM)                                                                        \
    X(rope, DFRT_OP_ROPE)                                                                              \
    X(kv_store, DFRT_OP_KV_STORE)                                                                      \
    X(attention, DFRT_OP_ATTENTION)                                                                    \
    X(silu_mul, DFRT_OP_SILU_MUL)                                                                      \
    X(add, DFRT_OP_ADD)                                                                                \
    X(argmax, DFRT_OP_ARGMAX)

/* Enqueue an op on b's stream or command buffer after validating its arguments. */
DFRT_API dfrt_status dfrt_op_df11_decode(dfrt_backend *b, const dfrt_df11_decode_args *a);
DFRT_API dfrt_status dfrt_op_matmul(dfrt_backend *b, const dfrt_matmul_args *a);
DFRT_API dfrt_status dfrt_op_df11_matmul(dfrt_backend *b, const dfrt_df11_matmul_args *a);
DFRT_API dfrt_status dfrt_op_embedding(dfrt_backend *b, const dfrt_embedding_args *a);
DFRT_API dfrt_status dfrt_op_rmsnorm(dfrt_backend *b, const dfrt_rmsnorm_args *a);
DFRT_API dfrt_status dfrt_op_rope(dfrt_backend *b, const dfrt_rope_args *a);
DFRT_API dfrt_status dfrt_op_kv_store(dfrt_backend *b, const dfrt_kv_store_args *a);
DFRT_API dfrt_status dfrt_op_attention(dfrt_backend *b, const dfrt_attention_args *a);
DFRT_API dfrt_status dfrt_op_silu_mul(dfrt_backend *b, const dfrt_silu_mul_args *a);
DFRT_API dfrt_status dfrt_op_add(dfrt_backend *b, const dfrt_add_args *a);
DFRT_API dfrt_status dfrt_op_argmax(dfrt_backend *b, const dfrt_argmax_args *a);

/* Not an op: Y = X . W^T by the device vendor's library (cuBLAS on CUDA), the reference that
 * `dfrt bench ops --reference` sets beside dfrt's matmul. The executor never uses it; it has
 * no CPU reference. BF16 X (the library's BF16 GEMM takes no fp32 X), fp32 accumulation. */
typedef struct dfrt_vendor_matmul_args {
    dfrt_tensor_arg y; /* fp32 (m, n); overlaps no input */
    dfrt_tensor_arg x; /* bf16 (m, k) */
    dfrt_tensor_arg w; /* bf16 (n, k), row-major */
    int64_t m, n, k;   /* each 1 .. 2^31 - 1 */
} dfrt_vendor_matmul_args;

/* Validates args as dfrt_op_matmul does, then enqueues the library's matmul on b's stream.
 * *out_library (may be NULL): the library, its version and file (a string b owns).
 * DFRT_UNSUPPORTED where the backend has no vendor library (CPU, Vulkan); DFRT_UNAVAILABLE
 * where the library cannot be loaded (the message names the files tried). */
DFRT_API dfrt_status dfrt_vendor_matmul(dfrt_backend *b, const dfrt_vendor_matmul_args *args, const char **out_library);

/* Whether b can run this op with these arguments (args: the op's dfrt_<op>_args). false with
 * the reason in dfrt_last_error() when the arguments are invalid (DFRT_INVALID_ARGUMENT) or
 * the backend declines the case (DFRT_UNSUPPORTED: an op it lacks, a head_dim or binding size
 * beyond its limits); *out_status says which. */
DFRT_API bool dfrt_backend_supports(dfrt_backend *b, dfrt_op op, const void *args, dfrt_status *out_status);

/* The kernel b would run for this matmul or df11_matmul (op DFRT_OP_MATMUL or
 * DFRT_OP_DF11_MATMUL, args its dfrt_<op>_args), in a few words ("subgroup GEMV", "wgmma
 * GEMM, K split 4 ways", "DF11 decode + fp32 GEMM"...; what `dfrt bench ops` prints); NULL for
 * another op, invalid arguments, a case the backend declines, or a backend that does not say.
 * The text is static. */
DFRT_API const char *dfrt_matmul_kernel(dfrt_backend *b, dfrt_op op, const void *args);

/* Device time per op, for profiling (dfrt bench model --profile). While a profile is set on a
 * backend, each op enqueued on it is timed on its own: device timestamps around it, then a
 * wait for it (so work is not recorded: run models op by op, dfrt_model_options.eager), and
 * its milliseconds and one call are added to ms[op] and calls[op]. The first failure of a
 * timer is kept in status (the op itself still runs). NULL stops profiling. */
typedef struct dfrt_op_profile {
    double ms[DFRT_OP_COUNT];
    uint64_t calls[DFRT_OP_COUNT];
    dfrt_status status;
} dfrt_op_profile;
DFRT_API void dfrt_backend_set_profile(dfrt_backend *b, dfrt_op_profile *profile);

#endif /* DFRT_OPS_H */
