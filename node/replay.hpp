// Verified historical replay: re-execute a stored chain into a scratch state and check every
// header's transaction, receipts and state roots.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

#include "node/chain.hpp"

namespace pel {

struct ReplayProgress {
  std::uint64_t height = 0;
  std::uint64_t from = 0;
  std::uint64_t to = 0;
  std::uint64_t transactions = 0;  // so far
  double elapsed_s = 0;
};

struct ReplayOptions {
  std::uint64_t from = 1;            // first block to re-execute; the state after from-1 is rebuilt
  std::optional<std::uint64_t> to;   // last block; the head when unset
  int threads = 2;
  /// Also run the sequential executor on each block and require equality. The two runs alternate
  /// which goes first, and the next block is read and checked only after both, so the timings
  /// compare the engine alone.
  bool compare_sequential = false;
  /// kAssumeValid: the verdicts of the signature check made at import, as its receipts kept them.
  SignaturePolicy signatures = SignaturePolicy::kVerify;
  std::function<void(const ReplayProgress&)> on_block;
};

struct ReplaySummary {
  std::uint64_t blocks = 0;
  std::uint64_t transactions = 0;
  double seconds = 0;             // whole replay: signatures, execution, roots
  double parallel_exec_s = 0;     // Block-STM execution only
  double sequential_exec_s = 0;   // with compare_sequential: the sequential executor on the same blocks
  SignaturePolicy signatures = SignaturePolicy::kVerify;  // how this replay judged them
  ExecutionStats stats;
};

/// Stops at the first mismatch with an error naming the height and the root.
Result<ReplaySummary> replay(const Chain& chain, const ReplayOptions& options);

}  // namespace pel
