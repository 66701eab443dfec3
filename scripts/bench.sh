#!/usr/bin/env bash
# `npm run bench`: measures Twinline and publishes the figures.
#
#   1. release build of the relay, twinline-bench and twinline-soak
#   2. twinline-bench all      relay throughput, latency at 1,000 chats, idle
#                              connections, replication, failover times
#   3. twinline-soak           the chaos soak on two deployments, then the
#                              same schedule on the primary alone (--single)
#   4. widget size and time to launcher (scripts/widget-size.mjs --time)
#   5. scripts/bench-report.mjs writes docs/benchmarks.md and docs/bench-*.svg
#
# Raw results go to $CARGO_TARGET_DIR/bench (default target/bench).
# BENCH_QUICK=1 runs everything small (to try the pipeline, not to publish);
# BENCH_SKIP_WIDGET_BUILD=1 measures the bundle already in www/pkg;
# SOAK_ARGS adds flags to both soaks (e.g. "--minutes 10 --seed 7").
# A soak that finds a lost, duplicated, reordered or diverged message makes
# this exit non-zero, after writing the report.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
out=$CARGO_TARGET_DIR/bench
bin=$CARGO_TARGET_DIR/release
mkdir -p "$out"
: >"$out/commands.txt"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# run CMD...: logs the command for docs/benchmarks.md, then runs it.
run() {
  echo "$*" | sed "s|$bin/||; s|$PWD/||g" >>"$out/commands.txt"
  "$@"
}

quick=()
soak_size=()
if [ "${BENCH_QUICK:-}" = 1 ]; then
  quick=(--quick)
  soak_size=(--chats 40 --minutes 0.5 --faults 8)
fi
# shellcheck disable=SC2206
soak_extra=(${SOAK_ARGS:-})

step "release build"
run cargo build --release --locked -p twinline-tests --bins

step "benchmarks (twinline-bench all)"
run "$bin/twinline-bench" all "${quick[@]}" --out "$out/relay.json" 2>&1 | tee "$out/bench.log"

status=0
step "chaos soak, two deployments"
run "$bin/twinline-soak" "${soak_size[@]}" "${soak_extra[@]}" --out "$out/soak.json" || status=1
step "chaos soak, the primary alone"
run "$bin/twinline-soak" --single "${soak_size[@]}" "${soak_extra[@]}" --out "$out/soak-single.json" || status=1

step "widget size and time to launcher"
if [ "${BENCH_SKIP_WIDGET_BUILD:-}" != 1 ]; then
  run bash scripts/build-widget.sh
fi
run node scripts/widget-size.mjs --time | tee "$out/widget.txt"

step "report"
node scripts/bench-report.mjs "$out"
exit $status
