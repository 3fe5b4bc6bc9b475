// The initial state of a ledger chain, built deterministically from a few parameters, and the
// account keys the workload generator signs with.
// Thread-safety: pure functions (build_genesis parallelises internally with oneTBB).
#pragma once

#include <cstdint>
#include <functional>

#include "crypto/address.hpp"
#include "crypto/ed25519.hpp"
#include "crypto/result.hpp"
#include "state/types.hpp"

namespace pel::ledger {

struct GenesisParams {
  std::uint64_t seed = 1;
  std::uint32_t accounts = 1000;
  std::uint64_t initial_balance = 1'000'000'000;
  std::uint32_t tokens = 4;
  std::uint32_t pools = 4;        // needs tokens > 0
  std::uint32_t collections = 4;
  std::uint32_t validators = 8;
  std::uint32_t proposals = 4;
  std::uint32_t chain_id = 1;
  /// The block producer: every header after genesis carries its Ed25519 signature. Part of the
  /// chain's identity (two chains with other producers are other chains); the ledger state does
  /// not depend on it. All zero until Chain::create fills it in.
  PublicKey producer{};
};

/// KeyPair::from_seed(sha256("pel.account" || seed (u64 LE) || index (u32 LE))).
KeyPair account_keypair(std::uint64_t seed, std::uint32_t index);
Address account_address(std::uint64_t seed, std::uint32_t index);

// What genesis holds (ids: tokens 1..tokens, everything else from 0):
//   - account i: initial_balance native coin; initial_balance of every token;
//     genesis_lp_shares(params) LP shares of every pool; NFT (c, i) of every collection c;
//   - token t: issuer account (t - 1) % accounts;
//   - pool p: native coin against token p % tokens + 1, pool_reserve(params) of each, 30 bps,
//     LP supply the accounts' shares (about the reserve, as a first deposit would mint);
//   - collection c: creator account c % accounts, 250 bps royalty, next id = accounts;
//   - validator v: no stake, reward pool 100 * initial_balance, (10 + v) ppm per block;
//   - proposal q: proposal_choices(q) choices, weight in token q % tokens + 1 (native if none).
std::uint64_t pool_reserve(const GenesisParams& params);
std::uint64_t genesis_lp_shares(const GenesisParams& params);
std::uint32_t proposal_choices(std::uint32_t proposal);

/// OK when every supply genesis makes fits 64 bits: the native coin (balances, pool reserves,
/// reward pools), each token's and each pool's LP shares. The ledger's credits rely on it: a
/// balance is part of its coin's supply, so no credit can pass 2^64 - 1 (LedgerVm::apply_delta).
Status check_genesis(const GenesisParams& params);

/// The genesis write set: sorted by key, one write per key, no deletions.
WriteSet build_genesis(const GenesisParams& params);
/// The same writes in parts, for a genesis written in bounded memory: `sink` gets the records
/// of each run of `accounts_per_part` accounts, then those no account owns; each part sorted,
/// the parts disjoint (their commitments add up to the whole's).
void for_each_genesis_part(const GenesisParams& params, std::uint32_t accounts_per_part,
                           const std::function<void(WriteSet&&)>& sink);

}  // namespace pel::ledger
