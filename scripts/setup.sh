#!/bin/bash
# Installs what sotto needs on Debian 12, as root. A no-op when all is there.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(build-essential cmake pkg-config clang libclang-rt-14-dev valgrind
      libsodium-dev libssl-dev libprotobuf-c-dev protobuf-c-compiler
      libsqlite3-dev libsqlcipher-dev libpq-dev libuv1-dev libwslay-dev
      libjansson-dev libcmocka-dev libsignal-protocol-c-dev
      openssl nodejs npm)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# Node may come from outside Debian's package (it is on the machine already).
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
read -r -a missing <<<"${missing[*]}"
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Pinned npm test peers (libsignal-client, Kyber and ML-KEM known answers).
if [ -f tests/interop/package.json ]; then
  if [ ! -f tests/interop/node_modules/.package-lock.json ] ||
     [ tests/interop/package-lock.json -nt tests/interop/node_modules/.package-lock.json ]; then
    echo "setup: npm ci in tests/interop"
    (cd tests/interop && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi
