/* Each op's host data, reference and tolerance for the op test (op_checks.h). */
#include "op_checks.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define F32_IN(h, i) ((float *)(h)->data[i])
#define S(h, i) ((h)->c->s[i])

size_t op_tensor_elems(const op_tensor *t) { return t->bytes / (t->type == OPT_BF16 ? 2 : 4); }

static void normal_f32(test_rng *r, float *x, size_t n, double scale) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(scale * test_normal(r));
}

static void decode_ref(host_case *h) {
    const op_case *c = h->c;
    memcpy(h->want[0], c->decoded + dfrt_df11_chunk_start(c->unit, (uint32_t)c->s[0]), h->t[0].bytes);
}

/* OPC_RANGE: the scale of element i of a (rows, k) matrix: `big` in row 0, `tiny` in row 1. */
static double range_scale(const host_case *h, size_t i, double big, double tiny) {
    if (!(h->c->flags & OPC_RANGE)) return 1;
    int64_t row = (int64_t)i / S(h, 2);
    return row == 0 ? big : row == 1 ? tiny : 1;
}

static void matmul_init(host_case *h, test_rng *r) {
    for (size_t i = 0; i < op_tensor_elems(&h->t[1]); i++)
        F32_IN(h, 1)[i] = (float)(range_scale(h, i, 1e6, 1e-9) * (2 * test_uniform(r) - 1));
    for (size_t i = 0; i < op_tensor_elems(&h->t[2]); i++)
        ((uint16_t *)h->data[2])[i] = test_bf16((float)(range_scale(h, i, 1e7, 1e-7) * 0.05 * test_normal(r)));
    if (h->data[3]) normal_f32(r, F32_IN(h, 3), op_tensor_elems(&h->t[3]), 1.0);
}
/* Y (tensor 0) = X . W^T (+ bias) in fp64, within tol * sum |x_k w_k| (+ |bias|); M, N, K are
 * the case's s[0..2]. */
static void matmul_reference(host_case *h, const float *x, const uint16_t *w, const float *bias) {
    int64_t m = S(h, 0), n = S(h, 1), k = S(h, 2);
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double ref = bias ? bias[j] : 0, mag = bias ? fabs(bias[j]) : 0;
            for (int64_t l = 0; l < k; l++) {
                double p = (double)x[i * k + l] * test_float(w[j * k + l]);
                ref += p;
                mag += fabs(p);
            }
            h->val[0][i * n + j] = ref;
            h->mag[0][i * n + j] = mag + 1e-30;
        }
}
static void matmul_ref(host_case *h) { matmul_reference(h, F32_IN(h, 1), (const uint16_t *)h->data[2], F32_IN(h, 3)); }
/* fp32 accumulation everywhere, except CUDA's tensor-core paths for M > 2 (GEMV up to 16 rows,
 * GEMM past them), which round X to BF16 first (2^-8 relative per product), and Vulkan's
 * cooperative-matrix GEMM for M > 16 where the device has it, which rounds X to fp16 (2^-11). */
static double matmul_tolerance(const char *backend, const op_case *c) {
    if (strcmp(backend, "cuda") == 0 && c->s[0] > 2) return 5e-3;
    if (strncmp(backend, "vulkan", 6) == 0 && c->s[0] > 16) return 1e-3;
    return 1e-4;
}

/* X and bias as for matmul; W is rows of the unit, decoded on the host. */
static void df11_matmul_init(host_case *h, test_rng *r) {
    for (size_t i = 0; i < op_tensor_elems(&h->t[1]); i++) F32_IN(h, 1)[i] = (float)(2 * test_uniform(r) - 1);
    if (h->data[2]) normal_f32(r, F32_IN(h, 2), op_tensor_elems(&h->t[2]), 1.0);
}
static void df11_matmul_ref(host_case *h) {
    matmul_reference(h, F32_IN(h, 1), h->c->decoded + S(h, 3), F32_IN(h, 2));
}

