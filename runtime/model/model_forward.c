/* One forward pass of a Llama-family decoder over a set of token rows, enqueued on the model's
 * backend: embedding (Gemma: scaled), then per layer RMSNorm, fused q|k|v projection (+ bias),
 * q/k norms, RoPE (the layer's table), KV store, attention (the layer's window), o projection
 * (Gemma: normalised), residual, RMSNorm, fused gate|up projection, SwiGLU or GELU-tanh gate,
 * down projection (Gemma: normalised), residual; final norm and lm_head for the rows that want
 * logits (their soft-capping, Gemma's, on the host when they are read).
 * Matmuls over DF11 units decode inside the matmul (df11_matmul); a backend without it gets
 * each unit decoded whole into the scratch buffer right before its matmuls. */
#include "model/model_internal.h"

#include <math.h>

/* A tensor argument: buffer and byte offset. */
static inline dfrt_tensor_arg at(const dfrt_buffer *buf, size_t offset) { return (dfrt_tensor_arg){buf, offset}; }

/* The BF16 block holding a layer's projections or a table: the resident one, or, where the
 * backend has no fused DF11 matmul, the unit decoded whole into the scratch buffer. NULL when
 * the matmuls read the unit itself. */
static dfrt_status weights_block(dfrt_model *m, const dfrt_device_df11 *unit, dfrt_buffer *resident,
                                 dfrt_buffer **out) {
    *out = resident;
    if (!unit || m->fused) return DFRT_OK;
    *out = m->scratch;
    return dfrt_op_df11_decode(m->b, &(dfrt_df11_decode_args){.unit = unit, .out = at(m->scratch, 0)});
}

static uint64_t device_chunk_start(const void *unit, uint32_t chunk) {
    return ((const dfrt_device_df11 *)unit)->positions[chunk];
}

/* x[r] = embedding of tokens[r]. From a compressed table, only the chunks holding each row
 * are decoded, into row slots, embed_row_slots rows at a time. */
static dfrt_status embed(dfrt_model *m, const int32_t *tokens, uint32_t rows) {
    const dfrt_device_df11 *u = m->embed.unit;
    if (!u) {
        for (uint32_t r = 0; r < rows; r++) m->host_offsets[r] = (uint32_t)((uint64_t)tokens[r] * m->hidden);
        DFRT_TRY(dfrt_buffer_write(m->offsets, 0, m->host_offsets, rows * sizeof *m->host_offsets));
        /* x (rows, H) = table[offsets[r] ..] */
        return dfrt_op_embedding(m->b, &(dfrt_embedding_args){.out = at(m->x, 0), .table = at(m->embed.resident, 0),
                                                              .offsets = at(m->offsets, 0),
                                                              .table_elems = (uint64_t)m->vocab * m->hidden,
                                                              .rows = rows, .dim = m->hidden, .scale = m->embed_scale});
    }
    const uint32_t slots = (uint32_t)m->embed_row_slots;
    for (uint32_t r0 = 0; r0 < rows; r0 += slots) {
        uint32_t n = DFRT_MIN(slots, rows - r0);
        for (uint32_t r = r0; r < r0 + n; r++) {
            uint64_t begin = (uint64_t)tokens[r] * m->hidden, slot = (uint64_t)(r - r0) * m->row_slot_elems;
            uint32_t first, count;
            dfrt_chunks_covering(u->n_chunks, u->n, device_chunk_start, u, begin, begin + m->hidden, &first, &count);
            DFRT_TRY(dfrt_op_df11_decode(m->b, &(dfrt_df11_decode_args){.unit = u, .first_chunk = first,
                                                                        .n_chunks = count,
                                                                        .out = at(m->embed_rows, 2 * slot)}));
            m->host_offsets[r] = (uint32_t)(slot + begin - u->positions[first]);
        }
        /* these rows' offsets, in their own part of the buffer */
        DFRT_TRY(dfrt_buffer_write(m->offsets, 4 * (size_t)r0, m->host_offsets + r0, n * sizeof *m->host_offsets));
        /* x (n rows from r0, H) = slots[offsets[r] ..] */
        DFRT_TRY(dfrt_op_embedding(m->b, &(dfrt_embedding_args){.out = at(m->x, 4 * (uint64_t)r0 * m->hidden),
                                                                .table = at(m->embed_rows, 0),
                                                                .offsets = at(m->offsets, 4 * (uint64_t)r0),
                                                                .table_elems = m->row_slot_elems * slots,
                                                                .rows = n, .dim = m->hidden, .scale = m->embed_scale}));
    }
    return DFRT_OK;
}

