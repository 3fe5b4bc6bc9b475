// The contention fallback's policy: which blocks Block-STM runs and which the plain loop runs,
// judged against the loop measured where it runs. Pure: no threads, no clocks; the executor
// hands it what it measured.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pel {

/// What a Block-STM run needs to judge itself inside a block (see AdaptivePolicy).
struct FallbackJudge {
  double loop_ns_per_txn = 0;  // what the plain loop would take per transaction on this block
  double speedup = 0;          // ParallelOptions::fallback_speedup; 0: never stop

  /// Whether a run that has made `executions`, `wasted` of them discarded or aborted, on a block
  /// of `block_size` transactions, in `elapsed_ns` of wall time, advances so much more slowly
  /// than the plain loop would (a hot spot, a serial chain) that it should stop and leave the
  /// rest to the loop. Judges only after a sixteenth of the block and 256 executions: the start
  /// of a block with a handful of hot keys wastes more than the block as a whole does, and the
  /// workers are still starting. Inside a block only a clear loss (under 0.8 x `speedup` of the
  /// loop's rate) stops the run; close calls are judged on the whole block.
  bool should_stop(std::uint64_t executions, std::uint64_t wasted, std::size_t block_size,
                   std::uint64_t elapsed_ns) const;
};

/// Whether a run that took `elapsed_ns` for `standing_executions` executions still standing
/// advanced more slowly than `speedup` times a plain loop that spends `loop_ns_per_txn` on each
/// transaction would have.
bool slower_than_plain_loop(std::uint64_t elapsed_ns, std::uint64_t standing_executions, double loop_ns_per_txn,
                            double speedup);

/// The state learned from block to block by an executor with the contention fallback on
/// (ParallelOptions::fallback_speedup > 0, more than one worker):
/// - the plain loop's cost per transaction is measured on each block's first 1/32 (at most
///   1,024 transactions, run by the loop, their outputs kept); times the ratio of what the whole
///   loop took per transaction to its prefix on the last blocks it ran (learned), it is the
///   loop's cost on this block: the yardstick;
/// - a block Block-STM loses (stopped inside the block, judged whole under 0.95 x the speedup,
///   or declared too serial) sends the next block to the loop; further losses in a row the next
///   2, 4, then 8: hot spots stay hot from block to block;
/// - the loop probes a block, to learn its cost, on the second block and whenever it has not
///   run one for 32 blocks: a yardstick that is off would otherwise never be corrected.
/// One policy follows one chain's blocks in order. Not thread-safe: one executor owns it.
class AdaptivePolicy {
 public:
  /// `speedup` <= 0 disables the policy: every block goes to Block-STM, never judged.
  explicit AdaptivePolicy(double speedup) : speedup_(speedup) {}

  enum class Plan : std::uint8_t {
    kBlockStm,       // Block-STM, after the loop's timed prefix
    kLoopAfterLoss,  // the plain loop: Block-STM lost the last blocks
    kLoopProbe,      // the plain loop, to learn its cost
  };

  bool enabled() const { return speedup_ > 0; }

  /// The next block's plan. Call once per block that reaches the choice (enabled, a block big
  /// enough for the workers), then report how it went with the calls below.
  Plan plan_block();

  /// How many of a block's first transactions the loop runs to time itself.
  static std::size_t prefix_length(std::size_t num_txns);

  /// The judge for a Block-STM run whose block's prefix took the loop `prefix_ns_per_txn` each.
  FallbackJudge judge(double prefix_ns_per_txn) const;

  /// The longest chain of declared dependencies a block may have before it runs on the loop at
  /// once: below a parallelism of 6 (transactions per chain step), Block-STM pays a wait and a
  /// hand-over per transaction and loses (measured: dao's four hot proposals ran at 0.8-0.9x on
  /// 2 threads). 0 when disabled: no limit.
  std::size_t max_declared_chain(std::size_t num_txns) const;

  /// The loop ran a whole block (a probe, a block after a loss, a declared serial chain) in
  /// `total_ns`, its prefix at `prefix_ns_per_txn` each: learns the whole-to-prefix ratio.
  void loop_ran_block(double prefix_ns_per_txn, std::uint64_t total_ns, std::uint64_t txns);

  /// Block-STM lost the block (stopped inside it, or declared too serial).
  void block_lost();

  /// Block-STM ran a block of `num_txns` whole in `elapsed_ns` (its loop prefix included);
  /// judges it against what the loop would have taken and returns whether it counts as lost.
  bool block_stm_finished(std::uint64_t elapsed_ns, std::size_t num_txns, double prefix_ns_per_txn);

  /// The learned ratio of the whole loop's cost per transaction to its prefix's (tests).
  double loop_cost_ratio() const { return loop_cost_ratio_; }

 private:
  static constexpr std::size_t kLoopPrefixShare = 32;
  static constexpr std::size_t kMaxLoopPrefix = 1024;
  static constexpr std::size_t kMinDeclaredParallelism = 6;
  /// The whole loop over its prefix is not 1: the prefix meets an empty overlay and leaves out
  /// the end of the block (20-30% of the loop's time). Before anything is learned, the default.
  static constexpr double kDefaultLoopCostRatio = 1.0;
  static constexpr double kMinLoopCostRatio = 0.25;
  static constexpr double kMaxLoopCostRatio = 4;
  static constexpr std::uint32_t kProbeEvery = 32;
  /// A whole block counts as lost under this share of the speedup: the yardstick comes from a
  /// prefix of a few hundred transactions timed on a noisy machine, and each false loss sends
  /// the next block to the loop.
  static constexpr double kCloseLoss = 0.95;
  static constexpr std::uint32_t kMaxLoopBlocksAhead = 8;

  double speedup_;
  double loop_cost_ratio_ = kDefaultLoopCostRatio;
  std::uint64_t loop_runs_ = 0;  // whole blocks the loop ran, learning the ratio
  std::uint32_t blocks_since_loop_run_ = 0;
  std::uint32_t loop_blocks_ahead_ = 0;  // blocks the loop runs before Block-STM is tried again
  std::uint32_t losses_in_a_row_ = 0;
};

}  // namespace pel
