// VMs that misbehave the ways a real one can: loop or run out of memory on a view that no prefix
// of the block produces, write a key twice, run oneTBB algorithms inside execute(); and two
// executors in one process. Each block finishes (under a watchdog) and agrees with the sequential
// executor.
#include <gtest/gtest.h>

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/info.h>
#include <oneapi/tbb/parallel_reduce.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <new>
#include <random>
#include <set>
#include <thread>

#include "engine/parallel_executor.hpp"
#include "engine/sequential_executor.hpp"
#include "tests/engine/oracle.hpp"
#include "tests/engine/toy_vm.hpp"
#include "tests/support/watchdog.hpp"

namespace pel::testing {
namespace {

ParallelExecutor block_stm(int threads) {
  return ParallelExecutor({.threads = threads, .min_parallel_txns = 2, .fallback_speedup = 0});
}

// Two balances, A and B, between which every transaction moves value: in any state a prefix of
// the block produces, A + B == kTotal. A view where it does not hold mixes two prefixes.
constexpr std::int64_t kTotal = 2000;
constexpr TxnIndex kNoTxn = ~TxnIndex{0};

enum class OnBrokenInvariant { kLoopUntilAborted, kThrowBadAlloc };

MemoryState invariant_base() {
  MemoryState base;
  base.put(toy_key(0), std::to_string(kTotal / 2));
  base.put(toy_key(1), std::to_string(kTotal / 2));
  return base;
}

class InvariantVm final : public Vm {
 public:
  InvariantVm(OnBrokenInvariant on_broken, TxnIndex out_of_memory_txn = kNoTxn)
      : on_broken_(on_broken), out_of_memory_txn_(out_of_memory_txn) {}

  TxnOutput execute(TxnIndex txn, StateReader& reader) const override {
    const std::optional<std::int64_t> a = balance(reader, 0);
    std::optional<std::int64_t> b = balance(reader, 1);
    // Read B again a few times while the view holds: another worker's writes landing between
    // the reads of A and B is what breaks it, and this widens that window.
    for (int i = 0; i < kPollReads && a && b && *a + *b == kTotal; ++i) {
      std::this_thread::yield();
      b = balance(reader, 1);
    }
    if (!a || !b || *a + *b != kTotal) {  // a read came back empty only if it was blocked
      if (a && b) inconsistent_views_.fetch_add(1, std::memory_order_relaxed);
      if (on_broken_ == OnBrokenInvariant::kThrowBadAlloc) throw std::bad_alloc();
      while (!reader.aborted()) std::this_thread::yield();
      return {{{toy_key(0), "garbage"}}, "garbage", ""};
    }
    if (txn == out_of_memory_txn_) throw std::bad_alloc();
    const std::int64_t amount = static_cast<std::int64_t>(txn % 7) - 3;
    return {{{toy_key(0), std::to_string(*a - amount)}, {toy_key(1), std::to_string(*b + amount)}},
            "moved " + std::to_string(amount),
            ""};
  }

  std::uint64_t inconsistent_views() const { return inconsistent_views_.load(std::memory_order_relaxed); }

 private:
  static constexpr int kPollReads = 20;
  static std::optional<std::int64_t> balance(StateReader& reader, std::uint64_t key) {
    std::optional<Value> v = reader.read(toy_key(key));
    if (!v) return std::nullopt;
    return std::stoll(*v);
  }

