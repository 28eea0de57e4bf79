/* One forward pass of a Llama-family decoder over a set of token rows, enqueued on the model's
 * backend: embedding, then per layer RMSNorm, fused q|k|v projection (+ bias), q/k norms,
 * RoPE, KV store, attention, o projection, residual, RMSNorm, fused gate|up projection,
 * SwiGLU, down projection, residual; final norm and lm_head for the rows that want logits.
 * DF11 units are decoded into the scratch buffer right before their matmuls. */
#include "model_internal.h"

/* The BF16 block holding a layer's projections (decoded into the scratch if compressed). */
static dfrt_status layer_block(dfrt_model *m, const layer_weights *lw, dfrt_buffer **out) {
    if (lw->unit) {
        DFRT_TRY(dfrt_op_df11_decode(m->b, lw->unit, 0, 0, m->scratch, 0));
        *out = m->scratch;
    } else {
        *out = lw->resident;
    }
    return DFRT_OK;
}

static dfrt_status table_block(dfrt_model *m, const table_weights *t, dfrt_buffer **out) {
    if (t->unit) {
        DFRT_TRY(dfrt_op_df11_decode(m->b, t->unit, 0, 0, m->scratch, 0));
        *out = m->scratch;
    } else {
        *out = t->resident;
    }
    return DFRT_OK;
}

/* Chunks of a device unit covering weights [begin, end). */
static void covering(const dfrt_device_df11 *u, uint64_t begin, uint64_t end, uint32_t *first, uint32_t *count) {
    uint32_t lo = 0, hi = u->n_chunks; /* last chunk starting at or before begin */
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (u->positions[mid] <= begin) lo = mid;
        else hi = mid;
    }
    uint32_t last = lo;
    while (last < u->n_chunks && u->positions[last] < end) last++;
    *first = lo;
    *count = last - lo;
}

/* x[r] = embedding of tokens[r]. From a compressed table, only the chunks holding each row
 * are decoded (into row slots), unless there are more rows than slots: then the whole table
 * is decoded once for the pass. */
static dfrt_status embed(dfrt_model *m, const int32_t *tokens, uint32_t rows) {
    const dfrt_device_df11 *u = m->embed.unit;
    dfrt_buffer *table = m->embed.resident;
    uint64_t elems = (uint64_t)m->vocab * m->hidden;
    if (u && rows <= (uint32_t)m->embed_row_slots) {
        for (uint32_t r = 0; r < rows; r++) {
            uint64_t begin = (uint64_t)tokens[r] * m->hidden;
            uint32_t first, count;
            covering(u, begin, begin + m->hidden, &first, &count);
            uint64_t slot = (uint64_t)r * m->row_slot_elems;
            DFRT_TRY(dfrt_op_df11_decode(m->b, u, first, count, m->embed_rows, 2 * slot));
            m->host_offsets[r] = (uint32_t)(slot + begin - u->positions[first]);
        }
        table = m->embed_rows;
        elems = m->row_slot_elems * (uint64_t)m->embed_row_slots;
    } else {
        if (u) DFRT_TRY(table_block(m, &m->embed, &table));
        for (uint32_t r = 0; r < rows; r++) m->host_offsets[r] = (uint32_t)((uint64_t)tokens[r] * m->hidden);
    }
    DFRT_TRY(dfrt_buffer_write(m->offsets, 0, m->host_offsets, rows * sizeof *m->host_offsets));
    return dfrt_op_embedding(m->b, m->x, 0, table, 0, elems, m->offsets, 0, rows, m->hidden);
}

