// The oracle every engine test checks against: the plain loop's result, which every executor in
// every mode must equal, outputs, writes and finish_error (statistics may differ).
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/parallel_executor.hpp"
#include "engine/sequential_executor.hpp"

namespace pel::testing {

/// Asserts that `actual` is `expected` where the contract says it must be: every output, the
/// write set, the finish error. A failure names `what` and where they first differ.
void expect_same(const BlockResult& expected, const BlockResult& actual, const std::string& what);

/// Every executor and mode of `threads` workers, kept from block to block so that what they
/// learn (hot keys, the fallback's yardstick and losses) evolves as it does on a chain:
/// - ParallelExecutor with its defaults (small blocks on the plain loop);
/// - Block-STM with declarations off, on hot keys and on all keys, each with the contention
///   fallback off, on but too lenient to fire (Block-STM runs on from the loop's timed prefix),
///   and firing at the first judgement (the loop finishes the block from what was made final,
///   then runs the next blocks outright);
/// - the listed executor, from a list recorded on the plain loop.
class ExecutorOracle {
 public:
  explicit ExecutorOracle(int threads);

  /// Runs the block on the plain loop, then on every executor above, each under a watchdog,
  /// asserting each equals the loop's result; returns that result.
  BlockResult check(const Vm& vm, std::size_t size, const BaseState& base, const std::string& what);

 private:
  struct Mode {
    std::string name;
    std::unique_ptr<ParallelExecutor> executor;
    bool listed = false;
    std::optional<ExecutionPath> path;  // the path every block must take, where it is fixed
  };
  int threads_;
  std::vector<Mode> modes_;
};

}  // namespace pel::testing
