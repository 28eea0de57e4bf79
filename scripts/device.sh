#!/usr/bin/env bash
# Runs a command on the GPU machine lent through the workplace's device tool, with a build
# made here (Debian 12; the machine runs Ubuntu 24.04, whose glibc is newer). Carry build/,
# .gl/ (the Vulkan loader and GL libraries, as debs) and .debs/ (libcjson1, libutf8proc2,
# libmicrohttpd12; apt-get download them here).
# usage: bash scripts/device.sh COMMAND...
set -u
cd "$(dirname "$0")/.."
for f in .gl/*.deb; do dpkg -x "$f" /; done
mkdir -p /tmp/dfrt-libs
for f in .debs/*.deb; do dpkg -x "$f" /tmp/dfrt-libs; done
ldconfig
export LD_LIBRARY_PATH=/tmp/dfrt-libs/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
export DFRT_TEST_MODEL_DIR=$PWD/models/kjv-qwen3-df11 DFRT_TEST_DATA=$PWD/tests/data
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv,noheader
"$@"
