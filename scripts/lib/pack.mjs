// What scripts/pack-www.mjs does (see there for why): content-hashed
// bundle files with entries under their fixed names, and brotli and gzip
// variants of what a relay serves.
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { transformSync } from "esbuild";

/** A content-hashed name's hash: what relay/src/assets.rs recognises. */
export const HASH_DIGITS = 16;
export const HASHED = new RegExp(`^(.+)\\.([0-9a-f]{${HASH_DIGITS}})\\.(js|wasm)$`);
const NAMED_IN_TEXT = new RegExp(`[\\w-]+(?:\\.[0-9a-f]{${HASH_DIGITS}}\\.(?:js|wasm)|_bg\\.wasm)`, "g");
/** What gets .br and .gz variants. */
const COMPRESSIBLE = new Set([".js", ".mjs", ".wasm", ".html", ".css", ".json", ".svg", ".txt"]);
const VARIANTS = [".br", ".gz"];

function hashOf(bytes) {
  return createHash("sha256").update(bytes).digest("hex").slice(0, HASH_DIGITS);
}

/** Writes `bytes` to `file` through a rename, so a reader never sees half a file. */
function writeAtomic(file, bytes) {
  const temporary = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, bytes);
  fs.renameSync(temporary, file);
}

/**
 * The bundle files `file` mentions: hashed names, and the unhashed wasm a
 * glue from before hashed names names (none if `file` does not exist).
 */
function namedIn(file) {
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, "utf8").match(NAMED_IN_TEXT) ?? [];
}

/** `file`'s hashed names, and those of the hashed glue it names (one level). */
function generation(dir, entry) {
  const names = new Set(namedIn(path.join(dir, entry)));
  for (const name of [...names]) {
    if (name.endsWith(".js")) for (const inner of namedIn(path.join(dir, name))) names.add(inner);
  }
  return names;
}

// The entries are fetched on every first view: short, their comment a pointer.
function loaderEntry(name, glue, wasm) {
  return `// ${name}'s entry (scripts/lib/pack.mjs): hashed glue and wasm at once, from here.
var here = import.meta.url, glue, ready;
export default function () {
  return ready || (ready = Promise.all([
    import(new URL(${JSON.stringify(glue)}, here).href + new URL(here).search),
    fetch(new URL(${JSON.stringify(wasm)}, here)),
  ]).then(function (loaded) {
    glue = loaded[0];
    return glue.default({ module_or_path: loaded[1] });
  }));
}
export function boot() {
  return glue.boot();
}
`;
}

function moduleEntry(name, glue) {
  return `// ${name}'s entry (scripts/lib/pack.mjs): the hashed glue, under a fixed name.
export * from ${JSON.stringify(`./${glue}`)};
export { default } from ${JSON.stringify(`./${glue}`)};
`;
}

/**
 * Removes bundle `name`'s files in `dir` that are not in `keep`: its hashed
 * files (with their variants), and the unhashed wasm of builds before hashed
 * names (the first hashed build keeps it for entries browsers still hold).
 */
function prune(dir, name, keep) {
  for (const file of fs.readdirSync(dir)) {
    const base = VARIANTS.reduce((f, v) => (f.endsWith(v) ? f.slice(0, -v.length) : f), file);
    const match = HASHED.exec(base);
    const ours = match ? match[1] === name || match[1] === `${name}_bg` : base === `${name}_bg.wasm`;
    if (ours && !keep.has(base)) fs.rmSync(path.join(dir, file));
  }
}

/** `source` (an ES module) minified: same exports, same behaviour. */
function minify(source) {
  return transformSync(source, { minify: true, format: "esm", legalComments: "none" }).code;
}

export function bundle(stage, out, name, kind) {
  if (kind !== "loader" && kind !== "module") throw new Error(`entry kind ${kind}: loader or module`);
  fs.mkdirSync(out, { recursive: true });
  const previous = generation(out, `${name}.js`);

  const wasmBytes = fs.readFileSync(path.join(stage, `${name}_bg.wasm`));
  const wasm = `${name}_bg.${hashOf(wasmBytes)}.wasm`;
  const plain = `'${name}_bg.wasm'`;
  const glueText = fs.readFileSync(path.join(stage, `${name}.js`), "utf8");
  if (!glueText.includes(plain)) throw new Error(`${name}.js does not name ${plain}: has wasm-bindgen changed?`);
  // wasm-bindgen's glue comes with its comments and indentation; esbuild
  // (a well-kept minifier from npm) renames its locals and drops both,
  // which takes about a fifth off the glue as a browser gets it (brotli).
  // Exports and the import object's keys (the wasm's import names) stay.
  const glueBytes = Buffer.from(minify(glueText.replace(plain, `'${wasm}'`)));
  const glue = `${name}.${hashOf(glueBytes)}.js`;

  // Hashed files first, the entry last: an entry never names a file that
  // is not there yet.
  // An existing hashed file already holds these bytes.
  for (const [file, bytes] of [[wasm, wasmBytes], [glue, glueBytes]]) {
    if (!fs.existsSync(path.join(out, file))) writeAtomic(path.join(out, file), bytes);
  }
  const entry = kind === "loader" ? loaderEntry(name, glue, wasm) : moduleEntry(name, glue);
  writeAtomic(path.join(out, `${name}.js`), entry);
  prune(out, name, new Set([...previous, glue, wasm]));
  console.log(`pack-www: ${path.join(out, name)}.js -> ${glue}, ${wasm}`);
}

/** Every file under `dir`, recursively. */
function* files(dir) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* files(file);
    else if (entry.isFile()) yield file;
  }
}

function variantsOf(bytes) {
  return {
    ".br": zlib.brotliCompressSync(bytes, {
      params: {
        [zlib.constants.BROTLI_PARAM_QUALITY]: zlib.constants.BROTLI_MAX_QUALITY,
        [zlib.constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
      },
    }),
    ".gz": zlib.gzipSync(bytes, { level: 9 }),
  };
}

export function compress(dir) {
  let written = 0;
  for (const file of files(dir)) {
    const variant = VARIANTS.find((v) => file.endsWith(v));
    if (variant) {
      // A variant of a file that is gone would be served in its place.
      if (!fs.existsSync(file.slice(0, -variant.length))) fs.rmSync(file);
      continue;
    }
    if (!COMPRESSIBLE.has(path.extname(file)) || file.endsWith(".tmp")) continue;
    const modified = fs.statSync(file).mtimeMs;
    const fresh = VARIANTS.every((v) => fs.existsSync(file + v) && fs.statSync(file + v).mtimeMs >= modified);
    if (fresh) continue;
    const bytes = fs.readFileSync(file);
    for (const [v, packed] of Object.entries(variantsOf(bytes))) {
      // Not worth a header that says so (tiny files).
      if (packed.length < bytes.length) {
        writeAtomic(file + v, packed);
        written++;
      } else {
        fs.rmSync(file + v, { force: true });
      }
    }
  }
  console.log(`pack-www: ${written} compressed variants written under ${dir}`);
}

