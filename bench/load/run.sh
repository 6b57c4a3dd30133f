#!/bin/bash
# bench/load/run.sh: sottod under real TLS + WebSocket load (docs/LOAD.md).
#   relay at 100 and at 1,000 clients, every client sending and receiving on
#   its own authenticated WebSocket (binary sotto.pb messages):
#     - open loop at LOAD_RATE (20,000) messages/s: p50/p99 latency from each
#       message's due time, and the rate actually relayed;
#     - closed loop, LOAD_WINDOW sends in flight per client: the most it relays;
#   idle: sottod's RSS per idle connection: 15,000 TLS connections, 15,000
#         authenticated WebSockets, 1,000 authenticated HTTP connections.
# sottod and sotto-load share the machine's two cores (no pinning; LOAD_PIN=1
# pins sottod to CPU 0 and sotto-load to CPU 1 instead).
#
# usage: run.sh [--build-dir DIR] [--data DIR] [--quick] [--only relay|idle]
#   --data DIR   the data dir, kept between runs so accounts are registered
#                once (default DIR = BUILD/load-data)
#   --quick      smaller counts (a minute or two)
# env: LOAD_MESSAGES (100000), LOAD_RATE (20000), LOAD_WINDOW (closed loop: 16 at 100
#      clients, 4 at 1,000: sottod answers 503 past 8,192 waiting sends),
#      LOAD_IDLE_CONNS (15000), LOAD_WS_CONNS (15000), LOAD_AUTH_CONNS (1000)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$here/../../build
data=
quick=
only=
while [ $# -gt 0 ]; do
  case $1 in
    --build-dir) build=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --quick) quick=1; shift ;;
    --only) only=$2; shift 2 ;;
    --no-build) shift ;;
    *) echo "usage: run.sh [--build-dir DIR] [--data DIR] [--quick] [--only relay|idle]" >&2; exit 2 ;;
  esac
done
SOTTOD=$build/bin/sottod
LOAD=$build/bin/sotto-load
[ -x "$SOTTOD" ] && [ -x "$LOAD" ] || { echo "run.sh: build sottod and sotto-load first" >&2; exit 2; }
data=${data:-$build/load-data}
mkdir -p "$data"
MESSAGES=${LOAD_MESSAGES:-100000}
RATE=${LOAD_RATE:-20000}
WINDOW=${LOAD_WINDOW:-}
IDLE=${LOAD_IDLE_CONNS:-15000}
AUTH=${LOAD_AUTH_CONNS:-1000}
WSC=${LOAD_WS_CONNS:-15000}
RELAYS="100:100 1000:1000 1000:100"   # clients:senders (each sender writes to clients round robin)
ACCOUNTS=1000
if [ -n "$quick" ]; then MESSAGES=20000; IDLE=2000; AUTH=100; WSC=1000; fi
[ "$WSC" -gt "$ACCOUNTS" ] && ACCOUNTS=$WSC
if [ "${LOAD_PIN:-0}" = 1 ]; then
  LOADCPU="taskset -c 1"; PINSRV="--pin-server 0"
else
  LOADCPU=""; PINSRV=""
fi

# Both sides need many descriptors (the hard limit here is ~20,000).
ulimit -n "$(ulimit -Hn)"
cat > "$data/sottod.conf" <<CONF
# bench/load/run.sh: registration is rate-limited per source address; the
# bench registers its accounts from 127.0.0.1. Idle connections must stay.
register_burst = 1000000
register_per_hour = 1000000
idle_timeout_ms = 86400000
header_timeout_ms = 600000
log_level = warn
CONF

pid=
stop() {
  if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=; fi
}
trap stop EXIT INT TERM
start() {
  local try i
  for try in 1 2 3 4 5; do
    port=$("$LOAD" free-port)
    "$SOTTOD" --data "$data" --listen "127.0.0.1:$port" >"$data/out" 2>"$data/err" &
    pid=$!
    for i in $(seq 100); do
      grep -q "listening on" "$data/out" 2>/dev/null && return 0
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    stop
  done
  echo "run.sh: sottod did not start"; cat "$data/err"; exit 1
}
metric() { grep "^$1 " <(curl -sk "https://127.0.0.1:$port/metrics") | awk '{print $2}'; }

results=()
start
echo "== accounts: $ACCOUNTS (registered once, kept in $data)"
"$LOAD" register --port "$port" --clients "$ACCOUNTS" --concurrency 8 --timeout 7200 | tee -a "$data/results"

if [ "$only" != idle ]; then
  for spec in $RELAYS; do
    n=${spec%:*}; senders=${spec#*:}
    w=${WINDOW:-$([ "$n" -ge 1000 ] && echo 4 || echo 16)}
    for mode in "--rate $RATE --window 256" "--window $w"; do
      [ "$senders" != "$n" ] && [ "${mode#--window}" != "$mode" ] && continue  # closed loop: all send
      b0=$(metric sottod_commit_batches_total)
      echo "== relay: $n clients, $senders sending, $MESSAGES messages, $mode"
      line=$($LOADCPU "$LOAD" relay --port "$port" --clients "$n" --senders "$senders" \
        --messages "$MESSAGES" $mode --server-pid "$pid" $PINSRV --concurrency 16 --timeout 1800)
      b1=$(metric sottod_commit_batches_total)
      echo "$line commit_batches=$((b1 - b0))" | tee -a "$data/results"
      results+=("$line commit_batches=$((b1 - b0))")
      [ -n "$PINSRV" ] && taskset -a -p -c 0,1 "$pid" >/dev/null   # set-up of the next run may use both
    done
  done
fi

if [ "$only" != relay ]; then
  for spec in "--health --conns $IDLE" "--conns $AUTH --accounts 100" "--ws --conns $WSC"; do
    stop; start
    sleep 1
    h0=$(metric sottod_heap_bytes)
    echo "== idle: $spec"
    line=$($LOADCPU "$LOAD" idle --port "$port" $spec --server-pid "$pid" \
      --concurrency 32 --hold 5 --timeout 7200 \
      --on-end "curl -sk https://127.0.0.1:$port/metrics > '$data/metrics.idle'")
    h=$(grep '^sottod_heap_bytes ' "$data/metrics.idle" | awk '{print $2}')
    n=$(echo "$line" | sed -n 's/.* open=\([0-9]*\).*/\1/p')
    extra="heap_before=$h0 heap_after=$h heap_per_conn=$(( (h - h0) / (n > 0 ? n : 1) ))"
    echo "$line $extra" | tee -a "$data/results"
    results+=("$line $extra")
  done
fi
echo "== summary"
printf '%s\n' "${results[@]}"
