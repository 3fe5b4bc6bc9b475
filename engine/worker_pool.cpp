#include "engine/worker_pool.hpp"

#include <algorithm>
#include <cstddef>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/info.h>
#include <oneapi/tbb/task_group.h>

namespace pel {
namespace {

/// oneTBB's thread limit for every live pool together. max_allowed_parallelism is process-wide,
/// and with several global_control objects alive the smallest wins: a pool of 8 threads beside
/// one of 3 would run its blocks on 3. So one global_control, owned here, is set to the sum of
/// the threads the live pools asked for, when that exceeds what oneTBB allows by default. A
/// mutex, not atomics: it is taken only when a pool is created or destroyed, and the sum and the
/// control that follows from it change together.
class ThreadBudget {
 public:
  static ThreadBudget& instance() {
    // First built inside a pool's constructor, so destroyed after every static pool.
    static ThreadBudget budget;
    return budget;
  }

  void reserve(int threads) {
    std::lock_guard lock(mutex_);
    set_limit(requested_ + static_cast<std::size_t>(threads));
  }

  void release(int threads) noexcept {
    std::lock_guard lock(mutex_);
    try {
      set_limit(requested_ - static_cast<std::size_t>(threads));
    } catch (const std::bad_alloc&) {
      // No memory for the smaller control: keep the larger limit, which only permits threads.
      requested_ -= static_cast<std::size_t>(threads);
    }
  }

 private:
  // REQUIRES: mutex_ held. Strong guarantee: on a throw nothing changed.
  void set_limit(std::size_t requested) {
    const std::size_t limit = std::max(requested, static_cast<std::size_t>(tbb::info::default_concurrency()));
    if (limit != limit_) {
      std::unique_ptr<tbb::global_control> next;
      if (limit > static_cast<std::size_t>(tbb::info::default_concurrency())) {
        next = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism, limit);
      }
      control_ = std::move(next);  // the old limit ends here; both applied only for this instant
      limit_ = limit;
    }
    requested_ = requested;
  }

  std::mutex mutex_;
  std::size_t requested_ = 0;  // threads asked for by the live pools
  std::size_t limit_ = 0;
  std::unique_ptr<tbb::global_control> control_;  // null while the default limit suffices
};

}  // namespace

WorkerPool::WorkerPool(int threads)
    : threads_(std::max(threads, 1)), arena_(std::make_unique<tbb::task_arena>(threads_)) {
  ThreadBudget::instance().reserve(threads_);
}

WorkerPool::~WorkerPool() { ThreadBudget::instance().release(threads_); }

void WorkerPool::run(int workers, const std::function<void(int)>& work) {
  const int count = std::clamp(workers, 1, threads_);
#if defined(__SANITIZE_THREAD__)
  // Debian's libtbb is not built with ThreadSanitizer, so the hand-over of a task to a TBB worker
  // is invisible to it and reported as a race. Under TSan the same workers run on plain threads,
  // so what TSan checks is pel's own synchronisation: the scheduler and the multi-version memory.
  std::vector<std::thread> threads;
  for (int w = 1; w < count; ++w) threads.emplace_back([&work, w] { work(w); });
  work(0);
  for (std::thread& t : threads) t.join();
#else
  arena_->execute([&] {
    tbb::task_group group;
    for (int w = 0; w < count; ++w) {
      // Isolated: a worker waiting inside a VM's own oneTBB algorithm may take only that
      // algorithm's tasks. Were it to pick up another worker's loop, that loop would wait
      // forever for the transaction suspended beneath it on the same stack.
      group.run([&work, w] { tbb::this_task_arena::isolate([&work, w] { work(w); }); });
    }
    group.wait();
  });
#endif
}

}  // namespace pel