/* The last row's offset runs past the table: a row of zeros. */
static void embedding_init(host_case *h, test_rng *r) {
    uint32_t rows = (uint32_t)S(h, 0), dim = (uint32_t)S(h, 1), *off = (uint32_t *)h->data[2];
    size_t n = op_tensor_elems(&h->t[1]);
    for (size_t i = 0; i < n; i++) ((uint16_t *)h->data[1])[i] = test_bf16((float)test_normal(r));
    for (uint32_t i = 0; i < rows; i++) off[i] = (uint32_t)(test_rand(r) % (n / dim)) * dim;
    off[rows - 1] = (uint32_t)(n - dim / 2);
}
static void embedding_ref(host_case *h) {
    uint32_t rows = (uint32_t)S(h, 0), dim = (uint32_t)S(h, 1), *off = (uint32_t *)h->data[2];
    float *out = (float *)h->want[0], scale = h->c->flags & OPC_SCALE ? OPC_EMBED_SCALE : 1.0f;
    for (uint32_t i = 0; i < rows; i++)
        for (uint32_t k = 0; k < dim; k++)
            out[(size_t)i * dim + k] =
                off[i] + dim <= op_tensor_elems(&h->t[1]) ? test_float(((uint16_t *)h->data[1])[off[i] + k]) * scale : 0.0f;
}

static void rmsnorm_init(host_case *h, test_rng *r) {
    normal_f32(r, F32_IN(h, 0), op_tensor_elems(&h->t[0]), 3.0);
    normal_f32(r, F32_IN(h, 1), op_tensor_elems(&h->t[1]), 1.0);
    for (int i = 2; i < h->n; i++)
        if (h->data[i]) normal_f32(r, F32_IN(h, i), op_tensor_elems(&h->t[i]), 1.0);
}
/* The padding between rows keeps its values. With a residual, v = x + residual in fp32 (the
 * sum output, exact; x itself in place), normalised. */
static void rmsnorm_ref(host_case *h) {
    const bool res = h->c->flags & OPC_RESIDUAL;
    const int y = h->data[2] ? 2 : 0, sum = !res ? -1 : h->data[4] ? 4 : 0;
    uint32_t rows = (uint32_t)S(h, 0), heads = (uint32_t)S(h, 1), dim = (uint32_t)S(h, 2), stride = (uint32_t)S(h, 3);
    const float *x = F32_IN(h, 0), *w = F32_IN(h, 1);
    for (size_t i = 0; i < op_tensor_elems(&h->t[y]); i++) h->val[y][i] = F32_IN(h, y)[i];
    float *sv = sum >= 0 ? (float *)h->want[sum] : NULL, *v = malloc(dim * sizeof *v);
    if (!v) exit(2);
    if (sv) memcpy(sv, h->data[sum], h->t[sum].bytes);
    for (uint32_t i = 0; i < rows; i++)
        for (uint32_t hd = 0; hd < heads; hd++) {
            size_t at = (size_t)i * stride + (size_t)hd * dim;
            for (uint32_t k = 0; k < dim; k++) v[k] = res ? x[at + k] + F32_IN(h, 3)[at + k] : x[at + k];
            if (sv) memcpy(sv + at, v, dim * sizeof *v);
            double ss = 0;
            for (uint32_t k = 0; k < dim; k++) ss += (double)v[k] * v[k];
            double inv = 1.0 / sqrt(ss / dim + 1e-6);
            for (uint32_t k = 0; k < dim; k++) h->val[y][at + k] = v[k] * inv * w[k];
        }
    free(v);
}