  const OnBrokenInvariant on_broken_;
  const TxnIndex out_of_memory_txn_;
  mutable std::atomic<std::uint64_t> inconsistent_views_{0};
};

// Runs blocks of InvariantVm at 2 to 8 threads, each under a watchdog, and requires the
// sequential result; returns how many executions saw an inconsistent view.
std::uint64_t run_against_sequential(OnBrokenInvariant on_broken, const std::string& label) {
  const MemoryState base = invariant_base();
  const std::size_t size = 150;
  std::uint64_t inconsistent = 0;
  for (int threads : {2, 3, 4, 8}) {
    for (int round = 0; round < 3; ++round) {
      InvariantVm vm(on_broken);
      const std::string what = "threads=" + std::to_string(threads) + " round=" + std::to_string(round);
      Watchdog dog(std::chrono::seconds(60), label + " " + what);
      const BlockResult seq = execute_sequential(vm, size, base);
      ParallelExecutor executor = block_stm(threads);
      BlockResult par;
      EXPECT_NO_THROW(par = executor.execute(vm, size, base)) << what;
      expect_same(seq, par, what);
      if (::testing::Test::HasFailure()) return inconsistent;
      inconsistent += vm.inconsistent_views();
    }
  }
  ::testing::Test::RecordProperty("inconsistent_views", std::to_string(inconsistent));
  return inconsistent;
}

// Every execution that sees a broken invariant loops until reader.aborted() turns true. It must,
// because the view came from a value a lower transaction has since overwritten; and what the
// VM returns then (garbage) must never reach the block.
TEST(HostileVm, LoopOnAnInconsistentViewEndsWhenAReadIsOverwritten) {
  const std::uint64_t inconsistent = run_against_sequential(OnBrokenInvariant::kLoopUntilAborted, "inconsistent view loop");
  // Without this the test could pass without exercising anything.
  EXPECT_GT(inconsistent, 0u) << "no execution saw an inconsistent view";
}

// std::bad_alloc from an incarnation that saw an inconsistent view (a VM sizing an allocation
// from it) is a conflict: the block re-executes it and completes.
TEST(HostileVm, OutOfMemoryOnAnInconsistentViewIsAConflict) {
  const std::uint64_t inconsistent = run_against_sequential(OnBrokenInvariant::kThrowBadAlloc, "out of memory on inconsistent view");
  EXPECT_GT(inconsistent, 0u) << "no execution saw an inconsistent view";
}

// The same failure on the consistent state (the one the block's prefix produces) is this node
// running out of memory: it fails the block, never becomes a receipt. (The other transactions
// loop on inconsistent views, so the block also needs aborted() to end.)
TEST(HostileVm, OutOfMemoryOnTheConsistentStateFailsTheBlock) {
  const MemoryState base = invariant_base();
  InvariantVm vm(OnBrokenInvariant::kLoopUntilAborted, /*out_of_memory_txn=*/37);
  EXPECT_THROW((void)execute_sequential(vm, 100, base), std::bad_alloc);
  for (int threads : {2, 3, 4, 8}) {
    Watchdog dog(std::chrono::seconds(60), "out of memory, consistent state, threads=" + std::to_string(threads));
    ParallelExecutor executor = block_stm(threads);
    EXPECT_THROW((void)executor.execute(vm, 100, base), std::bad_alloc) << "threads=" << threads;
  }
}

// Stages the trap in discarding an execution whose VM saw aborted() turn true. Three roles in
// different workers' first chunks: H (txn 0) writes X; I (txn 8) writes K only while X is
// absent; J (txn 16) reads K. In their first executions: J reads K (absent), I writes K, J's
// aborted() turns true, and then H writes X, so I is aborted and re-executes without writing K.
// J's read of K holds again, and only now does J return its garbage: had it been recorded,
// validation would accept it.
class OverwrittenThenRestoredVm final : public Vm {
 public:
  static constexpr TxnIndex kH = 0, kI = 8, kJ = 16;
  static constexpr std::size_t kSize = 24;

  explicit OverwrittenThenRestoredVm(bool stage) : stage_(stage) {}

  TxnOutput execute(TxnIndex txn, StateReader& reader) const override {
    const int run = stage_ ? runs_[txn].fetch_add(1) : 1;
    const StateKey x = toy_key(500), k = toy_key(501);
    switch (txn) {
      case kH:
        if (run == 0) wait_until([this] { return j_aborted_.load(); });
        return {{{x, "h"}}, "h", ""};
      case kI: {
        const bool x_absent = !reader.read(x).has_value();
        if (run == 0) wait_until([this] { return j_read_k_.load(); });
        if (x_absent) return {{{k, "i"}}, "i wrote k", ""};
        return {{}, "i saw x", ""};
      }
      case kJ: {
        std::optional<Value> v = reader.read(k);
        if (run == 0 && !v) {
          j_read_k_.store(true);
          if (wait_until([&reader] { return reader.aborted(); })) {
            j_aborted_.store(true);
            // Wait for I's second execution to begin, then give it time to record.
            if (wait_until([this] { return runs_[kI].load() >= 2; })) {
              std::this_thread::sleep_for(std::chrono::milliseconds(50));
              staged_.store(true);
            }
            return {{{toy_key(502), "garbage"}}, "garbage", ""};
          }
        }
        return {{{toy_key(502), v ? "saw " + *v : "none"}}, "j", ""};
      }
      default: {  // fillers: their own key
        std::optional<Value> own = reader.read(toy_key(txn));
        return {{{toy_key(txn), own.value_or("") + "f"}}, "f", ""};
      }
    }
  }

  bool staged() const { return staged_.load(); }

 private:
  // Bounded, so that a schedule that does not stage the interleaving only makes the round moot.
  template <typename Pred>
  static bool wait_until(Pred pred) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!pred()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::yield();
    }
    return true;
  }

  const bool stage_;
  mutable std::array<std::atomic<int>, kSize> runs_{};
  mutable std::atomic<bool> j_read_k_{false}, j_aborted_{false}, staged_{false};
};

