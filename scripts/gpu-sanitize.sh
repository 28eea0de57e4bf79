#!/usr/bin/env bash
# On a machine with an NVIDIA GPU (through scripts/device.sh): the op tests, valid and corrupted
# DF11 units included, under compute-sanitizer's memcheck, initcheck and racecheck on CUDA, the
# executor's tests under memcheck, and the decode tests under the Vulkan validation layer's
# GPU-assisted checks (any shader access outside its bindings is an error).
#   bash scripts/device.sh bash scripts/gpu-sanitize.sh [BUILD_DIR]
# The op tests ask cudaMalloc for 4 PB on purpose: API errors are not reported.
set -u
BUILD=${1:-build}
CS=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
failed=0
step() {
    local label=$1
    shift
    echo "== $label"
    local t0=$SECONDS
    "$@" 2>&1 | grep -E "^backend|ERROR SUMMARY|RACECHECK SUMMARY|passed|FAIL|mutated units" | tail -8
    local rc=${PIPESTATUS[0]}
    echo "-- exit $rc, $((SECONDS - t0)) s"
    [[ $rc -eq 0 ]] || failed=1
}
"$CS" --version | tail -1
step "memcheck: test_ops cuda" "$CS" --tool memcheck --report-api-errors no --error-exitcode 9 "$BUILD/tests/test_ops" cuda
step "initcheck: test_ops cuda decode,mutated" "$CS" --tool initcheck --report-api-errors no --error-exitcode 9 \
    "$BUILD/tests/test_ops" cuda decode,mutated
step "racecheck: test_ops cuda decode,mutated" "$CS" --tool racecheck --error-exitcode 9 "$BUILD/tests/test_ops" cuda decode,mutated
step "memcheck: test_model cuda" "$CS" --tool memcheck --report-api-errors no --error-exitcode 9 "$BUILD/tests/test_model" cuda
step "GPU-AV: test_ops vulkan decode,mutated" env DFRT_VULKAN_VALIDATION=1 \
    VK_LAYER_ENABLES=VK_VALIDATION_FEATURE_ENABLE_GPU_ASSISTED_EXT "$BUILD/tests/test_ops" vulkan decode,mutated
exit $failed
