#!/usr/bin/env bash
# `npm start`: the demo on this machine.
#
# Installs what the build needs when it is missing (scripts/ensure-toolchain.sh:
# wasm32 target, wasm-bindgen-cli, npm dev dependencies; no browser needed),
# builds the release relay and the browser bundle (www/pkg), then runs
# scripts/demo.mjs: primary relay on 127.0.0.1:7001, redundant on :7002,
# moderator on :7000, the demo customer site on :8080, data and logs under
# ./data (TWINLINE_DATA to move it). Ctrl-C stops everything.
# `npm start -- --nodes 2`: each deployment as its own PostgreSQL, two relay
# nodes and HAProxy on the same ports (data under ./data-nodes).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1mstart:\033[0m %s\n' "$*"; }

say "checking the toolchain"
# The cluster demo (`npm start -- --nodes 2`) also needs PostgreSQL and HAProxy.
case " $* " in
  *" --nodes "*) bash scripts/ensure-toolchain.sh --servers ;;
  *) bash scripts/ensure-toolchain.sh ;;
esac

say "building the relay (release)"
cargo build --release --locked -p twinline-relay
say "building the widget bundle"
bash scripts/build-widget.sh

exec node scripts/demo.mjs "$@"
