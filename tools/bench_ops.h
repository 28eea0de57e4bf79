/* dfrt bench ops's parts (bench_ops.c measures, bench_ops_table.c prints the table). Not
 * installed. */
#ifndef DFRT_TOOLS_BENCH_OPS_H
#define DFRT_TOOLS_BENCH_OPS_H

#include "../tests/op_cases.h"
#include "bench.h"

#define MAX_M 16
#define LM_HEAD 4 /* lm_head's index in the shapes */

/* A DF11 unit compressed here: the encoder's output and the validated unit over it. */
typedef struct host_unit {
    dfrt_df11_encoded e;
    bench_unit u;
    int n_parts;
    uint64_t n;
} host_unit;

/* The model's layer as one DF11 unit: q, k, v, o, gate, up, down (the reference's order, and
 * the executor's: its matmuls are row ranges of the unit). */
typedef struct layer_unit {
    host_unit h;
    uint16_t *weights;
    uint64_t n;
} layer_unit;

/* What to measure (the command line), and lm_head's unit, made once for every backend. */
typedef struct ops_plan {
    const dfrt_config *cfg;
    const char *shapes_name;
    op_case shapes[OP_MODEL_MATMULS]; /* qkv, o, gate_up, down, lm_head (op_model_matmuls) */
    int ms[MAX_M], n_m;
    const char *ops;
    double min_time;
    /* lm_head as a DF11 unit, compressed when a backend first runs df11_matmul: the layer's
     * weights repeated (the same statistics), so that its decoded weights are those of the
     * BF16 matmul's first copy of W */
    host_unit head;
    int head_state; /* 0 not made yet, 1 made, -1 failed */
    char head_note[160];
    int reference; /* --reference */
} ops_plan;

/* Whether the plan measures op ("copy", "decode", "matmul", "layer"). */
int ops_wants(const ops_plan *p, const char *op);

/* A compressed unit's bytes as a file holds them. */
uint64_t host_unit_bytes(const host_unit *h);

/* The terminal table of the figures in r, the backends `names` side by side. */
void ops_print_table(const bench_report *r, char names[][16], int n, const ops_plan *p, const layer_unit *L);

#endif
