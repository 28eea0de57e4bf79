#!/usr/bin/env bash
# The main job: installs what is missing, builds dfrt, and checks and describes the model that
# ships in the repository (models/kjv-qwen3-df11, written by the reference DF11 compressor).
source "$(dirname "$0")/scripts/common.sh"
dfrt_install_packages
dfrt_build build
./build/tools/dfrt verify models/kjv-qwen3-df11
./build/tools/dfrt inspect models/kjv-qwen3-df11
