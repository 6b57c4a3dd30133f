#!/bin/bash
# Runs every benchmark pinned to one core and prints, for each figure, ONE
# line: libsotto, each anchor measured in this same run, and the ratios.
#
#   bench/run.sh [--build-dir DIR] [--no-build] [--quick] [--cpu-time] [--batches B] [--scale F]
#                [--no-layers | --layers-only]
#
# --cpu-time times with process CPU time instead of the monotonic clock: use
# it on a machine busy with other work (the load average is printed first).
#
# Brings sotto-bench in DIR (default: build/) up to date first, configuring
# DIR if needed (--no-build: use it as it is; the `bench` target passes it). Raw
# results (one "<figure> <impl> <µs>" line each, plus per-primitive details)
# are kept in DIR/bench-raw.txt.
#
# Then the layers (sotto-bench --layers, node libsignal_bench.js --layers):
# group, sealed sender and fingerprint figures, wall and CPU time, NOT pinned
# (libsotto runs v2 sealing and the fingerprint on two threads); raw results
# in DIR/bench-layers-raw.txt.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=$root/build
args=()
do_build=1
sessions=1
layers=1
while [ $# -gt 0 ]; do
  case $1 in
    --build-dir) build=$(mkdir -p "$2" && cd "$2" && pwd); shift 2 ;;
    --no-build) do_build=0; shift ;;
    --no-layers) layers=0; shift ;;
    --layers-only) sessions=0; shift ;;
    --quick|--cpu-time) args+=("$1"); shift ;;
    --batches|--scale) args+=("$1" "$2"); shift 2 ;;
    *) echo "usage: bench/run.sh [--build-dir DIR] [--no-build] [--quick] [--cpu-time] [--batches B] [--scale F] [--no-layers | --layers-only]" >&2; exit 2 ;;
  esac
done

BENCH_CORE=1 # the one core every measurement runs on
if [ "$do_build" = 1 ]; then
  [ -f "$build/CMakeCache.txt" ] ||
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$build" -j"$(nproc)" --target sotto-bench >/dev/null
fi
[ -x "$build/bin/sotto-bench" ] || { echo "bench: no $build/bin/sotto-bench" >&2; exit 1; }
pin=()
if command -v taskset >/dev/null && [ "$(nproc)" -gt "$BENCH_CORE" ]; then
  pin=(taskset -c "$BENCH_CORE")
else
  echo "bench: not pinned (no taskset or no core $BENCH_CORE)" >&2
fi

clock="wall time (CLOCK_MONOTONIC)"
case " ${args[*]-} " in *" --cpu-time "*) clock="process CPU time" ;; esac
echo "bench: $clock; load average $(cut -d' ' -f1-3 /proc/loadavg) (above ~0.5, wall times are noisy: try --cpu-time)"
have_node=0
if command -v node >/dev/null &&
   [ -d "$root/tests/interop/node_modules/@signalapp/libsignal-client" ]; then
  have_node=1
else
  echo "bench: node or tests/interop/node_modules missing: no libsignal-client anchor" >&2
fi

if [ "$sessions" = 1 ]; then
raw=$build/bench-raw.txt
"${pin[@]}" "$build/bin/sotto-bench" "${args[@]}" >"$raw"
if [ "$have_node" = 1 ]; then
  "${pin[@]}" node "$here/libsignal_bench.js" "${args[@]}" >>"$raw" ||
    echo "bench: the libsignal-client anchor failed" >&2
fi

# One line per figure. Ratio = libsotto / other (below 1: libsotto is
# faster). sotto-bench measures libsotto, the floor and libsignal-protocol-c
# in paired rounds and prints the median of the per-round ratios ("ratio"
# lines); libsignal-client runs in its own process, so its ratio is taken
# from the two medians. Against the floor, the target is the largest
# acceptable ratio.
awk '
  $1 == "detail" || $1 == "ops" { next }
  $1 == "epoch_msgs" { em[$2] = $3; next }
  $1 == "ratio" { r[$2, $3] = $4; next }
  { v[$1, $2] = $3 }
  function num(x) { return x ~ /^[0-9]+(\.[0-9]+)?$/ }
  function ratio(fig, impl) {
    if ((fig, impl) in r) return r[fig, impl]
    if (num(v[fig, "sotto"]) && num(v[fig, impl])) return v[fig, "sotto"] / v[fig, impl]
    return ""
  }
  function cell(fig, impl,   a, q, ref) {
    a = v[fig, impl]; q = ratio(fig, impl); ref = refs[fig, impl]
    if (!num(a)) return (a == "" ? "n/a" : a)
    if (num(ref) && a / ref > slow) slow = a / ref
    if (q == "") return sprintf("%.1f (ref %s)", a, ref)
    return sprintf("%.1f (x%.2f; ref %s)", a, q, ref)
  }
  BEGIN {
    # The anchors as measured earlier on a quiet machine of this kind (µs/op,
    # medians): a run whose anchors are far above these ran on a busy machine.
    split("setup 1278 2108 encrypt_1k 114 12.1 decrypt_1k 101 13.6 pingpong 322 456", x, " ")
    for (i = 1; i <= 12; i += 3) { refs[x[i], "libsignal-client"] = x[i + 1]; refs[x[i], "libsignal-protocol-c"] = x[i + 2] }
    slow = 0
  }
  END {
    split("setup encrypt_1k decrypt_1k pingpong", figs, " ")
    target["setup"] = 1.3; target["encrypt_1k"] = 1.5; target["decrypt_1k"] = 1.5; target["pingpong"] = 1.2
    printf "%-11s %-14s %-40s %-33s %s\n", "figure", "sotto us/op", "floor (sotto/floor, target)", "libsignal-client 0.103", "libsignal-protocol-c 2.3.3"
    for (i = 1; i <= 4; i++) {
      f = figs[i]; o = v[f, "sotto"]; fl = v[f, "floor"]; q = ratio(f, "floor")
      if (num(fl) && q != "") {
        fc = sprintf("%.1f (x%.2f, target <= %.1f: %s)", fl, q, target[f], q <= target[f] ? "met" : "MISSED")
      } else {
        fc = sprintf("%s (target <= %.1f)", (fl == "" ? "n/a" : fl), target[f])
      }
      printf "%-11s %-14s %-40s %-33s %s\n", f, (o == "" ? "n/a" : o), fc,
        cell(f, "libsignal-client"), cell(f, "libsignal-protocol-c")
    }
    # The epoch figure: one full SPQR epoch of the ping-pong (libsotto and
    # libsignal-client only: libsignal-protocol-c has no SPQR).
    e = v["epoch", "sotto"]; l = v["epoch", "libsignal-client"]
    printf "%-11s %-14s %-40s %-33s %s\n", "epoch", (e == "" ? "n/a" : e),
      "(us per SPQR epoch; " (em["sotto"] == "" ? "n/a" : em["sotto"]) " msgs/epoch)",
      (num(l) ? sprintf("%.1f (x%.2f; %s msgs/epoch)", l, (num(e) ? e / l : 0), em["libsignal-client"]) : (l == "" ? "n/a" : l)),
      "n/a (no SPQR)"
    if (slow > 1.5)
      printf "bench: an anchor ran %.1fx slower than its reference: the machine was busy; trust the paired ratios (floor, libsignal-protocol-c) more than the times\n", slow
  }' "$raw"