TEST(HostileVm, OutputAfterAbortedIsDiscardedEvenIfTheReadHoldsAgain) {
  const MemoryState base;
  OverwrittenThenRestoredVm reference(/*stage=*/false);
  const BlockResult seq = execute_sequential(reference, OverwrittenThenRestoredVm::kSize, base);
  ASSERT_EQ(seq.outputs[OverwrittenThenRestoredVm::kJ].receipt, "j");
  int staged = 0;
  for (int threads : {3, 4}) {
    for (int round = 0; round < 3; ++round) {
      const std::string what = "threads=" + std::to_string(threads) + " round=" + std::to_string(round);
      Watchdog dog(std::chrono::seconds(60), "overwritten then restored " + what);
      OverwrittenThenRestoredVm vm(/*stage=*/true);
      ParallelExecutor executor = block_stm(threads);
      expect_same(seq, executor.execute(vm, OverwrittenThenRestoredVm::kSize, base), what);
      if (HasFatalFailure()) return;
      staged += vm.staged() ? 1 : 0;
    }
  }
  RecordProperty("staged_rounds", staged);
  // The roles depend on three workers starting together; most rounds stage it.
  EXPECT_GT(staged, 0) << "the interleaving was never staged";
}

// Writes some keys twice, the first time with a transient value that a concurrent reader could
// otherwise pick up and validation (which compares versions, not values) would accept.
class DuplicateWriteVm final : public Vm {
 public:
  enum class Kind : std::uint8_t { kOnce, kTwice, kManyDistinct, kManyTwice };
  explicit DuplicateWriteVm(std::uint64_t seed, std::size_t size) : kinds_(size) {
    std::mt19937_64 rng(seed);
    for (Kind& k : kinds_) k = static_cast<Kind>(std::uniform_int_distribution<int>(0, 3)(rng));
  }

  TxnOutput execute(TxnIndex txn, StateReader& reader) const override {
    const StateKey key = toy_key(txn % 4);
    std::optional<Value> v = reader.read(key);
    const Value next = (v ? *v : "") + static_cast<char>('a' + txn % 26);
    TxnOutput out;
    out.receipt = "read " + std::to_string(v ? v->size() : 0);
    switch (kinds_[txn]) {
      case Kind::kOnce:
        out.writes = {{key, next}};
        break;
      case Kind::kTwice:
        out.writes = {{key, "transient"}, {toy_key(100 + txn), "other"}, {key, next}};
        break;
      case Kind::kManyDistinct:
      case Kind::kManyTwice:  // above the size where the check compares pairs
        for (std::uint64_t i = 0; i < 40; ++i) out.writes.push_back({toy_key(1000 + i), "bulk"});
        out.writes.push_back({key, kinds_[txn] == Kind::kManyTwice ? "transient" : next});
        if (kinds_[txn] == Kind::kManyTwice) out.writes.push_back({key, next});
        break;
    }
    return out;
  }

  bool writes_twice(TxnIndex txn) const { return kinds_[txn] == Kind::kTwice || kinds_[txn] == Kind::kManyTwice; }

 private:
  std::vector<Kind> kinds_;
};

TEST(HostileVm, WritingAKeyTwiceIsAVmErrorOnBothExecutors) {
  const MemoryState base;
#if defined(__SANITIZE_THREAD__)
  constexpr int kSeeds = 8;
#else
  constexpr int kSeeds = 40;
#endif
  for (int threads : {2, 3, 4, 8}) {
    ParallelExecutor executor = block_stm(threads);
    for (int seed = 0; seed < kSeeds; ++seed) {
      const std::size_t size = 120;
      DuplicateWriteVm vm(static_cast<std::uint64_t>(seed), size);
      const std::string what = "seed=" + std::to_string(seed) + " threads=" + std::to_string(threads);
      Watchdog dog(std::chrono::seconds(60), "duplicate writes " + what);
      const BlockResult seq = execute_sequential(vm, size, base);
      expect_same(seq, executor.execute(vm, size, base), what);
      if (HasFatalFailure()) return;
      for (TxnIndex t = 0; t < size; ++t) {
        const TxnOutput& out = seq.outputs[t];
        if (vm.writes_twice(t)) {
          ASSERT_EQ(out.vm_error, "vm wrote key " + toy_key(t % 4).hex() + " twice") << what << " txn " << t;
          ASSERT_TRUE(out.writes.empty() && out.receipt.empty()) << what << " txn " << t;
        } else {
          ASSERT_EQ(out.vm_error, "") << what << " txn " << t;
        }
      }
    }
  }
}