/* xn (rows, H) = rmsnorm(x) * w; add_tmp: x (rows, H) += tmp first, in the same op (the
 * residual add of the matmul before it). */
static dfrt_status norm_rows(dfrt_model *m, size_t xn_row, size_t x_row, const dfrt_buffer *w, uint32_t rows,
                             bool add_tmp) {
    const uint32_t H = m->hidden;
    const dfrt_tensor_arg x = at(m->x, 4 * x_row * H);
    return dfrt_op_rmsnorm(m->b, &(dfrt_rmsnorm_args){.y = at(m->xn, 4 * xn_row * H), .x = x, .w = at(w, 0),
                                                      .residual = add_tmp ? at(m->tmp, 4 * x_row * H) : (dfrt_tensor_arg){0},
                                                      .sum = add_tmp ? x : (dfrt_tensor_arg){0}, .rows = rows,
                                                      .heads = 1, .dim = H, .row_stride = H, .eps = m->eps});
}

/* y (rows, n) = x (rows, k) . W[off .. off + n k]^T (+ bias): a fused DF11 matmul over the
 * unit when w is NULL, else a BF16 matmul over w (weights_block). */
static dfrt_status project(dfrt_model *m, dfrt_buffer *y, const dfrt_buffer *x, const dfrt_device_df11 *unit,
                           const dfrt_buffer *w, uint64_t off, const dfrt_buffer *bias, uint32_t rows, uint32_t n,
                           uint32_t k) {
    if (!w)
        return dfrt_op_df11_matmul(m->b, &(dfrt_df11_matmul_args){.y = at(y, 0), .x = at(x, 0), .unit = unit,
                                                                  .first = off, .bias = at(bias, 0), .m = rows,
                                                                  .n = n, .k = k});
    return dfrt_op_matmul(m->b, &(dfrt_matmul_args){.y = at(y, 0), .x = at(x, 0), .w = at(w, 2 * off),
                                                    .bias = at(bias, 0), .m = rows, .n = n, .k = k});
}

/* tmp (rows, H) = rmsnorm(tmp) * w, in place: Gemma's norms of the attention and MLP outputs */
static dfrt_status norm_tmp(dfrt_model *m, const dfrt_buffer *w, uint32_t rows) {
    return dfrt_op_rmsnorm(m->b, &(dfrt_rmsnorm_args){.y = at(m->tmp, 0), .x = at(m->tmp, 0), .w = at(w, 0),
                                                      .rows = rows, .heads = 1, .dim = m->hidden,
                                                      .row_stride = m->hidden, .eps = m->eps});
}

/* x (rows, H) += t (rows, H) */
static dfrt_status residual(dfrt_model *m, uint32_t rows) {
    return dfrt_op_add(m->b, &(dfrt_add_args){.y = at(m->x, 0), .a = at(m->x, 0), .b = at(m->tmp, 0),
                                              .n = (uint64_t)rows * m->hidden});
}

/* Offloaded layer l's unit into its slot unless the slot holds it already (or its copy is
 * under way); the copy waits for the ops enqueued so far, which may still read the slot. */
static dfrt_status fetch(dfrt_model *m, uint32_t l) {
    int k = dfrt_offload_slot(m, l);
    if (m->slot_layer[k] == (int64_t)l) return DFRT_OK;
    m->slot_layer[k] = -1; /* until the copy is enqueued */
    DFRT_TRY(dfrt_df11_image_copy(m->offload_slots[k], m->images[l]));
    m->slot_layer[k] = l;
    m->offload_copies++;
    m->offload_bytes += m->images[l]->size;
    return DFRT_OK;
}

