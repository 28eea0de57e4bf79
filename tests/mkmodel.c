/* mkmodel: writes a synthetic BF16 Hugging Face model directory for the CLI tests.
 * usage: mkmodel OUT_DIR [--arch A] [--layers N] [--hidden N] [--heads N] [--kv-heads N]
 *                [--inter N] [--vocab N] [--tied] [--shards N] [--std X] [--seed N]
 *                [--inf TENSOR] [--f32 TENSOR] [--bias] */
#include "synth.h"

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: mkmodel OUT_DIR [options]\n");
        return 2;
    }
    synth_model_opts o = {0};
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--tied") == 0) o.tied = 1;
        else if (strcmp(a, "--bias") == 0) o.bias = 1;
        else if (!v) {
            fprintf(stderr, "mkmodel: %s needs a value\n", a);
            return 2;
        } else {
            i++;
            if (strcmp(a, "--arch") == 0) o.arch = v;
            else if (strcmp(a, "--layers") == 0) o.layers = atoi(v);
            else if (strcmp(a, "--hidden") == 0) o.hidden = atoi(v);
            else if (strcmp(a, "--heads") == 0) o.heads = atoi(v);
            else if (strcmp(a, "--kv-heads") == 0) o.kv_heads = atoi(v);
            else if (strcmp(a, "--inter") == 0) o.inter = atoi(v);
            else if (strcmp(a, "--vocab") == 0) o.vocab = atoi(v);
            else if (strcmp(a, "--shards") == 0) o.shards = atoi(v);
            else if (strcmp(a, "--std") == 0) o.std = atof(v);
            else if (strcmp(a, "--seed") == 0) o.seed = strtoull(v, NULL, 10);
            else if (strcmp(a, "--inf") == 0) o.inf_tensor = v;
            else if (strcmp(a, "--f32") == 0) o.f32_tensor = v;
            else {
                fprintf(stderr, "mkmodel: unknown option %s\n", a);
                return 2;
            }
        }
    }
    if (synth_model(argv[1], &o) != 0) {
        fprintf(stderr, "mkmodel: failed: %s\n", dfrt_last_error());
        return 1;
    }
    return 0;
}
