#!/usr/bin/env bash
# Installs pel's build dependencies from Debian's packages (only what is missing) and configures
# and builds one build directory. Idempotent: a second run only rebuilds what changed.
#   usage: scripts/setup.sh BUILD_DIR [extra cmake arguments...]
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential cmake ninja-build ccache pkg-config
          libboost-dev libboost-program-options-dev libssl-dev libsodium-dev libleveldb-dev libsnappy-dev
          libtbb-dev libmimalloc-dev libgtest-dev libgmock-dev libbenchmark-dev nlohmann-json3-dev gnuplot-nox
          openmpi-bin)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

build_dir=$1
shift
werror=OFF
if [ "${CI:-}" = "true" ]; then werror=ON; fi
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPEL_WERROR=$werror "$@" >/dev/null
