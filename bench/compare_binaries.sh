#!/usr/bin/env bash
# Two pel binaries, old and new, on the same input, alternating (old first in odd rounds, new
# first in even ones), so that the machine's drift falls on both: `pel bench` over every
# workload at 1 and 2 threads (sequential, Block-STM and listed speedups, and the loop's rate),
# then import and replay of one exported chain. Prints each round's figures and, per figure,
# the median of new / old.
#   usage: bench/compare_binaries.sh OLD_PEL NEW_PEL [ROUNDS]      (default 3 rounds)
#   env:   ACCOUNTS (default 10000), BLOCKS (default 8), RUNS (pel bench --runs, default 3)
set -euo pipefail
old=${1:?usage: compare_binaries.sh OLD_PEL NEW_PEL [ROUNDS]}
new=${2:?usage: compare_binaries.sh OLD_PEL NEW_PEL [ROUNDS]}
rounds=${3:-3}
accounts=${ACCOUNTS:-10000}
blocks=${BLOCKS:-8}
runs=${RUNS:-3}
for pel in "$old" "$new"; do [ -x "$pel" ] || { echo "compare_binaries: no pel at $pel" >&2; exit 1; }; done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# One chain, made by the new binary, exported once; each import starts from a copy of its genesis.
"$new" init --datadir "$work/p" --accounts "$accounts" >"$work/init.out"
producer=$(sed -n 's/^producer \([0-9a-f]*\).*/\1/p' "$work/init.out")
"$new" produce --datadir "$work/p" --workload mix --blocks "$blocks" --block-size 10000 --quiet >/dev/null
"$new" export --datadir "$work/p" --out "$work/blocks.pel" >/dev/null
"$new" init --datadir "$work/genesis" --accounts "$accounts" --producer "$producer" >/dev/null

# figures NAME PEL: appends "name value" lines for one binary's run to $work/NAME.
figures() {
  local name=$1 pel=$2
  "$pel" bench --workload all --threads 1,2 --runs "$runs" --json >"$work/bench.json"
  python3 - "$work/bench.json" >>"$work/$name" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    key = f"{r['workload']}/t{r['threads']}"
    print(f"bench {key} speedup {r['speedup']:.3f}")
    print(f"bench {key} listed {r['listed_speedup']:.3f}")
    if r['threads'] == 1:
        print(f"bench {r['workload']} loop_tps {r['seq_tps']:.0f}")
PY
  rm -rf "$work/f"
  cp -r "$work/genesis" "$work/f"
  "$pel" import --datadir "$work/f" --in "$work/blocks.pel" --skip-signatures >"$work/import.out"
  echo "chain import tps $(sed -n 's/.*(\([0-9]*\) tps).*/\1/p' "$work/import.out" | head -1)" >>"$work/$name"
  "$pel" replay --datadir "$work/f" --skip-signatures --from 2 >"$work/replay.out"
  echo "chain replay tps $(sed -n 's/.*(\([0-9]*\) tps).*/\1/p' "$work/replay.out" | head -1)" >>"$work/$name"
}

for ((r = 1; r <= rounds; r++)); do
  if ((r % 2)); then order=(old new); else order=(new old); fi
  for side in "${order[@]}"; do
    if [ "$side" = old ]; then figures old "$old"; else figures new "$new"; fi
    echo "round $r: $side done" >&2
  done
done

python3 - "$work/old" "$work/new" <<'PY'
import statistics, sys
from collections import defaultdict
def load(path):
    d = defaultdict(list)
    for line in open(path):
        *name, value = line.split()
        d[" ".join(name)].append(float(value))
    return d
old, new = load(sys.argv[1]), load(sys.argv[2])
print(f"{'figure':40s} {'old (median)':>14s} {'new (median)':>14s} {'new/old':>8s}   per round new/old")
for name in old:
    o, n = old[name], new[name]
    ratios = [b / a if a else float('nan') for a, b in zip(o, n)]
    print(f"{name:40s} {statistics.median(o):14.3f} {statistics.median(n):14.3f} {statistics.median(ratios):8.3f}   "
          + " ".join(f"{x:.2f}" for x in ratios))
PY
