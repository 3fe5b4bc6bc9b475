// Execution from an access list: a block whose accesses are known runs without speculation.
#pragma once

#include <cstddef>

#include "engine/access_list.hpp"
#include "engine/block_result.hpp"
#include "engine/worker_pool.hpp"
#include "state/base_state.hpp"

namespace pel {

/// Executes a block whose accesses are known (an access list recorded where it was made, see
/// access_list.hpp): each transaction runs once, after the transactions whose writes it reads
/// and those that added to those keys since (adds themselves wait for nothing), and reads their
/// outputs directly; no speculation, no validation. A worker that finishes a transaction goes on
/// with a dependent it made ready, so a chain of dependent transactions stays on one core.
/// Thread-safety: execute() from one thread at a time; the pool must outlive the executor.
class ListedExecutor {
 public:
  explicit ListedExecutor(WorkerPool& pool) : pool_(pool) {}

  /// Execution proves the list: when a transaction (or finish_block) reads or writes another
  /// set of keys than its entry names, the result is an error naming the lowest such
  /// transaction and the key; a list that is right gives exactly execute_sequential's result.
  /// Everything about the list is checked (a key under two ids, a malformed list: an error).
  /// Runs on at most as many workers as the list's parallelism (transactions per step of its
  /// longest chain). Throws std::bad_alloc when this node runs out of memory.
  Result<BlockResult> execute(const Vm& vm, std::size_t num_txns, const BaseState& base, const AccessList& list);

 private:
  WorkerPool& pool_;
};

}  // namespace pel
