#!/bin/bash
# bench/smoke: sotto-bench --quick must exit 0 and print every figure for
# every implementation (a number, or n/a for a part not built yet). No
# assertion on time.
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
exit $fail
