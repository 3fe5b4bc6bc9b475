// The parallel executor: the one entry point that picks, per block, Block-STM or the plain loop
// (AdaptivePolicy), and runs blocks from access lists (ListedExecutor), on one worker pool.
#pragma once

#include <cstddef>
#include <cstdint>

#include "engine/access_list.hpp"
#include "engine/adaptive_policy.hpp"
#include "engine/block_result.hpp"
#include "engine/block_stm_executor.hpp"
#include "engine/listed_executor.hpp"
#include "engine/sequential_executor.hpp"
#include "engine/worker_pool.hpp"
#include "state/base_state.hpp"

namespace pel {

struct ParallelOptions {
  int threads = 2;
  /// Blocks with fewer transactions than this (and than `threads`) run on the plain loop, where
  /// the multi-version machinery cannot pay for itself.
  std::size_t min_parallel_txns = 16;
  /// Run Block-STM even with one thread or a small block: measures the engine's own overhead.
  bool always_block_stm = false;
  /// The contention fallback (AdaptivePolicy): Block-STM must advance a block at this multiple
  /// of the plain loop's rate, measured on the block's first transactions, or the loop runs the
  /// rest of it and the next blocks. 0 disables it (the tests do, to exercise Block-STM under
  /// any conflict); a huge value makes it fire at the first judgement. Never with one worker.
  double fallback_speedup = 1.0;
  using Declarations = DeclarationMode;
  /// Off by default: exact declarations take aborts to zero on hot spots, but did not make them
  /// faster than the plain loop where measured (bench/README.md); `pel bench --declarations`
  /// measures them on your machine.
  Declarations declarations = Declarations::kOff;
};

/// Executes blocks on `threads` workers, the result equal to execute_sequential's. It learns
/// from block to block (the fallback's yardstick and losses, the hot keys to declare), so one
/// executor should run one chain's blocks in order.
/// Thread-safety: execute() and execute_listed() from one thread at a time per executor;
/// executors may be created and destroyed from any thread, and each gets the threads it asked
/// for (WorkerPool). A VM may use oneTBB algorithms inside execute().
class ParallelExecutor {
 public:
  explicit ParallelExecutor(ParallelOptions options);

  /// The block's result; stats.path says which executor ran it. `declarations`, when given, are
  /// the block's (BlockDeclarations::of(vm, num_txns) or the VM's own equivalent), so that
  /// Block-STM does not ask the VM again. Throws std::bad_alloc when this node runs out of
  /// memory (never for a transaction's fault: that is a failed output).
  BlockResult execute(const Vm& vm, std::size_t num_txns, const BaseState& base,
                      const BlockDeclarations* declarations = nullptr);

  /// ListedExecutor::execute on this executor's workers.
  Result<BlockResult> execute_listed(const Vm& vm, std::size_t num_txns, const BaseState& base,
                                     const AccessList& list);

  int threads() const { return pool_.threads(); }

 private:
  /// The plain loop runs the whole block on `path`'s behalf, its prefix timed for the policy.
  BlockResult run_on_loop(const Vm& vm, std::size_t num_txns, const BaseState& base, ExecutionPath path);
  /// Block-STM after the loop's timed prefix, judged by the policy.
  BlockResult run_judged(const Vm& vm, std::size_t num_txns, const BaseState& base,
                         const BlockDeclarations* declarations);
  /// The loop finishes `loop`'s block; the policy learns from it.
  BlockResult finish_on_loop(SequentialRun& loop, double prefix_ns_per_txn, ExecutionPath path);

  ParallelOptions options_;
  WorkerPool pool_;
  AdaptivePolicy policy_;
  BlockStmExecutor block_stm_;
  ListedExecutor listed_;
};

}  // namespace pel