/* Before offloaded layer l's ops: its unit in its slot, then the next offloaded layer's
 * fetched into the other slot (the one layer l - 1 read, whose ops are enqueued), so that on a
 * backend with a copy queue the copy runs while layer l computes. */
static dfrt_status stage(dfrt_model *m, uint32_t l) {
    DFRT_TRY(fetch(m, l));
    DFRT_TRY(dfrt_backend_ops_after_copies(m->b));
    uint32_t next = l + 1 < m->n_layers ? l + 1 : m->first_offloaded; /* the next pass's first */
    if (dfrt_offload_slot(m, next) != dfrt_offload_slot(m, l)) DFRT_TRY(fetch(m, next));
    return DFRT_OK;
}

/* One decoder layer over `rows` token rows; x (rows, H) is the residual stream, to which the
 * layer before added its last projection, tmp, only in this layer's first norm (l > 0). So
 * does this layer: the caller adds tmp (pass_body). In three steps, between which tensor
 * parallelism sums each rank's tmp (its heads' and its intermediate columns' share of the o
 * and down projections): layer_attention up to the o projection, layer_mlp up to the down
 * projection, layer_end after it. */
static dfrt_status layer_attention(dfrt_model *m, uint32_t l, uint32_t rows) {
    const layer_weights *lw = &m->layers[l];
    if (l >= m->first_offloaded) DFRT_TRY(stage(m, l));
    dfrt_backend *b = m->b;
    const uint32_t H = m->hidden, hd = m->head_dim, q_width = m->n_heads * hd, kv_width = m->n_kv * hd;
    const uint32_t QKV = m->qkv_width, batch = (uint32_t)m->max_batch, ctx = (uint32_t)m->max_ctx;
    dfrt_buffer *w;
    /* x += tmp (the layer before's down projection); xn = rmsnorm(x) * norm_in */
    DFRT_TRY(norm_rows(m, 0, 0, lw->norm_in, rows, l > 0));
    /* qkv (rows, QKV = q | k | v) = xn . W_qkv^T (+ bias) */
    DFRT_TRY(weights_block(m, lw->unit, lw->resident, &w));
    DFRT_TRY(project(m, m->qkv, m->xn, lw->unit, w, lw->off_qkv, lw->qkv_bias, rows, QKV, H));
    if (lw->q_norm) { /* Qwen3, Gemma 3: each q head and each k head normalised on its own */
        DFRT_TRY(dfrt_op_rmsnorm(b, &(dfrt_rmsnorm_args){.y = at(m->qkv, 0), .x = at(m->qkv, 0), .w = at(lw->q_norm, 0),
                                                         .rows = rows, .heads = m->n_heads, .dim = hd,
                                                         .row_stride = QKV, .eps = m->eps}));
        DFRT_TRY(dfrt_op_rmsnorm(b, &(dfrt_rmsnorm_args){.y = at(m->qkv, 4 * (size_t)q_width),
                                                         .x = at(m->qkv, 4 * (size_t)q_width),
                                                         .w = at(lw->k_norm, 0), .rows = rows, .heads = m->n_kv,
                                                         .dim = hd, .row_stride = QKV, .eps = m->eps}));
    }
    /* RoPE on q and k (the first rot_dim values of each head: Phi-3's partial rotary): their
     * heads are adjacent in each row, so one rotation covers both */
    DFRT_TRY(dfrt_op_rope(b, &(dfrt_rope_args){.x = at(m->qkv, 0), .positions = at(m->positions, 0),
                                               .inv_freq = at(lw->local_rope ? m->inv_freq_local : m->inv_freq, 0),
                                               .rows = rows,
                                               .heads = m->n_heads + m->n_kv, .dim = hd, .row_stride = QKV,
                                               .rot_dim = m->rot_dim, .scale = m->rope_scale}));
    /* k_cache, v_cache (batch, ctx, kv_width)[slot, position] = k, v of each row */
    DFRT_TRY(dfrt_op_kv_store(b, &(dfrt_kv_store_args){.k_cache = at(m->k_cache[l], 0), .v_cache = at(m->v_cache[l], 0),
                                                       .src = at(m->qkv, 0), .slots = at(m->slots, 0),
                                                       .positions = at(m->positions, 0), .rows = rows,
                                                       .width = kv_width, .src_stride = QKV, .k_col = q_width,
                                                       .v_col = q_width + kv_width, .n_slots = batch,
                                                       .max_ctx = ctx, .kv_type = m->kv_type}));
    /* attn (rows, q_width) = softmax(q k^T * scale) v over each row's keys 0..position (the
     * last `window` of them on a sliding-window layer), scores soft-capped when the model says */
    DFRT_TRY(dfrt_op_attention(b, &(dfrt_attention_args){.out = at(m->attn, 0), .q = at(m->qkv, 0),
                                                         .k_cache = at(m->k_cache[l], 0),
                                                         .v_cache = at(m->v_cache[l], 0), .slots = at(m->slots, 0),
                                                         .positions = at(m->positions, 0), .rows = rows,
                                                         .n_heads = m->n_heads, .n_kv = m->n_kv, .dim = hd,
                                                         .q_stride = QKV, .out_stride = q_width, .n_slots = batch,
                                                         .max_ctx = ctx, .scale = m->attn_scale,
                                                         .kv_type = m->kv_type, .window = lw->window,
                                                         .softcap = m->attn_softcap}));
    /* tmp = attn . W_o^T */
    return project(m, m->tmp, m->attn, lw->unit, w, lw->off_o, NULL, rows, H, q_width);
}

