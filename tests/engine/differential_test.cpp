// Parallel == sequential on thousands of random toy blocks, across thread counts and contention
// levels. A failure names its seed so it can be replayed.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <sstream>
#include <thread>

#include "engine/parallel_executor.hpp"
#include "engine/sequential_executor.hpp"
#include "tests/engine/oracle.hpp"
#include "tests/engine/toy_vm.hpp"
#include "tests/support/watchdog.hpp"

namespace pel::testing {
namespace {

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr int kSeedsPerCase = 12;  // sanitizer builds: a few hundred blocks in all
#else
constexpr int kSeedsPerCase = 100;  // normal build: 5 x 5 x 100 = 2,500 blocks
#endif

MemoryState make_base(std::uint64_t keys, std::uint64_t seed) {
  MemoryState base;
  std::uint64_t prefilled = std::min<std::uint64_t>(keys, 512);
  for (std::uint64_t k = 0; k < prefilled; k += 2) base.put(toy_key(k), "base" + std::to_string(seed % 7 + k));
  return base;
}

struct DiffCase {
  int threads;
  std::uint64_t keys;
};

class DifferentialTest : public ::testing::TestWithParam<DiffCase> {};

TEST_P(DifferentialTest, EveryExecutorEqualsSequential) {
  const DiffCase c = GetParam();
  ExecutorOracle oracle(c.threads);
  // Which path a block takes: at least as many transactions as workers take the parallel one.
  ParallelExecutor paths({.threads = c.threads, .min_parallel_txns = 2, .fallback_speedup = 0});
  for (int s = 0; s < kSeedsPerCase; ++s) {
    const std::uint64_t seed = c.keys * 1000003 + static_cast<std::uint64_t>(c.threads) * 7919 + s;
    std::mt19937_64 rng(seed);
    ToyWorkload w;
    w.keys = c.keys;
    w.hot_fraction = (s % 3 == 0) ? 0.3 : 0.0;
    w.throw_chance = (s % 5 == 0) ? 0.05 : 0.0;
    w.add_chance = (s % 2 == 1) ? 0.4 : 0.0;  // deltas on half the blocks
    const std::size_t size = std::uniform_int_distribution<std::size_t>(0, 300)(rng);
    ToyVm vm(make_toy_block(seed, size, w));
    MemoryState base = make_base(c.keys, seed);
    std::ostringstream what;
    what << "seed=" << seed << " keys=" << c.keys << " size=" << size;
    oracle.check(vm, size, base, what.str());
    if (HasFatalFailure()) return;
    Watchdog dog(std::chrono::seconds(60), what.str());
    const BlockResult par = paths.execute(vm, size, base);
    const bool sequential = c.threads == 1 || size < static_cast<std::size_t>(std::max(2, c.threads));
    EXPECT_EQ(par.stats.path, sequential ? ExecutionPath::kSequential : ExecutionPath::kBlockStm) << what.str();
    if (!sequential) {
      EXPECT_GE(par.stats.executions, size) << what.str();
    }
  }
}

std::vector<DiffCase> all_cases() {
  std::vector<DiffCase> out;
  for (int t : {1, 2, 3, 4, 8}) {
    for (std::uint64_t keys : {2ull, 10ull, 100ull, 1000ull, 100000ull}) out.push_back({t, keys});
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Grid, DifferentialTest, ::testing::ValuesIn(all_cases()),
                         [](const auto& param_info) {
                           return "threads" + std::to_string(param_info.param.threads) + "_keys" +
                                  std::to_string(param_info.param.keys);
                         });

// Bigger blocks exercise long dependency chains and the hot-key path.
TEST(DifferentialLarge, HotKeyBlocksOfThousands) {
  ParallelExecutor executor({.threads = 4, .min_parallel_txns = 2, .fallback_speedup = 0});
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    ToyWorkload w;
    w.keys = 50;
    w.hot_fraction = 0.5;
    w.add_chance = seed == 3 ? 0.4 : 0.0;  // a hot counter that most transactions add to
    ToyVm vm(make_toy_block(seed, 3000, w));
    MemoryState base = make_base(w.keys, seed);
    Watchdog dog(std::chrono::seconds(120), "large seed=" + std::to_string(seed));
    BlockResult seq = execute_sequential(vm, 3000, base);
    BlockResult par = executor.execute(vm, 3000, base);
    expect_same(seq, par, "large seed=" + std::to_string(seed));
    EXPECT_GE(par.stats.executions, 3000u);
  }
}

// The scheduler validates in order while conflicts are few and as the paper does once they are
// many, judged as the block goes (Scheduler::next_task). Blocks whose contention changes part
// way switch between the two mid-block: cold then hot; hot then cold; a short hot burst early,
// whose conflicts the long cold rest outgrows (back to in order); alternating.
TEST(DifferentialLarge, ContentionThatChangesWithinTheBlock) {
  ToyWorkload cold;
  cold.keys = 100000;
  ToyWorkload hot;
  hot.keys = 4;
  hot.hot_fraction = 0.5;
  hot.add_chance = 0.3;
  struct Segment {
    bool hot;
    std::size_t txns;
  };
  const std::vector<std::vector<Segment>> patterns = {
      {{false, 900}, {true, 900}},
      {{true, 900}, {false, 900}},
      {{false, 100}, {true, 40}, {false, 3000}},
      {{false, 300}, {true, 300}, {false, 300}, {true, 300}, {false, 300}}};
  for (int threads : {2, 3, 4, 8}) {
    ParallelExecutor executor({.threads = threads, .min_parallel_txns = 2, .fallback_speedup = 0});
    for (std::size_t p = 0; p < patterns.size(); ++p) {
      const std::uint64_t seed = 5'000 + static_cast<std::uint64_t>(threads) * 10 + p;
      std::vector<ToyTxn> txns;
      for (std::size_t i = 0; i < patterns[p].size(); ++i) {
        const Segment& segment = patterns[p][i];
        std::vector<ToyTxn> part = make_toy_block(seed * 100 + i, segment.txns, segment.hot ? hot : cold);
        txns.insert(txns.end(), part.begin(), part.end());
      }
      ToyVm vm(txns);
      MemoryState base = make_base(cold.keys, seed);
      const std::string what = "threads=" + std::to_string(threads) + " pattern=" + std::to_string(p);
      Watchdog dog(std::chrono::seconds(120), what);
      expect_same(execute_sequential(vm, txns.size(), base), executor.execute(vm, txns.size(), base), what);
      if (HasFatalFailure()) return;
    }
  }
}

// The toy VM, with each execution delayed by a pseudo-random spin or yield: the same results,
// other timings, so that workers finish, validate and claim in orders the undelayed runs rarely
// reach (a worker held up between two steps of the scheduler's protocol, on a busy core).
class JitteredVm final : public Vm {
 public:
  explicit JitteredVm(const ToyVm& inner) : inner_(inner) {}
  TxnOutput execute(TxnIndex txn, StateReader& reader) const override {
    // relaxed: a source of timing noise, nothing more.
    const std::uint64_t n = calls_.fetch_add(1, std::memory_order_relaxed) * 0x9E3779B97F4A7C15ull + txn;
    const std::uint64_t mix = n ^ (n >> 29);
    if (mix % 7 == 0) {
      std::this_thread::yield();
    } else {
      for (std::uint64_t spin = mix % 2000; spin > 0; --spin) compiler_barrier();
    }
    return inner_.execute(txn, reader);
  }
  Value apply_delta(const StateKey& key, const std::optional<Value>& base, DeltaSum total) const override {
    return inner_.apply_delta(key, base, total);
  }

