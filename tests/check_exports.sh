#!/bin/bash
# Compares the dynamic symbols that libsotto.so defines with the checked-in list.
# Usage: check_exports.sh LIB EXPECTED_LIST
set -eu
lib=$1 list=$2
got=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBR]$/ {print $3}' | sort -u)
want=$(grep -v '^#' "$list" | sed '/^$/d' | sort -u)
bad=$(printf '%s\n' "$got" | grep -v '^sotto_' || true)
if [ -n "$bad" ]; then
  echo "exported symbols without the sotto_ prefix:"; printf '%s\n' "$bad"; exit 1
fi
if [ "$got" != "$want" ]; then
  echo "exported symbols differ from $list (< expected, > built):"
  diff <(printf '%s\n' "$want") <(printf '%s\n' "$got") || true
  exit 1
fi
echo "exports: $(printf '%s\n' "$got" | wc -l) symbols, all listed"
