#!/usr/bin/env bash
# Verifies a chain's history as ranges side by side, on Open MPI: the heights 1..HEAD of a
# trusted chain directory are split into K ranges; a snapshot is written for the height before
# each range, into a shared directory; then W MPI ranks (on one machine or many: mpirun's
# --hostfile) each take every W-th range and run `pel verify-range` on it from its snapshot and
# the block file. One summary names each range's outcome and the first bad height.
#
#   usage: scripts/verify_ranges.sh --datadir DIR --in BLOCKS --ranges K [--workers W]
#            [--shared DIR] [--launcher mpirun|local] [--skip-signatures] [-- MPIRUN_ARGS...]
#   --datadir   the chain whose history is checked (read for its snapshots and head)
#   --in        the block file to verify (pel export of that chain, or one received from elsewhere)
#   --shared    a directory every worker can read and write (default: a new temporary one here)
#   --launcher  mpirun (default where it is installed) or local (W plain processes)
#   Exit status: 0 when every range verified, 1 when one failed or did not finish.
#
# A range that did not finish (a killed worker) is named with the command that reruns it alone.
set -euo pipefail
pel=${PEL:-$(dirname "$0")/../build/node/pel}
datadir="" in="" ranges="" workers=2 shared="" launcher="" skip=()
mpirun_args=()
while (($#)); do
  case $1 in
    --datadir) datadir=$2; shift 2 ;;
    --in) in=$2; shift 2 ;;
    --ranges) ranges=$2; shift 2 ;;
    --workers) workers=$2; shift 2 ;;
    --shared) shared=$2; shift 2 ;;
    --launcher) launcher=$2; shift 2 ;;
    --skip-signatures) skip=(--skip-signatures); shift ;;
    --) shift; mpirun_args=("$@"); break ;;
    *) echo "verify_ranges: unknown argument $1 (see the usage at the top of $0)" >&2; exit 2 ;;
  esac
done
[ -n "$datadir" ] && [ -n "$in" ] && [ -n "$ranges" ] || { echo "verify_ranges: --datadir, --in and --ranges are required" >&2; exit 2; }
[[ $ranges =~ ^[1-9][0-9]*$ && $workers =~ ^[1-9][0-9]*$ ]] || { echo "verify_ranges: --ranges and --workers are positive integers" >&2; exit 2; }
if [ -z "$launcher" ]; then if command -v mpirun >/dev/null; then launcher=mpirun; else launcher=local; fi; fi
[ -n "$shared" ] || shared=$(mktemp -d)
mkdir -p "$shared"
pel=$(realpath "$pel")
in=$(realpath "$in")
shared=$(realpath "$shared")

head=$("$pel" inspect --datadir "$datadir" head --json | sed -n 's/.*"height": \([0-9]*\).*/\1/p')
((head >= 1)) || { echo "verify_ranges: $datadir holds no block to verify" >&2; exit 1; }
((ranges <= head)) || ranges=$head
# The ranges: [first_r, last_r], as even as the heights allow; a snapshot at first_r - 1 each.
start=$(date +%s.%N)
: >"$shared/ranges"
for ((r = 0; r < ranges; r++)); do
  first=$((1 + r * head / ranges))
  last=$(((r + 1) * head / ranges))
  echo "$r $first $last" >>"$shared/ranges"
  rm -f "$shared/result_$r"
  "$pel" snapshot --datadir "$datadir" --at $((first - 1)) --out "$shared/snapshot_$r" >/dev/null
done
snapshots_done=$(date +%s.%N)

# One worker: the ranges r with r % W == its rank, each to its own result file (written whole,
# through a rename, so a killed worker leaves none).
worker=$(cat <<'WORKER'
rank=${OMPI_COMM_WORLD_RANK:-${PMI_RANK:-${RANK:-0}}}
while read -r r first last; do
  (( r % WORKERS == rank )) || continue
  "$PEL" verify-range --snapshot "$SHARED/snapshot_$r" --in "$IN" --to "$last" --threads 1 \
    --workdir "$SHARED" $SKIP >"$SHARED/result_$r.part" 2>&1 && echo ok >>"$SHARED/result_$r.part" || true
  mv "$SHARED/result_$r.part" "$SHARED/result_$r"
done <"$SHARED/ranges"
WORKER
)
export PEL="$pel" SHARED="$shared" IN="$in" WORKERS="$workers" SKIP="${skip[*]:-}"
case $launcher in
  mpirun)
    as_root=()
    if [ "$(id -u)" -eq 0 ]; then as_root=(--allow-run-as-root); fi
    mpirun "${as_root[@]}" --oversubscribe -np "$workers" -x PEL -x SHARED -x IN -x WORKERS -x SKIP \
      "${mpirun_args[@]}" bash -c "$worker" || true ;;
  local)
    for ((rank = 0; rank < workers; rank++)); do RANK=$rank bash -c "$worker" & done
    wait ;;
  *) echo "verify_ranges: --launcher is mpirun or local" >&2; exit 2 ;;
esac
finished=$(date +%s.%N)

# The summary.
status=0 first_bad=""
while read -r r first last; do
  if [ ! -f "$shared/result_$r" ]; then
    status=1
    echo "range $first..$last: did not finish (its worker stopped); rerun it alone: $pel verify-range --snapshot $shared/snapshot_$r --in $in --to $last${skip[*]:+ ${skip[*]}}"
  elif tail -1 "$shared/result_$r" | grep -qx ok; then
    head -1 "$shared/result_$r"
  else
    status=1
    line=$(grep -m1 '^range' "$shared/result_$r" || head -1 "$shared/result_$r")
    echo "$line"
    bad=$(echo "$line" | sed -n 's/.*failed at height \([0-9]*\).*/\1/p')
    if [ -n "$bad" ] && { [ -z "$first_bad" ] || ((bad < first_bad)); }; then first_bad=$bad; fi
  fi
done <"$shared/ranges"
printf 'verify_ranges: %d ranges of heights 1..%d on %d %s workers: snapshots %.2f s, verification %.2f s\n' \
  "$ranges" "$head" "$workers" "$launcher" "$(awk "BEGIN { print $snapshots_done - $start }")" \
  "$(awk "BEGIN { print $finished - $snapshots_done }")"
if ((status == 0)); then echo "verify_ranges: every range verified"; else
  echo "verify_ranges: FAILED${first_bad:+; the first bad height is $first_bad}"; fi
exit $status