echo "bench: raw results in $raw"
fi

[ "$layers" = 1 ] || exit 0
# The layers: both processes unpinned (two cores), one after the other.
# Per figure: wall µs (CPU µs) for each; against the floor (one thread) the
# ratio of CPU times is checked against the target, the wall ratio is shown
# too. libsignal-protocol-c (group and fingerprint only: its API has no
# sealed sender) runs in sotto-bench's paired rounds; libsignal-client's
# ratios are taken from the two medians.
lraw=$build/bench-layers-raw.txt
largs=()
for a in "${args[@]}"; do [ "$a" = --cpu-time ] || largs+=("$a"); done
echo "bench: layers, not pinned ($(nproc) cores); load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$build/bin/sotto-bench" --layers "${largs[@]}" >"$lraw"
if [ "$have_node" = 1 ]; then
  node "$here/libsignal_bench.js" --layers "${largs[@]}" >>"$lraw" ||
    echo "bench: the libsignal-client layers anchor failed" >&2
fi
awk '
  $1 == "ratio" { rw[$2, $3] = $4; next }
  $1 == "cpuratio" { rc[$2, $3] = $4; next }
  $1 == "cpu" { c[$2, $3] = $4; next }
  { v[$1, $2] = $3 }
  function num(x) { return x ~ /^[0-9]+(\.[0-9]+)?$/ }
  function wc(fig, impl) {
    if (!num(v[fig, impl])) return (v[fig, impl] == "" ? "n/a" : v[fig, impl])
    return sprintf("%.1f (cpu %.1f)", v[fig, impl], c[fig, impl])
  }
  BEGIN {
    # Reference anchors measured earlier (µs/op; "-": none).
    split("group_enc_1k 86.8 64.5 group_dec_1k 98.9 99.5 seal_v1 - - unseal_v1 - - seal_v2_10 - - seal_v2_100 - - fingerprint 2176 4531", x, " ")
    for (i = 1; i <= 21; i += 3) { ref[x[i]] = x[i + 1]; lref[x[i]] = x[i + 2] }
  }
  END {
    n = split("group_enc_1k group_dec_1k seal_v1 unseal_v1 seal_v2_10 seal_v2_100 fingerprint", figs, " ")
    printf "%-13s %-24s %-52s %-44s %s\n", "figure", "sotto us/op (cpu)", "floor (sotto/floor wall, cpu; target cpu <= 1.5)", "libsignal-client 0.103 (sotto/it wall, cpu)", "libsignal-protocol-c 2.3.3 (sotto/it wall, cpu)"
    for (i = 1; i <= n; i++) {
      f = figs[i]
      fc = wc(f, "floor")
      if ((f, "floor") in rc)
        fc = fc sprintf(" x%.2f, x%.2f: %s", rw[f, "floor"], rc[f, "floor"], rc[f, "floor"] <= 1.5 ? "met" : "MISSED")
      lc = wc(f, "libsignal-client")
      if (num(v[f, "sotto"]) && num(v[f, "libsignal-client"]) && c[f, "libsignal-client"] > 0)
        lc = lc sprintf(" x%.2f, x%.2f", v[f, "sotto"] / v[f, "libsignal-client"], c[f, "sotto"] / c[f, "libsignal-client"])
      if (ref[f] != "-") lc = lc " ref " ref[f]
      pc = wc(f, "libsignal-protocol-c")
      if ((f, "libsignal-protocol-c") in rc)
        pc = pc sprintf(" x%.2f, x%.2f", rw[f, "libsignal-protocol-c"], rc[f, "libsignal-protocol-c"])
      if (lref[f] != "-") pc = pc " ref " lref[f]
      printf "%-13s %-24s %-52s %-44s %s\n", f, wc(f, "sotto"), fc, lc, pc
    }
  }' "$lraw"
echo "bench: layers raw results in $lraw"
