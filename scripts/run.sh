#!/bin/bash
# Set-up, build, then start the relay server on embedded SQLite.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh
if [ -x build/bin/sottod ]; then
  data=${SOTTO_DATA:-$PWD/sottod-data}
  listen=${SOTTO_LISTEN:-127.0.0.1:8443}
  echo "sottod: data in $data, listening on $listen"
  echo "next: build/bin/sotto -c ~/.sotto-alice register --server https://$listen --username alice --pin <fingerprint printed below>"
  exec build/bin/sottod --data "$data" --listen "$listen"
else
  echo "sottod is not built yet in this tree; the library and build/bin/sotto-peer are."
  echo "next: echo '{\"cmd\":\"init\"}' | build/bin/sotto-peer"
fi
