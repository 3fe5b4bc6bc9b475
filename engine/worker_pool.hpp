// The workers every parallel executor runs on: one oneTBB arena, reused from block to block.
#pragma once

#include <functional>
#include <memory>

#include <oneapi/tbb/task_arena.h>

namespace pel {

/// One oneTBB task_arena of `threads` slots, so a block's workers never steal unrelated TBB work,
/// and a share of oneTBB's process-wide thread limit: the limit is raised to cover every live
/// pool together, so several pools each get the threads they asked for (more than the cores is
/// allowed: tests shuffle schedules that way).
/// Thread-safety: run() and in_arena() from one thread at a time per pool; pools may be created
/// and destroyed from any thread.
class WorkerPool {
 public:
  explicit WorkerPool(int threads);  // at least 1
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  int threads() const { return threads_; }

  /// Runs work(0) .. work(workers - 1) concurrently and returns when all did; `workers` is
  /// clamped to 1 .. threads(). Each runs isolated, so work that waits inside a oneTBB
  /// algorithm of its own (a VM's) takes only that algorithm's tasks, never another worker's.
  void run(int workers, const std::function<void(int)>& work);

  /// Runs `f` on the calling thread inside the arena, so that the oneTBB algorithms it starts
  /// (parallel_for, parallel_sort) use this pool's threads.
  template <typename F>
  void in_arena(F&& f) {
    arena_->execute(std::forward<F>(f));
  }

 private:
  int threads_;
  std::unique_ptr<tbb::task_arena> arena_;
};

}  // namespace pel
