/* The layer split planner (model/split.h): which contiguous layers each device runs and the
 * bytes that puts on it, for equal and unequal shares, heavy tables at the ends, uneven
 * layers, the one-layer-per-device floor, and bad input with its messages. */
#include "test.h"

#include "model/split.h"

#include <math.h>

/* The parts cover layers 0 .. n - 1 in order, each with one layer at least, and their bytes
 * add up to the layers' and the tables'. */
static void check_cover(const dfrt_layer_split *s, uint32_t n, const uint64_t *layer, uint64_t first, uint64_t last) {
    uint32_t next = 0;
    uint64_t total = first + last, sum = 0;
    for (uint32_t l = 0; l < n; l++) total += layer[l];
    for (int d = 0; d < s->n_parts; d++) {
        CHECK(s->begin[d] == next && s->end[d] > s->begin[d]);
        uint64_t bytes = d == 0 ? first : 0;
        for (uint32_t l = s->begin[d]; l < s->end[d]; l++) bytes += layer[l];
        if (d == s->n_parts - 1) bytes += last;
        CHECK(s->bytes[d] == bytes);
        next = s->end[d];
        sum += s->bytes[d];
    }
    CHECK(next == n && sum == total);
}

static void test_equal(void) {
    uint64_t layer[32];
    for (int l = 0; l < 32; l++) layer[l] = 100;
    dfrt_layer_split s;
    /* no tables: 16 and 16; 4 devices: 8 each */
    CHECK_OK(dfrt_split_layers(32, layer, 0, 0, 2, NULL, &s));
    CHECK(s.n_parts == 2 && s.end[0] == 16 && s.end[1] == 32);
    check_cover(&s, 32, layer, 0, 0);
    CHECK_OK(dfrt_split_layers(32, layer, 0, 0, 4, NULL, &s));
    CHECK(s.end[0] == 8 && s.end[1] == 16 && s.end[2] == 24 && s.end[3] == 32);
    check_cover(&s, 32, layer, 0, 0);
    /* one device: everything */
    CHECK_OK(dfrt_split_layers(32, layer, 50, 70, 1, NULL, &s));
    CHECK(s.n_parts == 1 && s.begin[0] == 0 && s.end[0] == 32 && s.bytes[0] == 3320);
    /* the embedding (4 layers' worth) on the first device moves 2 layers to the second */
    CHECK_OK(dfrt_split_layers(32, layer, 400, 0, 2, NULL, &s));
    CHECK(s.end[0] == 14);
    check_cover(&s, 32, layer, 400, 0);
    /* as large an lm_head at the other end moves them back */
    CHECK_OK(dfrt_split_layers(32, layer, 400, 400, 2, NULL, &s));
    CHECK(s.end[0] == 16);
    check_cover(&s, 32, layer, 400, 400);
}

static void test_shares(void) {
    uint64_t layer[32];
    for (int l = 0; l < 32; l++) layer[l] = 100;
    dfrt_layer_split s;
    /* 3:1 -> 24 and 8 layers; targets 2400 and 800 */
    CHECK_OK(dfrt_split_layers(32, layer, 0, 0, 2, (double[]){3, 1}, &s));
    CHECK(s.end[0] == 24 && s.target[0] == 2400 && s.target[1] == 800);
    check_cover(&s, 32, layer, 0, 0);
    /* shares are relative: 0.75 / 0.25 is the same split */
    dfrt_layer_split t;
    CHECK_OK(dfrt_split_layers(32, layer, 0, 0, 2, (double[]){0.75, 0.25}, &t));
    CHECK(t.end[0] == 24);
    /* 1:2:1 over three devices */
    CHECK_OK(dfrt_split_layers(32, layer, 0, 0, 3, (double[]){1, 2, 1}, &s));
    CHECK(s.end[0] == 8 && s.end[1] == 24 && s.end[2] == 32);
    check_cover(&s, 32, layer, 0, 0);
    /* devices by memory, as the model gives them: 80 GB and 141 GB */
    CHECK_OK(dfrt_split_layers(32, layer, 0, 0, 2, (double[]){80e9, 141e9}, &s));
    CHECK(s.end[0] == 12); /* 32 x 80 / 221 = 11.6 */
    check_cover(&s, 32, layer, 0, 0);
}

