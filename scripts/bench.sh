#!/usr/bin/env bash
# `npm run bench`: measures Twinline beside the Socket.IO reference peer and
# publishes the figures.
#
#   npm run bench                 everything below
#   npm run bench -- --only peer  only the comparison with the peer (steps 2-3
#                                 and its section of docs/benchmarks.md)
#
#   1. release build of the relay, twinline-bench and twinline-soak
#   2. twinline-bench compare     Twinline, Socket.IO + SQLite, Socket.IO in
#                                 memory: full load, 1,000 chats x 1 msg/s,
#                                 10,000 idle connections, SIGKILL + restart;
#                                 BENCH_RUNS times (default 2), for ranges
#   3. twinline-bench steady      STEADY_MINUTES (default 15) of steady state,
#                                 Twinline as a replicating pair, then the peer
#   4. twinline-bench replication, failover
#   5. twinline-soak              the chaos soak on two deployments, then the
#                                 same schedule on the primary alone (--single)
#   6. widget size and time to launcher (scripts/widget-size.mjs --time)
#   7. scripts/bench-report.mjs writes docs/benchmarks.md and docs/bench-*.svg
#
# Raw results go to $CARGO_TARGET_DIR/bench (default target/bench).
# BENCH_QUICK=1 runs everything small (to try the pipeline, not to publish);
# BENCH_SKIP_WIDGET_BUILD=1 measures the bundle already in www/pkg;
# SOAK_ARGS adds flags to both soaks (e.g. "--minutes 10 --seed 7").
# A soak that finds a lost, duplicated, reordered or diverged message, or a
# steady state that loses an acked message, makes this exit non-zero, after
# writing the report.
set -euo pipefail
cd "$(dirname "$0")/.."

only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --only) only=${2:-}; shift 2 ;;
    --only=*) only=${1#--only=}; shift ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done
if [ -n "$only" ] && [ "$only" != peer ]; then
  echo "bench.sh: --only takes peer" >&2
  exit 2
fi

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
bash scripts/ensure-toolchain.sh >/dev/null
run cargo build --release --locked -p twinline-tests --bins

status=0
step "comparison with the Socket.IO peer (twinline-bench compare)"
run "$bin/twinline-bench" compare "${quick[@]}" --runs "${BENCH_RUNS:-2}" --out "$out/compare.json" 2>&1 | tee "$out/compare.log"
step "steady state (twinline-bench steady)"
run "$bin/twinline-bench" steady "${quick[@]}" --minutes "${STEADY_MINUTES:-15}" --out "$out/steady.json" 2>&1 | tee "$out/steady.log" || status=1

if [ -z "$only" ]; then
  step "replication and failover (twinline-bench)"
  run "$bin/twinline-bench" replication "${quick[@]}" --out "$out/replication.json" 2>&1 | tee "$out/replication.log"
  run "$bin/twinline-bench" failover "${quick[@]}" --out "$out/failover.json" 2>&1 | tee "$out/failover.log"

  step "chaos soak, two deployments"
  run "$bin/twinline-soak" "${soak_size[@]}" "${soak_extra[@]}" --out "$out/soak.json" || status=1
  step "chaos soak, the primary alone"
  run "$bin/twinline-soak" --single "${soak_size[@]}" "${soak_extra[@]}" --out "$out/soak-single.json" || status=1

  step "widget size and time to launcher"
  if [ "${BENCH_SKIP_WIDGET_BUILD:-}" != 1 ]; then
    run bash scripts/build-widget.sh
  fi
  run node scripts/widget-size.mjs --time | tee "$out/widget.txt"
fi

step "report"
if [ -n "$only" ]; then
  node scripts/bench-report.mjs "$out" --only peer
else
  node scripts/bench-report.mjs "$out"
fi
exit $status
