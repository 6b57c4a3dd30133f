#!/bin/bash
# bench/smoke: sotto-bench --quick and sotto-bench --layers --quick must exit
# 0 and print every figure for every implementation (a number, or n/a for a
# part not built yet). No assertion on time.
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
