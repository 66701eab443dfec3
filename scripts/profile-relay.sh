#!/usr/bin/env bash
# Where the relay's time goes at everyday load: the everyday scenario of
# twinline-bench (CHATS visitors x 1 msg/s, one operator holding every chat)
# against a release relay, measured three ways over the same window of
# traffic, each per stored message (twinline_messages_stored_total from
# /metrics):
#
#   1. CPU, user and system, from /proc/<pid>/stat of the relay alone
#   2. system calls, by name (strace -c -f, attached for the window)
#   3. instructions, by function (valgrind --tool=callgrind, counters zeroed
#      when the window starts and dumped when it ends; callgrind counts
#      instructions exactly, so this part is repeatable on a busy machine)
#
#   bash scripts/profile-relay.sh [--chats 50] [--seconds 40]
#   bash scripts/profile-relay.sh --report-only   # part 3's tables again, from the last dump
#
# --reconnects measures instead what one reconnect costs: `twinline-bench
# reconnects` (storms in which every visitor reconnects at once, hello with
# a token and a resume -> welcome, then hangs up; operators connected) with
# the relay under callgrind, counters zeroed when the measured storms start
# and dumped when they end, so the instructions per reconnect are exact:
#
#   bash scripts/profile-relay.sh --reconnects [--visitors 100] [--messages 20]
#        [--missing 0] [--operators 10] [--rounds 3] [--server twinline-postgres]
#
# perf would sample the kernel side too, but `perf stat -e instructions true`
# says "not supported" on these machines (no hardware counters in the VM).
# Under callgrind the relay runs some 50x slower, so CHATS stays small there
# (PROFILE_CALLGRIND_CHATS, default 20): each message is committed alone at
# either rate (a commit takes longer than the gap between messages only far
# above 1,000 msg/s), so the cost per message is comparable.
# Results: $CARGO_TARGET_DIR/profile (summary.txt, callgrind-*.txt).
set -euo pipefail
cd "$(dirname "$0")/.."

chats=50
seconds=40
report_only=""
reconnects=""
storm_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --chats) chats=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --report-only) report_only=1; shift ;;
    --reconnects) reconnects=1; shift ;;
    --visitors|--messages|--missing|--operators|--rounds|--server) storm_args+=("$1" "$2"); shift 2 ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "profile-relay.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done
callgrind_chats=${PROFILE_CALLGRIND_CHATS:-20}

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
bin=$CARGO_TARGET_DIR/release
out=$CARGO_TARGET_DIR/profile
mkdir -p "$out"
command -v valgrind >/dev/null || { echo "profile-relay.sh: needs valgrind (apt-get install valgrind)" >&2; exit 1; }
command -v strace >/dev/null || { echo "profile-relay.sh: needs strace (apt-get install strace)" >&2; exit 1; }
cargo build --release --locked -p twinline-tests --bins

# The bench starts relays through TWINLINE_RELAY_BIN: a wrapper that puts
# `serve` under the tool of this phase (operator add runs as it is).
wrapper=$out/relay-wrapper.sh
cat >"$wrapper" <<EOF
#!/bin/sh
if [ "\$1" = serve ] && [ -n "\$PROFILE_TOOL" ]; then
  exec \$PROFILE_TOOL "$bin/relay-under-test" "\$@"
fi
exec "$bin/relay-under-test" "\$@"
EOF
chmod +x "$wrapper"

summary=$out/summary.txt
: >"$summary"
say() { echo "$*" | tee -a "$summary"; }

# metric PORT NAME: a counter from /metrics.
metric() {
  curl -fsS -H "Authorization: Bearer test-admin-token" "http://127.0.0.1:$1/metrics" \
    | awk -v name="$2" '$1 == name || index($1, name "{") == 1 { print $2 }'
}
# cpu_ticks PID: "user system" clock ticks (fields 14 and 15 of stat).
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12, $13 }'; }

# phase NAME TOOL CHATS: runs the everyday scenario with the relay under
# TOOL; sets pid and port once traffic flows, and bench_pid.
phase() {
  local name=$1 tool=$2 n=$3
  PROFILE_TOOL=$tool TWINLINE_RELAY_BIN=$wrapper "$bin/twinline-bench" compare \
    --servers twinline --scenarios everyday --runs 1 --chats "$n" --seconds "$((seconds + 30))" \
    --out "$out/$name.json" >"$out/$name.log" 2>&1 &
  bench_pid=$!
  pid=""
  for _ in $(seq 600); do
    pid=$(pgrep -P "$bench_pid" | head -1 || true)
    [ -n "$pid" ] && break
    sleep 0.2
  done
  [ -n "$pid" ] || { echo "no relay started (see $out/$name.log)" >&2; exit 1; }
  port=""
  for _ in $(seq 600); do
    port=$(ss -ltnpH 2>/dev/null | awk -v p="pid=$pid," '$0 ~ p { n = split($4, a, ":"); print a[n]; exit }')
    [ -n "$port" ] && break
    sleep 0.2
  done
  # Traffic flows once more than the chats' first messages are stored.
  for _ in $(seq 1200); do
    kill -0 "$bench_pid" 2>/dev/null || { echo "the bench ended early (see $out/$name.log)" >&2; exit 1; }
    stored=$(metric "$port" twinline_messages_stored_total 2>/dev/null || echo 0)
    [ "${stored:-0}" -gt "$((n * 3))" ] && break
    sleep 0.5
  done
  sleep 2
}

