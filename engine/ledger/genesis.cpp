#include "engine/ledger/genesis.hpp"

#include <algorithm>
#include <functional>
#include <iterator>
#include <limits>
#include <stdexcept>
#include <vector>


#include "crypto/hash.hpp"
#include "crypto/parallel_for.hpp"
#include "engine/ledger/records.hpp"
#include "engine/ledger/state_keys.hpp"

namespace pel::ledger {

KeyPair account_keypair(std::uint64_t seed, std::uint32_t index) {
  Writer w(Bytes{'p', 'e', 'l', '.', 'a', 'c', 'c', 'o', 'u', 'n', 't'});
  w.u64(seed);
  w.u32(index);
  Result<KeyPair> key = KeyPair::from_seed(sha256(w.data()).bytes);
  if (!key) throw std::runtime_error("account key: " + key.status().to_string());  // OpenSSL failure
  return std::move(key).value();
}

Address account_address(std::uint64_t seed, std::uint32_t index) {
  return address_of(account_keypair(seed, index).public_key());
}

std::uint64_t pool_reserve(const GenesisParams& params) { return params.initial_balance * 100; }
std::uint64_t genesis_lp_shares(const GenesisParams& params) {
  return params.accounts == 0 ? 0 : pool_reserve(params) / params.accounts;
}
std::uint32_t proposal_choices(std::uint32_t proposal) { return 2 + proposal % 3; }

Status check_genesis(const GenesisParams& p) {
  const u128 initial = p.initial_balance;
  const u128 pools = p.tokens > 0 ? p.pools : 0;
  const u128 reserve = static_cast<u128>(p.initial_balance) * 100;
  const u128 native = initial * p.accounts + reserve * pools + reserve * p.validators;
  // The most pools one token backs: pools / tokens, rounded up.
  const u128 token = initial * p.accounts + reserve * (p.tokens > 0 ? (pools + p.tokens - 1) / p.tokens : 0);
  const u128 lp = static_cast<u128>(genesis_lp_shares(p)) * p.accounts;
  constexpr u128 kMax = std::numeric_limits<std::uint64_t>::max();
  if (reserve > kMax || native > kMax || token > kMax || lp > kMax) {
    return error(ErrorCode::kInvalidArgument,
                 "genesis: a supply passes 2^64 - 1 (initial balance " + std::to_string(p.initial_balance) + " for " +
                     std::to_string(p.accounts) + " accounts, " + std::to_string(p.validators) + " validators and " +
                     std::to_string(p.pools) + " pools)");
  }
  return Status::ok();
}

namespace {

// Sorted by key, one write per key. Distinct addresses give distinct keys (a 2^-80 collision
// would only merge two accounts).
void sort_unique(WriteSet& writes) {
  std::sort(writes.begin(), writes.end(), [](const Write& a, const Write& b) { return a.key < b.key; });
  writes.erase(std::unique(writes.begin(), writes.end(), [](const Write& a, const Write& b) { return a.key == b.key; }),
               writes.end());
}

// The records of accounts [begin, end): balances, token and LP balances, one NFT per collection.
WriteSet account_part(const GenesisParams& p, std::uint32_t begin, std::uint32_t end) {
  // Key derivation (an Ed25519 key and a SHA-256 each) dominates: do it in parallel.
  std::vector<Address> addr(end - begin);
  parallel_ranges(addr.size(), 64, [&](std::size_t from, std::size_t to) {
    for (std::size_t i = from; i != to; ++i) addr[i] = account_address(p.seed, static_cast<std::uint32_t>(begin + i));
  });
  WriteSet out;
  auto put = [&](const StateKey& key, Value v) { out.push_back({key, std::move(v)}); };
  AmountRecord token_balance;
  token_balance.amount = p.initial_balance;
  AmountRecord lp;
  lp.amount = genesis_lp_shares(p);
  for (std::uint32_t i = begin; i < end; ++i) {
    const Address& a_addr = addr[i - begin];
    AccountRecord a;
    a.balance = p.initial_balance;
    put(account_key(a_addr), a.encode());
    for (std::uint32_t t = 1; t <= p.tokens; ++t) put(token_balance_key(t, a_addr), token_balance.encode());
    if (p.tokens > 0) {
      for (std::uint32_t q = 0; q < p.pools; ++q) put(lp_balance_key(q, a_addr), lp.encode());
    }
    NftRecord nft;
    nft.owner = a_addr;
    for (std::uint32_t c = 0; c < p.collections; ++c) put(nft_key(c, i), nft.encode());
  }
  sort_unique(out);
  return out;
}

// The records that are not an account's: tokens, pools, collections, validators, proposals.
WriteSet shared_part(const GenesisParams& p) {
  WriteSet out;
  auto put = [&](const StateKey& key, Value v) { out.push_back({key, std::move(v)}); };
  auto address = [&](std::uint32_t i) { return account_address(p.seed, i); };
  const std::uint32_t pools = p.tokens > 0 ? p.pools : 0;
  for (std::uint32_t t = 1; t <= p.tokens; ++t) {
    TokenInfoRecord info;
    const std::uint32_t pools_of_t = pools / p.tokens + (t - 1 < pools % p.tokens ? 1 : 0);
    info.total_supply = p.initial_balance * p.accounts + pool_reserve(p) * pools_of_t;
    if (p.accounts > 0) info.issuer = address((t - 1) % p.accounts);
    put(token_info_key(t), info.encode());
  }
  for (std::uint32_t q = 0; q < pools; ++q) {
    PoolRecord pool;
    pool.token = q % p.tokens + 1;
    pool.reserve_native = pool.reserve_token = pool_reserve(p);
    pool.fee_bps = 30;
    pool.lp_supply = genesis_lp_shares(p) * p.accounts;
    put(pool_key(q), pool.encode());
  }
  for (std::uint32_t c = 0; c < p.collections; ++c) {
    CollectionRecord coll;
    if (p.accounts > 0) coll.creator = address(c % p.accounts);
    coll.royalty_bps = 250;
    coll.next_id = p.accounts;
    put(collection_key(c), coll.encode());
  }
  for (std::uint32_t v = 0; v < p.validators; ++v) {
    ValidatorRecord val;
    val.reward_pool = p.initial_balance * 100;
    val.reward_rate_ppm = 10 + v;
    put(validator_key(v), val.encode());
  }
  for (std::uint32_t q = 0; q < p.proposals; ++q) {
    ProposalRecord prop;
    prop.token = p.tokens > 0 ? q % p.tokens + 1 : 0;
    prop.choices = proposal_choices(q);
    put(proposal_key(q), prop.encode());
  }
  sort_unique(out);
  return out;
}

}  // namespace

void for_each_genesis_part(const GenesisParams& params, std::uint32_t accounts_per_part,
                           const std::function<void(WriteSet&&)>& sink) {
  const std::uint32_t step = std::max<std::uint32_t>(1, accounts_per_part);
  for (std::uint32_t begin = 0; begin < params.accounts; begin += std::min(step, params.accounts - begin)) {
    sink(account_part(params, begin, begin + std::min(step, params.accounts - begin)));
  }
  sink(shared_part(params));
}

WriteSet build_genesis(const GenesisParams& params) {
  WriteSet out;
  for_each_genesis_part(params, params.accounts, [&](WriteSet&& part) {
    out.insert(out.end(), std::make_move_iterator(part.begin()), std::make_move_iterator(part.end()));
  });
  sort_unique(out);
  return out;
}

}  // namespace pel::ledger