static dfrt_status layer_mlp(dfrt_model *m, uint32_t l, uint32_t rows) {
    const layer_weights *lw = &m->layers[l];
    const uint32_t H = m->hidden, F = m->inter;
    dfrt_buffer *w = lw->unit && !m->fused ? m->scratch : lw->resident; /* weights_block's, for this layer */
    /* Gemma: tmp = rmsnorm(tmp) * norm_attn_out; x += tmp; xn = rmsnorm(x) * norm_post; gate_up
     * (rows, 2F = gate | up) = xn . W_gate_up^T */
    if (lw->norm_attn_out) DFRT_TRY(norm_tmp(m, lw->norm_attn_out, rows));
    DFRT_TRY(norm_rows(m, 0, 0, lw->norm_post, rows, true));
    DFRT_TRY(project(m, m->gate_up, m->xn, lw->unit, w, lw->off_gate_up, NULL, rows, 2 * F, H));
    /* act (rows, F) = silu(gate) * up (Gemma: gelu_tanh(gate) * up) */
    DFRT_TRY(dfrt_op_silu_mul(m->b, &(dfrt_silu_mul_args){.out = at(m->act, 0), .in = at(m->gate_up, 0),
                                                          .rows = rows, .width = F, .in_stride = 2 * F, .up_col = F,
                                                          .act = m->act_fn}));
    /* tmp = act . W_down^T (Gemma: then rmsnorm(tmp) * norm_mlp_out), added to x by the next norm */
    return project(m, m->tmp, m->act, lw->unit, w, lw->off_down, NULL, rows, H, F);
}

static dfrt_status layer_end(dfrt_model *m, uint32_t l, uint32_t rows) {
    const layer_weights *lw = &m->layers[l];
    return lw->norm_mlp_out ? norm_tmp(m, lw->norm_mlp_out, rows) : DFRT_OK;
}

static dfrt_status layer(dfrt_model *m, uint32_t l, uint32_t rows) {
    DFRT_TRY(layer_attention(m, l, rows));
    DFRT_TRY(layer_mlp(m, l, rows));
    return layer_end(m, l, rows);
}

static dfrt_status head(dfrt_model *m, uint32_t rows, const uint32_t *logit_rows, uint32_t n_logits, bool argmax);

