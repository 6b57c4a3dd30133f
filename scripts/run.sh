#!/bin/bash
# Set-up, build, then start the relay server on embedded SQLite (foreground;
# Ctrl-C or SIGTERM drains and stops it). SOTTO_DATA and SOTTO_LISTEN override
# the data directory and the address.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh

data=${SOTTO_DATA:-$PWD/sottod-data}
listen=${SOTTO_LISTEN:-127.0.0.1:8443}
build/bin/sottod --data "$data" --listen "$listen" &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null' INT TERM
for _ in $(seq 100); do
  [ -s "$data/sottod.crt" ] && break
  kill -0 "$pid" 2>/dev/null || { wait "$pid"; exit $?; }
  sleep 0.1
done
fp=$(openssl x509 -in "$data/sottod.crt" -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr 'A-F' 'a-f')
cat <<MSG

sottod runs on https://$listen with its state in $data.
Next step, in another terminal (one config directory per person):
  SOTTO_PASSPHRASE=alice-secret build/bin/sotto -c /tmp/alice register --server https://$listen --username alice --pin $fp
  SOTTO_PASSPHRASE=bob-secret   build/bin/sotto -c /tmp/bob   register --server https://$listen --username bob   --pin $fp
  SOTTO_PASSPHRASE=alice-secret build/bin/sotto -c /tmp/alice send -m "hello bob" bob
  SOTTO_PASSPHRASE=bob-secret   build/bin/sotto -c /tmp/bob   receive
A second device for alice: the first command prints a link code and waits for the second.
  SOTTO_PASSPHRASE=laptop-secret build/bin/sotto -c /tmp/alice-laptop link --server https://$listen --pin $fp
  SOTTO_PASSPHRASE=alice-secret  build/bin/sotto -c /tmp/alice add-device 'sotto-link:…'
MSG
set +e
wait "$pid"; rc=$?
wait "$pid" 2>/dev/null
exit $rc