static void rope_init(host_case *h, test_rng *r) {
    uint32_t rows = (uint32_t)S(h, 0), rot = (uint32_t)(S(h, 4) ? S(h, 4) : S(h, 2));
    int32_t *pos = (int32_t *)h->data[1];
    normal_f32(r, F32_IN(h, 0), op_tensor_elems(&h->t[0]), 1.0);
    for (uint32_t i = 0; i < rows; i++) pos[i] = (int32_t)(test_rand(r) % 4096);
    pos[0] = 0;
    for (uint32_t i = 0; i < rot / 2; i++) F32_IN(h, 2)[i] = (float)(1.0 / pow(10000.0, 2.0 * i / rot));
}
static void rope_ref(host_case *h) {
    uint32_t rows = (uint32_t)S(h, 0), heads = (uint32_t)S(h, 1), dim = (uint32_t)S(h, 2), stride = (uint32_t)S(h, 3);
    uint32_t half = (uint32_t)(S(h, 4) ? S(h, 4) : dim) / 2; /* values past 2 half stay as they are */
    double sc = h->c->flags & OPC_SCALE ? 1.25 : 1.0;
    const float *x = F32_IN(h, 0), *inv = F32_IN(h, 2);
    const int32_t *pos = (const int32_t *)h->data[1];
    double *want = h->val[0];
    for (size_t i = 0; i < op_tensor_elems(&h->t[0]); i++) want[i] = x[i];
    for (uint32_t i = 0; i < rows; i++)
        for (uint32_t k = 0; k < half; k++) {
            double a = (double)((float)pos[i] * inv[k]), c = cos(a) * sc, s = sin(a) * sc;
            for (uint32_t hd = 0; hd < heads; hd++) {
                size_t at = (size_t)i * stride + (size_t)hd * dim;
                want[at + k] = x[at + k] * c - x[at + k + half] * s;
                want[at + k + half] = x[at + k + half] * c + x[at + k] * s;
            }
        }
}

/* Rows to slots 0, 1, 2, 0, ...; row 1 (of more than 2) to a slot out of range (skipped by
 * kv_store, zeros from attention); positions from 0 (first row) to max_ctx - 1 (last row).
 * The caches start with values (keys a row does not store are attended to all the same). */
static void attention_init(host_case *h, test_rng *r) {
    uint32_t rows = (uint32_t)S(h, 0), max_ctx = (uint32_t)S(h, 4);
    int32_t *slots = (int32_t *)h->data[4], *pos = (int32_t *)h->data[5];
    if (h->c->flags & OPC_PREFILL) {
        /* Prefill: runs of 2/5, 2/5 and the rest of the rows in slots 1, 0, 2 (so that 64-row
         * tiles straddle runs), each at consecutive positions from a random start (the last
         * run ending at max_ctx - 1); row 5 in a slot out of range. */
        uint32_t len[3] = {rows * 2 / 5, rows * 2 / 5, rows - rows * 2 / 5 * 2}, at = 0;
        for (int run = 0; run < 3; run++) {
            uint32_t start = run == 2 ? max_ctx - len[2] : (uint32_t)(test_rand(r) % (max_ctx - len[run] + 1));
            for (uint32_t i = 0; i < len[run]; i++, at++) slots[at] = (int32_t[]){1, 0, 2}[run], pos[at] = (int32_t)(start + i);
        }
        if (rows > 5) slots[5] = 3;
    }
    normal_f32(r, F32_IN(h, 1), op_tensor_elems(&h->t[1]), 1.0);
    for (int i = 2; i <= 3; i++)
        for (size_t j = 0; j < op_tensor_elems(&h->t[i]); j++) {
            float v = (float)test_normal(r);
            if (h->t[i].type == OPT_BF16) ((uint16_t *)h->data[i])[j] = test_bf16(v);
            else F32_IN(h, i)[j] = v;
        }
    if (h->c->flags & OPC_PREFILL) return;
    for (uint32_t i = 0; i < rows; i++) {
        slots[i] = (int32_t)(i % 3);
        pos[i] = (int32_t)(test_rand(r) % max_ctx);
    }
    pos[0] = 0;
    pos[rows - 1] = (int32_t)max_ctx - 1;
    if (rows > 2) slots[1] = 3;
}

/* CUDA's tiled attention for prefills (BF16 caches, head_dim 64 or 128, more than 64 rows)
 * rounds Q and the probabilities to BF16: about 1e-2 relative. */
static bool attention_tiled(const char *backend, const op_case *c) {
    return strcmp(backend, "cuda") == 0 && (c->flags & OPC_KV_BF16) && (c->s[3] == 64 || c->s[3] == 128) &&
           c->s[0] >= 65;
}
static double attention_tolerance(const char *backend, const op_case *c) { return attention_tiled(backend, c) ? 3e-2 : 1e-4; }
static double attention_nmse(const char *backend, const op_case *c) { return attention_tiled(backend, c) ? 1e-4 : 1e-7; }
/* Value i of a cache tensor, fp32 or BF16. */
static double cache_value(const op_tensor *t, const void *cache, size_t i) {
    return t->type == OPT_BF16 ? test_float(((const uint16_t *)cache)[i]) : ((const float *)cache)[i];
}