window_start() { m0=$(metric "$port" twinline_messages_stored_total); read -r u0 s0 < <(cpu_ticks "$pid"); }
window_end() {
  m1=$(metric "$port" twinline_messages_stored_total)
  read -r u1 s1 < <(cpu_ticks "$pid")
  messages=$((m1 - m0))
}
finish() { wait "$bench_pid" || true; }

# annotate: part 3's tables from the last callgrind dump, per message (or,
# after --reconnects, per reconnect: callgrind-count.txt says which).
annotate() {
  local dump total messages per unit
  dump=$(ls -t "$out"/callgrind.out* | head -1)
  read -r messages unit <"$out/callgrind-count.txt"
  if [ "$unit" = reconnect ]; then
    parts=("${reconnect_parts[@]}")
  else
    parts=("${message_parts[@]}")
  fi
  callgrind_annotate --inclusive=yes --threshold=100 "$dump" >"$out/callgrind-inclusive.txt" 2>/dev/null || true
  callgrind_annotate --threshold=100 "$dump" >"$out/callgrind-self.txt" 2>/dev/null || true
  total=$(awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }' "$out/callgrind-self.txt")
  say "$messages ${unit}s in the window; $total instructions = $((total / messages)) per $unit"
  # Lines look like "1,234 (12.3%)  file:function [object]".
  per='{ n = $1; gsub(",", "", n); sub(/^ *[0-9,]+ +\( *[0-9.]+%\) +/, ""); sub(/ \[[^]]*\]$/, ""); sub(/^[^:]*:/, ""); printf "  %10.0f  %s\n", n / m, $0 }'
  say "top functions by instructions including callees (per $unit):"
  grep -E '^ *[0-9,]+ +\(' "$out/callgrind-inclusive.txt" | awk 'NR > 1 && NR <= 46' \
    | awk -v m="$messages" "$per" | tee -a "$summary"
  say "top functions by their own instructions (per $unit):"
  grep -E '^ *[0-9,]+ +\(' "$out/callgrind-self.txt" | awk 'NR > 1 && NR <= 31' \
    | awk -v m="$messages" "$per" | tee -a "$summary"
  # Parts of the work as subtrees (inclusive, so they overlap where one
  # calls another). Own-instruction totals by library are not given: with
  # the release build's LTO most Rust code is inlined into the threads'
  # entry closures, and callgrind's self costs of those frames are not
  # meaningful after --zero.
  say "parts of the work, instructions per $unit including callees (overlapping):"
  local part
  for part in "${parts[@]}"; do
    awk -v m="$messages" -v label="${part%%|*}" -v re="${part#*|}" "$per" "$out/callgrind-inclusive.txt" 2>/dev/null \
      | awk -v label="${part%%|*}" -v re="${part#*|}" -v m="$messages" '
        { n = $1; $1 = ""; sub(/^ +/, ""); if ($0 ~ re) { sum += n; found = 1 } }
        END { if (found) printf "  %10.0f  %s\n", sum, label }' | tee -a "$summary"
  done
}

