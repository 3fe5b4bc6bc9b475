// Verified historical replay: re-execute a stored chain from any kept height and check every
// header's transaction, receipts and state roots. Replay reads the stored state at from-1 in
// place (Chain::state_at) and holds only the replayed blocks' changes in memory; it starts from
// the state commitment stored at from-1, checked against that block's state root, and every
// value it reads is checked by the state root of the block that changes it. It writes nothing.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

#include "engine/vm.hpp"
#include "state/base_state.hpp"

#include "node/chain.hpp"

namespace pel {

struct ReplayProgress {
  std::uint64_t height = 0;
  std::uint64_t from = 0;
  std::uint64_t to = 0;
  std::uint64_t transactions = 0;  // so far
  double elapsed_s = 0;
};

/// One block as replay executes it, for ReplayOptions::around_execution.
struct ReplayedBlock {
  std::uint64_t height = 0;
  const Vm& vm;              // the ledger VM over the block's transactions
  std::size_t transactions;  // how many
  const BaseState& state;    // the state before the block
};

struct ReplayOptions {
  std::uint64_t from = 1;            // first block to re-execute: from-1 must be a kept height
  std::optional<std::uint64_t> to;   // last block; the head when unset
  int threads = 2;
  /// Before a block executes from its access list, the values of the keys the list names that
  /// the replayed blocks did not change are read from the stored state by this many threads at
  /// once, so that no transaction waits on the disk (0: none, each read made when a
  /// transaction first needs it).
  int prefetch_readers = 16;
  /// Execute each block from its access list (no speculation), which proves the list. False:
  /// plain Block-STM, and the list it records must equal the block's.
  bool use_access_lists = true;
  /// Benchmarks only (bench::compare_replay): wraps each block's execution. It must call
  /// `execute` (replay's own execution of the block) once, and may run and time other
  /// executions of the same VM on the same state around it and compare them with what
  /// `execute` returned (null when it failed: replay reports that). An error it returns stops
  /// the replay. When set, the next block's signatures are checked only after it returned, so
  /// nothing else runs beside what it times. Unset: replay only verifies.
  std::function<Status(const ReplayedBlock&, const std::function<const BlockResult*()>& execute)> around_execution;
  /// kAssumeValid: the verdicts of the signature check made at import, as its receipts kept them.
  SignaturePolicy signatures = SignaturePolicy::kVerify;
  std::function<void(const ReplayProgress&)> on_block;
  /// The most state keys the replayed blocks may have changed before replay continues from the
  /// stored state at the block just replayed (first checked to hold every value replay computed):
  /// keeps memory bounded over any number of blocks.
  std::size_t max_replayed_changes = 250'000;
};

struct ReplaySummary {
  std::uint64_t blocks = 0;
  std::uint64_t transactions = 0;
  double seconds = 0;             // whole replay: signatures, execution, roots
  double parallel_exec_s = 0;     // execution only: from the access lists, or plain Block-STM
  bool access_lists = true;       // parallel_exec_s ran from the blocks' access lists
  std::uint64_t access_list_bytes = 0;  // the replayed blocks' access lists, encoded
  std::uint64_t block_bytes = 0;        // the replayed blocks, encoded (lists included)
  SignaturePolicy signatures = SignaturePolicy::kVerify;  // how this replay judged them
  ExecutionStats stats;
};

/// Stops at the first mismatch with an error naming the height and the root.
Result<ReplaySummary> replay(const Chain& chain, const ReplayOptions& options);

}  // namespace pel
