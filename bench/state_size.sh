#!/usr/bin/env bash
# The state-size benchmark: how pel's costs grow with the state. For each account count it makes
# a chain (init), produces BLOCKS blocks of 10,000 p2p transactions on it, exports them, imports
# them into a follower made from the same genesis, and replays the follower's last 3 blocks;
# one row per size: the time and peak memory (RSS) of each step, the import and replay rates
# (as pel reports them: execution, roots and commit, not the process's start), the same two
# rates again with LATENCY microseconds injected into every table-file read (a disk the page
# cache does not hold), and the follower's bytes on disk. A last column separates the state's
# size from the block's: BLOCKS more blocks whose transactions use only the first 10,000
# accounts (as every block does at 10,000 accounts) are produced and imported on top. A p2p
# block over a million accounts reads and writes about 2.3 times the distinct keys of one over
# 10,000, and most of them are cold; these blocks do not, so their rate shows what the state's
# size alone costs. With gnuplot installed it also draws the rates against the size.
#   usage: bench/state_size.sh [SIZES...]     (default: 10000 100000 1000000)
#   env:   PEL (default build/node/pel), BLOCKS (default 6), LATENCY (default 100), PLOT (a PNG path)
set -euo pipefail
cd "$(dirname "$0")/.."
pel=${PEL:-build/node/pel}
blocks=${BLOCKS:-6}
latency=${LATENCY:-100}
sizes=("$@")
((${#sizes[@]})) || sizes=(10000 100000 1000000)
[ -x "$pel" ] || { echo "state_size: no pel at $pel (build it first: scripts/demo.sh)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "state_size: needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# measure NAME COMMAND...: runs it, keeping its output; sets NAME_s (seconds) and NAME_mib.
measure() {
  local name=$1
  shift
  /usr/bin/time -f "%e %M" -o "$work/time" "$@" >"$work/$name.out" 2>"$work/$name.err" ||
    { echo "state_size: $name failed:" >&2; cat "$work/$name.err" >&2; exit 1; }
  local secs kib
  read -r secs kib <"$work/time"
  printf -v "${name}_s" '%s' "$secs"
  printf -v "${name}_mib" '%s' "$((kib / 1024))"
}
# The "(N tps)" pel prints for a run.
rate() { sed -n 's/.*(\([0-9]*\) tps).*/\1/p' "$work/$1.out" | head -1; }

printf '%10s %8s %9s %10s %9s %10s %10s %10s %10s %10s %12s %12s %8s %15s\n' accounts "init s" "init MiB" "start-up s" \
  "produce s" "prod MiB" "import tps" "import MiB" "replay tps" "replay MiB" "import slow" "replay slow" "disk MB" "import 10k-acct"
: >"$work/rows"
for n in "${sizes[@]}"; do
  rm -rf "$work/p" "$work/f"
  measure init "$pel" init --datadir "$work/p" --accounts "$n"
  producer=$(sed -n 's/^producer \([0-9a-f]*\).*/\1/p' "$work/init.out")
  # The start-up: a block of one transaction, so the time is what comes before a block.
  measure startup "$pel" produce --datadir "$work/p" --workload p2p --blocks 1 --block-size 1 --quiet
  measure produce "$pel" produce --datadir "$work/p" --workload p2p --blocks "$blocks" --block-size 10000 --quiet
  "$pel" export --datadir "$work/p" --out "$work/blocks.pel" >/dev/null
  "$pel" init --datadir "$work/f" --accounts "$n" --producer "$producer" >/dev/null
  rm -rf "$work/f0"
  cp -r "$work/f" "$work/f0"  # a second follower, for the import with injected latency
  measure import "$pel" import --datadir "$work/f" --in "$work/blocks.pel" --skip-signatures
  measure slow_import "$pel" import --datadir "$work/f0" --in "$work/blocks.pel" --skip-signatures \
    --inject-read-latency-us "$latency"
  rm -rf "$work/f0"
  head=$((blocks + 1))
  measure replay "$pel" replay --datadir "$work/f" --skip-signatures --from $((head > 3 ? head - 2 : 1))
  measure slow_replay "$pel" replay --datadir "$work/f" --skip-signatures --from $((head > 3 ? head - 2 : 1)) \
    --inject-read-latency-us "$latency"
  disk=$(($(du -sb "$work/f" | cut -f1) / 1000000))
  "$pel" produce --datadir "$work/p" --workload p2p --blocks "$blocks" --block-size 10000 --accounts 10000 --quiet >/dev/null
  "$pel" export --datadir "$work/p" --out "$work/shaped.pel" --from $((head + 1)) >/dev/null
  measure shaped "$pel" import --datadir "$work/f" --in "$work/shaped.pel" --skip-signatures
  row=$(printf '%10s %8s %9s %10s %9s %10s %10s %10s %10s %10s %12s %12s %8s %15s' "$n" "$init_s" "$init_mib" "$startup_s" \
    "$produce_s" "$produce_mib" "$(rate import)" "$import_mib" "$(rate replay)" "$replay_mib" "$(rate slow_import)" \
    "$(rate slow_replay)" "$disk" "$(rate shaped)")
  echo "$row"
  echo "$row" >>"$work/rows"
done

if [ -n "${PLOT:-}" ] && command -v gnuplot >/dev/null; then
  gnuplot <<EOF
set terminal png size 800,500
set output "$PLOT"
set logscale x
set xlabel "accounts"
set ylabel "transactions per second"
set key top right
plot "$work/rows" using 1:7 with linespoints title "import (from access lists)", \
     "$work/rows" using 1:9 with linespoints title "replay, last 3 blocks", \
     "$work/rows" using 1:11 with linespoints title "import, ${latency} us per table read", \
     "$work/rows" using 1:12 with linespoints title "replay, ${latency} us per table read", \
     "$work/rows" using 1:14 with linespoints title "import, blocks over 10,000 accounts"
EOF
  echo "plot: $PLOT"
fi
