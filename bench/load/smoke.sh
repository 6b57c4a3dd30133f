#!/bin/sh
# load/smoke: a tiny load (4 clients, 200 messages) against a fresh sottod on a
# free loopback port, four ways (binary and JSON WebSocket sends, the binary
# ones again over OpenSSL's record layer, HTTP PUT); passes when every message
# arrived exactly once. No timing.
# usage: smoke.sh SOTTOD SOTTO_LOAD
set -u
SOTTOD=$1
LOAD=$2
dir=$(mktemp -d /tmp/sotto-load-smoke.XXXXXX)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; fi
  rm -rf "$dir"
}
trap cleanup EXIT INT TERM
printf 'register_burst = 1000\nregister_per_hour = 100000\n' > "$dir/sottod.conf"

# Another test may take the port between free-port and sottod's bind: retry.
started=
for try in 1 2 3 4 5; do
  port=$("$LOAD" free-port) || exit 1
  "$SOTTOD" --data "$dir" --listen "127.0.0.1:$port" >"$dir/out" 2>"$dir/err" &
  pid=$!
  i=0
  while [ $i -lt 100 ]; do
    if grep -q "listening on" "$dir/out" 2>/dev/null; then started=1; break; fi
    if ! kill -0 "$pid" 2>/dev/null; then break; fi
    sleep 0.1
    i=$((i + 1))
  done
  [ -n "$started" ] && break
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=
  echo "smoke: sottod did not start on port $port (try $try):"; cat "$dir/err"
done
[ -n "$started" ] || { echo "smoke: sottod did not start"; exit 1; }

"$LOAD" relay --port "$port" --clients 4 --messages 200 --window 4 --register \
  --prefix smoke --timeout 120 --check
rc=$?
if [ $rc -ne 0 ]; then
  echo "smoke: sotto-load failed ($rc); sottod stderr:"; cat "$dir/err"
  exit 1
fi
# The same relay with JSON text frames instead of the binary sotto.pb ones.
"$LOAD" relay --port "$port" --clients 4 --messages 200 --window 4 --format json \
  --prefix smoke --timeout 120 --check
rc=$?
if [ $rc -ne 0 ]; then
  echo "smoke: sotto-load --format json failed ($rc); sottod stderr:"; cat "$dir/err"
  exit 1
fi
# The same relay with OpenSSL's record layer instead of tls_rec after the handshake.
"$LOAD" relay --port "$port" --clients 4 --messages 200 --window 4 --records openssl \
  --prefix smoke --timeout 120 --check
rc=$?
if [ $rc -ne 0 ]; then
  echo "smoke: sotto-load --records openssl failed ($rc); sottod stderr:"; cat "$dir/err"
  exit 1
fi
# The same relay with PUT /v1/messages on a second connection per sender.
"$LOAD" relay --port "$port" --clients 4 --messages 200 --window 4 --via http \
  --prefix smoke --timeout 120 --check
rc=$?
if [ $rc -ne 0 ]; then
  echo "smoke: sotto-load --via http failed ($rc); sottod stderr:"; cat "$dir/err"
  exit 1
fi
echo "1 passed, 0 failed"
