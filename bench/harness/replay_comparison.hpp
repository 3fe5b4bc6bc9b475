// The engine's speedups on a stored chain: replay, with every block also executed by the plain
// loop and by plain Block-STM on the same state, each required to equal replay's result.
#pragma once

#include <cstdint>

#include "crypto/result.hpp"
#include "node/replay.hpp"

namespace pel::bench {

struct ReplayComparison {
  ReplaySummary summary;            // replay's own (it verified every block)
  double sequential_exec_s = 0;     // the plain loop, execution only
  /// Plain Block-STM, execution only: an executor of its own where replay ran from the access
  /// lists, else replay's own execution.
  double block_stm_exec_s = 0;
  /// Of the plain Block-STM runs, the blocks the contention fallback's loop ran all or part of
  /// (measuring itself, or after Block-STM lost), as `pel bench` counts `loop k/n`.
  std::uint64_t block_stm_loop_blocks = 0;
};

/// Replays `chain` as `options` say (its around_execution is replaced) and, for each block,
/// runs the other executions before or after replay's own, alternating by height so that none
/// always meets the others' warm caches. A block where they differ stops it with an error
/// naming the height. Thread-safety: as replay(); it runs its own executors.
Result<ReplayComparison> compare_replay(const Chain& chain, ReplayOptions options);

}  // namespace pel::bench
