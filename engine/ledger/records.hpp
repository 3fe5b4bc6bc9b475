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

/// Rewards are paid from reward_pool (native coin held by the validator record, so the supply
/// stays conserved): a delegation earns amount * reward_rate_ppm / 1e6 per block since its last
/// settlement. The validator's total stake, the sum of its delegations, is a key of its own
/// (validator_stake_key, an AmountRecord) that stakes credit as a delta, so stakes to one
/// validator do not conflict; this record is written only when a settlement pays out. The
/// total is part of the native supply (staked coins left a balance), hence within 64 bits.
struct ValidatorRecord : Codec<ValidatorRecord, ValueWriter> {
  static constexpr const char* kName = "validator record";
  std::uint64_t reward_pool = 0;
  std::uint64_t reward_rate_ppm = 0;
  void write(ValueWriter& w) const { w.u64(reward_pool); w.u64(reward_rate_ppm); }
  void read(StrictReader& r) { r.u64(reward_pool); r.u64(reward_rate_ppm); }
};

struct DelegationRecord : Codec<DelegationRecord, ValueWriter> {
  static constexpr const char* kName = "delegation record";
  std::uint64_t amount = 0;
  std::uint64_t since_height = 0;  // rewards are settled up to this block height
  void write(ValueWriter& w) const { w.u64(amount); w.u64(since_height); }
  void read(StrictReader& r) { r.u64(amount); r.u64(since_height); }
};

/// A proposal: how many choices it offers, and the coin whose balance bounds a vote's weight
/// (`token`, 0: the native coin). Written once, at genesis: votes only read it, and add to the
/// choices' tallies, each a key of its own (tally_key), so that votes do not conflict.
struct ProposalRecord : Codec<ProposalRecord, ValueWriter> {
  static constexpr const char* kName = "proposal record";
  std::uint32_t token = 0;
  std::uint32_t choices = 0;
  void write(ValueWriter& w) const { w.u64(token); w.u64(choices); }
  void read(StrictReader& r) {
    r.u32(token);
    r.bounded(choices, kMaxChoices, "too many choices");
    if (r.ok() && choices == 0) r.invalid("a proposal without choices");
  }
};

__extension__ using u128 = unsigned __int128;  // __extension__: -Wpedantic

/// One choice's tally: the weights of the votes cast for it (absent: 0). 128 bits, so that a
/// vote's credit to it, a delta, cannot overflow: each vote adds under 2^64, and reaching 2^128
/// would take 2^64 votes. (A tally cannot be bounded by a supply as balances are: the same
/// coins vote again from another account.) A re-vote subtracts from the old choice's tally,
/// which holds that vote, so it cannot go below zero either.
struct TallyRecord : Codec<TallyRecord, ValueWriter> {
  static constexpr const char* kName = "tally record";
  u128 amount = 0;
  void write(ValueWriter& w) const { w.u64(static_cast<std::uint64_t>(amount)); w.u64(static_cast<std::uint64_t>(amount >> 64)); }
  void read(StrictReader& r) {
    std::uint64_t low = 0, high = 0;
    r.u64(low);
    r.u64(high);
    amount = static_cast<u128>(high) << 64 | low;
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
