// The sequential executor: a plain loop over the block with an overlay on the base state.
// It is the oracle the parallel executor must agree with and the baseline it is measured against.
#pragma once

#include <cstddef>
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

}  // namespace pel
