# Shared by run.sh and test.sh: install what the build needs (idempotently), then configure
# and build. Sourced, not run.
set -euo pipefail

DFRT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Debian 12 packages: compiler and build tools, the libraries dfrt links, and for the Vulkan
# backend the headers, volk, the shader compiler, and (for the tests) Mesa's software Vulkan
# (lavapipe) with the Khronos validation layer. The CUDA backend is built when nvcc is found
# (e.g. /usr/local/cuda); CUDA does not come from Debian's main archive.
DFRT_PACKAGES=(
    gcc libc6-dev meson ninja-build pkg-config
    libcjson-dev libpcre2-dev libutf8proc-dev libmicrohttpd-dev curl
    libvulkan-dev libvulkan-volk-dev glslang-tools libvulkan1 mesa-vulkan-drivers vulkan-validationlayers
)

dfrt_install_packages() {
    local missing=()
    for p in "${DFRT_PACKAGES[@]}" "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    local sudo=()
    [[ $(id -u) -ne 0 ]] && sudo=(sudo)
    echo "Installing: ${missing[*]}" >&2
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# dfrt_build DIR [meson options...]: configures DIR once, then builds it.
dfrt_build() {
    local dir=$1
    shift
    cd "$DFRT_ROOT"
    [[ -f $dir/build.ninja ]] || meson setup "$dir" "$@"
    ninja -C "$dir"
}
