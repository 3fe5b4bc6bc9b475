#!/usr/bin/env bash
# Snapshots and range verification, measured.
# Part 1, per account count: `pel init` (time, peak RSS); a snapshot of the state after 2 blocks
# of 10,000 p2p transactions (time, bytes); `pel init --snapshot` from it (time, peak RSS).
# Part 2: a chain of BLOCKS blocks of 1,000 p2p transactions at 10,000 accounts, verified by
# scripts/verify_ranges.sh as 1 range on 1 worker, then 2 and 4 ranges on WORKERS workers, each
# single-threaded; the verification's wall time (MPI start-up included, snapshots apart) and the
# largest peak RSS of one worker's `pel verify-range`.
#   usage: bench/snapshot_ranges.sh [SIZES...]     (default: 10000 100000 1000000)
#   env:   PEL (default build/node/pel), BLOCKS (default 300), WORKERS (default 2)
set -euo pipefail
cd "$(dirname "$0")/.."
pel=$(realpath "${PEL:-build/node/pel}")
blocks=${BLOCKS:-300}
workers=${WORKERS:-2}
sizes=("$@")
((${#sizes[@]})) || sizes=(10000 100000 1000000)
[ -x /usr/bin/time ] || { echo "snapshot_ranges: needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

timed() {  # timed NAME COMMAND...: sets NAME_s and NAME_mib
  local name=$1
  shift
  /usr/bin/time -f "%e %M" -o "$work/time" "$@" >"$work/$name.out" 2>&1 ||
    { echo "snapshot_ranges: $name failed:" >&2; cat "$work/$name.out" >&2; exit 1; }
  local secs kib
  read -r secs kib <"$work/time"
  printf -v "${name}_s" '%s' "$secs"
  printf -v "${name}_mib" '%s' "$((kib / 1024))"
}

printf '%10s %8s %9s %11s %12s %14s %15s\n' accounts "init s" "init MiB" "snapshot s" "snapshot MB" \
  "init --snap s" "init --snap MiB"
for n in "${sizes[@]}"; do
  rm -rf "$work/p" "$work/s" "$work/snap"
  timed init "$pel" init --datadir "$work/p" --accounts "$n"
  "$pel" produce --datadir "$work/p" --workload p2p --blocks 2 --block-size 10000 --quiet >/dev/null
  timed snapshot "$pel" snapshot --datadir "$work/p" --at 2 --out "$work/snap"
  timed from_snapshot "$pel" init --datadir "$work/s" --snapshot "$work/snap"
  printf '%10s %8s %9s %11s %12s %14s %15s\n' "$n" "$init_s" "$init_mib" "$snapshot_s" \
    "$(($(stat -c %s "$work/snap") / 1000000))" "$from_snapshot_s" "$from_snapshot_mib"
done
rm -rf "$work/p" "$work/s" "$work/snap"

echo
echo "verifying $blocks blocks of 1,000 p2p transactions (10,000 accounts), single-threaded workers:"
"$pel" init --datadir "$work/chain" --accounts 10000 >/dev/null
"$pel" produce --datadir "$work/chain" --workload p2p --blocks "$blocks" --block-size 1000 --quiet >/dev/null
"$pel" export --datadir "$work/chain" --out "$work/blocks.pel" >/dev/null
# Each verify-range's peak RSS goes to a file: pel through /usr/bin/time.
cat >"$work/timed_pel" <<WRAP
#!/usr/bin/env bash
if [ "\$1" = verify-range ]; then exec /usr/bin/time -f %M -a -o "$work/rss" "$pel" "\$@"; fi
exec "$pel" "\$@"
WRAP
chmod +x "$work/timed_pel"
printf '%7s %8s %16s %10s %17s\n' ranges workers "verification s" "vs 1 range" "worker peak MiB"
one=""
for setup in "1 1" "2 $workers" "4 $workers"; do
  read -r ranges w <<<"$setup"
  rm -rf "$work/shared" "$work/rss"
  PEL="$work/timed_pel" scripts/verify_ranges.sh --datadir "$work/chain" --in "$work/blocks.pel" --ranges "$ranges" \
    --workers "$w" --shared "$work/shared" >"$work/ranges.out" 2>&1 ||
    { echo "snapshot_ranges: verification failed:" >&2; cat "$work/ranges.out" >&2; exit 1; }
  secs=$(sed -n 's/.*verification \([0-9.]*\) s.*/\1/p' "$work/ranges.out")
  [ -n "$one" ] || one=$secs
  peak=$(sort -n "$work/rss" | tail -1)
  printf '%7s %8s %16s %10s %17s\n' "$ranges" "$w" "$secs" "$(awk "BEGIN { printf \"%.2f\", $secs / $one }")" \
    "$((peak / 1024))"
done
