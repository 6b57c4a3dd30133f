#!/bin/bash
# The whole default suite: set-up, the normal build and its tests (unit,
# constant-time under valgrind, interop with libsignal, end to end), the
# ASan+UBSan build of the same suite, and a smoke run of every fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
jobs=$(nproc)

echo "== build (RelWithDebInfo)"
./scripts/build.sh
echo "== tests"
(cd build && ctest --output-on-failure -j"$jobs")

echo "== build (ASan + UBSan)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DSOTTO_SANITIZE=ON -DSOTTO_BENCH=OFF >/dev/null
cmake --build build-asan -j"$jobs"
echo "== tests under ASan + UBSan"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
   ctest --output-on-failure -j"$jobs" -LE 'ct|slow')

if [ -f fuzz/CMakeLists.txt ]; then
  echo "== fuzz smoke"
  cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DSOTTO_FUZZ=ON \
        -DSOTTO_TESTS=OFF -DSOTTO_BENCH=OFF >/dev/null
  cmake --build build-fuzz -j"$jobs"
  ./fuzz/smoke.sh build-fuzz/bin
fi
echo "== all suites passed"
