// Workload generator: signed blocks of ledger transactions from a seed (same parameters, same
// bytes), with knobs for contention (accounts used, hot-spot skew), the mix of kinds, block size
// and a share of deliberately invalid transactions.
// Thread-safety: a generator is used from one thread at a time (it signs in parallel inside).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "crypto/result.hpp"
#include "engine/ledger/genesis.hpp"
#include "engine/ledger/transaction.hpp"
#include "state/base_state.hpp"

namespace pel::ledger {

struct WorkloadParams {
  std::string name = "p2p";
  std::uint32_t accounts = 1000;  // accounts used, from genesis account 0: the contention knob
  double skew = 0.0;              // Zipf exponent over accounts (account 0 hottest); 0 = uniform
  std::uint32_t block_size = 1000;
  /// Share of transactions made invalid on purpose, evenly: bad signature, wrong nonce, wrong
  /// chain id, malformed payload. They are discarded at execution and do not bump the nonce.
  double invalid_fraction = 0.0;
  /// For "mix" only: weight per kind name (kind_name(): "transfer", "swap", ...); empty = the
  /// default mix.
  std::map<std::string, double> mix_weights;
  std::uint64_t seed = 1;
};

/// p2p token swap nft staking dao airdrop mix. These names are stable (benchmarks use them).
///   p2p      native transfers between two distinct random accounts (the Block-STM paper's)
///   token    token transfers, 5% mints by the token's issuer
///   swap     swaps on the genesis pools (5% with an unreachable min_out: slippage failures)
///   nft      transfers and sales by the owner (70%), mints (30%)
///   staking  stake (50%), claim rewards (25%), unstake (25%) on the validators
///   dao      votes (re-votes replace the earlier vote)
///   airdrop  a token to 1..32 random recipients
///   mix      all kinds by mix_weights
const std::vector<std::string>& workload_names();

class WorkloadGenerator {
 public:
  /// Throws std::invalid_argument when check() fails: validate untrusted parameters first.
  WorkloadGenerator(const GenesisParams& genesis, WorkloadParams params);
  ~WorkloadGenerator();
  WorkloadGenerator(const WorkloadGenerator&) = delete;
  WorkloadGenerator& operator=(const WorkloadGenerator&) = delete;

  /// Unknown workload or kind name, accounts 0 or above genesis accounts (or 1 where a kind
  /// needs two), block size 0, fractions or weights out of range, a kind the genesis cannot
  /// serve (no tokens, pools, collections, validators or proposals).
  static Status check(const GenesisParams& genesis, const WorkloadParams& params);

  /// Follows `state` (a chain's head) instead of the genesis: an account is loaded from it when
  /// a transaction first names it (its nonce, delegations, and the genesis NFTs it still owns;
  /// NFTs it minted or received before are not looked for), so this costs nothing up front at
  /// any state size. The first call reads each collection's next NFT id. `state` is read by
  /// next_block(): call again with the chain's state whenever that object changes (a commit);
  /// a record that does not decode counts as absent, and read errors stay with `state`.
  void sync_with_state(const BaseState& state);

  /// The next block, signed. Nonces continue across blocks; the generator also tracks NFT
  /// owners and delegations so that its valid transactions stay valid.
  std::vector<Transaction> next_block();

 private:
  struct Model;
  std::unique_ptr<Model> m_;
};

}  // namespace pel::ledger
