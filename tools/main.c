/* dfrt: run, compress, decompress, verify and inspect DFloat11 models. */
#include "cli.h"

#include <string.h>

static const struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"run", cmd_run, "generate text with a DF11 or BF16 model (CUDA, Vulkan or CPU)"},
    {"compress", cmd_compress, "compress a BF16 Hugging Face model directory to DF11"},
    {"decompress", cmd_decompress, "decompress a DF11 model directory back to BF16"},
    {"verify", cmd_verify, "check every DF11 unit decodes (and matches a BF16 original)"},
    {"inspect", cmd_inspect, "describe a model directory: architecture, units, sizes"},
    {"serve", cmd_serve, "serve the model over HTTP with OpenAI's API (continuous batching)"},
    {"chat", cmd_chat, "talk with the model in the terminal, answers streamed"},
    {"tokenize", cmd_tokenize, "text to token ids and back with a model's tokenizer.json"},
    {"devices", cmd_devices, "list backends and devices with their capabilities"},
    {"bench", cmd_bench, "measure performance (codec: the CPU DF11 compressor and decoders)"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: dfrt COMMAND [ARGS...]\n\n"
               "dfrt %s: a runtime for DFloat11 (DF11) models.\n\ncommands:\n",
            dfrt_version());
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'dfrt help COMMAND' (or 'dfrt COMMAND --help') describes a command. 'dfrt --version' prints the version.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "help") == 0 && argc > 2) { /* dfrt help COMMAND [SUBCOMMAND]: that command's --help */
        if (argc > 4) {
            fprintf(stderr, "dfrt help: expected a COMMAND (and a bench SUBCOMMAND) at most\n");
            return CLI_USAGE;
        }
        for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
            if (strcmp(argv[2], commands[i].name) == 0) {
                char *args[4] = {argv[2], argc > 3 ? argv[3] : "--help", argc > 3 ? "--help" : NULL, NULL};
                return commands[i].fn(argc > 3 ? 3 : 2, args);
            }
        fprintf(stderr, "dfrt help: unknown command \"%s\"\n\n", argv[2]);
        usage(stderr);
        return CLI_USAGE;
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return CLI_OK;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("dfrt %s\n", dfrt_version());
        return CLI_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (strcmp(cmd, commands[i].name) == 0) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "dfrt: unknown command \"%s\"\n\n", cmd);
    usage(stderr);
    return CLI_USAGE;
}
