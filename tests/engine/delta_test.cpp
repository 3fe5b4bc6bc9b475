// Commutative deltas (TxnOutput::deltas), through every executor: the plain loop, Block-STM on
// 1-8 workers, Block-STM falling back to the loop part way, and execution from the block's
// access list. Each bug class engines with deltas have shipped gets a block built for it; each
// block must give every executor the same outputs, writes and error, under a watchdog.
#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <sstream>
#include <string>

#include "engine/access_list.hpp"
#include "engine/parallel_executor.hpp"
#include "engine/sequential_executor.hpp"
#include "tests/engine/oracle.hpp"
#include "tests/engine/toy_vm.hpp"
#include "tests/support/watchdog.hpp"

namespace pel::testing {
namespace {

// Runs `vm` on every executor and returns the plain loop's result, which all the others equal.
BlockResult run_everywhere(const Vm& vm, std::size_t size, const BaseState& base, const std::string& what) {
  BlockResult seq;
  for (int threads : {1, 2, 3, 4, 8}) {
    seq = ExecutorOracle(threads).check(vm, size, base, what);
    if (::testing::Test::HasFatalFailure()) break;
  }
  return seq;
}

ToyOp read(std::uint64_t key) { return {ToyOp::Kind::kRead, key}; }
ToyOp write(std::uint64_t key) { return {ToyOp::Kind::kWrite, key}; }
ToyOp erase(std::uint64_t key) { return {ToyOp::Kind::kDelete, key}; }
ToyOp add(std::uint64_t key) { return {ToyOp::Kind::kAdd, key, key}; }

std::optional<Value> value_of(const BlockResult& r, std::uint64_t key) {
  for (const Write& w : r.writes) {
    if (w.key == toy_key(key)) return w.value;
  }
  return std::nullopt;
}

// The toy adds acc % 1000 + 1, acc being what the transaction read so far, mixed with its
// index; a transaction that reads nothing adds a fixed amount, computed here the same way.
std::uint64_t blind_amount(TxnIndex txn) { return (0xcbf29ce484222325ull ^ txn) % 1000 + 1; }

TEST(Deltas, TransactionsThatOnlyAddToAKeyNeverConflict) {
  constexpr std::size_t kSize = 600;
  std::vector<ToyTxn> txns(kSize, ToyTxn{{add(0), write(1000)}});
  for (std::size_t i = 0; i < kSize; ++i) txns[i].ops[1].key = 1000 + i;  // and a key of its own
  ToyVm vm(txns);
  MemoryState base;
  base.put(toy_key(0), "n=7");
  const BlockResult seq = run_everywhere(vm, kSize, base, "hot counter");
  std::uint64_t sum = 7;
  for (TxnIndex i = 0; i < kSize; ++i) sum += blind_amount(i);
  EXPECT_EQ(value_of(seq, 0), "n=" + std::to_string(sum));
  for (int threads : {2, 4, 8}) {
    ParallelExecutor executor({.threads = threads, .min_parallel_txns = 2, .fallback_speedup = 0});
    const BlockResult par = executor.execute(vm, kSize, base);
    EXPECT_EQ(par.stats.executions, kSize) << "threads " << threads << ": nothing reads, nothing re-runs";
    EXPECT_EQ(par.stats.aborts, 0u) << "threads " << threads;
  }
}

TEST(Deltas, DeleteThenAddStartsFromNothing) {
  // Key 0 holds "base0" (a counter of 5); transaction 0 deletes it, 1 adds, 2 reads it exactly.
  ToyVm vm({ToyTxn{{erase(0)}}, ToyTxn{{add(0)}}, ToyTxn{{read(0), write(1)}}});
  MemoryState base = toy_base(3);
  const BlockResult seq = run_everywhere(vm, 3, base, "delete then add");
  EXPECT_EQ(value_of(seq, 0), "n=" + std::to_string(blind_amount(1)));
}

TEST(Deltas, AddsThenAnExactReadByALaterTransaction) {
  // 200 adds to key 0 over a stored value, an exact reader in the middle and one at the end,
  // then more adds: readers see the sum below them, the end state the whole sum.
  std::vector<ToyTxn> txns;
  for (int i = 0; i < 400; ++i) {
    if (i == 150 || i == 399) {
      txns.push_back(ToyTxn{{read(0), write(1 + static_cast<std::uint64_t>(i))}});
    } else {
      txns.push_back(ToyTxn{{add(0)}});
    }
  }
  ToyVm vm(txns);
  MemoryState base;
  base.put(toy_key(0), "n=1000");
  const BlockResult seq = run_everywhere(vm, txns.size(), base, "adds then exact reads");
  std::uint64_t sum = 1000;
  for (TxnIndex i = 0; i < txns.size(); ++i) sum += (i == 150 || i == 399) ? 0 : blind_amount(i);
  EXPECT_EQ(value_of(seq, 0), "n=" + std::to_string(sum));
  EXPECT_TRUE(seq.finish_error.empty());
}

TEST(Deltas, AnAbortedIncarnationsAddIsNotCounted) {
  // Each transaction reads a hot key that its predecessor writes, then adds an amount that
  // depends on what it read, to one of two counters chosen by it: early incarnations read stale
  // values and add the wrong amounts to the wrong counters, and only the final ones may count.
  std::vector<ToyTxn> txns;
  for (std::uint64_t i = 0; i < 300; ++i) {
    txns.push_back(ToyTxn{{read(0), {ToyOp::Kind::kAdd, 10, 11}, write(0)}});
  }
  ToyVm vm(txns);
  MemoryState base = toy_base(12);
  run_everywhere(vm, txns.size(), base, "aborted adds");
}

// An apply_delta that is not additive: every executor applies the same sums to the same values
// (the whole sum since the key's last write, at each read and at the end), so all agree. The
// plain loop used to restart a key's sum at each read while the others did not: 20 of 20 such
// blocks differed (issue 25, item 6).
TEST(Deltas, ANonAdditiveApplyGivesEveryExecutorTheSameResult) {
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    std::mt19937_64 rng(seed);
    std::vector<ToyTxn> txns;
    for (int i = 0; i < 120; ++i) {
      const std::uint64_t key = rng() % 3;
      switch (rng() % 4) {
        case 0: txns.push_back(ToyTxn{{read(key), write(10 + static_cast<std::uint64_t>(i))}}); break;
        case 1: txns.push_back(ToyTxn{{read(key), write(key)}}); break;
        default: txns.push_back(ToyTxn{{add(key)}}); break;
      }
    }
    ToyVm vm(txns, ~std::uint64_t{0}, /*additive=*/false);
    MemoryState base;
    base.put(toy_key(0), "n=5");
    run_everywhere(vm, txns.size(), base, "non-additive seed " + std::to_string(seed));
    if (HasFatalFailure()) return;
  }
}

TEST(Deltas, AnAddToAKeyTheTransactionAlsoWritesIsAVmError) {
  ToyVm vm({ToyTxn{{write(0), add(0)}}, ToyTxn{{add(1), add(1)}}, ToyTxn{{read(0), read(1)}}});
  MemoryState base;
  const BlockResult seq = run_everywhere(vm, 3, base, "add and write one key");
  EXPECT_NE(seq.outputs[0].vm_error.find("twice (as a delta)"), std::string::npos) << seq.outputs[0].vm_error;
  EXPECT_TRUE(seq.outputs[1].vm_error.empty()) << "two adds to one key are one delta";
  EXPECT_EQ(seq.outputs[1].deltas.size(), 1u);
}

// The plain loop run in steps (the parallel executor's measured prefix): a read that meets
// deltas it cannot apply marks the run failed at that step, and the block's error is the whole
// loop's.
TEST(Deltas, ASteppedLoopFailsWhereTheDeltasAreRead) {
  const std::uint64_t two_adds = blind_amount(0) + blind_amount(1);
  ToyVm vm({ToyTxn{{add(0)}}, ToyTxn{{add(0)}}, ToyTxn{{write(1)}}, ToyTxn{{read(0), write(1)}}}, two_adds - 1);
  MemoryState base;
  SequentialRun run(vm, 4, base);
  run.run_until(3);
  EXPECT_FALSE(run.failed()) << "adds past the bound are only summed";
  run.run_until(4);
  EXPECT_TRUE(run.failed()) << "and fail where they are read";
  const BlockResult result = run.finish();
  EXPECT_NE(result.finish_error.find("over its bound"), std::string::npos) << result.finish_error;
  EXPECT_EQ(result.finish_error, execute_sequential(vm, 4, base).finish_error);
}

// The toy's counters fail above a bound, as a ledger balance would above 2^64 - 1.
TEST(Deltas, OverflowAtTheBoundFailsTheBlockAtTheSamePointEverywhere) {
  const std::uint64_t two_adds = blind_amount(0) + blind_amount(1);
  MemoryState base;
  {
    // Exactly at the bound: fine.
    ToyVm vm({ToyTxn{{add(0)}}, ToyTxn{{add(0)}}, ToyTxn{{read(0), write(1)}}}, two_adds);
    const BlockResult seq = run_everywhere(vm, 3, base, "at the bound");
    EXPECT_TRUE(seq.finish_error.empty()) << seq.finish_error;
    EXPECT_EQ(value_of(seq, 0), "n=" + std::to_string(two_adds));
  }
  {
    // Past it, met by a read: that read throws to the VM, and the block cannot be made.
    ToyVm vm({ToyTxn{{add(0)}}, ToyTxn{{add(0)}}, ToyTxn{{read(0), write(1)}}}, two_adds - 1);
    const BlockResult seq = run_everywhere(vm, 3, base, "past the bound, read");
    EXPECT_NE(seq.finish_error.find("over its bound"), std::string::npos) << seq.finish_error;
    EXPECT_TRUE(seq.writes.empty());
  }
  {
    // Past it, met at the end of the block.
    ToyVm vm({ToyTxn{{add(0)}}, ToyTxn{{add(0)}}, ToyTxn{{write(1)}}}, two_adds - 1);
    const BlockResult seq = run_everywhere(vm, 3, base, "past the bound, end");
    EXPECT_NE(seq.finish_error.find("over its bound"), std::string::npos) << seq.finish_error;
  }
  {
    // Past it, then written over: the deltas are dropped unapplied, nothing fails.
    ToyVm vm({ToyTxn{{add(0)}}, ToyTxn{{add(0)}}, ToyTxn{{write(0)}}}, two_adds - 1);
    const BlockResult seq = run_everywhere(vm, 3, base, "past the bound, overwritten");
    EXPECT_TRUE(seq.finish_error.empty()) << seq.finish_error;
  }
}

TEST(Deltas, RandomBlocksWithHotCountersAgreeEverywhere) {
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
  constexpr int kSeeds = 6;
#else
  constexpr int kSeeds = 40;
#endif
  for (int s = 0; s < kSeeds; ++s) {
    ToyWorkload w;
    w.keys = s % 2 == 0 ? 4 : 40;
    w.hot_fraction = s % 3 == 0 ? 0.5 : 0.0;
    w.add_chance = 0.6;
    w.delete_chance = 0.15;
    const std::size_t size = 50 + static_cast<std::size_t>(s) * 7;
    const std::uint64_t seed = 5'000 + static_cast<std::uint64_t>(s);
    // Every fourth block with a bound that some counters pass.
    ToyVm vm(make_toy_block(seed, size, w), s % 4 == 3 ? 20'000 : ~std::uint64_t{0});
    run_everywhere(vm, size, toy_base(w.keys), "seed=" + std::to_string(seed));
    if (HasFatalFailure()) return;
  }
}

}  // namespace
}  // namespace pel::testing
