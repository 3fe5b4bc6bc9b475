#include "engine/ledger/state_keys.hpp"

#include <algorithm>

namespace pel::ledger {
namespace {

// Lays out tag | ids... from byte 1 on; the rest stays zero.
class KeyBuilder {
 public:
  explicit KeyBuilder(KeyKind t) { key_.bytes[0] = static_cast<std::uint8_t>(t); }
  KeyBuilder& u32(std::uint32_t v) { return fixed(v, 4); }
  KeyBuilder& u64(std::uint64_t v) { return fixed(v, 8); }
  KeyBuilder& address(const Address& a) {
    std::copy(a.bytes.begin(), a.bytes.end(), key_.bytes.begin() + pos_);
    pos_ += a.bytes.size();
    return *this;
  }
  StateKey key() const { return key_; }

 private:
  KeyBuilder& fixed(std::uint64_t v, int width) {
    for (int i = 0; i < width; ++i) key_.bytes[pos_++] = static_cast<std::uint8_t>(v >> (8 * i));
    return *this;
  }
  StateKey key_;
  std::size_t pos_ = 1;  // widest key: tag + u32 + address = 25 bytes
};

}  // namespace

StateKey account_key(const Address& a) { return KeyBuilder(KeyKind::kAccount).address(a).key(); }
StateKey token_balance_key(std::uint32_t token, const Address& holder) {
  return KeyBuilder(KeyKind::kTokenBalance).u32(token).address(holder).key();
}
StateKey token_info_key(std::uint32_t token) { return KeyBuilder(KeyKind::kTokenInfo).u32(token).key(); }
StateKey pool_key(std::uint32_t pool) { return KeyBuilder(KeyKind::kPool).u32(pool).key(); }
StateKey lp_balance_key(std::uint32_t pool, const Address& holder) {
  return KeyBuilder(KeyKind::kLpBalance).u32(pool).address(holder).key();
}
StateKey collection_key(std::uint32_t collection) {
  return KeyBuilder(KeyKind::kCollection).u32(collection).key();
}
StateKey nft_key(std::uint32_t collection, std::uint64_t id) {
  return KeyBuilder(KeyKind::kNft).u32(collection).u64(id).key();
}
StateKey validator_key(std::uint32_t validator) {
  return KeyBuilder(KeyKind::kValidator).u32(validator).key();
}
StateKey delegation_key(std::uint32_t validator, const Address& delegator) {
  return KeyBuilder(KeyKind::kDelegation).u32(validator).address(delegator).key();
}
StateKey validator_stake_key(std::uint32_t validator) {
  return KeyBuilder(KeyKind::kValidatorStake).u32(validator).key();
}
StateKey proposal_key(std::uint32_t proposal) { return KeyBuilder(KeyKind::kProposal).u32(proposal).key(); }
StateKey tally_key(std::uint32_t proposal, std::uint32_t choice) {
  return KeyBuilder(KeyKind::kTally).u32(proposal).u32(choice).key();
}
StateKey vote_key(std::uint32_t proposal, const Address& voter) {
  return KeyBuilder(KeyKind::kVote).u32(proposal).address(voter).key();
}

}  // namespace pel::ledger
