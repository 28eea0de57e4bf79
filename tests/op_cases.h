/* The op cases, shared by the op test (tests/test_ops.c and test_ops_df11.c: small shapes, on
 * every backend, against a host reference and the CPU backend) and `dfrt bench ops` (tools/bench_ops.c: a
 * model's shapes, timed). A case is one line: an op, its shape and parameters. Each op's kind
 * (op_cases.c) says once which tensors the op takes for a case (bytes, element type, input or
 * output) and how the case and its tensors become the op's dfrt_<op>_args.
 *
 * Adding an op: its kind here (op_cases.c: its tensors and args), its host data, reference
 * and tolerance (op_checks.c), and its case lines in test_ops.c's table. */
#ifndef DFRT_OP_CASES_H
#define DFRT_OP_CASES_H

#include "dfrt.h"

enum { OP_MAX_TENSORS = 6, OP_MAX_CALLS = 2 };

/* op_case.flags */
enum {
    OPC_BIAS = 1,     /* matmul, df11_matmul: with a bias */
    OPC_IN_PLACE = 2, /* rmsnorm, add: the output is the (first) input */
    OPC_CORRUPT = 4,  /* df11_decode, df11_matmul of a corrupted unit: OK or DFRT_FORMAT_ERROR, output not
                       * compared */
    OPC_KV_BF16 = 8,  /* attention: BF16 KV caches */
    OPC_PREFILL = 16, /* attention: rows in runs of consecutive positions of one slot, as prefills
                       * store and attend (else round robin over the slots, random positions) */
    OPC_RESIDUAL = 32, /* rmsnorm: with a residual added first, its sum stored (to x itself with
                        * OPC_IN_PLACE, y then apart) */
    OPC_RANGE = 64,    /* matmul: rows of X and W beyond fp16's range (x 1e6, w x 1e7) and far below
                        * its normal range (x 1e-9, w x 1e-7), which tensor paths in fp16 must not
                        * turn into Inf or 0 */
    OPC_SCALE = 128,   /* rope: cos and sin scaled by 1.25 (LongRoPE's attention factor); embedding:
                        * values scaled by OPC_EMBED_SCALE (Gemma's sqrt(hidden_size)) */
    OPC_GELU = 256,    /* silu_mul: the GELU-tanh gate (Gemma) */
    OPC_WINDOW = 512,  /* attention: a sliding window of opc_window(max_ctx) keys */
    OPC_SOFTCAP = 1024, /* attention: scores soft-capped at OPC_SOFTCAP_VALUE */
};

#define OPC_SOFTCAP_VALUE 1.5f
/* The window of an OPC_WINDOW case: a fifth of the context (1 key for the smallest). */
static inline uint32_t opc_window(int64_t max_ctx) { return max_ctx / 5 > 0 ? (uint32_t)(max_ctx / 5) : 1u; }

#define OPC_EMBED_SCALE 50.596443f /* sqrt(2560) in fp32 */

typedef struct op_case {
    dfrt_op op;
    /* The shape, in the order of the op's line in op_cases.c:
     *   df11_decode  first_chunk, n_chunks (0: to the end)
     *   matmul       m, n, k
     *   df11_matmul  m, n, k, first (W: weights [first, first + n k) of the unit)
     *   embedding    rows, dim (a table of 300 rows)
     *   rmsnorm      rows, heads, dim, row_stride
     *   rope         rows, heads, dim, row_stride, rot_dim (0: dim)
     *   attention    rows, n_heads, n_kv, dim, max_ctx (3 slots; kv_store first, as the executor does)
     *   silu_mul     rows, width, in_stride, up_col
     *   add          n
     *   argmax       rows, n, stride */
    int64_t s[5];
    unsigned flags;
    size_t off[2]; /* matmul: byte offsets of X and W inside their buffers (unaligned cases) */
    const char *name;             /* a label: the unit's for the DF11 ops, the bench's ("qkv", ...); or NULL */
    const dfrt_df11_unit *unit;   /* df11_decode, df11_matmul: the host unit (uploaded per backend) */
    const uint16_t *decoded;      /* df11_decode, df11_matmul: the unit decoded on the host (the reference) */
} op_case;

/* op_tensor.type */
enum { OPT_F32, OPT_BF16, OPT_I32 };
/* op_tensor.role */
enum { OPT_ABSENT, OPT_IN, OPT_OUT, OPT_INOUT };

typedef struct op_tensor {
    const char *name;
    size_t bytes;
    size_t offset; /* inputs: byte offset inside the buffer (0 unless the case says) */
    int type, role;
    int exact; /* outputs: bit-exact on every backend (else within the op's tolerance) */
} op_tensor;

/* The op's name for messages ("kv_store + attention" for attention cases). */
const char *op_case_kind_name(const op_case *c);

/* "matmul M=9 N=40 K=64 +bias offsets 4, 2" */
void op_case_describe(const op_case *c, char *out, size_t size);

/* The case's tensors in the order of its kind (at most OP_MAX_TENSORS); returns how many. */
int op_case_tensors(const op_case *c, op_tensor *t);

/* The op calls of a case with tensor i at t[i] (unit: the DF11 ops' device unit): ops[j] and
 * args[j] (each a dfrt_<op>_args) for j < the count returned. */
typedef union op_args {
#define OP_ARGS_MEMBER(name, ENUM) dfrt_##name##_args name;
    DFRT_FOR_EACH_OP(OP_ARGS_MEMBER)
#undef OP_ARGS_MEMBER
} op_args;
int op_case_calls(const op_case *c, const dfrt_tensor_arg *t, const dfrt_device_df11 *unit, dfrt_op *ops,
                  op_args *args);

/* Enqueues one call through its dfrt_op_<op> wrapper. */
dfrt_status op_call(dfrt_backend *b, dfrt_op op, const op_args *args);

/* Enqueues every call of the case. */
dfrt_status op_case_run(dfrt_backend *b, const op_case *c, const dfrt_tensor_arg *t, const dfrt_device_df11 *unit);

/* The matmuls the executor runs for a model, at M rows, as cases named qkv, o, gate_up, down
 * (one layer's, in the order of its weights in a layer block) and lm_head. */
enum { OP_MODEL_MATMULS = 5 };
void op_model_matmuls(const dfrt_config *cfg, int64_t m, op_case out[OP_MODEL_MATMULS]);

#endif