/* The pass after the embedding: the part's layers, then, on the part that holds lm_head, for
 * the rows that want logits the final norm, lm_head and (when argmax) each row's argmax.
 * logit_rows NULL: rows 0 .. n_logits - 1. */
static dfrt_status pass_body(dfrt_model *m, uint32_t rows, const uint32_t *logit_rows, uint32_t n_logits, bool argmax) {
    for (uint32_t l = m->layer_begin; l < m->layer_end; l++) {
        /* a long prefill pass takes seconds on the CPU: Ctrl-C is seen between layers */
        if (m->cancel && *m->cancel) return dfrt_fail(DFRT_CANCELLED, "interrupted");
        DFRT_TRY(layer(m, l, rows));
    }
    return head(m, rows, logit_rows, n_logits, argmax);
}

/* Every rank's tmp (rows, H), its share of a projection's sum, becomes the sum. */
static dfrt_status sum_tmp(dfrt_model *m, uint32_t rows) {
    dfrt_buffer *bufs[DFRT_MAX_DEVICES];
    int n = 0;
    for (dfrt_model *p = m; p; p = p->next) bufs[n++] = p->tmp;
    return dfrt_comm_all_reduce(m->comm, bufs, 0, (uint64_t)rows * m->hidden);
}

/* Tensor parallelism: each layer on every rank in turn, the o and down projections' shares
 * summed across ranks (after which every rank holds the same residual stream), then the head
 * on the first rank. */
static dfrt_status pass_parallel(dfrt_model *m, uint32_t rows, const uint32_t *logit_rows, uint32_t n_logits,
                                 bool argmax) {
    for (uint32_t l = 0; l < m->n_layers; l++) {
        if (m->cancel && *m->cancel) return dfrt_fail(DFRT_CANCELLED, "interrupted");
        for (dfrt_model *p = m; p; p = p->next) DFRT_TRY(layer_attention(p, l, rows));
        DFRT_TRY(sum_tmp(m, rows));
        for (dfrt_model *p = m; p; p = p->next) DFRT_TRY(layer_mlp(p, l, rows));
        DFRT_TRY(sum_tmp(m, rows));
        for (dfrt_model *p = m; p; p = p->next) DFRT_TRY(layer_end(p, l, rows));
    }
    return head(m, rows, logit_rows, n_logits, argmax);
}

/* On the part that holds lm_head, for the rows that want logits: the final norm, lm_head and
 * (when argmax) each row's argmax. */
static dfrt_status head(dfrt_model *m, uint32_t rows, const uint32_t *logit_rows, uint32_t n_logits, bool argmax) {
    if (!n_logits || !m->has_head) return DFRT_OK;

    /* x += tmp (the last layer's down projection); xn (n_logits, H) = rmsnorm of the rows that
     * want logits, gathered (x added to first, as a row may be named twice); logits = xn .
     * lm_head^T */
    const bool add_tmp = m->n_layers > 0;
    if (!logit_rows) {
        DFRT_TRY(norm_rows(m, 0, 0, m->norm_final, n_logits, add_tmp));
    } else {
        if (add_tmp) DFRT_TRY(residual(m, rows));
        for (uint32_t i = 0; i < n_logits; i++) DFRT_TRY(norm_rows(m, i, logit_rows[i], m->norm_final, 1, false));
    }
    dfrt_buffer *w;
    DFRT_TRY(weights_block(m, m->lm_head.unit, m->lm_head.resident, &w));
    DFRT_TRY(project(m, m->logits, m->xn, m->lm_head.unit, w, 0, NULL, n_logits, m->vocab, m->hidden));
    if (argmax) /* argmax (n_logits) of each logits row */
        DFRT_TRY(dfrt_op_argmax(m->b, &(dfrt_argmax_args){.out = at(m->argmax, 0), .x = at(m->logits, 0),
                                                          .rows = n_logits, .n = m->vocab, .stride = m->vocab}));
    return DFRT_OK;
}