static void test_uneven(void) {
    /* layers of different sizes: the split follows bytes, not counts */
    uint64_t layer[8] = {10, 10, 10, 10, 10, 10, 100, 100};
    dfrt_layer_split s;
    CHECK_OK(dfrt_split_layers(8, layer, 0, 0, 2, NULL, &s));
    CHECK(s.end[0] == 6 || s.end[0] == 7); /* 130 of 260 before layer 6's middle, 180 after */
    CHECK(s.end[0] == 7 ? s.bytes[0] == 160 : s.bytes[0] == 60);
    check_cover(&s, 8, layer, 0, 0);
    /* the middle of a layer decides: 0 | 1 for two layers of 10 and 30 at equal shares */
    uint64_t two[2] = {10, 30};
    CHECK_OK(dfrt_split_layers(2, two, 0, 0, 2, NULL, &s));
    CHECK(s.end[0] == 1 && s.bytes[0] == 10 && s.bytes[1] == 30);
}

static void test_floor(void) {
    /* a table so heavy that the first device's share is spent before any layer: it still
     * runs one, and every later device one at least */
    uint64_t layer[4] = {10, 10, 10, 10};
    dfrt_layer_split s;
    CHECK_OK(dfrt_split_layers(4, layer, 1000, 0, 2, NULL, &s));
    CHECK(s.end[0] == 1 && s.end[1] == 4);
    check_cover(&s, 4, layer, 1000, 0);
    CHECK_OK(dfrt_split_layers(4, layer, 0, 1000, 3, NULL, &s));
    CHECK(s.end[0] == 2 && s.end[1] == 3 && s.end[2] == 4); /* the last keeps one beside lm_head */
    check_cover(&s, 4, layer, 0, 1000);
    /* as many devices as layers: one each */
    CHECK_OK(dfrt_split_layers(4, layer, 0, 0, 4, (double[]){100, 1, 1, 1}, &s));
    for (int d = 0; d < 4; d++) CHECK(s.begin[d] == (uint32_t)d && s.end[d] == (uint32_t)d + 1);
}

static void test_errors(void) {
    uint64_t layer[4] = {10, 10, 10, 10};
    dfrt_layer_split s;
    CHECK_ERROR(dfrt_split_layers(4, layer, 0, 0, 5, NULL, &s), DFRT_INVALID_ARGUMENT, "over 5 devices",
                "the model has 4 layers");
    CHECK_ERROR(dfrt_split_layers(4, layer, 0, 0, 0, NULL, &s), DFRT_INVALID_ARGUMENT, "over 0 devices");
    CHECK_ERROR(dfrt_split_layers(4, layer, 0, 0, DFRT_MAX_DEVICES + 1, NULL, &s), DFRT_INVALID_ARGUMENT, "devices (1 ..");
    CHECK_ERROR(dfrt_split_layers(0, layer, 0, 0, 1, NULL, &s), DFRT_INVALID_ARGUMENT, "without layers");
    CHECK_ERROR(dfrt_split_layers(4, layer, 0, 0, 2, (double[]){1, 0}, &s), DFRT_INVALID_ARGUMENT,
                "device 1's share of the split is 0");
    CHECK_ERROR(dfrt_split_layers(4, layer, 0, 0, 2, (double[]){-1, 1}, &s), DFRT_INVALID_ARGUMENT,
                "device 0's share of the split is -1");
    CHECK_ERROR(dfrt_split_layers(4, layer, 0, 0, 2, (double[]){NAN, 1}, &s), DFRT_INVALID_ARGUMENT, "positive numbers");
    CHECK_ERROR(dfrt_split_layers(4, layer, 0, 0, 2, (double[]){INFINITY, 1}, &s), DFRT_INVALID_ARGUMENT,
                "positive numbers");
}

int main(void) {
    RUN(test_equal);
    RUN(test_shares);
    RUN(test_uneven);
    RUN(test_floor);
    RUN(test_errors);
    return test_finish();
}
