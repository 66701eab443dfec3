#!/usr/bin/env node
// Makes www/ ready to be served fast (scripts/build-widget.sh runs it):
//
//   node scripts/pack-www.mjs bundle STAGE OUT NAME loader|module
//       moves wasm-bindgen's NAME.js and NAME_bg.wasm from STAGE into OUT
//       under content-hashed names, NAME.<hash>.js and NAME_bg.<hash>.wasm,
//       and writes OUT/NAME.js, the entry under the name that never
//       changes, which names them (see below). Hashed files the previous
//       entry named are kept, older ones removed.
//   node scripts/pack-www.mjs compress DIR
//       writes FILE.br (brotli, quality 11) and FILE.gz (gzip -9) beside
//       every compressible file under DIR, where that is smaller; removes
//       variants whose file is gone.
//
// Why hashed names: a relay serves a file named NAME.<16 hex>.EXT with
// `Cache-Control: immutable` for a year (relay/src/assets.rs), so a returning
// visitor fetches nothing. The hash is the first 16 hex digits of the file's
// SHA-256: a name is only ever reused for the same bytes.
//
// Why entries: what a page asks for by name cannot be hashed (loaders pasted
// into customers' pages import pkg/twinline_launcher.js, and the launcher
// asks for pkg/twinline_chat.js, loaders from before the rename for
// pkg/twinline_widget.js). Those are small modules, served short-lived and
// revalidated, that import this build's hashed glue. A `loader` entry
// (the visitor's bundles) exports the loader's contract, `default` (fetches
// glue and wasm at once, ignoring the wasm address a loader passes: loaders
// name the unhashed file) and `boot`; a `module` entry (the console)
// re-exports the glue, whose own default wasm address names the hashed wasm.
// Every address is relative to the entry, so a page gets the files of the
// deployment that served it the entry, whichever version that one runs. A
// loader's retry imports the entry with a query (?2), which the entry puts
// on the glue too: a failed import stays failed for its URL.
//
// Why the previous generation is kept: an entry cached by a browser (up to
// the relay's short max-age) or fetched just before an upgrade still names
// the last build's files; they stay until the build after next.
//
// Why at build time: brotli at quality 11 takes a second for the chat's
// wasm; a relay serves the variants as they are (tower-http's ServeDir),
// and falls back to the file itself for a client that accepts neither or
// when a variant is older than its file (an edited source, not rebuilt).
import { bundle, compress } from "./lib/pack.mjs";

const [command, ...args] = process.argv.slice(2);
if (command === "bundle" && args.length === 4) {
  bundle(...args);
} else if (command === "compress" && args.length === 1) {
  compress(args[0]);
} else {
  console.error("usage: pack-www.mjs bundle STAGE OUT NAME loader|module | pack-www.mjs compress DIR");
  process.exit(2);
}