/* Layer split: the residual stream x and the last layer's projection tmp (rows, H), which the
 * next layer's norm adds, from part m to the next (dfrt_buffer_copy between devices: a peer
 * copy, or through host memory). */
static dfrt_status hand_off(dfrt_model *m, uint32_t rows) {
    const size_t bytes = 4 * (size_t)rows * m->hidden;
    DFRT_TRY(dfrt_buffer_copy(m->next->x, 0, m->x, 0, bytes));
    return dfrt_buffer_copy(m->next->tmp, 0, m->tmp, 0, bytes);
}

/* pass_body for every row's logits, from a recording of its work (CUDA graphs: one launch
 * instead of one per op). The first pass of a shape runs op by op (it sizes the backend's
 * scratch, which no recording may allocate), the second is recorded, later ones replay it. */
static dfrt_status pass_recorded(dfrt_model *m, uint32_t rows, bool argmax) {
    recorded_pass *r = NULL;
    for (int i = 0; i < MODEL_MAX_RECORDED && !r; i++) {
        recorded_pass *c = &m->recorded[i];
        if (c->seen && c->rows == rows && c->argmax == argmax) r = c;
    }
    if (!r) { /* a new shape: op by op, and remembered while there is room */
        for (int i = 0; i < MODEL_MAX_RECORDED && !r; i++)
            if (!m->recorded[i].seen) {
                r = &m->recorded[i];
                *r = (recorded_pass){.rows = rows, .argmax = argmax, .seen = true};
            }
        return pass_body(m, rows, NULL, rows, argmax);
    }
    dfrt_backend *b = m->b;
    if (r->graph) {
        dfrt_status s = b->vt->graph_launch(b, r->graph);
        if (s != DFRT_UNSUPPORTED) return s;
        b->vt->graph_free(b, r->graph); /* the scratch it uses has moved: record it again */
        r->graph = NULL;
    }
    DFRT_TRY(b->vt->capture_begin(b));
    dfrt_status s = pass_body(m, rows, NULL, rows, argmax);
    void *graph = NULL;
    dfrt_status e = b->vt->capture_end(b, s == DFRT_OK, &graph);
    if (s == DFRT_CANCELLED) return s;
    if (s != DFRT_OK || e != DFRT_OK) { /* e.g. an op that had to grow the scratch while recording */
        dfrt_warn("%s: recording a pass of %u rows failed (%s); passes run op by op from now on", b->vt->name, rows,
                  dfrt_last_error());
        m->eager = true;
        return pass_body(m, rows, NULL, rows, argmax);
    }
    r->graph = graph;
    return b->vt->graph_launch(b, graph);
}

/* longrope, as transformers switches it: the long factors for a pass whose last position is
 * past the original context, the short ones otherwise; keys already cached keep the rotation
 * they were stored with. One table in place, so recorded passes see it. */
static dfrt_status rope_tables(dfrt_model *m, int32_t last) {
    if (!m->inv_long) return DFRT_OK;
    bool want = (int64_t)last + 1 > m->rope_long_after;
    if (want != m->rope_long) {
        DFRT_TRY(dfrt_buffer_write(m->inv_freq, 0, want ? m->inv_long : m->inv_short, m->rot_dim / 2 * sizeof(float)));
        m->rope_long = want;
    }
    return DFRT_OK;
}

