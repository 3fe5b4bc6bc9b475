// Block production from a named workload: generate signed transactions, execute them in
// parallel on top of the head, commit each block. Used by `pel produce`, the demo and tests.
#pragma once

#include <cstdint>
#include <functional>

#include "engine/ledger/workload.hpp"
#include "node/chain.hpp"

namespace pel {

struct ProduceParams {
  ledger::WorkloadParams workload;  // the seed is mixed with the head height, so runs continue
  std::uint64_t blocks = 1;
  bool pipeline = true;  // commit each block in the background while the next one executes
};

struct ProduceSummary {
  std::uint64_t blocks = 0;
  std::uint64_t transactions = 0;
  /// Time spent executing and committing (signatures, execution, roots, and waiting for
  /// writes); generating and signing the workload is excluded, and so is the part of a
  /// background commit that overlaps it.
  double seconds = 0;
  ExecutionStats stats;
};

/// Produces and commits `params.blocks` blocks; `on_block` sees each once it is durable.
Result<ProduceSummary> produce(Chain& chain, const ProduceParams& params,
                               const std::function<void(const ExecutedBlock&)>& on_block = {});

/// The address block producers credit fees to: genesis account 0.
Address producer_beneficiary(const ledger::GenesisParams& genesis);

}  // namespace pel
