#!/bin/bash
# bench/smoke: sotto-bench --quick and sotto-bench --layers --quick must exit
# 0 and print every figure for every implementation (a number, or n/a for a
# part not built yet), the epoch figure included (one epoch); and, when node
# and tests/interop/node_modules are there, libsignal_bench.js --quick
# --figure epoch must print its epoch figure. No assertion on time.
set -uo pipefail
bin=${1:?usage: smoke.sh path/to/sotto-bench}
out=$("$bin" --quick) || { echo "sotto-bench exited $?"; echo "$out"; exit 1; }
echo "$out"
fail=0
for fig in setup encrypt_1k decrypt_1k pingpong; do
  for impl in sotto floor libsignal-protocol-c; do
    if ! grep -Eq "^$fig $impl ([0-9]+\.[0-9]+|n/a)\$" <<<"$out"; then
      echo "missing or failed: $fig $impl"
      fail=1
    fi
  done
done
for line in "epoch sotto" "epoch_msgs sotto"; do
  if ! grep -Eq "^$line ([0-9]+\.[0-9]+|n/a)\$" <<<"$out"; then
    echo "missing or failed: $line"
    fail=1
  fi
done
here=$(cd "$(dirname "$0")" && pwd)
if command -v node >/dev/null &&
   [ -d "$here/../tests/interop/node_modules/@signalapp/libsignal-client" ]; then
  nout=$(node "$here/libsignal_bench.js" --quick --figure epoch) ||
    { echo "libsignal_bench.js --figure epoch exited $?"; echo "$nout"; exit 1; }
  echo "$nout"
  for line in "epoch libsignal-client" "epoch_msgs libsignal-client"; do
    if ! grep -Eq "^$line [0-9]+\.[0-9]+\$" <<<"$nout"; then
      echo "missing or failed: $line"
      fail=1
    fi
  done
fi
out=$("$bin" --layers --quick) || { echo "sotto-bench --layers exited $?"; echo "$out"; exit 1; }
echo "$out"
if [ "$out" != "layers n/a" ]; then
  for fig in group_enc_1k group_dec_1k seal_v1 unseal_v1 seal_v2_10 seal_v2_100 fingerprint; do
    for impl in sotto floor; do
      if ! grep -Eq "^$fig $impl [0-9]+\.[0-9]+\$" <<<"$out" ||
         ! grep -Eq "^cpu $fig $impl [0-9]+\.[0-9]+\$" <<<"$out"; then
        echo "missing or failed: $fig $impl"
        fail=1
      fi
    done
  done
  # libsignal-protocol-c has the group and fingerprint figures, when built
  if grep -q " failed\$" <<<"$out"; then
    echo "a layers figure failed"
    fail=1
  fi
fi
exit $fail
