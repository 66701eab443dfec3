#!/usr/bin/env bash
# `npm test`: every check Twinline has, in the order a failure is cheapest to
# find. CI (.ci/run) runs exactly this on a clean clone.
#
#   1. toolchain (installs what is missing)   5. widget tests in headless chromium
#   2. cargo fmt --check                       6. release build of the widget bundle
#   3. cargo clippy -D warnings                7. bundle sizes as a relay serves them
#   4. cargo test (core, relay, processes)     8. browser end-to-end tests (node --test)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
started=$(date +%s)

step "toolchain"
bash scripts/ensure-toolchain.sh --browser --servers

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test"
cargo test --workspace --locked

step "widget tests in headless chromium (wasm-bindgen-test)"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# Every widget test, the console's included (its feature is on by default);
# what `wasm-pack test --headless --chrome widget` runs, without wasm-pack.
TMPDIR="$scratch" CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
  cargo test --locked --target wasm32-unknown-unknown -p twinline-widget

step "release builds (relay, widget bundle)"
cargo build --release --locked -p twinline-relay
bash scripts/build-widget.sh

step "bundle sizes as served (fails over a budget)"
node scripts/widget-size.mjs

step "browser end-to-end tests"
# Every *.test.mjs under tests/browser, one at a time (each starts its own
# relays and browser on fixed-free ports).
mapfile -t browser_tests < <(find tests/browser -name '*.test.mjs' 2>/dev/null | sort)
if [ "${#browser_tests[@]}" -eq 0 ]; then
  echo "no browser tests yet (tests/browser/*.test.mjs)"
else
  node --test --test-concurrency=1 "${browser_tests[@]}"
fi

printf '\nall checks passed in %ss\n' "$(( $(date +%s) - started ))"
