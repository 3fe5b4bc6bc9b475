// The sequential executor: a plain loop over the block with an overlay on the base state.
// It is the oracle the parallel executor must agree with and the baseline it is measured against.
#pragma once

#include <cstddef>

#include "engine/block_result.hpp"
#include "state/base_state.hpp"

namespace pel {

BlockResult execute_sequential(const Vm& vm, std::size_t num_txns, const BaseState& base);

}  // namespace pel
