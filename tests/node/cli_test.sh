#!/usr/bin/env bash
# Every `pel` subcommand end to end at small sizes, error paths and exit codes included.
#   usage: cli_test.sh PATH_TO_PEL
set -uo pipefail
pel=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0

# expect CODE DESCRIPTION -- COMMAND...: runs the command, checks its exit status.
expect() {
  local want=$1 what=$2
  shift 3
  "$@" >"$work/out" 2>"$work/err"
  local got=$?
  if [ "$got" -eq "$want" ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL: $what: exit $got, expected $want"
    sed 's/^/  stdout: /' "$work/out" | head -20
    sed 's/^/  stderr: /' "$work/err" | head -20
  fi
}
# contains FILE TEXT DESCRIPTION
contains() {
  if grep -q -- "$2" "$1"; then passed=$((passed + 1)); else
    failed=$((failed + 1)); echo "FAIL: $3: '$2' not in output"; sed 's/^/  /' "$1" | head -20; fi
}

a="$work/a"
b="$work/b"

expect 0 "top-level help" -- "$pel" --help
expect 2 "no command" -- "$pel"
expect 2 "unknown command" -- "$pel" frobnicate
for cmd in init produce export import replay inspect bench demo; do
  expect 0 "$cmd --help" -- "$pel" "$cmd" --help
  contains "$work/out" "pel $cmd" "$cmd --help names the command"
done
expect 2 "init without --datadir" -- "$pel" init
expect 2 "bad option value" -- "$pel" init --datadir "$a" --accounts many

expect 0 "init" -- "$pel" init --datadir "$a" --accounts 300 --seed 5
contains "$work/out" "producer.key" "init names the producer key file"
expect 1 "init twice" -- "$pel" init --datadir "$a" --accounts 300 --seed 5
contains "$work/err" "already holds a pel chain" "init twice says why"
expect 0 "inspect genesis" -- "$pel" inspect --datadir "$a" genesis --json
producer=$(sed -n 's/.*"producer": "\([0-9a-f]*\)".*/\1/p' "$work/out")
if [ ${#producer} -eq 64 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: no producer key in inspect genesis"; fi

# Numbers are parsed strictly and range-checked: a usage error (exit 2) that states the range.
expect 2 "negative --blocks" -- "$pel" produce --datadir "$a" --workload p2p --blocks -1
contains "$work/err" "blocks must be an integer from 1 to" "--blocks states its range"
expect 2 "--threads 0" -- "$pel" produce --datadir "$a" --workload p2p --threads 0
expect 2 "--threads -1" -- "$pel" replay --datadir "$a" --threads -1
expect 2 "--threads 10000" -- "$pel" replay --datadir "$a" --threads 10000
contains "$work/err" "from 1 to 256" "--threads states its range"
expect 2 "--block-size 100000000" -- "$pel" produce --datadir "$a" --workload p2p --block-size 100000000
expect 2 "init --accounts -1" -- "$pel" init --datadir "$work/neg" --accounts -1
expect 2 "--skew nan" -- "$pel" produce --datadir "$a" --workload p2p --skew nan
expect 2 "--invalid-fraction 2" -- "$pel" produce --datadir "$a" --workload p2p --invalid-fraction 2
expect 2 "replay --from 3 --to 2" -- "$pel" replay --datadir "$a" --from 3 --to 2
expect 2 "bench --runs 0" -- "$pel" bench --runs 0
# Out of memory is a clear message, not a SIGABRT. (Only where pel links mimalloc: sanitizer
# builds need more address space than any such limit leaves.)
# The genesis is written in batches: 200,000 accounts fit in 450 MB of address space (with the
# whole genesis in memory at once, that init ran out of it), and below what one batch needs,
# init says so.
if ldd "$pel" | grep -q mimalloc; then
  expect 0 "init in bounded memory" -- bash -c "ulimit -v 450000; exec \"$pel\" init --datadir \"$work/big\" --accounts 200000"
  rm -rf "$work/big"
  expect 1 "out of memory" -- bash -c "ulimit -v 250000; exec \"$pel\" init --datadir \"$work/oom\" --accounts 1000000"
  contains "$work/err" "out of memory" "running out of memory says so"
fi

expect 0 "produce p2p" -- "$pel" produce --datadir "$a" --workload p2p --blocks 3 --block-size 80 --threads 2
contains "$work/out" "produced 3 blocks" "produce summary"
expect 0 "produce mix, not pipelined" -- "$pel" produce --datadir "$a" --workload mix --blocks 2 --block-size 80 --accounts 50 --seed 9 --invalid-fraction 0.1 --no-pipeline
expect 1 "produce unknown workload" -- "$pel" produce --datadir "$a" --workload nosuch --blocks 1
contains "$work/err" "nosuch" "unknown workload is named"
expect 1 "produce into a missing chain" -- "$pel" produce --datadir "$work/none" --workload p2p
contains "$work/err" "pel init" "missing chain hints at pel init"

expect 0 "inspect head" -- "$pel" inspect --datadir "$a" head --json
contains "$work/out" '"height": 5' "head height"
contains "$work/out" '"state_root"' "head state_root"
contains "$work/out" '"hash"' "head hash"
expect 0 "inspect block" -- "$pel" inspect --datadir "$a" block 2
contains "$work/out" "transaction_count: 80" "block transaction count"
expect 2 "inspect block 0x2" -- "$pel" inspect --datadir "$a" block 0x2
expect 2 "inspect block 1abc" -- "$pel" inspect --datadir "$a" block 1abc
expect 1 "inspect missing block" -- "$pel" inspect --datadir "$a" block 99
expect 1 "inspect bad account" -- "$pel" inspect --datadir "$a" account xyz
expect 1 "inspect nonsense" -- "$pel" inspect --datadir "$a" nonsense

expect 0 "export" -- "$pel" export --datadir "$a" --out "$work/blocks.pel"
expect 2 "export bad range" -- "$pel" export --datadir "$a" --out "$work/x.pel" --from 4 --to 2
expect 1 "export beyond the head" -- "$pel" export --datadir "$a" --out "$work/x.pel" --from 4 --to 20
# A producer key no signature verifies under is a usage error, and nothing is made.
zeros=0000000000000000000000000000000000000000000000000000000000000000
small_order=0100000000000000000000000000000000000000000000000000000000000000
non_canonical=edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f
for key in $zeros $small_order $non_canonical; do
  expect 2 "init --producer $key" -- "$pel" init --datadir "$work/badkey" --producer "$key"
  contains "$work/err" "producer" "the bad key is named"
  if [ -e "$work/badkey" ]; then failed=$((failed + 1)); echo "FAIL: a refused init made $work/badkey"; fi
done
expect 0 "init b (imports a's blocks)" -- "$pel" init --datadir "$b" --accounts 300 --seed 5 --producer "$producer"
contains "$work/out" "imports its blocks" "a follower is told it imports"
expect 1 "a follower cannot produce" -- "$pel" produce --datadir "$b" --workload p2p --blocks 1
contains "$work/err" "cannot make them" "no producer key is named"
head_a_hash=$("$pel" inspect --datadir "$a" head --json | sed -n 's/.*"hash": "\([0-9a-f]*\)".*/\1/p')
expect 1 "import expecting another head" -- "$pel" import --datadir "$b" --in "$work/blocks.pel" --expect-head "$(printf '0%.0s' {1..64})"
contains "$work/err" "not at the expected head" "--expect-head mismatch is named"
expect 0 "import (already stored blocks skipped, expected head)" -- "$pel" import --datadir "$b" --in "$work/blocks.pel" --threads 3 --expect-head "$head_a_hash"
head_a=$("$pel" inspect --datadir "$a" head --json | grep '"hash"')
head_b=$("$pel" inspect --datadir "$b" head --json | grep '"hash"')
if [ "$head_a" = "$head_b" ] && [ -n "$head_a" ]; then passed=$((passed + 1)); else
  failed=$((failed + 1)); echo "FAIL: imported head differs: $head_a vs $head_b"; fi
# A follower keeping 2 blocks of state history replays from the heights it kept, and names the
# window for the ones it did not.
expect 2 "import --history soon" -- "$pel" import --datadir "$b" --in "$work/blocks.pel" --history soon
contains "$work/err" "history must be all or a number of blocks" "--history states what it takes"
expect 0 "init h" -- "$pel" init --datadir "$work/h" --accounts 300 --seed 5 --producer "$producer"
expect 0 "import keeping 2 blocks of history" -- "$pel" import --datadir "$work/h" --in "$work/blocks.pel" --history 2
expect 1 "replay below the kept history" -- "$pel" replay --datadir "$work/h" --from 2
contains "$work/err" "height 1: outside the kept state history: this chain keeps the state of heights 3 and above" "the window is named"
expect 0 "replay inside the kept history" -- "$pel" replay --datadir "$work/h" --from 4
contains "$work/out" "replay verified 2 blocks" "the kept heights replay"
# No history at all: every block imports, and the state before the head is outside the window.
expect 0 "init h0" -- "$pel" init --datadir "$work/h0" --accounts 300 --seed 5 --producer "$producer"
expect 0 "import keeping no history" -- "$pel" import --datadir "$work/h0" --in "$work/blocks.pel" --history 0
expect 1 "replay with no history kept" -- "$pel" replay --datadir "$work/h0" --from 5
contains "$work/err" "outside the kept state history: this chain keeps the state of heights 5 and above" "no history names the head"
expect 0 "import again: every block already stored" -- "$pel" import --datadir "$b" --in "$work/blocks.pel"
contains "$work/out" "skipped 5 already stored" "a rerun import skips what it holds"
# A fork: a copy of a makes another block 6; importing it where a's block 6 is stored is refused.
expect 0 "produce block 6 on a" -- "$pel" produce --datadir "$a" --workload p2p --blocks 1 --block-size 20 --seed 1
cp -r "$a" "$work/a2"
expect 0 "produce block 7 on a" -- "$pel" produce --datadir "$a" --workload p2p --blocks 1 --block-size 20 --seed 2
expect 0 "produce another block 7 on a copy" -- "$pel" produce --datadir "$work/a2" --workload p2p --blocks 1 --block-size 20 --seed 3
expect 0 "export the copy" -- "$pel" export --datadir "$work/a2" --out "$work/fork.pel"
expect 1 "import a fork" -- "$pel" import --datadir "$a" --in "$work/fork.pel"
contains "$work/err" "height 7: block .* forks from the stored block" "a fork names its height"
# A length prefix claiming 256 MiB in a small file is refused before anything is allocated.
expect 0 "init g" -- "$pel" init --datadir "$work/g" --accounts 300 --seed 5 --producer "$producer"
expect 0 "export header only" -- "$pel" export --datadir "$a" --out "$work/one.pel" --from 1 --to 1
# The file header (magic, version, genesis), then a record claiming 0x0FFFFFFF bytes, then 50 KB.
genesis_len=$(od -An -tu4 -j12 -N4 "$work/one.pel" | tr -d ' ')
head -c $((16 + genesis_len)) "$work/one.pel" >"$work/huge.pel"
printf '\377\377\377\017' >>"$work/huge.pel"
head -c 50000 /dev/zero >>"$work/huge.pel"
expect 1 "import a huge length prefix" -- "$pel" import --datadir "$work/g" --in "$work/huge.pel"
contains "$work/err" "bytes left in the file" "the length is bounded by the file"
# A file of an older format (version 6: a genesis hash blind to its producer) is refused by name.
{ head -c 8 "$work/one.pel"; printf '\006\000\000\000'; tail -c +13 "$work/one.pel"; } >"$work/v6.pel"
expect 1 "import an old-format file" -- "$pel" import --datadir "$work/g" --in "$work/v6.pel"
contains "$work/err" "format version 6, this pel reads version 7" "an old format is named"
expect 0 "init c (other genesis)" -- "$pel" init --datadir "$work/c" --accounts 300 --seed 6
expect 1 "import into other genesis" -- "$pel" import --datadir "$work/c" --in "$work/blocks.pel"
head -c 300 "$work/blocks.pel" >"$work/trunc.pel"
expect 0 "init d" -- "$pel" init --datadir "$work/d" --accounts 300 --seed 5 --producer "$producer"
expect 1 "import truncated" -- "$pel" import --datadir "$work/d" --in "$work/trunc.pel"
contains "$work/err" "truncated" "truncation is named"
expect 1 "import missing file" -- "$pel" import --datadir "$work/d" --in "$work/nofile"
expect 0 "init e" -- "$pel" init --datadir "$work/e" --accounts 300 --seed 5 --producer "$producer"
expect 0 "import without the pipeline" -- "$pel" import --datadir "$work/e" --in "$work/blocks.pel" --no-pipeline
head_e=$("$pel" inspect --datadir "$work/e" head --json | grep '"hash"')
if [ "$head_a" = "$head_e" ]; then passed=$((passed + 1)); else
  failed=$((failed + 1)); echo "FAIL: --no-pipeline import head differs: $head_a vs $head_e"; fi
expect 0 "init e2" -- "$pel" init --datadir "$work/e2" --accounts 300 --seed 5 --producer "$producer"
expect 0 "import without access lists" -- "$pel" import --datadir "$work/e2" --in "$work/blocks.pel" --no-access-list
head_e2=$("$pel" inspect --datadir "$work/e2" head --json | grep '"hash"')
if [ "$head_a" = "$head_e2" ]; then passed=$((passed + 1)); else
  failed=$((failed + 1)); echo "FAIL: --no-access-list import head differs: $head_a vs $head_e2"; fi
expect 0 "export valid p2p blocks" -- "$pel" export --datadir "$a" --out "$work/p2p.pel" --from 1 --to 3
expect 0 "init f" -- "$pel" init --datadir "$work/f" --accounts 300 --seed 5 --producer "$producer"
expect 0 "import trusting signatures" -- "$pel" import --datadir "$work/f" --in "$work/p2p.pel" --skip-signatures
contains "$work/out" "imported 3 blocks" "assume-valid import"

expect 0 "replay" -- "$pel" replay --datadir "$b" --threads 2
contains "$work/out" "replay verified 5 blocks" "replay summary"
expect 0 "replay reading inside the transactions" -- "$pel" replay --datadir "$b" --prefetch-readers 0
contains "$work/out" "replay verified 5 blocks" "replay without gathering"
expect 2 "--prefetch-readers 2000" -- "$pel" replay --datadir "$b" --prefetch-readers 2000
expect 0 "replay compare" -- "$pel" replay --datadir "$b" --compare-sequential --skip-signatures --from 2
contains "$work/out" "from access lists" "replay speedup"
contains "$work/out" "0.00 validations/txn" "access lists need no validation"
contains "$work/out" "NOT re-checked" "skip-signatures is reported"
expect 0 "replay without access lists" -- "$pel" replay --datadir "$b" --compare-sequential --no-access-list
contains "$work/out" "executed with plain Block-STM" "replay --no-access-list"
expect 1 "replay beyond head" -- "$pel" replay --datadir "$b" --to 50

expect 0 "bench" -- "$pel" bench --workload p2p,swap --accounts 10,100 --block-size 200 --threads 1,2 --runs 1 --warmups 0
contains "$work/out" "speedup" "bench table"
expect 0 "bench json" -- "$pel" bench --workload all --accounts 50 --block-size 100 --threads 2 --runs 1 --warmups 0 --json --work 0,4
contains "$work/out" '"validations_per_txn"' "bench json fields"
expect 0 "bench end to end" -- "$pel" bench --workload mix --accounts 100 --block-size 100 --threads 2 --runs 1 --warmups 0 --end-to-end
# One CPU for every thread (a one-CPU container): the cache-line probe must still end.
if command -v taskset >/dev/null; then
  expect 0 "bench on one CPU" -- timeout 120 taskset -c 0 "$pel" bench --workload p2p --accounts 100 --block-size 100 --threads 2 --runs 1 --warmups 0
fi
expect 2 "bench bad list" -- "$pel" bench --threads 1,x
expect 1 "bench unknown workload" -- "$pel" bench --workload nosuch --runs 1
expect 2 "bench empty workload list" -- "$pel" bench --workload '' --runs 1
contains "$work/err" "empty list" "an empty workload list is named"
mkfifo "$work/fifo"
expect 1 "import from a FIFO ends" -- timeout 60 "$pel" import --datadir "$b" --in "$work/fifo"
contains "$work/err" "not a regular file" "a FIFO is refused by name"

expect 0 "demo" -- "$pel" demo --blocks 2 --block-size 200 --accounts 500
contains "$work/out" "verified" "demo verifies"
contains "$work/out" "speedup" "demo prints the speedup"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