/* Store (BF16 caches: rounded to nearest even), then attend; the padding of the output rows is
 * not written. */
static void attention_ref(host_case *h) {
    uint32_t rows = (uint32_t)S(h, 0), n_heads = (uint32_t)S(h, 1), n_kv = (uint32_t)S(h, 2), dim = (uint32_t)S(h, 3),
             max_ctx = (uint32_t)S(h, 4), width = n_kv * dim;
    uint32_t q_stride = (uint32_t)(op_tensor_elems(&h->t[1]) / rows), out_stride = n_heads * dim + 3;
    const float *src = F32_IN(h, 1);
    const int32_t *slots = (const int32_t *)h->data[4], *pos = (const int32_t *)h->data[5];
    void *kw = h->want[2], *vw = h->want[3];
    const op_tensor *kt = &h->t[2];
    memcpy(kw, h->data[2], h->t[2].bytes);
    memcpy(vw, h->data[3], h->t[3].bytes);
    for (uint32_t i = 0; i < rows; i++) {
        if (slots[i] >= 3) continue;
        size_t dst = ((size_t)slots[i] * max_ctx + (size_t)pos[i]) * width;
        const float *k = src + (size_t)i * q_stride + n_heads * dim, *v = src + (size_t)i * q_stride + (n_heads + n_kv) * dim;
        for (uint32_t e = 0; e < width; e++) {
            if (kt->type == OPT_BF16) {
                ((uint16_t *)kw)[dst + e] = test_bf16(k[e]);
                ((uint16_t *)vw)[dst + e] = test_bf16(v[e]);
            } else {
                ((float *)kw)[dst + e] = k[e];
                ((float *)vw)[dst + e] = v[e];
            }
        }
    }
    double scale = (float)(1.0 / sqrt((double)dim)), *score = malloc(max_ctx * sizeof *score);
    for (size_t i = 0; i < op_tensor_elems(&h->t[0]); i++) h->mag[0][i] = i % out_stride < n_heads * dim ? NAN : -1;
    for (uint32_t i = 0; i < rows; i++)
        for (uint32_t hd = 0; hd < n_heads && slots[i] < 3; hd++) {
            double *o = h->val[0] + (size_t)i * out_stride + (size_t)hd * dim;
            const float *q = src + (size_t)i * q_stride + (size_t)hd * dim;
            size_t g = hd / (n_heads / n_kv) * dim, base = (size_t)slots[i] * max_ctx * width;
            double best = -INFINITY, sum = 0;
            /* a window's keys: the last W of 0..pos */
            int32_t first = 0;
            if ((h->c->flags & OPC_WINDOW) && pos[i] >= (int32_t)opc_window(max_ctx)) first = pos[i] - (int32_t)opc_window(max_ctx) + 1;
            for (int32_t j = first; j <= pos[i]; j++) {
                double d = 0;
                for (uint32_t k = 0; k < dim; k++) d += (double)q[k] * cache_value(kt, kw, base + (size_t)j * width + g + k);
                score[j] = d * scale;
                if (h->c->flags & OPC_SOFTCAP) score[j] = OPC_SOFTCAP_VALUE * tanh(score[j] / OPC_SOFTCAP_VALUE);
                if (score[j] > best) best = score[j];
            }
            for (int32_t j = first; j <= pos[i]; j++) {
                double p = exp(score[j] - best);
                sum += p;
                for (uint32_t k = 0; k < dim; k++) o[k] += p * cache_value(kt, vw, base + (size_t)j * width + g + k);
            }
            for (uint32_t k = 0; k < dim; k++) o[k] /= sum;
        }
    free(score);
}

