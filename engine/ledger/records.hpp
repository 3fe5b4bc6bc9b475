// The ledger's state records and their compact encodings (canonical varints, raw addresses).
// decode() is strict: a value that does not decode exactly is corrupt, and a transaction that
// meets one fails with a receipt saying so instead of crashing. Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <vector>

#include "crypto/address.hpp"
#include "engine/ledger/codec.hpp"
#include "state/types.hpp"

namespace pel::ledger {

inline constexpr std::uint32_t kBpsDenominator = 10'000;
inline constexpr std::size_t kMaxChoices = 16;

/// Native coin balance and the next nonce. A missing account reads as {0, 0}.
struct AccountRecord : Codec<AccountRecord, ValueWriter> {
  static constexpr const char* kName = "account record";
  std::uint64_t balance = 0;
  std::uint64_t nonce = 0;
  void write(ValueWriter& w) const { w.u64(balance); w.u64(nonce); }
  void read(StrictReader& r) { r.u64(balance); r.u64(nonce); }
};

/// A token or LP-share balance. Missing reads as 0.
struct AmountRecord : Codec<AmountRecord, ValueWriter> {
  static constexpr const char* kName = "amount record";
  std::uint64_t amount = 0;
  void write(ValueWriter& w) const { w.u64(amount); }
  void read(StrictReader& r) { r.u64(amount); }
};

struct TokenInfoRecord : Codec<TokenInfoRecord, ValueWriter> {
  static constexpr const char* kName = "token info record";
  std::uint64_t total_supply = 0;
  Address issuer;  // the only sender allowed to mint
  void write(ValueWriter& w) const { w.u64(total_supply); w.address(issuer); }
  void read(StrictReader& r) { r.u64(total_supply); r.address(issuer); }
};

/// A constant-product pool between the native coin and `token`.
struct PoolRecord : Codec<PoolRecord, ValueWriter> {
  static constexpr const char* kName = "pool record";
  std::uint32_t token = 0;
  std::uint64_t reserve_native = 0;
  std::uint64_t reserve_token = 0;
  std::uint32_t fee_bps = 0;
  std::uint64_t lp_supply = 0;
  void write(ValueWriter& w) const {
    w.u64(token); w.u64(reserve_native); w.u64(reserve_token); w.u64(fee_bps); w.u64(lp_supply);
  }
  void read(StrictReader& r) {
    r.u32(token); r.u64(reserve_native); r.u64(reserve_token);
    r.bounded(fee_bps, kBpsDenominator - 1, "fee bps out of range");
    r.u64(lp_supply);
  }
};

struct CollectionRecord : Codec<CollectionRecord, ValueWriter> {
  static constexpr const char* kName = "collection record";
  Address creator;
  std::uint32_t royalty_bps = 0;
  std::uint64_t next_id = 0;
  void write(ValueWriter& w) const { w.address(creator); w.u64(royalty_bps); w.u64(next_id); }
  void read(StrictReader& r) {
    r.address(creator); r.bounded(royalty_bps, kBpsDenominator, "royalty bps out of range");
    r.u64(next_id);
  }
};

struct NftRecord : Codec<NftRecord, ValueWriter> {
  static constexpr const char* kName = "nft record";
  Address owner;
  void write(ValueWriter& w) const { w.address(owner); }
  void read(StrictReader& r) { r.address(owner); }
};

/// total_stake is the sum of the validator's delegations. Rewards are paid from reward_pool
/// (native coin held by the validator record, so the supply stays conserved): a delegation
/// earns amount * reward_rate_ppm / 1e6 per block since its last settlement.
struct ValidatorRecord : Codec<ValidatorRecord, ValueWriter> {
  static constexpr const char* kName = "validator record";
  std::uint64_t total_stake = 0;
  std::uint64_t reward_pool = 0;
  std::uint64_t reward_rate_ppm = 0;
  void write(ValueWriter& w) const { w.u64(total_stake); w.u64(reward_pool); w.u64(reward_rate_ppm); }
  void read(StrictReader& r) { r.u64(total_stake); r.u64(reward_pool); r.u64(reward_rate_ppm); }
};

struct DelegationRecord : Codec<DelegationRecord, ValueWriter> {
  static constexpr const char* kName = "delegation record";
  std::uint64_t amount = 0;
  std::uint64_t since_height = 0;  // rewards are settled up to this block height
  void write(ValueWriter& w) const { w.u64(amount); w.u64(since_height); }
  void read(StrictReader& r) { r.u64(amount); r.u64(since_height); }
};

/// A proposal's running tallies, one per choice. Vote weight is bounded by the voter's balance
/// of `token` (0: the native coin).
struct ProposalRecord : Codec<ProposalRecord, ValueWriter> {
  static constexpr const char* kName = "proposal record";
  std::uint32_t token = 0;
  std::vector<std::uint64_t> tallies;
  void write(ValueWriter& w) const {
    w.u64(token); w.u64(tallies.size());
    for (std::uint64_t t : tallies) w.u64(t);
  }
  void read(StrictReader& r) {
    r.u32(token);
    std::uint64_t n = 0;
    if (!r.count(n, 1, kMaxChoices, 1)) return;
    tallies.resize(n);
    for (std::uint64_t& t : tallies) r.u64(t);
  }
};

struct VoteRecord : Codec<VoteRecord, ValueWriter> {
  static constexpr const char* kName = "vote record";
  std::uint32_t choice = 0;
  std::uint64_t weight = 0;
  void write(ValueWriter& w) const { w.u64(choice); w.u64(weight); }
  void read(StrictReader& r) { r.bounded(choice, kMaxChoices - 1, "vote choice out of range"); r.u64(weight); }
};

}  // namespace pel::ledger
