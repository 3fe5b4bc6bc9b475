// The sequential executor: a plain loop over the block with an overlay on the base state.
// It is the oracle the parallel executor must agree with and the baseline it is measured against.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "engine/block_result.hpp"
#include "state/base_state.hpp"

namespace pel {

BlockResult execute_sequential(const Vm& vm, std::size_t num_txns, const BaseState& base);

/// The same loop from transaction done.size() on, given the outputs of the transactions before
/// it and the state they leave: what a parallel run that stopped early had made final. The
/// result is the whole block's, as execute_sequential gives it.
BlockResult continue_sequential(const Vm& vm, std::size_t num_txns, const BaseState& base,
                                std::vector<TxnOutput> done, const FinalWrites& done_state);

/// The plain loop run in steps, so that a caller can run a prefix of the block, look, and then
/// either finish the block on the loop or hand the prefix's outputs to another executor (the
/// parallel executor measures the loop's cost on a block's first transactions this way).
/// Not thread-safe: one thread drives a run.
class SequentialRun {
 public:
  /// Starts after `done` (the outputs of the first done.size() transactions) and the state
  /// they leave, `done_state`, its pending deltas unapplied.
  SequentialRun(const Vm& vm, std::size_t num_txns, const BaseState& base, std::vector<TxnOutput> done = {},
                const FinalWrites& done_state = {});
  ~SequentialRun();
  SequentialRun(const SequentialRun&) = delete;
  SequentialRun& operator=(const SequentialRun&) = delete;

  /// Executes the transactions from next() up to `end` (at most the block's size).
  void run_until(std::size_t end);
  /// The first transaction not executed yet.
  std::size_t next() const;
  /// A read met deltas it could not apply: the block cannot be made, whatever follows.
  bool failed() const;
  /// The outputs of transactions 0 .. next()-1, moved out; the run may only be destroyed after.
  std::vector<TxnOutput> take_outputs();
  /// Executes the rest and returns the block's result; the run may only be destroyed after.
  BlockResult finish();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace pel
