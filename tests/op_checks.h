/* The op test's side of each op: its host data, its reference and its tolerance. */
#ifndef DFRT_OP_CHECKS_H
#define DFRT_OP_CHECKS_H

#include "op_cases.h"
#include "test.h"

/* A case on the host: its tensors, the inputs' contents (in-outs: their initial contents),
 * and what each output must be: bytes for exact outputs, values for the others, each within
 * tol * mag (mag NAN: |value| + floor; mag < 0: not looked at). */
typedef struct host_case {
    const op_case *c;
    op_tensor t[OP_MAX_TENSORS];
    int n;
    uint8_t *data[OP_MAX_TENSORS], *want[OP_MAX_TENSORS];
    double *val[OP_MAX_TENSORS], *mag[OP_MAX_TENSORS];
} host_case;

typedef struct op_check {
    void (*init)(host_case *h, test_rng *r); /* the inputs (zeros if NULL) */
    void (*reference)(host_case *h);         /* the outputs */
    /* outputs that are not bit-exact: |got - want| <= tol * (|want| + floor) (or tol * the
     * reference's own scale), and against the CPU backend a normalised mean squared error
     * sum (got - cpu)^2 / sum cpu^2 <= nmse */
    double tol, floor, nmse;
    double (*tolerance)(const char *backend, const op_case *c); /* tol when it depends on the case */
    double (*nmse_tolerance)(const char *backend, const op_case *c); /* nmse likewise */
} op_check;

/* Indexed by the case's op. */
extern const op_check op_checks[DFRT_OP_COUNT];

/* Elements of a tensor. */
size_t op_tensor_elems(const op_tensor *t);

#endif
