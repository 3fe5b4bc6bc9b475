// The workers every parallel executor runs on (WorkerPool): each pool gets the threads it asked
// for, beside any other pool alive in the process.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include <oneapi/tbb/info.h>

#include "engine/parallel_executor.hpp"
#include "engine/sequential_executor.hpp"
#include "tests/engine/oracle.hpp"
#include "tests/engine/toy_vm.hpp"
#include "tests/support/watchdog.hpp"

namespace pel::testing {
namespace {

// Records the distinct threads that execute its transactions. The first transaction each thread
// runs waits (at most a few seconds) until `want` threads have arrived, so that a fast thread
// cannot finish the block before the others start.
class RendezvousVm final : public Vm {
 public:
  explicit RendezvousVm(std::size_t want) : want_(want) {}

  TxnOutput execute(TxnIndex txn, StateReader& reader) const override {
    {
      std::unique_lock lock(mutex_);
      if (threads_.insert(std::this_thread::get_id()).second) {
        arrived_.notify_all();
        arrived_.wait_for(lock, std::chrono::seconds(5), [this] { return threads_.size() >= want_; });
      }
    }
    std::optional<Value> v = reader.read(toy_key(txn));
    return {{{toy_key(txn), (v ? *v : "") + "!"}}, "ok", ""};
  }

  std::size_t threads_seen() const {
    std::lock_guard lock(mutex_);
    return threads_.size();
  }

 private:
  const std::size_t want_;
  mutable std::mutex mutex_;
  mutable std::condition_variable arrived_;
  mutable std::set<std::thread::id> threads_;
};

// oneTBB's max_allowed_parallelism is process-wide and the smallest live limit wins: a pool must
// not be held to the thread count of another one alive in the same process.
TEST(WorkerPool, EachExecutorGetsTheThreadsItAskedFor) {
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "under TSan the engine's workers are plain threads, not oneTBB's";
#endif
  // Both above the core count, so that each needs more threads than oneTBB starts by default
  // (3 and 8 on a 2-core machine).
  const int small_threads = tbb::info::default_concurrency() + 1;
  const int large_threads = small_threads + 5;
  const ParallelExecutor small({.threads = small_threads});
  ParallelExecutor large({.threads = large_threads, .fallback_speedup = 0});
  const MemoryState base;
  const std::size_t size = 2000;
  RendezvousVm vm(static_cast<std::size_t>(large_threads));
  Watchdog dog(std::chrono::seconds(60), "two executors");
  const BlockResult par = large.execute(vm, size, base);
  EXPECT_EQ(vm.threads_seen(), static_cast<std::size_t>(large_threads))
      << "beside an executor of " << small_threads;
  RendezvousVm reference(1);
  expect_same(execute_sequential(reference, size, base), par, "two executors");
  EXPECT_EQ(small.threads(), small_threads);
}

}  // namespace
}  // namespace pel::testing
