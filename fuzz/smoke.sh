#!/bin/bash
# Runs every fuzz target for a few seconds on its seed corpus (fuzz/corpus/NAME,
# copied to a scratch directory so the checked-in corpus is not rewritten).
# Usage: fuzz/smoke.sh BINDIR [SECONDS]
set -euo pipefail
bindir=$1 secs=${2:-${FUZZ_SECONDS:-5}}
here=$(cd "$(dirname "$0")" && pwd)
n=0
for bin in "$bindir"/fuzz_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin")
  work=$(mktemp -d)
  [ -d "$here/corpus/$name" ] && cp -r "$here/corpus/$name/." "$work/"
  echo "fuzz smoke: $name (${secs}s, $(ls "$work" | wc -l) seeds)"
  "$bin" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 -print_final_stats=0 "$work" \
     >"$work.log" 2>&1 || { tail -50 "$work.log"; echo "fuzz smoke: $name FAILED"; exit 1; }
  rm -rf "$work" "$work.log"
  n=$((n + 1))
done
echo "fuzz smoke: $n targets clean"
