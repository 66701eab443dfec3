#!/usr/bin/env bash
# Builds the browser bundle into www/pkg: the wasm core with its JS glue, for
# both entry points (visitor widget, operator console), optimised for size.
#
# No wasm-pack: cargo builds the module, wasm-bindgen (the CLI version pinned
# to Cargo.lock by scripts/ensure-toolchain.sh) writes the glue, and binaryen's
# wasm-opt from npm (v132; Debian's v108 breaks reference types) shrinks it.
set -euo pipefail
cd "$(dirname "$0")/.."

out=www/pkg
target_dir=${CARGO_TARGET_DIR:-target}
cargo build --locked --profile wasm --target wasm32-unknown-unknown -p twinline-widget
mkdir -p "$out"
wasm-bindgen --target web --no-typescript --out-dir "$out" \
  "$target_dir/wasm32-unknown-unknown/wasm/twinline_widget.wasm"

wasm_opt=node_modules/.bin/wasm-opt
if [ ! -x "$wasm_opt" ]; then
  echo "build-widget: $wasm_opt missing; run scripts/ensure-toolchain.sh" >&2
  exit 1
fi
"$wasm_opt" -Oz --enable-reference-types --enable-bulk-memory --enable-nontrapping-float-to-int \
  --enable-sign-ext --enable-mutable-globals --enable-multivalue \
  "$out/twinline_widget_bg.wasm" -o "$out/twinline_widget_bg.wasm"

raw=$(wc -c < "$out/twinline_widget_bg.wasm")
gz=$(gzip -9 -c "$out/twinline_widget_bg.wasm" | wc -c)
echo "build-widget: $out/twinline_widget_bg.wasm ${raw} bytes, ${gz} bytes gzipped"
