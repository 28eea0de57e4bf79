/* Runs fuzz inputs without libFuzzer: each argument is a file, or a directory whose files are
 * run in name order. Used by the test suite to replay the committed corpora (and any crash
 * input a fuzzer found) on every build, sanitized or not. */
#include "fuzz.h"

#include <sys/stat.h>

static int run_file(const char *path) {
    char *data = NULL;
    size_t len = 0;
    if (dfrt_read_file(path, (size_t)1 << 28, &data, &len) != DFRT_OK) {
        fprintf(stderr, "replay: %s\n", dfrt_last_error());
        return 1;
    }
    LLVMFuzzerTestOneInput((const uint8_t *)data, len);
    free(data);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
        return 2;
    }
    size_t runs = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: %s: cannot open\n", argv[i]);
            return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
            if (run_file(argv[i])) return 1;
            runs++;
            continue;
        }
        char **names;
        size_t n;
        if (dfrt_list_dir(argv[i], &names, &n) != DFRT_OK) {
            fprintf(stderr, "replay: %s\n", dfrt_last_error());
            return 1;
        }
        for (size_t j = 0; j < n; j++) {
            char *path = dfrt_path_join(argv[i], names[j]);
            int rc = path ? run_file(path) : 1;
            free(path);
            if (rc) {
                dfrt_free_strings(names, n);
                return 1;
            }
            runs++;
        }
        dfrt_free_strings(names, n);
    }
    printf("%zu inputs ran without a broken promise\n", runs);
    return runs ? 0 : 1;
}
