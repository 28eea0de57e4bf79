/* The layer split planner (split.h). */
#include "model/split.h"

#include "base/internal.h"

#include <math.h>

dfrt_status dfrt_split_layers(uint32_t n_layers, const uint64_t *layer_bytes, uint64_t first_bytes, uint64_t last_bytes,
                              int n_devices, const double *shares, dfrt_layer_split *out) {
    memset(out, 0, sizeof *out);
    if (n_devices < 1 || n_devices > DFRT_MAX_DEVICES)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "a layer split over %d devices (1 .. %d)", n_devices, DFRT_MAX_DEVICES);
    if (n_layers == 0 || !layer_bytes) return dfrt_fail(DFRT_INVALID_ARGUMENT, "a layer split of a model without layers");
    if ((uint32_t)n_devices > n_layers)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "a layer split over %d devices: the model has %u layers, and each device "
                         "needs one at least", n_devices, n_layers);
    double sum = 0;
    for (int d = 0; d < n_devices; d++) {
        double s = shares ? shares[d] : 1;
        if (!(s > 0) || !isfinite(s))
            return dfrt_fail(DFRT_INVALID_ARGUMENT, "device %d's share of the split is %g; shares are positive numbers",
                             d, s);
        sum += s;
    }
    long double total = (long double)first_bytes + last_bytes;
    for (uint32_t l = 0; l < n_layers; l++) total += layer_bytes[l];
    /* bounds[d]: the bytes devices 0 .. d should hold together */
    long double bounds[DFRT_MAX_DEVICES], acc = 0;
    for (int d = 0; d < n_devices; d++) {
        acc += shares ? shares[d] : 1;
        bounds[d] = d == n_devices - 1 ? total : total * acc / sum;
        out->target[d] = (uint64_t)(d ? bounds[d] - bounds[d - 1] : bounds[d]);
    }
    out->n_parts = n_devices;
    int d = 0;
    long double cum = first_bytes; /* the bytes on devices 0 .. d so far */
    out->bytes[0] = first_bytes;
    for (uint32_t l = 0; l < n_layers; l++) {
        uint32_t left = n_layers - l; /* layers still to place, this one included */
        bool has_one = out->end[d] > out->begin[d];
        /* the next device once this layer's middle passes this one's bound, and always when
         * every later device needs one of the layers left */
        if (d < n_devices - 1 && has_one &&
            (cum + layer_bytes[l] / 2.0L > bounds[d] || left == (uint32_t)(n_devices - 1 - d))) {
            d++;
            out->begin[d] = out->end[d] = l;
        }
        out->end[d] = l + 1;
        out->bytes[d] += layer_bytes[l];
        cum += layer_bytes[l];
    }
    out->bytes[n_devices - 1] += last_bytes;
    return DFRT_OK;
}
