#include "engine/adaptive_policy.hpp"

#include <algorithm>

namespace pel {
namespace {

constexpr std::uint64_t kMinExecutionsBeforeStop = 256;
constexpr std::size_t kJudgedAfterShare = 16;
constexpr double kClearLoss = 0.8;

}  // namespace

bool slower_than_plain_loop(std::uint64_t elapsed_ns, std::uint64_t standing_executions, double loop_ns_per_txn,
                            double speedup) {
  return static_cast<double>(elapsed_ns) * speedup > static_cast<double>(standing_executions) * loop_ns_per_txn;
}

bool FallbackJudge::should_stop(std::uint64_t executions, std::uint64_t wasted, std::size_t block_size,
                                std::uint64_t elapsed_ns) const {
  if (speedup <= 0) return false;
  if (executions < std::max<std::uint64_t>(kMinExecutionsBeforeStop, block_size / kJudgedAfterShare)) return false;
  const std::uint64_t standing = executions - std::min(wasted, executions);
  return slower_than_plain_loop(elapsed_ns, standing, loop_ns_per_txn, speedup * kClearLoss);
}

AdaptivePolicy::Plan AdaptivePolicy::plan_block() {
  if (!enabled()) return Plan::kBlockStm;
  if (loop_blocks_ahead_ > 0) {
    --loop_blocks_ahead_;
    return Plan::kLoopAfterLoss;
  }
  // Probe on the second block if the loop never ran (the first had Block-STM), then every
  // kProbeEvery blocks without a loop run.
  if (loop_runs_ == 0 ? blocks_since_loop_run_ == 1 : blocks_since_loop_run_ >= kProbeEvery) {
    return Plan::kLoopProbe;
  }
  ++blocks_since_loop_run_;
  return Plan::kBlockStm;
}

std::size_t AdaptivePolicy::prefix_length(std::size_t num_txns) {
  return std::min(num_txns, std::clamp<std::size_t>(num_txns / kLoopPrefixShare, 1, kMaxLoopPrefix));
}

FallbackJudge AdaptivePolicy::judge(double prefix_ns_per_txn) const {
  if (!enabled()) return {};
  return {.loop_ns_per_txn = prefix_ns_per_txn * loop_cost_ratio_, .speedup = speedup_};
}

std::size_t AdaptivePolicy::max_declared_chain(std::size_t num_txns) const {
  if (!enabled()) return 0;
  return std::max<std::size_t>(1, num_txns / kMinDeclaredParallelism);
}

void AdaptivePolicy::loop_ran_block(double prefix_ns_per_txn, std::uint64_t total_ns, std::uint64_t txns) {
  blocks_since_loop_run_ = 0;
  if (prefix_ns_per_txn <= 0 || txns == 0) return;
  const double measured = static_cast<double>(total_ns) / static_cast<double>(txns) / prefix_ns_per_txn;
  // The first measurement replaces the default; later ones are averaged with what was learned,
  // half and half: one preempted prefix moves the yardstick, but not far.
  const double learned = loop_runs_ == 0 ? measured : (loop_cost_ratio_ + measured) / 2;
  loop_cost_ratio_ = std::clamp(learned, kMinLoopCostRatio, kMaxLoopCostRatio);
  ++loop_runs_;
}

void AdaptivePolicy::block_lost() {
  // After each loss in a row the loop takes twice as many blocks, up to kMaxLoopBlocksAhead:
  // where Block-STM would win again, a block lost by noise costs one block on the loop; where
  // it keeps losing, a ninth of the blocks pay for the try.
  loop_blocks_ahead_ = std::min(kMaxLoopBlocksAhead, 1u << std::min(losses_in_a_row_, 16u));
  ++losses_in_a_row_;
}

bool AdaptivePolicy::block_stm_finished(std::uint64_t elapsed_ns, std::size_t num_txns, double prefix_ns_per_txn) {
  // Judged whole against the loop's whole-block cost: close calls the judgement inside the block
  // leaves alone come out right. Not before the ratio was learned once.
  const bool lost = enabled() && loop_runs_ > 0 && num_txns > 0 &&
                    slower_than_plain_loop(elapsed_ns, num_txns, prefix_ns_per_txn * loop_cost_ratio_,
                                           speedup_ * kCloseLoss);
  if (lost) {
    block_lost();
  } else {
    losses_in_a_row_ = 0;
  }
  return lost;
}

}  // namespace pel
