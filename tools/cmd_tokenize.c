/* Placeholder: dfrt tokenize is being written (issue 4). */
#include "cli.h"

int cmd_tokenize(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "dfrt tokenize: not implemented yet\n");
    return CLI_FAIL;
}

int bench_tokenizer(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "dfrt bench tokenizer: not implemented yet\n");
    return CLI_FAIL;
}
