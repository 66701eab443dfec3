#!/usr/bin/env bash
# Builds the browser bundles, wasm with its JS glue, optimised for size: the
# visitor's two (the launcher every page loads, www/pkg/twinline_launcher, and
# the chat it loads when needed, www/pkg/twinline_chat) and the operator
# console's (www/console/pkg). TWINLINE_WWW_OUT=DIR writes under DIR.
#
# Each bundle is a thin crate under widget/bundles/ with one export over the
# widget library. www/pkg/twinline_widget.js is the launcher under its old
# name, for loaders pasted into pages before it had this one
# (widget/bundles/launcher/twinline_widget.js).
#
# No wasm-pack: cargo builds the module, wasm-bindgen (the CLI version pinned
# to Cargo.lock by scripts/ensure-toolchain.sh) writes the glue, and binaryen's
# wasm-opt from npm (v132; Debian's v108 breaks reference types) shrinks it.
set -euo pipefail
cd "$(dirname "$0")/.."

target_dir=${CARGO_TARGET_DIR:-target}
# Where the bundles go (pkg/ and console/pkg/ under it); another directory
# lets a build run while tests serve www/.
www=${TWINLINE_WWW_OUT:-www}
wasm_opt=node_modules/.bin/wasm-opt
if [ ! -x "$wasm_opt" ]; then
  echo "build-widget: $wasm_opt missing; run scripts/ensure-toolchain.sh" >&2
  exit 1
fi

# bundle OUT_DIR CRATE: one entry crate, built, bound, shrunk. One cargo run
# per bundle: built together, cargo would unify the widget library's
# features, and the console's `Console` class would land in every bundle.
bundle() {
  local out=$1 crate=$2
  local name=${crate//-/_}
  cargo build --locked --profile wasm --target wasm32-unknown-unknown -p "$crate"
  mkdir -p "$out"
  wasm-bindgen --target web --no-typescript --out-dir "$out" --out-name "$name" \
    "$target_dir/wasm32-unknown-unknown/wasm/$name.wasm"
  # -Os --converge: measured smaller gzipped than -Oz (by ~1.3 KB on the
  # visitor bundle; -Oz wins raw, but visitors download it compressed).
  "$wasm_opt" -Os --converge --enable-reference-types --enable-bulk-memory --enable-nontrapping-float-to-int \
    --enable-sign-ext --enable-mutable-globals --enable-multivalue \
    "$out/${name}_bg.wasm" -o "$out/${name}_bg.wasm"
  local file raw gz
  for file in "$out/${name}_bg.wasm" "$out/${name}.js"; do
    raw=$(wc -c < "$file")
    gz=$(gzip -9 -c "$file" | wc -c)
    echo "build-widget: $file ${raw} bytes, ${gz} bytes gzipped"
  done
}

# The visitor's launcher (what the loader on customers' pages fetches) and
# the chat (fetched by the launcher when it is needed; see widget/src/launcher.rs).
bundle "$www/pkg" twinline-launcher
bundle "$www/pkg" twinline-chat
# The launcher under its old name, for loaders pasted before the rename.
cp widget/bundles/launcher/twinline_widget.js "$www/pkg/twinline_widget.js"
rm -f "$www/pkg/twinline_widget_bg.wasm"
# The operator console (www/console/, served by the relays).
bundle "$www/console/pkg" twinline-console
