#!/usr/bin/env bash
# Quick start, part 2: install what is missing, build, and run the whole test suite three ways:
# the Release build (every test, benchmark smoke runs included), AddressSanitizer+UBSan, and
# ThreadSanitizer on the concurrent layers.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${PEL_JOBS:-2}

echo "== Release build: all tests"
scripts/setup.sh build -DPEL_BUILD_TESTS=ON -DPEL_BUILD_BENCH=ON
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs"

echo "== Embedding example: build against the installed package, run"
rm -rf build/install build/embed
cmake --install build --prefix build/install >/dev/null
cmake -S tests/embed -B build/embed -G Ninja -DCMAKE_PREFIX_PATH="$PWD/build/install" >/dev/null
cmake --build build/embed -j"$jobs"
build/embed/embed_example

echo "== AddressSanitizer + UndefinedBehaviorSanitizer: all tests"
scripts/setup.sh build-asan -DPEL_SANITIZE=address -DPEL_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build-asan -j"$jobs"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -j"$jobs"

# libtbb is not TSan-instrumented: under TSan every data-parallel loop (crypto/parallel_for.hpp)
# runs as a plain loop and the engine's workers run on plain threads, so what TSan checks is
# pel's own synchronisation: every test labelled `concurrent` (the state, engine and node folders:
# the chain, import, replay, storage, crash and power-cut tests), the CLI test apart.
echo "== ThreadSanitizer: every test labelled concurrent"
scripts/setup.sh build-tsan -DPEL_SANITIZE=thread -DPEL_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build-tsan -j"$jobs" --target state_test engine_test node_test storage_test crash_test power_cut_test pel
TSAN_OPTIONS="halt_on_error=1 suppressions=$PWD/tests/tsan.supp" ctest --test-dir build-tsan --output-on-failure -j"$jobs" -L concurrent -LE cli
echo "== all test suites passed"
