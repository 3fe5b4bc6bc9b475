// The result of executing one block, identical between the sequential and parallel executors
// except for the statistics.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/vm.hpp"

namespace pel {

/// How often one key caused a conflict: an execution waited on a lower transaction's pending
/// write to it (`waits`), or was aborted or discarded because a value it read there changed
/// (`aborts`).
struct KeyConflicts {
  StateKey key;
  std::uint64_t aborts = 0;
  std::uint64_t waits = 0;
  std::uint64_t total() const { return aborts + waits; }
  friend bool operator==(const KeyConflicts&, const KeyConflicts&) = default;
};

/// Which executor ran a block, and why.
enum class ExecutionPath : std::uint8_t {
  kSequential,     // the plain loop: one thread, or a block too small for the workers
  kBlockStm,       // Block-STM ran the block to the end
  kFellBack,       // Block-STM started and the plain loop finished the block: it advanced more
                   // slowly than the loop, its declared writes left too little parallelism, or
                   // the loop's timed prefix met deltas it could not apply
  kLoopAfterLoss,  // the plain loop ran the block: Block-STM lost the blocks before
  kLoopProbe,      // the plain loop ran the block to measure itself (the fallback's yardstick,
                   // ParallelOptions::fallback_speedup), not for speed
  kListed,         // executed from an access list
};

/// The contention fallback's plain loop ran all or part of the block (not a block too small).
inline bool fallback_loop_ran(ExecutionPath path) {
  return path == ExecutionPath::kFellBack || path == ExecutionPath::kLoopAfterLoss ||
         path == ExecutionPath::kLoopProbe;
}

/// A name for logs and JSON: "sequential", "block-stm", "fell-back", "loop-after-loss",
/// "loop-probe", "listed".
const char* path_name(ExecutionPath path);

/// Counts that explain a parallel execution; independent of the hardware where noted.
struct ExecutionStats {
  /// At most this many keys are kept in hot_keys.
  static constexpr std::size_t kHotKeys = 10;

  std::uint64_t transactions = 0;
  std::uint64_t executions = 0;   // incarnations run to completion or to a dependency
  std::uint64_t validations = 0;  // read-set validations performed
  std::uint64_t aborts = 0;       // incarnations aborted by a failed validation, or discarded
                                  // because the VM saw aborted() turn true
  std::uint64_t suspensions = 0;  // executions parked on a dependency (ESTIMATE met)
  std::uint64_t predicted_waits = 0;  // of those, parked on a declared write: planned, no conflict
  std::uint64_t declared_dependencies = 0;  // transactions a declared write linked to a lower one
  /// Executed from an access list: dependencies (a transaction reading what a lower one wrote,
  /// counted once per pair, or the adds made to a key since, counted once per read of it) and
  /// the longest chain of dependent transactions, which bounds the speedup at transactions /
  /// longest_chain whatever the threads. Adds to a key wait for nothing: only its reads do.
  std::uint64_t listed_dependencies = 0;
  std::uint64_t longest_chain = 0;
  int threads = 1;
  ExecutionPath path = ExecutionPath::kSequential;
  std::uint64_t kept_on_fallback = 0;  // with kFellBack: transactions the parallel run had made
                                       // final, kept instead of executed again
  std::uint64_t loop_prefix = 0;  // transactions the plain loop ran first, alone, to measure its
                                  // cost: the contention fallback's yardstick (counted in executions)
  std::uint64_t execute_ns = 0;   // wall time of the execution phase
  std::uint64_t finalize_ns = 0;  // wall time to collect the write set and finish the block
  /// The keys that caused the most conflicts, most first (ties by key), at most kHotKeys.
  /// Schedule-dependent, like aborts: a diagnosis, not part of the block's result.
  std::vector<KeyConflicts> hot_keys;

  /// Sums the counts; hot_keys are merged by key and cut to the top kHotKeys again (a key that
  /// was 11th in every block is lost: the merge is a summary, not an exact ranking).
  ExecutionStats& operator+=(const ExecutionStats& o);
};

struct BlockResult {
  std::vector<TxnOutput> outputs;  // one per transaction, in block order
  WriteSet writes;                 // the block's final writes, sorted by key, one per key
  /// Non-empty when the block cannot be made: the VM's finish_block threw, or a key's deltas
  /// could not be applied (Vm::apply_delta); then `writes` is empty, or the transactions' only
  /// when finish_block threw, and must not be committed. The same on every executor.
  std::string finish_error;
  /// The first error reading the base state (a database that failed): reads that failed
  /// returned nothing, so nothing of this result may be trusted. OK for memory states.
  Status read_error;
  ExecutionStats stats;
};

}  // namespace pel
