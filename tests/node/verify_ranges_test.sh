#!/usr/bin/env bash
# History verified as ranges on MPI ranks (scripts/verify_ranges.sh): a whole chain verifies; a
# block planted in one range fails exactly that range, naming its height; a worker that did not
# finish is named with the command that reruns its range, and that rerun completes.
#   usage: verify_ranges_test.sh PATH_TO_PEL PATH_TO_verify_ranges.sh
set -uo pipefail
pel=$1
driver=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0
check() {  # check DESCRIPTION COMMAND...
  local what=$1
  shift
  if "$@"; then :; else failed=$((failed + 1)); echo "FAIL: $what"; fi
}
# Open MPI where it is installed and runs here (scripts/setup.sh installs it); else plain processes.
launcher=local
as_root=()
if [ "$(id -u)" -eq 0 ]; then as_root=(--allow-run-as-root); fi
if command -v mpirun >/dev/null; then
  if mpirun "${as_root[@]}" --oversubscribe -np 2 true >"$work/mpirun.err" 2>&1; then launcher=mpirun; else
    echo "mpirun is installed but cannot start 2 ranks here; running the workers as plain processes:"
    sed 's/^/  /' "$work/mpirun.err" | head -20
  fi
fi
echo "launcher: $launcher"

"$pel" init --datadir "$work/a" --accounts 300 >/dev/null || exit 1
"$pel" produce --datadir "$work/a" --workload mix --blocks 12 --block-size 60 --quiet >/dev/null || exit 1
"$pel" export --datadir "$work/a" --out "$work/blocks.pel" >/dev/null || exit 1

# verify NAME BLOCKS PEL LAUNCHER EXPECTED_EXIT: 4 ranges of chain a on 2 workers, output to NAME.out.
verify() {
  PEL=$3 "$driver" --datadir "$work/a" --in "$2" --ranges 4 --workers 2 --launcher "$4" --shared "$work/$1" \
    >"$work/$1.out" 2>&1
  check "$1: exit $5" test $? -eq "$5"
  cat "$work/$1.out"
}

verify good "$work/blocks.pel" "$pel" $launcher 0
check "every range verified" grep -q "every range verified" "$work/good.out"
check "four ranges reported" test "$(grep -c '^range .* verified' "$work/good.out")" -eq 4

# Plant a bad block: one byte flipped in the middle of block 8's record (a transaction's bytes).
genesis_len=$(od -An -tu4 -j12 -N4 "$work/blocks.pel" | tr -d ' ')
offset=$((16 + genesis_len))
for ((h = 1; h < 8; h++)); do offset=$((offset + 4 + $(od -An -tu4 -j$offset -N4 "$work/blocks.pel" | tr -d ' '))); done
len=$(od -An -tu4 -j$offset -N4 "$work/blocks.pel" | tr -d ' ')
cp "$work/blocks.pel" "$work/bad.pel"
at=$((offset + 4 + len / 2))
byte=$(od -An -tu1 -j$at -N1 "$work/bad.pel" | tr -d ' ')
printf "$(printf '\\%03o' $((byte ^ 1)))" | dd of="$work/bad.pel" bs=1 seek=$at conv=notrunc status=none
verify bad "$work/bad.pel" "$pel" $launcher 1
check "the range holding it fails at its height" grep -q "^range 7\.\.9 failed at height 8" "$work/bad.out"
check "the other ranges verify" test "$(grep -c '^range .* verified' "$work/bad.out")" -eq 3
check "the summary names the first bad height" grep -q "the first bad height is 8" "$work/bad.out"

# A worker killed mid-range (a wrapper kills its worker when it reaches range 7..9): the summary
# says that range did not finish and how to rerun it alone, and that rerun completes.
cat >"$work/killing_pel" <<KILL
#!/usr/bin/env bash
case "\$*" in verify-range*snapshot_2*) kill -9 \$PPID; exit 1 ;; esac
exec "$pel" "\$@"
KILL
chmod +x "$work/killing_pel"
verify killed "$work/blocks.pel" "$work/killing_pel" local 1
check "the killed range is named" grep -q "^range 7\.\.9: did not finish" "$work/killed.out"
rerun=$(sed -n 's/^range 7\.\.9: did not finish.*rerun it alone: //p' "$work/killed.out" | sed "s#$work/killing_pel#$pel#")
check "the rerun of that range alone completes" bash -c "$rerun | grep -q '^range 7..9 verified'"
if ((failed)); then echo "$failed checks failed"; exit 1; fi
echo "all checks passed"