# Parts of the work as "label|regular expression over function names".
message_parts=(
    "store writer thread|twinline_relay::store::run_writer$" \
    "  SQL compiled again (sqlite3_prepare_v3)|sqlite3_prepare_v3$" \
    "  execute_batch (SQL text run without a cached statement)|rusqlite::Connection::execute_batch$" \
    "  commit: WAL frames written|pagerWalFrames$" \
    "store reads: chat header per message (reads::chat_in)|twinline_relay::store::reads::chat_in$" \
    "store reads: feed head (reads::head)|twinline_relay::store::reads::head$" \
    "tokio tasks polled (connections, fan-out, timers)|tokio::runtime::task::raw::poll$" \
    "one connection's task (axum WebSocket upgrade closure)|on_upgrade::\\{\\{closure\\}\\}$" \
    "frame handling (Client::handle_text)|Client::handle_text::\\{\\{closure\\}\\}$" \
    "after the commit: acks and fan-out (Client::after_commit)|Client::after_commit::\\{\\{closure\\}\\}$" \
    "JSON in: ClientFrame deserialize|Deserialize for twinline_core::protocol::client::ClientFrame>::deserialize$" \
    "JSON out: Message serialize|Serialize for twinline_core::model::Message>::serialize$" \
    "WebSocket reads (SplitStream::poll_next)|SplitStream<S> as futures_core::stream::Stream>::poll_next$" \
    "malloc + free|^(malloc|free|_int_malloc|_int_free)$" \
    "memset + memcpy|^__mem(set|cpy|move)_"
)
reconnect_parts=(
    "WebSocket upgrade (HTTP request, handshake)|WebSocketUpgrade.*from_request|derive_accept_key$"
    "one connection's task (axum WebSocket upgrade closure)|on_upgrade::\\{\\{closure\\}\\}$"
    "hello handling (Client::hello)|Client::hello::\\{\\{closure\\}\\}$"
    "  token check (TokenSigner::verify)|TokenSigner::verify$"
    "  the visitor's welcome (visitor::welcome)|ws::visitor::welcome::\\{\\{closure\\}\\}$"
    "  reads run on blocking threads (Store::read_blocking)|Store::read_blocking$"
    "    chat header (reads::chat_in)|twinline_relay::store::reads::chat_in$"
    "    messages of the chat (reads::messages)|twinline_relay::store::reads::messages$"
    "    every account (reads::accounts, for operators_online)|twinline_relay::store::reads::accounts$"
    "    one call combining header, messages, accounts (reads::welcome)|twinline_relay::store::reads::welcome$"
    "    SQLite steps (sqlite3_step)|^sqlite3_step$"
    "  JSON out: ServerFrame serialize|Serialize for twinline_core::protocol::server::ServerFrame>::serialize$"
    "  JSON in: Message deserialize (stored bodies)|Deserialize for twinline_core::model::Message>::deserialize$"
    "blocking pool hand-off (spawn_blocking)|tokio::runtime::blocking::pool::Spawner::spawn_blocking$"
    "the hang-up (Client::finish)|Client::finish::\\{\\{closure\\}\\}$"
    "malloc + free|^(malloc|free|_int_malloc|_int_free)$"
    "memset + memcpy|^__mem(set|cpy|move)_"
)

if [ -n "$report_only" ]; then
  summary=$out/summary-report.txt
  : >"$summary"
  annotate
  exit 0
fi
rm -f "$out"/callgrind.out*

if [ -n "$reconnects" ]; then
  say "== instructions per reconnect under callgrind (twinline-bench reconnects ${storm_args[*]})"
  PROFILE_TOOL="valgrind --tool=callgrind --callgrind-out-file=$out/callgrind.out --dump-line=no" \
    TWINLINE_RELAY_BIN=$wrapper "$bin/twinline-bench" --out "$out/reconnects.json" reconnects \
    "${storm_args[@]}" \
    --on-window-start 'callgrind_control --zero "$RELAY_PID" >/dev/null' \
    --on-window-end 'callgrind_control --dump=window "$RELAY_PID" >/dev/null' \
    >"$out/reconnects.log" 2>&1 || { tail -20 "$out/reconnects.log" >&2; exit 1; }
  say "$(grep -o 'reconnect storms.*' "$out/reconnects.log" | head -1)"
  count=$(grep -o '[0-9]* reconnects in' "$out/reconnects.log" | head -1 | awk '{ print $1 }')
  echo "$count reconnect" >"$out/callgrind-count.txt"
  annotate
  say ""
  say "written to $out (summary.txt, callgrind-inclusive.txt, callgrind-self.txt, reconnects.log)"
  exit 0
fi

hz=$(getconf CLK_TCK)

say "== 1. CPU per message, $chats chats x 1 msg/s, ${seconds} s window"
phase cpu "" "$chats"
window_start
sleep "$seconds"
window_end
finish
awk -v u="$((u1 - u0))" -v s="$((s1 - s0))" -v m="$messages" -v hz="$hz" 'BEGIN {
  printf "%d messages stored; relay CPU per message: user %.0f us, system %.0f us, total %.0f us\n",
    m, u / hz * 1e6 / m, s / hz * 1e6 / m, (u + s) / hz * 1e6 / m }' | tee -a "$summary"

say ""
say "== 2. system calls per message, $chats chats x 1 msg/s (strace -c -f; strace itself slows them)"
phase strace "" "$chats"
window_start
timeout -s INT "$seconds" strace -c -f -qq -p "$pid" -o "$out/strace.txt" || true
window_end
finish
say "$messages messages stored while attached"
awk -v m="$messages" '$NF ~ /^[a-z_0-9]+$/ && $4 ~ /^[0-9]+$/ && $NF != "total" {
  printf "  %-20s %8.2f per message  (%5.1f%% of syscall time)\n", $NF, $4 / m, $1 }' "$out/strace.txt" \
  | sort -k2 -nr | head -15 | tee -a "$summary"

say ""
say "== 3. instructions per message, $callgrind_chats chats x 1 msg/s under callgrind"
phase callgrind "valgrind --tool=callgrind --callgrind-out-file=$out/callgrind.out --dump-line=no" "$callgrind_chats"
callgrind_control --zero "$pid" >/dev/null
window_start
sleep "$seconds"
window_end
callgrind_control --dump=window "$pid" >/dev/null
finish
echo "$messages message" >"$out/callgrind-count.txt"
annotate
say ""
say "written to $out (summary.txt, callgrind-inclusive.txt, callgrind-self.txt, strace.txt)"
