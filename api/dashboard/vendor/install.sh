#!/usr/bin/env bash
# onnxruntime-web for the dashboard's "Test in the browser" panel, from the npm registry at the version that
# package-lock.json pins (never a CDN): `npm ci`, then only the wasm build's two files into ../static/vendor/ort/.
# `make install` runs it; the Dockerfile's node stage too. Without npm the panel says what to run, and the rest of
# the dashboard works: a developer's install goes on with a warning, CI (CI set) fails.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
DEST="$HERE/../static/vendor/ort"
# The wasm-only build (no WebGL/WebGPU) with its loader bundled in, and the runtime it loads next to itself.
FILES=(ort.wasm.bundle.min.mjs ort-wasm-simd-threaded.wasm)

give_up() {
    echo "dashboard vendor: $1; the dashboard's 'Test in the browser' panel needs onnxruntime-web (install node and npm, then run make install)" >&2
    if [ -n "${CI:-}" ]; then exit 1; fi
    exit 0
}

command -v npm >/dev/null || give_up "npm not found"
cd "$HERE"
# --ignore-scripts: nothing of the packages runs here; only their files are used.
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error || give_up "npm ci failed"
VERSION="$(node -p "require('./node_modules/onnxruntime-web/package.json').version")"
rm -rf "$DEST"
mkdir -p "$DEST"
for name in "${FILES[@]}"; do
    cp "node_modules/onnxruntime-web/dist/$name" "$DEST/$name"
done
echo "$VERSION" > "$DEST/VERSION"
echo "dashboard vendor: onnxruntime-web $VERSION in api/dashboard/static/vendor/ort/ ($(du -sh "$DEST" | cut -f1))" >&2
