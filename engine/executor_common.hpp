// Pieces both executors share (internal to the engine): calling the VM and holding its output
// to the contract, and finishing a block, identically.
#pragma once

#include <chrono>
#include <cstdint>

#include "engine/block_result.hpp"
#include "state/base_state.hpp"

namespace pel {

/// Runs vm.execute: an exception becomes a vm_error output, and so does a write set that names
/// a key twice, identically on both executors. std::bad_alloc is rethrown (this node's failure).
TxnOutput call_vm(const Vm& vm, TxnIndex txn, StateReader& reader);

/// Runs the VM's finish_block on the state after every transaction and merges its writes into
/// result.writes (sorted, one per key); an exception becomes result.finish_error instead. Then
/// takes the base state's read error, if any, into result.read_error. Timed into
/// result.stats.finalize_ns by the caller.
void finish_block(const Vm& vm, const BaseState& base, BlockResult& result);

inline std::uint64_t elapsed_ns(std::chrono::steady_clock::time_point since) {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now() - since)
                                        .count());
}

}  // namespace pel
