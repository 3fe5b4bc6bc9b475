#!/usr/bin/env bash
# Quick start, part 1: install what is missing, build pel in Release, run the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build -DPEL_BUILD_TESTS=OFF -DPEL_BUILD_BENCH=OFF
cmake --build build --target pel -j2
exec build/node/pel demo "$@"