 private:
  static void compiler_barrier() { asm volatile("" ::: "memory"); }
  const ToyVm& inner_;
  mutable std::atomic<std::uint64_t> calls_{0};
};

TEST(DifferentialLarge, JitteredExecutionsAgreeWithSequential) {
  for (int threads : {2, 3, 8}) {
    ParallelExecutor executor({.threads = threads, .min_parallel_txns = 2, .fallback_speedup = 0});
    for (std::uint64_t s = 0; s < kSeedsPerCase / 4; ++s) {
      const std::uint64_t seed = 9'000 + static_cast<std::uint64_t>(threads) * 100 + s;
      ToyWorkload w;
      w.keys = s % 3 == 0 ? 8 : (s % 3 == 1 ? 200 : 100000);
      w.hot_fraction = s % 2 == 0 ? 0.3 : 0.0;
      w.add_chance = s % 4 == 1 ? 0.4 : 0.0;
      const std::size_t size = 400;
      ToyVm toy(make_toy_block(seed, size, w));
      JitteredVm vm(toy);
      MemoryState base = make_base(w.keys, seed);
      const std::string what = "jittered seed=" + std::to_string(seed) + " threads=" + std::to_string(threads);
      Watchdog dog(std::chrono::seconds(60), what);
      expect_same(execute_sequential(toy, size, base), executor.execute(vm, size, base), what);
      if (HasFatalFailure()) return;
    }
  }
}

}  // namespace
}  // namespace pel::testing
