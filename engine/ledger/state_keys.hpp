// Where the ledger keeps things: one StateKey table tag per record type, followed by the ids
// that name the record (u32 ids and u64 NFT ids little-endian, addresses raw). Every key fits
// StateKey's 32 bytes without hashing, so keys are cheap to derive and readable in a dump.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>

#include "crypto/address.hpp"
#include "state/types.hpp"

namespace pel::ledger {

/// What a state key names: its first byte. (The database's own key prefixes are pel::Table.)
enum class KeyKind : std::uint8_t {
  kAccount = 0x01,       // address                    -> AccountRecord
  kTokenBalance = 0x02,  // token, address             -> AmountRecord
  kTokenInfo = 0x03,     // token                      -> TokenInfoRecord
  kPool = 0x04,          // pool                       -> PoolRecord
  kLpBalance = 0x05,     // pool, address              -> AmountRecord
  kCollection = 0x06,    // collection                 -> CollectionRecord
  kNft = 0x07,           // collection, id (u64)       -> NftRecord
  kValidator = 0x08,     // validator                  -> ValidatorRecord
  kDelegation = 0x09,    // validator, address         -> DelegationRecord
  kProposal = 0x0a,      // proposal                   -> ProposalRecord
  kVote = 0x0b,          // proposal, address          -> VoteRecord
  kTally = 0x0c,         // proposal, choice           -> TallyRecord
  kValidatorStake = 0x0d,  // validator                -> AmountRecord (the sum of its delegations)
};

StateKey account_key(const Address& address);
StateKey token_balance_key(std::uint32_t token, const Address& holder);
StateKey token_info_key(std::uint32_t token);
StateKey pool_key(std::uint32_t pool);
StateKey lp_balance_key(std::uint32_t pool, const Address& holder);
StateKey collection_key(std::uint32_t collection);
StateKey nft_key(std::uint32_t collection, std::uint64_t id);
StateKey validator_key(std::uint32_t validator);
StateKey delegation_key(std::uint32_t validator, const Address& delegator);
StateKey validator_stake_key(std::uint32_t validator);
StateKey proposal_key(std::uint32_t proposal);
StateKey tally_key(std::uint32_t proposal, std::uint32_t choice);
StateKey vote_key(std::uint32_t proposal, const Address& voter);

}  // namespace pel::ledger
