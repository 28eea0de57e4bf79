#!/usr/bin/env bash
# Fetches OpenAI's official Node SDK (npm package openai@6.49.0, which has no dependencies) for
# the server test that drives dfrt serve with it: `npm pack`, extracted to DEST_DIR/openai.
#
#   scripts/fetch-openai-sdk.sh .cache/node   (what test.sh does)
#
# Does nothing when DEST_DIR/openai/package.json is there. Without npm or the network it warns
# and exits 0: the test then fails, saying that the SDK is missing.
set -euo pipefail

if [ $# -ne 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
    echo "usage: $0 DEST_DIR" >&2
    exit 2
fi
dest=$1
spec=openai@6.49.0
if [ -s "$dest/openai/package.json" ]; then
    echo "fetch-openai-sdk: $dest/openai is there"
    exit 0
fi
warn() {
    echo "fetch-openai-sdk: warning: $*" >&2
    exit 0
}
command -v npm >/dev/null 2>&1 || warn "npm is not installed"
work=$(mktemp -d "${TMPDIR:-/tmp}/dfrt-openai-sdk.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "fetch-openai-sdk: npm pack $spec"
if ! tarball=$(cd "$work" && timeout 300 npm pack --fetch-retries=1 "$spec" 2>"$work/npm.log" | tail -n 1); then
    warn "npm pack $spec failed: $(grep -m 1 -i 'err' "$work/npm.log" 2>/dev/null || tail -n 1 "$work/npm.log")"
fi
[ -n "$tarball" ] && [ -f "$work/$tarball" ] || warn "npm pack $spec produced no tarball"
tar -xzf "$work/$tarball" -C "$work"
mkdir -p "$dest"
rm -rf "$dest/openai.tmp"
mv "$work/package" "$dest/openai.tmp" # into place under its final name only when complete
mv "$dest/openai.tmp" "$dest/openai"
echo "fetch-openai-sdk: $dest/openai ($(du -sh "$dest/openai" | cut -f1))"