// Runs a oneTBB parallel_reduce inside every execution. A worker waiting for the reduce must not
// pick up another worker's loop (it would wait for the transaction beneath it on its own stack).
class NestedReduceVm final : public Vm {
 public:
  TxnOutput execute(TxnIndex txn, StateReader& reader) const override {
    const StateKey key = toy_key(txn % 16);
    std::optional<Value> v = reader.read(key);
    const std::uint64_t seed = v ? std::stoull(*v) : txn;
    const std::uint64_t sum = tbb::parallel_reduce(
        tbb::blocked_range<std::uint64_t>(0, 1 << 15, 64), std::uint64_t{0},
        [seed](const tbb::blocked_range<std::uint64_t>& r, std::uint64_t acc) {
          for (std::uint64_t i = r.begin(); i != r.end(); ++i) acc += ((seed ^ i) * 0x9E3779B97F4A7C15ull) >> 7;
          return acc;
        },
        std::plus<>());
    return {{{key, std::to_string(sum % 1000003)}}, std::to_string(sum), ""};
  }
};

TEST(HostileVm, OneTbbAlgorithmInsideExecute) {
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "under TSan the engine's workers are plain threads (libtbb is not instrumented)";
#endif
  const MemoryState base;
  NestedReduceVm vm;
  const std::size_t size = 1000;
  const BlockResult seq = execute_sequential(vm, size, base);
  for (int threads = 1; threads <= 8; ++threads) {
    for (int round = 0; round < 4; ++round) {
      const std::string what = "threads=" + std::to_string(threads) + " round=" + std::to_string(round);
      Watchdog dog(std::chrono::seconds(60), "nested parallel_reduce " + what);
      ParallelExecutor executor(
          {.threads = threads, .min_parallel_txns = 2, .always_block_stm = true, .fallback_speedup = 0});
      expect_same(seq, executor.execute(vm, size, base), what);
      if (HasFatalFailure()) return;
    }
  }
}

// A VM that asks aborted() after every one of its many reads, on a block whose early writes
// overwrite what later transactions read: each call costs O(1), so the block ends in about the
// time its reads take. aborted() walked every read so far, and such a block took minutes (issue
// 25, item 7: 614x the plain loop at 4,000 reads a transaction); the watchdog is far above what
// linear work needs on any machine.
class PollingVm final : public Vm {
 public:
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
  static constexpr std::uint64_t kReads = 20'000;  // races, not growth, are what a sanitizer checks
#else
  static constexpr std::uint64_t kReads = 60'000;
#endif
  TxnOutput execute(TxnIndex txn, StateReader& reader) const override {
    std::uint64_t acc = txn;
    for (std::uint64_t k = 0; k < kReads; ++k) {
      const std::optional<Value> v = reader.read(toy_key(k));
      if (reader.aborted()) return {{{toy_key(0), "void"}}, "void", ""};
      acc = acc * 31 + (v ? v->size() : 0);
    }
    return {{{toy_key(txn % 8), std::to_string(acc)}}, std::to_string(acc), ""};
  }
};

TEST(HostileVm, AVmThatAsksAbortedAfterEveryReadStaysLinear) {
  PollingVm vm;
  const MemoryState base;
  const std::size_t size = 24;
  const BlockResult seq = execute_sequential(vm, size, base);
  for (int threads : {2, 4}) {
    Watchdog dog(std::chrono::seconds(120), "polling VM, threads " + std::to_string(threads));
    ParallelExecutor executor = block_stm(threads);
    expect_same(seq, executor.execute(vm, size, base), "polling VM");
  }
}

// One transaction declaring (and writing) 400,000 keys, twice each: declarations and the record
// of its writes cost O(k log k), not O(k^2) (issue 25, item 8: declaring 100,000 took 7.5-13.8 s).
class WideVm final : public Vm {
 public:
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
  static constexpr std::uint64_t kKeys = 100'000;
#else
  static constexpr std::uint64_t kKeys = 400'000;
#endif
  TxnOutput execute(TxnIndex txn, StateReader& reader) const override {
    TxnOutput out;
    if (txn == 0) {
      for (std::uint64_t k = 0; k < kKeys; ++k) out.writes.push_back({toy_key(k), "w"});
    } else {
      out.writes.push_back({toy_key(kKeys + txn), reader.read(toy_key(txn)).value_or("none")});
    }
    return out;
  }
  void declare_writes(TxnIndex txn, DeclaredWrites& out) const override {
    if (txn != 0) return;
    for (int twice = 0; twice < 2; ++twice) {
      for (std::uint64_t k = 0; k < kKeys; ++k) out.push_back(toy_key(k));
    }
  }
};

TEST(HostileVm, ATransactionDeclaringFourHundredThousandKeysIsNotQuadratic) {
  WideVm vm;
  const MemoryState base;
  const std::size_t size = 16;
  const BlockResult seq = execute_sequential(vm, size, base);
  Watchdog dog(std::chrono::seconds(60), "400,000 declared keys");
  ParallelExecutor executor({.threads = 2, .min_parallel_txns = 2, .fallback_speedup = 0,
                             .declarations = ParallelOptions::Declarations::kAll});
  expect_same(seq, executor.execute(vm, size, base), "400,000 declared keys");
}

}  // namespace
}  // namespace pel::testing
