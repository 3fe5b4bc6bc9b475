// The Block-STM parallel executor: optimistic execution on N workers against multi-version
// memory, read-set validation, re-execution on conflict; the result equals execute_sequential's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include <oneapi/tbb/task_arena.h>

#include "engine/access_list.hpp"
#include "engine/block_result.hpp"
#include "engine/sequential_executor.hpp"
#include "state/base_state.hpp"


namespace pel {

struct ParallelOptions {
  int threads = 2;
  /// Blocks with fewer transactions than this (and than `threads`) run on the sequential path,
  /// where the multi-version machinery cannot pay for itself.
  std::size_t min_parallel_txns = 16;
  /// Run Block-STM even with one thread or a small block: measures the engine's own overhead.
  bool always_block_stm = false;
  /// Contention fallback, judged against the plain loop, measured where it runs (not inferred
  /// from executions inside Block-STM, which run with every core busy and overrated the loop up
  /// to 2x). With it on and more than one worker:
  /// - The plain loop first runs the block's first 1/32 alone (at most 1,024 transactions; their
  ///   outputs are kept and Block-STM starts after them). Their time per transaction, times what
  ///   the whole loop took per transaction over its prefix on the last blocks it ran here
  ///   (learned), is the loop's cost per transaction on this block.
  /// - Inside the block, once 256 executions and a sixteenth of the block ran, every 64
  ///   executions of a worker, the executions still standing (neither discarded nor aborted),
  ///   each at that cost, are compared with the wall time Block-STM has taken. Advancing the
  ///   block at under 0.8 x `fallback_speedup` of the loop's rate (a clear loss: a hot spot, a
  ///   serial chain), the run stops and the loop finishes the block from the prefix the run had
  ///   made final. A fully serial block trips it at the first judgement.
  /// - A block Block-STM ran to the end is judged whole: under 0.95 x `fallback_speedup` of the
  ///   loop's rate, it counts as lost too.
  /// - After a lost block the next one runs on the loop outright (after further losses in a
  ///   row the next 2, 4, then 8): hot spots stay hot from block to block.
  /// - A probe runs a block on the loop, to learn its cost, on the executor's second block and
  ///   whenever the loop has not run here for 32 blocks.
  /// A block whose declared writes leave too little parallelism (kMinDeclaredParallelism) runs
  /// sequentially at once, and counts as lost (the declaration pass that judged it is not paid
  /// again for the next blocks). 0 disables all of it (the tests do, to exercise Block-STM under any
  /// conflict); a huge value makes the fallback fire at the first judgement. Never with one
  /// worker (it could only lose). Small blocks on many workers may end before a worker's 64th
  /// execution.
  double fallback_speedup = 1.0;
  /// Which of the VM's declared writes (Vm::declare_writes) become ESTIMATE markers before a
  /// block runs, so that readers wait for the writer instead of running early and aborting.
  enum class Declarations : std::uint8_t {
    kOff,      // ignore them: plain Block-STM
    kHotKeys,  // only keys that caused conflicts in the previous block (learned, see below)
    kAll,      // every declared key
  };
  /// Off by default: on the 2-core machine these were measured on, exact declarations took
  /// aborts to zero on the hot-spot workloads but did not make them faster than the plain loop
  /// (bench/README.md); `pel bench --declarations` measures them on yours.
  Declarations declarations = Declarations::kOff;
};

/// Owns the workers: one oneTBB task_arena of `threads` slots, reused across blocks, so the
/// workers never steal unrelated TBB work. It remembers, from block to block: the keys that
/// caused conflicts in its last parallel block (hot spots such as a pool or a mint counter stay
/// hot) and, with Declarations::kHotKeys, uses the VM's declared writes to those keys only
/// (declaring costs a pass over the block, paid only where it may prevent aborts); what the
/// plain loop costs over the prefix it times, and whether Block-STM lost the last blocks
/// (ParallelOptions::fallback_speedup). So one executor should run one chain's blocks in order.
/// Each worker's loop runs isolated, so a VM may use oneTBB algorithms inside execute(). oneTBB's process-wide thread limit is raised to cover
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

  /// Executes a block whose accesses are known (an access list recorded where it was made, see
  /// access_list.hpp): each transaction runs once, after the transactions whose writes it reads
  /// and those that added to those keys since (adds themselves wait for nothing), and reads
  /// their outputs directly; no speculation, no validation. A worker that finishes a
  /// transaction goes on with a dependent it made ready, so a chain of dependent transactions
  /// stays on one core. Execution proves the list: when a transaction (or finish_block) reads or
  /// writes another set of keys than its entry names, the result is an error naming the lowest
  /// such transaction and the key; a list that is right gives exactly execute_sequential's
  /// result. `list.keys` must name each key once, as decode_access_list and AccessRecorder make
  /// it (a key under two ids would hide a dependency); everything else about the list is
  /// checked, and a malformed one is an error. Throws what execute() throws (std::bad_alloc).
  Result<BlockResult> execute_listed(const Vm& vm, std::size_t num_txns, const BaseState& base,
                                     const AccessList& list);