dfrt_status dfrt_model_forward(dfrt_model *m, const int32_t *tokens, const int32_t *slots, const int32_t *positions,
                               uint32_t rows, const uint32_t *logit_rows, uint32_t n_logit_rows, float *out_logits,
                               int32_t *out_argmax) {
    if (!m || !tokens || !slots || !positions || (n_logit_rows && !logit_rows))
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "dfrt_model_forward: NULL argument");
    if (rows == 0 || rows > (uint32_t)m->max_rows)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "dfrt_model_forward: %u rows (1 .. %d per pass)", rows, m->max_rows);
    if (n_logit_rows > (uint32_t)m->max_batch)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "dfrt_model_forward: %u logit rows, at most the batch of %d", n_logit_rows,
                         m->max_batch);
    int32_t last = 0; /* the pass's last position (longrope's switch below) */
    for (uint32_t r = 0; r < rows; r++) {
        last = DFRT_MAX(last, positions[r]);
        if (tokens[r] < 0 || (uint32_t)tokens[r] >= m->vocab)
            return dfrt_fail(DFRT_INVALID_ARGUMENT, "token id %d is outside the vocabulary (0 .. %u)", tokens[r], m->vocab - 1);
        if (slots[r] < 0 || slots[r] >= m->max_batch)
            return dfrt_fail(DFRT_INVALID_ARGUMENT, "sequence %d is outside the batch of %d", slots[r], m->max_batch);
        if (positions[r] < 0 || positions[r] >= m->max_ctx)
            return dfrt_fail(DFRT_INVALID_ARGUMENT, "position %d is outside the context of %d tokens", positions[r],
                             m->max_ctx);
    }
    for (uint32_t i = 0; i < n_logit_rows; i++)
        if (logit_rows[i] >= rows)
            return dfrt_fail(DFRT_INVALID_ARGUMENT, "dfrt_model_forward: logit row %u of %u rows", logit_rows[i], rows);
    bool leading = true; /* logit rows 0, 1, 2, ...: one norm call */
    for (uint32_t i = 0; i < n_logit_rows; i++) leading &= logit_rows[i] == i;
    /* every row's logits (decode steps): recorded where the part's backend records work */
    const bool recordable = leading && n_logit_rows == rows && rows <= MODEL_MAX_RECORDED_ROWS;
    /* every part's (rank's) own rows, positions and RoPE table; the first part embeds */
    for (dfrt_model *p = m; p; p = p->next) {
        p->cancel = m->cancel;
        DFRT_TRY(rope_tables(p, last));
        DFRT_TRY(dfrt_buffer_write(p->slots, 0, slots, rows * sizeof *slots));
        DFRT_TRY(dfrt_buffer_write(p->positions, 0, positions, rows * sizeof *positions));
    }
    DFRT_TRY(embed(m, tokens, rows));
    dfrt_model *p = m; /* the part holding the logits: the first rank, or the layer split's last part */
    if (m->comm) { /* tensor parallelism: the embedding to every rank, then the layers in step */
        for (dfrt_model *r = m->next; r; r = r->next)
            DFRT_TRY(dfrt_buffer_copy(r->x, 0, m->x, 0, 4 * (size_t)rows * m->hidden));
        DFRT_TRY(pass_parallel(m, rows, leading ? NULL : logit_rows, n_logit_rows, out_argmax != NULL));
    } else {
        for (;; p = p->next) {
            if (!p->eager && recordable) DFRT_TRY(pass_recorded(p, rows, out_argmax != NULL));
            else DFRT_TRY(pass_body(p, rows, leading ? NULL : logit_rows, n_logit_rows, out_argmax != NULL));
            if (!p->next) break;
            DFRT_TRY(hand_off(p, rows));
        }
    }
    if (!n_logit_rows) return DFRT_OK;
    if (out_argmax) DFRT_TRY(dfrt_buffer_read(p->argmax, 0, out_argmax, n_logit_rows * sizeof *out_argmax));
    if (out_logits) DFRT_TRY(dfrt_buffer_read(p->logits, 0, out_logits, (size_t)n_logit_rows * m->vocab * sizeof(float)));
    DFRT_TRY(dfrt_backend_synchronize(p->b));
    /* final_logit_softcapping (Gemma): c tanh(logit / c), in fp32 as transformers computes it.
     * It keeps the order of the logits, so the device's argmax stands (but for ties that tanh's
     * rounding would make among logits beyond about 9 c). */
    if (out_logits && m->final_softcap > 0) {
        const float c = m->final_softcap;
        for (size_t i = 0; i < (size_t)n_logit_rows * m->vocab; i++) out_logits[i] = c * tanhf(out_logits[i] / c);
    }
    return DFRT_OK;
}
