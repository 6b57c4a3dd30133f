#!/bin/bash
# Instructions per op under callgrind (valgrind has no hardware counters
# here, and instruction counts do not care how busy the machine is): for
# each figure, libsotto's total, the part spent inside the primitives the
# floor sums (X25519, XEdDSA verify, Kyber, HKDF, HMAC, AES), the rest
# ("beyond the floor"), and libsignal-protocol-c's total for comparison.
#
#   bench/profile.sh [--build-dir DIR] [--scale F] [--keep DIR]
#
# Only the timed regions are collected (sotto-bench --callgrind). Caveat:
# valgrind does not emulate SHA-NI, so OpenSSL's SHA-256 runs its AVX2 code
# and weighs more here than in the timed runs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=$root/build
scale=5
keep=
while [ $# -gt 0 ]; do
  case $1 in
    --build-dir) build=$(cd "$2" && pwd); shift 2 ;;
    --scale) scale=$2; shift 2 ;;
    --keep) keep=$2; shift 2 ;;
    *) echo "usage: bench/profile.sh [--build-dir DIR] [--scale F] [--keep DIR]" >&2; exit 2 ;;
  esac
done
command -v valgrind >/dev/null || { echo "profile: valgrind not installed" >&2; exit 1; }
[ -x "$build/bin/sotto-bench" ] || { echo "profile: no $build/bin/sotto-bench (run bench/run.sh first)" >&2; exit 1; }
out=${keep:-$(mktemp -d)}
mkdir -p "$out"
[ -n "$keep" ] || trap 'rm -rf "$out"' EXIT

PRIMS="sotto_x25519 sotto_x25519_keypair sotto_xeddsa_verify sotto_kyber1024_enc sotto_kyber1024_dec
       sotto_hkdf_sha256 sotto_hmac_sha256 sotto_aes256_cbc_encrypt sotto_aes256_cbc_decrypt"

# ops <figure> <impl> <n> from sotto-bench; total Ir from the callgrind file.
run() { # impl-flag figure -> "<ops> <file>"
  local only=$1 fig=$2 f=$out/cg.$1.$2
  valgrind --tool=callgrind --collect-atstart=no --callgrind-out-file="$f" \
    "$build/bin/sotto-bench" --only "$only" --figure "$fig" --quick --scale "$scale" --callgrind \
    >"$f.txt" 2>"$f.err" || { echo "profile: $only $fig failed (see $f.err)" >&2; return 1; }
  awk -v fig="$fig" '$1 == "ops" && $2 == fig { print $4 }' "$f.txt"
}
total() { callgrind_annotate "$1" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }'; }
incl() { # file function -> inclusive Ir (the largest entry: callgrind_annotate may
  # list a function once per spelling of its file name, and inlined parts apart)
  callgrind_annotate --inclusive=yes --threshold=100 "$1" 2>/dev/null |
    awk -v fn="$2" '{ f = $0; sub(/ \[.*$/, "", f) }
      f ~ (":" fn "$") { c = $1; gsub(",", "", c); if (c + 0 > m) m = c + 0 } END { print m + 0 }'
}

printf "%-11s %12s %12s %8s %12s %8s %14s\n" figure sotto_Ir/op primitives share beyond share lspc_Ir/op
for fig in setup encrypt_1k decrypt_1k pingpong; do
  n=$(run sotto "$fig"); t=$(total "$out/cg.sotto.$fig")
  p=0; detail=""
  for fn in $PRIMS; do
    c=$(incl "$out/cg.sotto.$fig" "$fn")
    p=$((p + c))
    [ "$c" -gt 0 ] && detail="$detail $fn=$((c / n))"
  done
  ln=$(run lspc "$fig"); lt=$(total "$out/cg.lspc.$fig")
  awk -v f="$fig" -v n="$n" -v t="$t" -v p="$p" -v ln="$ln" -v lt="$lt" 'BEGIN {
    printf "%-11s %12d %12d %7.1f%% %12d %7.1f%% %14d\n", f, t / n, p / n, 100 * p / t, (t - p) / n, 100 * (t - p) / t, lt / ln }'
  echo "            per op:$detail"
done
[ -z "$keep" ] || echo "profile: callgrind files in $out (callgrind_annotate --inclusive=yes FILE)"