  int threads() const { return options_.threads; }

 private:
  /// Runs work(0) .. work(worker_count-1) concurrently, one per worker, and returns when all
  /// did. worker_count <= threads().
  void run_workers(int worker_count, const std::function<void(int)>& work);
  /// Runs the first 1/kLoopPrefixShare of the block on `loop` and returns the time per
  /// transaction it took.
  static double run_loop_prefix(SequentialRun& loop, std::size_t num_txns);
  /// Runs the rest of the block on `loop`, whose prefix took `prefix_ns_per_txn` each, learns
  /// from the whole run (learn_loop_cost) and returns its result with this executor's threads.
  BlockResult finish_on_loop(SequentialRun& loop, double prefix_ns_per_txn);
  /// After the plain loop ran a whole block, as `whole` says, whose prefix took it
  /// `prefix_ns_per_txn` each: updates loop_cost_ratio_.
  void learn_loop_cost(double prefix_ns_per_txn, const ExecutionStats& whole);
  /// Block-STM lost a block to the plain loop (fell back, or was slower over the whole block):
  /// the next blocks run on the loop (loop_blocks_ahead_).
  void note_block_lost();
  void learn_hot_keys(const std::vector<KeyConflicts>& conflicted, std::vector<StateKey> contended_declared);

  /// Conflicts (aborts plus waits) in one block that make a key hot for the next.
  static constexpr std::uint64_t kHotKeyConflicts = 3;
  /// Below this much parallelism (transactions / longest declared chain) a block runs on the
  /// plain loop at once. Measured: dao's four hot proposals (parallelism ~4) ran at 0.8-0.9x on
  /// 2 threads under exact declarations, Block-STM on chains paying a wait and a hand-over per
  /// transaction.
  static constexpr double kMinDeclaredParallelism = 6;
  /// With the fallback on, the plain loop runs the first 1/kLoopPrefixShare of a block (at
  /// least one transaction, at most kMaxLoopPrefix) to measure its cost per transaction. While
  /// it runs the other workers idle: where Block-STM wins by s, the block loses about
  /// (1 - 1/s) / kLoopPrefixShare of its time, under 1.5% at 2x.
  static constexpr std::size_t kLoopPrefixShare = 32;
  static constexpr std::size_t kMaxLoopPrefix = 1024;
  /// What the plain loop takes per transaction over the whole block, the collection of its
  /// writes at the end included, over what it took on the block's prefix. Not 1: the prefix
  /// meets an empty overlay (at 100 accounts it reads the base state where the rest reads the
  /// overlay) and leaves out the end (20-30% of the loop's time). Measured on the 2-core
  /// machine: 0.8-1.0 at 100 accounts, 1.0-1.6 at 10,000. Learned from every block the loop
  /// ran whole on this executor (a probe, a block after a loss, a declared serial chain; not
  /// the rest of a block after a fallback, which rebuilds the kept part's state and collects
  /// the whole block's writes for a part of its transactions); before any, the default.
  static constexpr double kDefaultLoopCostRatio = 1.0;
  static constexpr double kMinLoopCostRatio = 0.25;
  static constexpr double kMaxLoopCostRatio = 4;
  /// With the fallback on, a block runs on the plain loop, to learn the ratio, when the loop has
  /// not run a block on this executor for this many blocks (and on the second block it sees, if
  /// the loop never ran): a workload whose yardstick is off would otherwise never be corrected.
  /// Where Block-STM wins by s, that costs (1 - 1/s) / kProbeEvery of the time.
  static constexpr std::uint32_t kProbeEvery = 32;
  /// A block Block-STM ran whole counts as lost under this share of `fallback_speedup`: the
  /// yardstick comes from a prefix of a few hundred transactions timed on a noisy machine, and
  /// each false loss sends the next block to the loop.
  static constexpr double kCloseLoss = 0.95;
  double loop_cost_ratio_ = kDefaultLoopCostRatio;
  std::uint64_t loop_runs_ = 0;  // blocks the loop ran or finished, learning the ratio
  std::uint32_t blocks_since_loop_run_ = 0;
  ParallelOptions options_;
  std::unique_ptr<tbb::task_arena> arena_;
  std::vector<StateKey> hot_keys_;  // sorted: the last parallel block's conflicted keys
  /// After a contention fallback: blocks the plain loop runs before Block-STM is tried again
  /// (1, 2, 4, then kMaxLoopBlocksAhead after each further fallback in a row). Where Block-STM
  /// would win again, a block that fell back by noise costs one block on the loop; where it
  /// keeps losing, a ninth of the blocks pay for the try.
  static constexpr std::uint32_t kMaxLoopBlocksAhead = 8;
  std::uint32_t loop_blocks_ahead_ = 0;
  std::uint32_t fallbacks_in_a_row_ = 0;
};

}  // namespace pel
