/* The CUDA segment decoder's device functions (cuda/df11_segments.cuh), compiled for the host
 * with tests/cuda_host.h and run one thread at a time: every segment of every edge-case unit
 * (whole, or a prefix of it), uploaded as LAYOUT_SEGMENTS by dfrt_df11_upload itself (a CPU
 * backend that asks for that layout), decodes to the CPU decoder's weights with either way of
 * storing exponents (SegOut), from any start in seg_smem, writing nothing outside its room; corrupted units, their segment indexes scrambled too, decode inside their
 * buffers (the sanitizer build checks it: the buffers are copied to heap blocks of exactly
 * their size); and the exponent/sign-mantissa join gives every BF16 value. The kernels'
 * thread and vector mapping is left to the device tests (test_ops cuda). */
#include "cuda_host.h"

#include "../cuda/df11_segments.cuh"

#include <vector>

extern "C" {
#include "format/df11_internal.h"
#include "synth.h"
}

namespace {

/* A CPU backend whose units are uploaded in the segment layout (its kernels never see them). */
dfrt_backend *segments_backend() {
    static dfrt_backend *b;
    static dfrt_backend_vtable vt;
    if (!b) {
        if (dfrt_backend_open("cpu", 0, &b) != DFRT_OK) {
            fprintf(stderr, "test_cuda_segments: no CPU backend: %s\n", dfrt_last_error());
            exit(2);
        }
        vt = *b->vt;
        vt.df11_layout = DFRT_DF11_LAYOUT_SEGMENTS;
        b->vt = &vt;
    }
    return b;
}

constexpr uint8_t kGuard = 0xA7;
test_rng index_rng = {7};

/* the decoder's way of storing exponents (SegOut): both are checked */
int out_mode = kOutBytes;

/* Decodes every segment of the unit (the odd ones: a prefix) with seg_decode into lane
 * `lane`'s room of seg_smem and joins it with seg_bf16x4; want: the CPU decoder's weights (NULL
 * for a corrupted unit, which is only decoded). Returns the number of wrong weights. */

uint64_t decode_segments(const dfrt_df11_unit *unit, const uint16_t *want, int lane) {
    dfrt_device_df11 *dev = NULL;
    if (dfrt_df11_upload(segments_backend(), unit, &dev) != DFRT_OK) {
        CHECK(!"upload");
        return 1;
    }
    /* the kernels' view of the unit, its buffers copied to exactly their size on the heap, so
     * that the sanitizer build sees any read past one */
    SegUnit u = seg_unit(dev);
    const dfrt_buffer *bufs[5] = {dev->stream, dev->segments, dev->fast, dev->luts, dev->sign_mantissa};
    std::vector<uint8_t> copies[5];
    for (int i = 0; i < 5; i++) {
        copies[i].resize(bufs[i]->size);
        CHECK_OK(dfrt_buffer_read(bufs[i], 0, copies[i].data(), bufs[i]->size));
    }
    if (!want) /* a corrupted unit: its index may point anywhere too */
        for (size_t i = 0; i < copies[1].size(); i += 1 + test_rand(&index_rng) % 64)
            copies[1][i] = (uint8_t)test_rand(&index_rng);
    u.stream = reinterpret_cast<const uint32_t *>(copies[0].data());
    u.segments = reinterpret_cast<const uint32_t *>(copies[1].data());
    u.fast = reinterpret_cast<const uint32_t *>(copies[2].data());
    u.luts = copies[3].data();
    u.sign_mantissa = copies[4].data();
    seg_load_tables(u);
    const uint32_t room = 4 * (uint32_t)kSegPitchWords, off = (uint32_t)lane * room;
    uint8_t *bytes = seg_bytes();
    uint64_t wrong = 0, outside = 0, segs = (u.n + kSegWeights - 1) / kSegWeights;
    memset(seg_smem, kGuard, sizeof seg_smem);
    for (uint64_t s = 0; s < segs; s++) {
        /* the whole segment, or (odd segments) a prefix of it, as the standalone decode asks
         * for where a weight range ends inside a segment */
        const int whole = (int)std::min<uint64_t>(kSegWeights, u.n - s * kSegWeights);
        const int count = (s & 1) ? 1 + (int)(s * 37 % (uint64_t)whole) : whole;
        const SegCursor c = seg_open(u, seg_start(u.segments, s));
        if (out_mode == kOutBytes) seg_decode<kOutBytes>(u.n_tables, c, count, off);
        else seg_decode<kOutWords>(u.n_tables, c, count, off);
        /* nothing outside the lane's room (count bytes and at most 18 more): the rooms on
         * either side keep their guard bytes */
        for (uint32_t i = off >= room ? off - room : 0; i < off + 2 * room && i < sizeof seg_smem; i++)
            if ((i < off || i >= off + room) && bytes[i] != kGuard) outside++;
        if (!want) continue;
        for (int k = 0; k < count; k += 4) {
            uint32_t e, sm = 0;
            memcpy(&e, bytes + off + k, 4);
            for (int j = 0; j < 4 && k + j < count; j++)
                sm |= (uint32_t)u.sign_mantissa[s * kSegWeights + k + j] << (8 * j);
            const uint2 w = seg_bf16x4(e, sm);
            const uint32_t words[2] = {w.x, w.y};
            for (int j = 0; j < 4 && k + j < count; j++)
                wrong += (uint16_t)(words[j / 2] >> (16 * (j % 2))) != want[s * kSegWeights + k + j];
        }
    }
    CHECK(outside == 0);
    dfrt_device_df11_free(dev);
    return wrong;
}

void test_edge_cases() {
    synth_case *cases;
    int n = synth_cases(&cases);
    for (int i = 0; i < n; i++) {
        test_current = cases[i].label;
        dfrt_df11_encoded e;
        CHECK_OK(dfrt_df11_encode("unit", cases[i].n_parts, (const uint16_t *const *)cases[i].parts, cases[i].counts,
                                  NULL, NULL, &e));
        mem_unit m;
        mem_unit_wrap(&m, "unit", &e);
        dfrt_df11_unit u;
        CHECK_OK(dfrt_df11_unit_init("unit", &m.ts, 0, NULL, &u));
        std::vector<uint16_t> want(u.n);
        CHECK_OK(dfrt_df11_decode(&u, want.data(), 1));
        const uint64_t wrong = decode_segments(&u, want.data(), i % 32);
        if (wrong)
            fprintf(stderr, "  %s (SegOut<%d>): %llu of %llu weights differ\n", cases[i].label, out_mode,
                    (unsigned long long)wrong, (unsigned long long)u.n);
        CHECK(wrong == 0);
        dfrt_df11_unit_release(&u);
        dfrt_df11_encoded_free(&e);
    }
    synth_cases_free(cases, n);
}

/* Units corrupted after encoding that still pass validation: decoded whole (garbage, but every
 * read inside the unit's buffers and every write inside the room). */
void test_corrupted() {
    test_current = "corrupted units";
    test_rng r = {99};
    enum { N = 20000 };
    uint16_t *w = synth_normal(&r, N, 0.02);
    const uint16_t *parts[1] = {w};
    uint64_t count = N;
    int decoded = 0;
    for (int trial = 0; trial < 120; trial++) {
        dfrt_df11_encoded e;
        CHECK_OK(dfrt_df11_encode("mutant", 1, parts, &count, NULL, NULL, &e));
        uint8_t *targets[3] = {e.stream, e.gaps, e.luts};
        const uint64_t sizes[3] = {e.n_bytes, e.gaps_bytes, 256 * ((uint64_t)e.n_tables + 1)};
        const int which = trial % 3;
        for (int f = 0; f < 1 + trial % 6; f++) targets[which][test_rand(&r) % sizes[which]] = (uint8_t)test_rand(&r);
        mem_unit m;
        mem_unit_wrap(&m, "mutant", &e);
        dfrt_df11_unit u;
        if (dfrt_df11_unit_init("mutant", &m.ts, 0, NULL, &u) == DFRT_OK) {
            decode_segments(&u, NULL, trial % 32);
            decoded++;
            dfrt_df11_unit_release(&u);
        }
        dfrt_df11_encoded_free(&e);
    }
    free(w);
    CHECK(decoded >= 40);
}

/* seg_bf16x4 against the BF16 layout, for every exponent and sign/mantissa byte in every lane. */
void test_join() {
    test_current = "seg_bf16x4";
    uint64_t wrong = 0;
    for (uint32_t ex = 0; ex < 256; ex++)
        for (uint32_t sm = 0; sm < 256; sm++)
            for (int k = 0; k < 4; k++) {
                const uint32_t e = seg_rot(ex) << (8 * k) | (0x5A5A5A5Au & ~(0xFFu << (8 * k)));
                const uint2 w = seg_bf16x4(e, sm << (8 * k) | (0xA5A5A5A5u & ~(0xFFu << (8 * k))));
                const uint16_t got = (uint16_t)((k < 2 ? w.x : w.y) >> (16 * (k % 2)));
                wrong += got != (uint16_t)((sm & 0x80) << 8 | ex << 7 | (sm & 0x7F));
            }
    CHECK(wrong == 0);
}

} // namespace

int main() {
    RUN(test_join);
    for (out_mode = kOutBytes; out_mode <= kOutWords; out_mode++) {
        RUN(test_edge_cases);
        RUN(test_corrupted);
    }
    dfrt_backend_close(segments_backend());
    return test_finish();
}
