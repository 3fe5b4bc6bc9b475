// Declared writes are hints: whatever a VM declares (exactly what it writes, nothing, wrong keys,
// every key, duplicates), the parallel result equals the sequential one, at every thread count,
// under a watchdog. Exact declarations remove the aborts a hot key causes.
#include <gtest/gtest.h>

#include <chrono>
#include <sstream>

#include "engine/parallel_executor.hpp"
#include "engine/sequential_executor.hpp"
#include "tests/engine/oracle.hpp"
#include "tests/engine/toy_vm.hpp"
#include "tests/support/watchdog.hpp"

namespace pel::testing {
namespace {

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr int kSeedsPerCase = 6;
#else
constexpr int kSeedsPerCase = 40;
#endif

using Declarations = ParallelOptions::Declarations;

TEST(Declarations, DeclaredWritesOfEveryQualityAgreeWithSequential) {
  for (Hint hint : {Hint::kExact, Hint::kNone, Hint::kWrong, Hint::kEveryKey, Hint::kDuplicated}) {
    for (int threads : {1, 2, 3, 4, 8}) {
      // One oracle per case across its seeds, so kHotKeys learns from the blocks before.
      ExecutorOracle oracle(threads);
      for (int s = 0; s < kSeedsPerCase; ++s) {
        const std::uint64_t seed = 77'000 + static_cast<std::uint64_t>(s) * 131 + static_cast<std::uint64_t>(threads);
        ToyWorkload w;
        w.keys = s % 2 == 0 ? 8 : 200;
        w.hot_fraction = s % 3 == 0 ? 0.4 : 0.0;
        w.throw_chance = s % 5 == 0 ? 0.05 : 0.0;
        const std::size_t size = 50 + static_cast<std::size_t>(s) * 7;
        DeclaringVm vm(make_toy_block(seed, size, w), hint, w.keys, seed);
        MemoryState base = toy_base(w.keys);
        oracle.check(vm, size, base, std::string("hint=") + name(hint) + " seed=" + std::to_string(seed));
        if (HasFatalFailure()) return;
      }
    }
  }
}

// 2,000 transactions, each reading ten private keys, then reading and writing one of four hot
// keys (0-3) in turn.
std::vector<ToyTxn> four_hot_keys_block() {
  std::vector<ToyTxn> txns;
  for (std::uint64_t i = 0; i < 2000; ++i) {
    ToyTxn t;
    for (std::uint64_t k = 0; k < 10; ++k) t.ops.push_back({ToyOp::Kind::kRead, 100 + i * 10 + k});
    t.ops.push_back({ToyOp::Kind::kRead, i % 4});
    t.ops.push_back({ToyOp::Kind::kWrite, i % 4});
    txns.push_back(t);
  }
  return txns;
}

// Every transaction reads and writes one of four hot keys after some private reads. Declared
// exactly, no transaction runs before the last one declaring its key: nothing is aborted and
// no conflict is counted, only planned waits.
TEST(Declarations, ExactDeclarationsLeaveNoAbortOnHotKeys) {
  const std::vector<ToyTxn> txns = four_hot_keys_block();
  MemoryState base;
  DeclaringVm vm(txns, Hint::kExact, 4, 1);
  const BlockResult seq = execute_sequential(vm, txns.size(), base);
  for (int threads : {2, 4}) {
    ParallelExecutor executor({.threads = threads, .fallback_speedup = 0, .declarations = Declarations::kAll});
    Watchdog dog(std::chrono::seconds(60), "exact declarations, threads " + std::to_string(threads));
    const BlockResult par = executor.execute(vm, txns.size(), base);
    expect_same(seq, par, "threads " + std::to_string(threads));
    EXPECT_EQ(par.stats.aborts, 0u) << "threads " << threads;
    EXPECT_EQ(par.stats.suspensions, par.stats.predicted_waits) << "every wait was planned";
    for (const KeyConflicts& k : par.stats.hot_keys) EXPECT_EQ(k.aborts, 0u) << k.key.hex();
  }
}

// With kHotKeys the executor declares only the keys that conflicted in the block before; a
// declared key that links transactions stays declared, block after block, whatever the schedule
// (a run where nobody happened to wait must not drop it and conflict again the block after).
TEST(Declarations, HotKeysStayDeclaredWhileTheyKeepReadersWaiting) {
  const std::vector<ToyTxn> txns = four_hot_keys_block();
  MemoryState base;
  DeclaringVm vm(txns, Hint::kExact, 4, 1);
  const BlockResult seq = execute_sequential(vm, txns.size(), base);
  ParallelExecutor executor({.threads = 2, .fallback_speedup = 0, .declarations = Declarations::kHotKeys});
  // Until a block has shown the hot keys, nothing is declared.
  int learned_at = -1;
  for (int block = 0; block < 20 && learned_at < 0; ++block) {
    Watchdog dog(std::chrono::seconds(60), "learning block " + std::to_string(block));
    const BlockResult par = executor.execute(vm, txns.size(), base);
    expect_same(seq, par, "learning block " + std::to_string(block));
    if (par.stats.declared_dependencies > 0) learned_at = block;
  }
  ASSERT_GE(learned_at, 1) << "the hot keys were never learned (or declared before any block)";
  // Each declared hot key links its 500 transactions in a chain; a key, once declared, stays.
  std::uint64_t linked = 0;
  for (int block = 0; block < 6; ++block) {
    Watchdog dog(std::chrono::seconds(60), "declared block " + std::to_string(block));
    const BlockResult par = executor.execute(vm, txns.size(), base);
    expect_same(seq, par, "declared block " + std::to_string(block));
    EXPECT_GE(par.stats.declared_dependencies, std::max<std::uint64_t>(linked, 499))
        << "block " << block << " after learning: a declared key dropped out";
    linked = par.stats.declared_dependencies;
  }
}

// A block's declarations, asked once and laid flat: each transaction's writes then its adds,
// in the order the VM gave them, whatever the chunking (empty transactions, and across the
// 256-transaction chunks the build runs in parallel).
TEST(Declarations, ABlocksDeclarationsKeepEachTransactionsWritesThenAdds) {
  for (std::size_t size : {0u, 1u, 255u, 256u, 257u, 1000u}) {
    const BlockDeclarations d = BlockDeclarations::build(size, [](TxnIndex txn, DeclaredWrites& writes, DeclaredWrites& adds) {
      for (std::uint64_t k = 0; k < txn % 3; ++k) writes.push_back(toy_key(txn * 10 + k));
      for (std::uint64_t k = 0; k < txn % 2; ++k) adds.push_back(toy_key(txn * 10 + 5 + k));
    });
    ASSERT_EQ(d.transactions(), size);
    for (TxnIndex txn = 0; txn < size; ++txn) {
      ASSERT_EQ(d.writes(txn).size(), txn % 3) << size << " txn " << txn;
      ASSERT_EQ(d.adds(txn).size(), txn % 2) << size << " txn " << txn;
      for (std::size_t k = 0; k < d.writes(txn).size(); ++k) EXPECT_EQ(d.writes(txn)[k], toy_key(txn * 10 + k));
      for (std::size_t k = 0; k < d.adds(txn).size(); ++k) EXPECT_EQ(d.adds(txn)[k], toy_key(txn * 10 + 5 + k));
      ASSERT_EQ(d.keys(txn).size(), d.writes(txn).size() + d.adds(txn).size());
    }
  }
}

// A caller may hand Block-STM the block's declarations (the node does, made once for the block);
// they are hints like the VM's own: wrong ones, or ones for another block size (then the VM is
// asked), leave the result sequential execution's.
TEST(Declarations, DeclarationsHandedInAreHintsToo) {
  ToyWorkload w;
  w.keys = 20;
  w.hot_fraction = 0.4;
  const std::size_t size = 400;
  DeclaringVm vm(make_toy_block(5, size, w), Hint::kExact, w.keys, 5);
  const MemoryState base = toy_base(w.keys);
  const BlockResult seq = execute_sequential(vm, size, base);
  const BlockDeclarations exact = BlockDeclarations::of(vm, size);
  const BlockDeclarations wrong = BlockDeclarations::build(size, [](TxnIndex txn, DeclaredWrites& writes, DeclaredWrites&) {
    writes.push_back(toy_key((txn * 7) % 20));
  });
  const BlockDeclarations other_size = BlockDeclarations::of(vm, size / 2);
  for (int threads : {2, 4}) {
    for (const BlockDeclarations* handed : {&exact, &wrong, &other_size}) {
      for (double fallback : {0.0, 1.0}) {
        ParallelExecutor executor({.threads = threads, .min_parallel_txns = 2, .always_block_stm = true,
                                   .fallback_speedup = fallback, .declarations = Declarations::kAll});
        Watchdog dog(std::chrono::seconds(60), "handed declarations");
        expect_same(seq, executor.execute(vm, size, base, handed), "threads " + std::to_string(threads));
        if (HasFatalFailure()) return;
      }
    }
  }
}

}  // namespace
}  // namespace pel::testing
