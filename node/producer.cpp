#include "node/producer.hpp"

#include <chrono>

#include "engine/executor_common.hpp"
#include "engine/ledger/genesis.hpp"

namespace pel {

Address producer_beneficiary(const ledger::GenesisParams& genesis) {
  return ledger::account_address(genesis.seed, 0);
}

Result<ProduceSummary> produce(Chain& chain, const ProduceParams& params,
                               const std::function<void(const ExecutedBlock&)>& on_block) {
  const ledger::GenesisParams& genesis = chain.genesis();
  ledger::WorkloadParams wp = params.workload;
  // A different stream per starting height, so successive runs do not repeat themselves.
  wp.seed = params.workload.seed * 0x9E3779B97F4A7C15ull + chain.head().height;
  PEL_TRY(ledger::WorkloadGenerator::check(genesis, wp));
  ledger::WorkloadGenerator generator(genesis, wp);

  ProduceSummary summary;
  const Address beneficiary = producer_beneficiary(genesis);
  auto durable = [&](const ExecutedBlock& executed) {
    summary.blocks += 1;
    summary.transactions += executed.block.transactions.size();
    summary.stats += executed.stats;
    if (on_block) on_block(executed);
  };
  const DiscardCallbacksOnExit guard(chain);  // no callback outlives `summary` and `durable`
  for (std::uint64_t i = 0; i < params.blocks; ++i) {
    // Continue from what the chain holds: each account's nonce, NFTs and delegations, read as
    // the generator first uses it (a generator that follows no state assumes the genesis).
    generator.sync_with_state(chain.state());
    std::vector<ledger::Transaction> txns = generator.next_block();
    if (Status read = chain.state().take_read_error(); !read.is_ok()) {
      PEL_TRY(chain.flush());  // the blocks before are made durable and reported
      return read.with_context(chain.options().datadir + ": reading the head state");
    }
    auto t0 = std::chrono::steady_clock::now();
    auto executed = chain.execute(std::move(txns), chain.head().timestamp + 1, beneficiary);
    Status committed = !executed.is_ok()  ? executed.status()
                       : params.pipeline ? chain.commit_async(std::move(executed).value(), durable)
                                         : chain.commit(*executed, durable);
    if (!committed.is_ok()) {
      // The blocks before this one are made durable and reported; a failure there came first.
      PEL_TRY(chain.flush());
      return committed;
    }
    summary.seconds += static_cast<double>(elapsed_ns(t0)) * 1e-9;
  }
  auto t0 = std::chrono::steady_clock::now();
  PEL_TRY(chain.flush());
  summary.seconds += static_cast<double>(elapsed_ns(t0)) * 1e-9;
  return summary;
}

}  // namespace pel