static void silu_mul_init(host_case *h, test_rng *r) { normal_f32(r, F32_IN(h, 1), op_tensor_elems(&h->t[1]), 4.0); }
static void silu_mul_ref(host_case *h) {
    uint32_t rows = (uint32_t)S(h, 0), width = (uint32_t)S(h, 1), stride = (uint32_t)S(h, 2), up = (uint32_t)S(h, 3);
    const float *in = F32_IN(h, 1);
    const bool gelu = h->c->flags & OPC_GELU;
    for (uint32_t i = 0; i < rows; i++)
        for (uint32_t k = 0; k < width; k++) {
            double g = in[(size_t)i * stride + k];
            double act = gelu ? 0.5 * g * (1 + tanh(sqrt(2 / M_PI) * (g + 0.044715 * g * g * g))) : g / (1 + exp(-g));
            h->val[0][(size_t)i * width + k] = act * in[(size_t)i * stride + up + k];
        }
}

static void add_init(host_case *h, test_rng *r) {
    normal_f32(r, F32_IN(h, 0), op_tensor_elems(&h->t[0]), 1.0);
    normal_f32(r, F32_IN(h, 1), op_tensor_elems(&h->t[1]), 1.0);
}
static void add_ref(host_case *h) {
    float *y = (float *)h->want[h->want[0] ? 0 : 2];
    for (size_t i = 0; i < op_tensor_elems(&h->t[1]); i++) y[i] = F32_IN(h, 0)[i] + F32_IN(h, 1)[i];
}

/* Ties go to the first index, NaN never wins, the padding past n is not looked at. */
static void argmax_init(host_case *h, test_rng *r) {
    uint32_t rows = (uint32_t)S(h, 0), n = (uint32_t)S(h, 1), stride = (uint32_t)S(h, 2);
    float *x = F32_IN(h, 1);
    normal_f32(r, x, op_tensor_elems(&h->t[1]), 1.0);
    for (uint32_t i = 0; i < rows; i++) {
        uint32_t at = (uint32_t[]){17, 4000, n - 1, 0}[i % 4] % n;
        x[(size_t)i * stride + at] = 100.0f + (float)i;
        if (i % 4 == 1 && at + 1 < n) x[(size_t)i * stride + at + 1] = 100.0f + (float)i; /* a tie after it */
        if (i % 4 == 2) x[(size_t)i * stride + 5 % n] = NAN;
        if (i % 4 == 2 && stride > n) x[(size_t)i * stride + n] = 1000.0f;
    }
}
static void argmax_ref(host_case *h) {
    uint32_t rows = (uint32_t)S(h, 0), n = (uint32_t)S(h, 1), stride = (uint32_t)S(h, 2);
    const float *x = F32_IN(h, 1);
    for (uint32_t i = 0; i < rows; i++) {
        int32_t best = 0;
        for (uint32_t j = 1; j < n; j++)
            if (x[(size_t)i * stride + j] > x[(size_t)i * stride + best] || isnan(x[(size_t)i * stride + best])) best = (int32_t)j;
        ((int32_t *)h->want[0])[i] = best;
    }
}

const op_check op_checks[DFRT_OP_COUNT] = {
    [DFRT_OP_DF11_DECODE] = {NULL, decode_ref},                          /* bit-exact */
    [DFRT_OP_MATMUL] = {matmul_init, matmul_ref, 1e-4, 0, 5e-4, matmul_tolerance},
    [DFRT_OP_DF11_MATMUL] = {df11_matmul_init, df11_matmul_ref, 1e-4, 0, 5e-4, matmul_tolerance}, /* as matmul */
    [DFRT_OP_EMBEDDING] = {embedding_init, embedding_ref},               /* bit-exact */
    [DFRT_OP_RMSNORM] = {rmsnorm_init, rmsnorm_ref, 2e-5, 1e-3, 1e-7},
    [DFRT_OP_ROPE] = {rope_init, rope_ref, 1e-5, 1.0, 1e-7},
    [DFRT_OP_ATTENTION] = {attention_init, attention_ref, 1e-4, 0.05, 1e-7, attention_tolerance, attention_nmse}, /* the caches bit-exact */
    [DFRT_OP_SILU_MUL] = {silu_mul_init, silu_mul_ref, 1e-5, 1e-3, 1e-7},
    [DFRT_OP_ADD] = {add_init, add_ref},                                 /* bit-exact */
    [DFRT_OP_ARGMAX] = {argmax_init, argmax_ref},                        /* exact */
};

