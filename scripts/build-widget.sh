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
# Then scripts/pack-www.mjs makes it fast to serve: each bundle's glue and
# wasm under content-hashed names (served immutable), with an entry under the
# bundle's fixed name that imports them (pkg/twinline_launcher.js, ...), the
# previous build's hashed files kept for pages that still hold its entry;
# and brotli and gzip variants of every file under the output directory
# (sources such as loader.js and the console's page included), which the
# relays serve by Accept-Encoding.
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
# ENTRY is the kind of entry pack-www.mjs writes: `loader` (the loader's
# default + boot) or `module` (re-exports the glue). wasm-bindgen writes into
# a staging directory, so a relay serving $out never sees a half-built
# bundle: the hashed files appear, then the entry that names them.
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
bundle() {
  local out=$1 crate=$2 entry=$3
  local name=${crate//-/_}
  cargo build --locked --profile wasm --target wasm32-unknown-unknown -p "$crate"
  wasm-bindgen --target web --no-typescript --out-dir "$stage" --out-name "$name" \
    "$target_dir/wasm32-unknown-unknown/wasm/$name.wasm"
  # -Os --converge: measured smaller gzipped than -Oz (by ~1.3 KB on the
  # visitor bundle; -Oz wins raw, but visitors download it compressed; with
  # brotli too: 94,186 B against 94,365 B for the chat at b304058).
  # --low-memory-unused lets wasm-opt fold constant offsets into loads and
  # stores (271 B less brotli on the chat): true of Rust's wasm32 layout,
  # where the first 1 MiB is the stack growing down toward 0, so the lowest
  # 1 KiB is touched only by a stack already overflowing.
  "$wasm_opt" -Os --converge --low-memory-unused --enable-reference-types --enable-bulk-memory --enable-nontrapping-float-to-int \
    --enable-sign-ext --enable-mutable-globals --enable-multivalue \
    "$stage/${name}_bg.wasm" -o "$stage/${name}_bg.wasm"
  local file raw gz
  for file in "$stage/${name}_bg.wasm" "$stage/${name}.js"; do
    raw=$(wc -c < "$file")
    gz=$(gzip -9 -c "$file" | wc -c)
    echo "build-widget: $(basename "$file") ${raw} bytes, ${gz} bytes gzipped"
  done
  node scripts/pack-www.mjs bundle "$stage" "$out" "$name" "$entry"
}

# The visitor's launcher (what the loader on customers' pages fetches) and
# the chat (fetched by the launcher when it is needed; see widget/src/launcher.rs).
bundle "$www/pkg" twinline-launcher loader
bundle "$www/pkg" twinline-chat loader
# The launcher under its old name, for loaders pasted before the rename.
cp widget/bundles/launcher/twinline_widget.js "$www/pkg/twinline_widget.js"
rm -f "$www/pkg/twinline_widget_bg.wasm"
# The operator console (www/console/, served by the relays).
bundle "$www/console/pkg" twinline-console module
# Brotli and gzip beside every file the relays serve from here.
node scripts/pack-www.mjs compress "$www"
