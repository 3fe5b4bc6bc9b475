#include "engine/parallel_executor.hpp"

#include <algorithm>
#include <chrono>
#include <utility>

#include "engine/executor_common.hpp"

namespace pel {
namespace {

// Runs the block's first transactions on `loop` (AdaptivePolicy::prefix_length) and returns the
// time per transaction they took.
double time_loop_prefix(SequentialRun& loop, std::size_t num_txns) {
  const std::size_t prefix = AdaptivePolicy::prefix_length(num_txns);
  const auto start = std::chrono::steady_clock::now();
  loop.run_until(prefix);
  return static_cast<double>(elapsed_ns(start)) / static_cast<double>(std::max<std::size_t>(prefix, 1));
}

}  // namespace

ParallelExecutor::ParallelExecutor(ParallelOptions options)
    : options_(options),
      pool_(options.threads),
      // Judging needs a second worker: one worker can only be slower than the loop.
      policy_(pool_.threads() > 1 ? options.fallback_speedup : 0),
      block_stm_(pool_, options.declarations),
      listed_(pool_) {}

BlockResult ParallelExecutor::execute(const Vm& vm, std::size_t num_txns, const BaseState& base,
                                      const BlockDeclarations* declarations) {
  const int threads = pool_.threads();
  if (!options_.always_block_stm && (threads == 1 || num_txns < options_.min_parallel_txns ||
                                     num_txns < static_cast<std::size_t>(threads))) {
    BlockResult result = execute_sequential(vm, num_txns, base);
    result.stats.threads = threads;
    return result;
  }
  if (!policy_.enabled()) {
    BlockStmExecutor::Start start;
    start.declarations = declarations;
    return block_stm_.execute(vm, num_txns, base, start).result;
  }
  switch (policy_.plan_block()) {
    case AdaptivePolicy::Plan::kLoopAfterLoss:
      return run_on_loop(vm, num_txns, base, ExecutionPath::kLoopAfterLoss);
    case AdaptivePolicy::Plan::kLoopProbe:
      return run_on_loop(vm, num_txns, base, ExecutionPath::kLoopProbe);
    case AdaptivePolicy::Plan::kBlockStm:
      break;
  }
  return run_judged(vm, num_txns, base, declarations);
}

Result<BlockResult> ParallelExecutor::execute_listed(const Vm& vm, std::size_t num_txns, const BaseState& base,
                                                     const AccessList& list) {
  return listed_.execute(vm, num_txns, base, list);
}

BlockResult ParallelExecutor::run_on_loop(const Vm& vm, std::size_t num_txns, const BaseState& base,
                                          ExecutionPath path) {
  SequentialRun loop(vm, num_txns, base);
  const double prefix_ns_per_txn = time_loop_prefix(loop, num_txns);
  return finish_on_loop(loop, prefix_ns_per_txn, path);
}

BlockResult ParallelExecutor::run_judged(const Vm& vm, std::size_t num_txns, const BaseState& base,
                                         const BlockDeclarations* declarations) {
  const auto start = std::chrono::steady_clock::now();
  // The fallback's yardstick: the plain loop runs the block's first transactions, alone, where
  // it would run. Not an estimate from executions inside Block-STM: those run with every core
  // busy and the values they read in other cores' caches, and overrated the loop up to 2x. The
  // prefix is not lost work: its outputs are final, and Block-STM starts after them.
  SequentialRun loop(vm, num_txns, base);
  const double prefix_ns_per_txn = time_loop_prefix(loop, num_txns);
  const std::uint64_t prefix_ns = elapsed_ns(start);
  const std::size_t prefix = loop.next();
  if (loop.failed()) {
    // A read met deltas it could not apply: the block cannot be made, and the loop says so.
    BlockResult result = finish_on_loop(loop, prefix_ns_per_txn, ExecutionPath::kFellBack);
    result.stats.loop_prefix = prefix;
    return result;
  }
  BlockStmExecutor::Outcome outcome = block_stm_.execute(
      vm, num_txns, base,
      {.loop = &loop,
       .judge = policy_.judge(prefix_ns_per_txn),
       .max_declared_chain = policy_.max_declared_chain(num_txns),
       .declarations = declarations});
  switch (outcome.kind) {
    case BlockStmExecutor::Outcome::Kind::kTooSerial: {
      // Counted as lost: judging cost the declaration pass, so the next blocks run on the loop
      // without paying it again.
      BlockResult result = finish_on_loop(loop, prefix_ns_per_txn, ExecutionPath::kFellBack);
      result.stats.declared_dependencies = outcome.result.stats.declared_dependencies;
      policy_.block_lost();
      return result;
    }
    case BlockStmExecutor::Outcome::Kind::kStopped:
      policy_.block_lost();
      break;
    case BlockStmExecutor::Outcome::Kind::kFinished:
      policy_.block_stm_finished(elapsed_ns(start), num_txns, prefix_ns_per_txn);
      break;
  }
  outcome.result.stats.execute_ns += prefix_ns;
  return std::move(outcome.result);
}

BlockResult ParallelExecutor::finish_on_loop(SequentialRun& loop, double prefix_ns_per_txn, ExecutionPath path) {
  BlockResult result = loop.finish();
  policy_.loop_ran_block(prefix_ns_per_txn, result.stats.execute_ns + result.stats.finalize_ns,
                         result.stats.transactions);
  result.stats.threads = pool_.threads();
  result.stats.path = path;
  return result;
}

}  // namespace pel
