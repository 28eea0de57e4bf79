#!/usr/bin/env bash
# The main job: installs what is missing, builds dfrt, and runs the model that ships in the
# repository (models/kjv-qwen3-df11, compressed by the reference DF11 compressor) on a prompt,
# on the best backend this machine has.
source "$(dirname "$0")/scripts/common.sh"
dfrt_install_packages
dfrt_build build
./build/tools/dfrt run models/kjv-qwen3-df11 --prompt 'And the LORD said unto Moses,' -n 48