static dfrt_status layer(dfrt_model *m, uint32_t l, uint32_t rows) {
    const layer_weights *lw = &m->layers[l];
    dfrt_backend *b = m->b;
    const uint32_t H = m->hidden, hd = m->head_dim, q_width = m->n_heads * hd, kv_width = m->n_kv * hd;
    dfrt_buffer *w;
    DFRT_TRY(dfrt_op_rmsnorm(b, m->xn, 0, m->x, 0, lw->norm_in, 0, rows, 1, H, H, m->eps));
    DFRT_TRY(layer_block(m, lw, &w));
    DFRT_TRY(dfrt_op_matmul(b, m->xn, 0, w, 2 * lw->off_qkv, lw->qkv_bias, 0, m->qkv, 0, rows, m->qkv_width, H));
    if (lw->q_norm) {
        DFRT_TRY(dfrt_op_rmsnorm(b, m->qkv, 0, m->qkv, 0, lw->q_norm, 0, rows, m->n_heads, hd, m->qkv_width, m->eps));
        DFRT_TRY(dfrt_op_rmsnorm(b, m->qkv, 4 * (size_t)q_width, m->qkv, 4 * (size_t)q_width, lw->k_norm, 0, rows, m->n_kv,
                                 hd, m->qkv_width, m->eps));
    }
    /* q and k heads are adjacent in each row: one rotation for both */
    DFRT_TRY(dfrt_op_rope(b, m->qkv, 0, m->positions, 0, m->inv_freq, 0, rows, m->n_heads + m->n_kv, hd, m->qkv_width));
    DFRT_TRY(dfrt_op_kv_store(b, m->k_cache[l], 0, m->v_cache[l], 0, m->qkv, 0, m->qkv_width, q_width, q_width + kv_width,
                              m->slots, 0, m->positions, 0, rows, kv_width, (uint32_t)m->max_batch,
                              (uint32_t)m->max_ctx));
    DFRT_TRY(dfrt_op_attention(b, m->attn, 0, q_width, m->qkv, 0, m->qkv_width, m->k_cache[l], 0, m->v_cache[l], 0,
                               m->slots, 0, m->positions, 0, rows, m->n_heads, m->n_kv, hd, (uint32_t)m->max_batch,
                               (uint32_t)m->max_ctx, m->attn_scale));
    DFRT_TRY(dfrt_op_matmul(b, m->attn, 0, w, 2 * lw->off_o, NULL, 0, m->tmp, 0, rows, H, q_width));
    DFRT_TRY(dfrt_op_add(b, m->x, 0, m->x, 0, m->tmp, 0, (uint64_t)rows * H));
    DFRT_TRY(dfrt_op_rmsnorm(b, m->xn, 0, m->x, 0, lw->norm_post, 0, rows, 1, H, H, m->eps));
    DFRT_TRY(dfrt_op_matmul(b, m->xn, 0, w, 2 * lw->off_gate_up, NULL, 0, m->gate_up, 0, rows, 2 * m->inter, H));
    DFRT_TRY(dfrt_op_silu_mul(b, m->act, 0, m->gate_up, 0, rows, m->inter, 2 * m->inter, m->inter));
    DFRT_TRY(dfrt_op_matmul(b, m->act, 0, w, 2 * lw->off_down, NULL, 0, m->tmp, 0, rows, H, m->inter));
    return dfrt_op_add(b, m->x, 0, m->x, 0, m->tmp, 0, (uint64_t)rows * H);
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
    for (uint32_t r = 0; r < rows; r++) {
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
    dfrt_backend *b = m->b;
    DFRT_TRY(dfrt_buffer_write(m->slots, 0, slots, rows * sizeof *slots));
    DFRT_TRY(dfrt_buffer_write(m->positions, 0, positions, rows * sizeof *positions));
    DFRT_TRY(embed(m, tokens, rows));
    for (uint32_t l = 0; l < m->n_layers; l++) {
        /* a long prefill pass takes seconds on the CPU: Ctrl-C is seen between layers */
        if (m->cancel && *m->cancel) return dfrt_fail(DFRT_CANCELLED, "interrupted");
        DFRT_TRY(layer(m, l, rows));
    }
    if (!n_logit_rows) return DFRT_OK;

    /* final norm of the rows that want logits, gathered into xn, then lm_head */
    const uint32_t H = m->hidden;
    bool leading = true; /* logit rows 0, 1, 2, ...: one call */
    for (uint32_t i = 0; i < n_logit_rows; i++) leading &= logit_rows[i] == i;
    if (leading) {
        DFRT_TRY(dfrt_op_rmsnorm(b, m->xn, 0, m->x, 0, m->norm_final, 0, n_logit_rows, 1, H, H, m->eps));
    } else {
        for (uint32_t i = 0; i < n_logit_rows; i++)
            DFRT_TRY(dfrt_op_rmsnorm(b, m->xn, 4 * (size_t)i * H, m->x, 4 * (size_t)logit_rows[i] * H, m->norm_final, 0, 1,
                                     1, H, H, m->eps));
    }
    dfrt_buffer *w;
    DFRT_TRY(table_block(m, &m->lm_head, &w));
    DFRT_TRY(dfrt_op_matmul(b, m->xn, 0, w, 0, NULL, 0, m->logits, 0, n_logit_rows, m->vocab, H));
    if (out_argmax) {
        DFRT_TRY(dfrt_op_argmax(b, m->argmax, 0, m->logits, 0, n_logit_rows, m->vocab, m->vocab));
        DFRT_TRY(dfrt_buffer_read(m->argmax, 0, out_argmax, n_logit_rows * sizeof *out_argmax));
    }
    if (out_logits) DFRT_TRY(dfrt_buffer_read(m->logits, 0, out_logits, (size_t)n_logit_rows * m->vocab * sizeof(float)));
    return dfrt_backend_synchronize(b);
}
