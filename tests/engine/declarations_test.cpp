// Declared writes are hints: whatever a VM declares (exactly what it writes, nothing, wrong keys,
// every key, duplicates), the parallel result equals the sequential one, at every thread count,
// under a watchdog. Exact declarations remove the aborts a hot key causes.
#include <gtest/gtest.h>

#include <chrono>
#include <sstream>

#include "engine/parallel_executor.hpp"
#include "engine/sequential_executor.hpp"
#include "tests/engine/toy_vm.hpp"
#include "tests/support/watchdog.hpp"

namespace pel::testing {
namespace {

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr int kSeedsPerCase = 6;
#else
constexpr int kSeedsPerCase = 40;
#endif

void expect_same(const BlockResult& seq, const BlockResult& par, const std::string& what) {
  ASSERT_EQ(seq.outputs, par.outputs) << what;
  ASSERT_EQ(seq.writes, par.writes) << what;
}

using Declarations = ParallelOptions::Declarations;

TEST(Differential, DeclaredWritesOfEveryQualityAgreeWithSequential) {
  for (Declarations use : {Declarations::kAll, Declarations::kHotKeys}) {
    for (Hint hint : {Hint::kExact, Hint::kNone, Hint::kWrong, Hint::kEveryKey, Hint::kDuplicated}) {
      for (int threads : {1, 2, 3, 4, 8}) {
        // One executor per case across its seeds, so kHotKeys learns from the blocks before.
        ParallelExecutor executor({.threads = threads, .min_parallel_txns = 2, .always_block_stm = true,
                                   .fallback_speedup = 0, .declarations = use});
        for (int s = 0; s < kSeedsPerCase; ++s) {
          const std::uint64_t seed = 77'000 + static_cast<std::uint64_t>(s) * 131 + static_cast<std::uint64_t>(threads);
          ToyWorkload w;
          w.keys = s % 2 == 0 ? 8 : 200;
          w.hot_fraction = s % 3 == 0 ? 0.4 : 0.0;
          w.throw_chance = s % 5 == 0 ? 0.05 : 0.0;
          const std::size_t size = 50 + static_cast<std::size_t>(s) * 7;
          DeclaringVm vm(make_toy_block(seed, size, w), hint, w.keys, seed);
          MemoryState base = toy_base(w.keys);
          std::ostringstream what;
          what << "declarations=" << static_cast<int>(use) << " hint=" << name(hint) << " threads=" << threads
               << " seed=" << seed;
          Watchdog dog(std::chrono::seconds(60), what.str());
          expect_same(execute_sequential(vm, size, base), executor.execute(vm, size, base), what.str());
          if (HasFatalFailure()) return;
        }
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
TEST(Differential, ExactDeclarationsLeaveNoAbortOnHotKeys) {
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
TEST(Differential, HotKeysStayDeclaredWhileTheyKeepReadersWaiting) {
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

// A block whose declarations chain every transaction to the one before has no parallelism to
// win: it runs on the plain loop at once, with no speculative execution wasted, and so do the
// next few without paying for the declarations.
TEST(ContentionFallback, ADeclaredSerialChainRunsSequentiallyAtOnce) {
  std::vector<ToyTxn> txns(1000, ToyTxn{{{ToyOp::Kind::kRead, 0}, {ToyOp::Kind::kWrite, 0}}});
  MemoryState base;
  DeclaringVm vm(txns, Hint::kExact, 1, 1);
  ParallelExecutor executor({.threads = 2, .declarations = Declarations::kAll});
  const BlockResult seq = execute_sequential(vm, txns.size(), base);
  // Judging costs the declaration pass, so a block judged serial counts as lost: the next ones
  // run on the loop without that pass (1, 2, 4, then 8 blocks), then the declarations are
  // judged again. D: judged from its declarations; l: on the loop at once.
  std::string pattern;
  for (int block = 0; block < 16; ++block) {
    const BlockResult par = executor.execute(vm, txns.size(), base);
    EXPECT_TRUE(par.stats.path == ExecutionPath::kFellBack || par.stats.path == ExecutionPath::kLoopAfterLoss)
        << "block " << block << ": " << path_name(par.stats.path);
    EXPECT_EQ(par.stats.executions, txns.size()) << "block " << block << ": nothing ran speculatively first";
    expect_same(seq, par, "serial chain, block " + std::to_string(block));
    EXPECT_EQ(par.stats.declared_dependencies > 0, par.stats.path == ExecutionPath::kFellBack) << "block " << block;
    pattern += par.stats.declared_dependencies > 0 ? 'D' : 'l';
  }
  EXPECT_EQ(pattern, "DlDllDllllDlllll");

  // With one worker there is nothing to judge: Block-STM runs the chain (as the benchmark's
  // one-worker overhead measurement asks), and still agrees.
  ParallelExecutor one({.threads = 1, .always_block_stm = true, .declarations = Declarations::kAll});
  const BlockResult alone = one.execute(vm, txns.size(), base);
  EXPECT_EQ(alone.stats.path, ExecutionPath::kBlockStm);
  expect_same(execute_sequential(vm, txns.size(), base), alone, "serial chain, one worker");
}

}  // namespace
}  // namespace pel::testing
