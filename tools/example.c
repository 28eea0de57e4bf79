/* A complete use of dfrt from C: open a backend, load a model, tokenize a prompt, generate
 * with a per-token callback, read the logits of the last prompt position, free everything.
 *
 *   cc example.c $(pkg-config --cflags --libs dfrt) -o example
 *   ./example MODEL_DIR "And the LORD said unto Moses," [auto|cuda|vulkan|cpu] */
#include <dfrt.h>

#include <stdio.h>
#include <stdlib.h>

static bool print_token(void *user, int sequence, int32_t token) {
    (void)sequence;
    const char *bytes;
    size_t len;
    if (dfrt_tokenizer_token_bytes(user, token, &bytes, &len) == DFRT_OK) fwrite(bytes, 1, len, stdout);
    fflush(stdout);
    return true; /* false would stop this sequence */
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL_DIR PROMPT [auto|cuda|vulkan|cpu]\n", argv[0]);
        return 2;
    }
    dfrt_backend *backend = NULL;
    dfrt_model *model = NULL;
    int32_t *ids = NULL;
    float *logits = NULL;
    int rc = 1;
    if (dfrt_backend_open(argc > 3 ? argv[3] : "auto", -1, &backend) != DFRT_OK) goto fail;
    fprintf(stderr, "%s\n", dfrt_backend_selection(backend));
    if (dfrt_model_load(backend, argv[1], NULL, &model) != DFRT_OK) goto fail;
    size_t n_ids;
    if (dfrt_prompt_encode(model, argv[2], false, &ids, &n_ids) != DFRT_OK) goto fail;
    logits = malloc((size_t)dfrt_model_config(model)->vocab_size * sizeof *logits);
    if (!logits) goto fail;
    dfrt_generate_options options = {
        .sampling = {.temperature = 0}, /* greedy */
        .max_new_tokens = 32,
        .n_sequences = 1,
        .on_token = print_token,
        .user = (void *)dfrt_model_tokenizer(model),
        .last_logits = logits,
    };
    dfrt_generate_stats stats;
    if (dfrt_generate(model, ids, n_ids, &options, &stats) != DFRT_OK) goto fail;
    int best = 0;
    for (int i = 1; i < dfrt_model_config(model)->vocab_size; i++)
        if (logits[i] > logits[best]) best = i;
    printf("\n");
    fprintf(stderr, "%d prompt tokens, %d generated in %.3f s; the most likely first token was %d\n", stats.prompt_tokens,
            stats.generated_tokens, stats.prefill_seconds + stats.decode_seconds, best);
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "error: %s\n", dfrt_last_error());
done:
    free(logits);
    free(ids);
    dfrt_model_free(model);
    dfrt_backend_close(backend);
    return rc;
}
