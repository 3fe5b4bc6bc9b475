// The Block-STM parallel executor: optimistic execution on N workers against multi-version
// memory, read-set validation, re-execution on conflict; the result equals execute_sequential's.
#pragma once

#include <cstddef>
#include <memory>

#include <oneapi/tbb/task_arena.h>

#include "engine/block_result.hpp"
#include "state/base_state.hpp"


namespace pel {

struct ParallelOptions {
  int threads = 2;
  /// Blocks with fewer transactions than this (and than `threads`) run on the sequential path,
  /// where the multi-version machinery cannot pay for itself.
  std::size_t min_parallel_txns = 16;
  /// Run Block-STM even with one thread or a small block: measures the engine's own overhead.
  bool always_block_stm = false;
  /// Contention fallback: when conflicts (aborts plus executions parked on a dependency) exceed
  /// this many per execution (judged once 256 executions ran), the run is abandoned and the
  /// block executes sequentially. Bounded cost: in a fully serial block it fires within the
  /// first few hundred executions. 0 disables it (the tests do, to exercise Block-STM under
  /// any conflict).
  double fallback_conflict_ratio = 0.25;
};

/// Owns the workers: one oneTBB task_arena of `threads` slots, reused across blocks, so the
/// workers never steal unrelated TBB work; each worker's loop runs isolated, so a VM may use
/// oneTBB algorithms inside execute(). oneTBB's process-wide thread limit is raised to cover
/// every live executor together, so several executors each get the threads they asked for.
/// Thread-safety: execute() may be called from one thread at a time per executor; executors may
/// be created and destroyed from any thread.
class ParallelExecutor {
 public:
  explicit ParallelExecutor(ParallelOptions options);
  ~ParallelExecutor();
  ParallelExecutor(const ParallelExecutor&) = delete;
  ParallelExecutor& operator=(const ParallelExecutor&) = delete;

  BlockResult execute(const Vm& vm, std::size_t num_txns, const BaseState& base);
  int threads() const { return options_.threads; }

 private:
  ParallelOptions options_;
  std::unique_ptr<tbb::task_arena> arena_;
};

}  // namespace pel
