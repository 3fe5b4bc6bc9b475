#include "engine/ledger/workload.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <stdexcept>

#include "crypto/parallel_for.hpp"
#include "engine/ledger/gas.hpp"
#include "engine/ledger/records.hpp"
#include "engine/ledger/state_keys.hpp"

namespace pel::ledger {
namespace {

// SplitMix64 with our own bounded and real draws: std's distributions are implementation-
// defined, and "same seed, same bytes" must not depend on the standard library.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : s_(seed ^ 0x6a09e667f3bcc909ull) {}
  std::uint64_t next() {
    std::uint64_t z = (s_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  /// Uniform in [0, n), n > 0 (multiply-shift; the bias is negligible for these n).
  std::uint64_t below(std::uint64_t n) {
    return static_cast<std::uint64_t>((static_cast<u128>(next()) * n) >> 64);
  }
  /// Uniform in [lo, hi].
  std::uint64_t between(std::uint64_t lo, std::uint64_t hi) { return lo + below(hi - lo + 1); }
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  bool chance(double p) { return unit() < p; }

 private:
  std::uint64_t s_;
};

using Weights = std::vector<std::pair<TxKind, double>>;

Weights workload_weights(const std::string& name) {
  using K = TxKind;
  if (name == "p2p") return {{K::kTransfer, 1}};
  if (name == "token") return {{K::kTokenTransfer, 0.95}, {K::kTokenMint, 0.05}};
  if (name == "swap") return {{K::kSwap, 1}};
  if (name == "nft") return {{K::kNftTransfer, 0.7}, {K::kNftMint, 0.3}};
  if (name == "staking") return {{K::kStake, 0.5}, {K::kClaimRewards, 0.25}, {K::kUnstake, 0.25}};
  if (name == "dao") return {{K::kVote, 1}};
  if (name == "airdrop") return {{K::kAirdrop, 1}};
  if (name == "mix") {
    return {{K::kTransfer, 0.30},        {K::kTokenTransfer, 0.15}, {K::kTokenMint, 0.01},
            {K::kSwap, 0.12},            {K::kAddLiquidity, 0.03},  {K::kRemoveLiquidity, 0.03},
            {K::kNftMint, 0.04},         {K::kNftTransfer, 0.08},   {K::kStake, 0.06},
            {K::kUnstake, 0.02},         {K::kClaimRewards, 0.04},  {K::kVote, 0.06},
            {K::kAirdrop, 0.06}};
  }
  return {};
}

Result<Weights> weights_for(const WorkloadParams& p) {
  if (p.name != "mix" || p.mix_weights.empty()) {
    if (!p.mix_weights.empty()) return error(ErrorCode::kInvalidArgument, "mix weights apply to the 'mix' workload only");
    Weights w = workload_weights(p.name);
    if (w.empty()) return error(ErrorCode::kInvalidArgument, "unknown workload '" + p.name + "'");
    return w;
  }
  Weights w;
  double total = 0;
  for (const auto& [name, weight] : p.mix_weights) {
    std::uint8_t k = 1;
    while (k <= kMaxTxKind && kind_name(static_cast<TxKind>(k)) != name) ++k;
    if (k > kMaxTxKind) return error(ErrorCode::kInvalidArgument, "unknown transaction kind '" + name + "' in mix weights");
    if (!std::isfinite(weight) || weight < 0) {
      return error(ErrorCode::kInvalidArgument, "mix weight of '" + name + "' must be finite and >= 0");
    }
    if (weight > 0) w.emplace_back(static_cast<TxKind>(k), weight);
    total += weight;
  }
  if (!(total > 0) || !std::isfinite(total)) return error(ErrorCode::kInvalidArgument, "mix weights sum to zero");
  // The map iterates by name; order by kind so the draw does not depend on spelling.
  std::sort(w.begin(), w.end());
  return w;
}

}  // namespace

const std::vector<std::string>& workload_names() {
  static const std::vector<std::string> names{"p2p", "token", "swap", "nft", "staking", "dao", "airdrop", "mix"};
  return names;
}

Status WorkloadGenerator::check(const GenesisParams& g, const WorkloadParams& p) {
  PEL_TRY(check_genesis(g));
  Result<Weights> w = weights_for(p);
  if (!w) return w.status();
  auto bad = [](const std::string& why) { return error(ErrorCode::kInvalidArgument, "workload: " + why); };
  if (p.block_size == 0) return bad("block size must be positive");
  if (p.accounts == 0 || p.accounts > g.accounts) {
    return bad("accounts must be in 1.." + std::to_string(g.accounts) + " (genesis accounts), got " +
               std::to_string(p.accounts));
  }
  if (!(p.invalid_fraction >= 0 && p.invalid_fraction <= 1)) return bad("invalid fraction must be in [0, 1]");
  if (!(p.skew >= 0) || !std::isfinite(p.skew)) return bad("skew must be finite and >= 0");
  for (const auto& [kind, weight] : *w) {
    const std::string name(kind_name(kind));
    switch (kind) {
      case TxKind::kTransfer:
      case TxKind::kTokenTransfer:
        if (p.accounts < 2) return bad(name + " needs at least 2 accounts");
        if (kind == TxKind::kTokenTransfer && g.tokens == 0) return bad(name + " needs genesis tokens");
        break;
      case TxKind::kTokenMint:
      case TxKind::kAirdrop:
        if (g.tokens == 0) return bad(name + " needs genesis tokens");
        break;
      case TxKind::kSwap:
      case TxKind::kAddLiquidity:
      case TxKind::kRemoveLiquidity:
        if (g.tokens == 0 || g.pools == 0) return bad(name + " needs genesis pools (and tokens)");
        break;
      case TxKind::kNftMint:
      case TxKind::kNftTransfer:
        if (g.collections == 0) return bad(name + " needs genesis collections");
        break;
      case TxKind::kStake:
      case TxKind::kUnstake:
      case TxKind::kClaimRewards:
        if (g.validators == 0) return bad(name + " needs genesis validators");
        break;
      case TxKind::kVote:
        if (g.proposals == 0) return bad(name + " needs genesis proposals");
        break;
    }
  }
  return Status::ok();
}

// What the generator knows of the chain so that its valid transactions stay valid: nonces,
// who owns which NFT, who delegated how much to whom. Deliberately invalid transactions change
// none of it. An account is loaded when a transaction first names it (its key derived, its
// nonce, genesis NFTs and delegations read from the state followed, or the genesis's), so
// starting costs nothing per account, whatever the state's size.
struct WorkloadGenerator::Model {
  struct Account {
    KeyPair key;
    Address address;
    std::uint64_t nonce = 0;
    std::vector<std::pair<std::uint32_t, std::uint64_t>> nfts;         // (collection, id) owned
    std::vector<std::pair<std::uint32_t, std::uint64_t>> delegations;  // (validator, amount)
  };

  GenesisParams genesis;
  WorkloadParams params;
  Weights weights;
  double weight_total = 0;
  Rng rng;
  std::vector<std::unique_ptr<Account>> accounts;  // by index; loaded on first use
  const BaseState* state = nullptr;                // followed; null: the genesis
  std::vector<double> zipf_cdf;  // empty when uniform
  std::vector<std::uint64_t> next_nft_id;  // per collection

  Model(const GenesisParams& g, WorkloadParams p) : genesis(g), params(std::move(p)), rng(params.seed) {
    weights = std::move(weights_for(params)).value();
    for (const auto& kw : weights) weight_total += kw.second;
    const std::uint32_t n = params.accounts;
    accounts.resize(n);
    if (params.skew > 0) {
      zipf_cdf.resize(n);
      double sum = 0;
      for (std::uint32_t i = 0; i < n; ++i) zipf_cdf[i] = sum += 1.0 / std::pow(i + 1.0, params.skew);
      for (double& c : zipf_cdf) c /= sum;
    }
    next_nft_id.assign(g.collections, g.accounts);
  }

  // A record of the followed state; false when absent or not decodable (then: as in genesis).
  template <typename R>
  bool read(const StateKey& key, R& out) const {
    std::optional<Value> v = state->get(key);
    if (!v) return false;
    Result<R> r = R::decode(as_bytes(*v));
    if (r) out = *r;
    return r.is_ok();
  }

  Account& account(std::uint32_t i) {
    if (accounts[i]) return *accounts[i];
    auto a = std::make_unique<Account>(Account{account_keypair(genesis.seed, i), {}, 0, {}, {}});
    a->address = address_of(a->key.public_key());
    for (std::uint32_t c = 0; c < genesis.collections; ++c) {
      NftRecord nft;
      // Its genesis NFT (c, i), while it still owns it; ones it minted or received in earlier
      // runs are not looked for (that needs every NFT read), only those of this run.
      if (state == nullptr || (read(nft_key(c, i), nft) && nft.owner == a->address)) a->nfts.emplace_back(c, i);
    }
    if (state != nullptr) {
      AccountRecord record;
      if (read(account_key(a->address), record)) a->nonce = record.nonce;
      for (std::uint32_t v = 0; v < genesis.validators; ++v) {
        DelegationRecord d;
        if (read(delegation_key(v, a->address), d) && d.amount > 0) a->delegations.emplace_back(v, d.amount);
      }
    }
    accounts[i] = std::move(a);
    return *accounts[i];
  }
  const Address& address(std::uint32_t i) { return account(i).address; }

  std::uint32_t pick_account() {
    if (zipf_cdf.empty()) return static_cast<std::uint32_t>(rng.below(params.accounts));
    const auto it = std::upper_bound(zipf_cdf.begin(), zipf_cdf.end(), rng.unit());
    return static_cast<std::uint32_t>(std::min<std::size_t>(it - zipf_cdf.begin(), params.accounts - 1));
  }
  std::uint32_t pick_other(std::uint32_t not_this) {
    for (int tries = 0; tries < 64; ++tries) {
      std::uint32_t a = pick_account();
      if (a != not_this) return a;
    }
    return (not_this + 1) % params.accounts;  // extreme skew: give up on the distribution
  }
  std::uint32_t pick_token() { return static_cast<std::uint32_t>(rng.between(1, genesis.tokens)); }
  TxKind pick_kind() {
    double x = rng.unit() * weight_total;
    for (const auto& [kind, w] : weights) {
      if (x < w) return kind;
      x -= w;
    }
    return weights.back().first;
  }

  // A sale of one of the sender's NFTs (a mint when it has none).
  Payload nft_transfer(bool commit, std::uint32_t sender) {
    auto& owned = account(sender).nfts;
    if (owned.empty()) return nft_mint(commit, sender);
    const std::size_t i = rng.below(owned.size());
    const auto [collection, id] = owned[i];
    NftTransferPayload p;
    p.collection = collection;
    p.id = id;
    const std::uint32_t to = pick_other(sender);
    p.to = address(to);
    p.price = rng.chance(0.5) ? 0 : rng.between(1, 1000);
    if (commit) {
      owned[i] = owned.back();
      owned.pop_back();
      account(to).nfts.emplace_back(collection, id);
    }
    return p;
  }

  // Part of one of the sender's delegations back (a stake when it has none).
  Payload unstake(bool commit, std::uint32_t sender) {
    auto& ds = account(sender).delegations;
    if (ds.empty()) return stake(commit, sender);
    const std::size_t i = rng.below(ds.size());
    UnstakePayload p;
    p.validator = ds[i].first;
    p.amount = rng.between(1, ds[i].second);
    if (commit && (ds[i].second -= p.amount) == 0) {
      ds[i] = ds.back();
      ds.pop_back();
    }
    return p;
  }

  // Chooses the sender and payload of one transaction of `kind`; `commit` is false for a
  // transaction that will be made invalid, so the model must not change. A kind whose
  // precondition does not hold for the sender (no NFT, no delegation, not an issuer) falls back
  // to a related kind that is always possible.
  Payload build(TxKind kind, bool commit, std::uint32_t& sender) {
    sender = pick_account();
    switch (kind) {
      case TxKind::kTransfer: {
        TransferPayload p;
        p.to = address(pick_other(sender));
        p.amount = rng.between(1, 100);
        return p;
      }
      case TxKind::kTokenMint: {
        const std::uint32_t token = pick_token();
        const std::uint32_t issuer = (token - 1) % genesis.accounts;
        if (issuer >= params.accounts) break;  // the issuer is outside the accounts used
        sender = issuer;
        TokenMintPayload p;
        p.token = token;
        p.to = address(pick_account());
        p.amount = rng.between(1, 1000);
        return p;
      }
      case TxKind::kTokenTransfer: break;
      case TxKind::kSwap: {
        SwapPayload p;
        p.pool = static_cast<std::uint32_t>(rng.below(genesis.pools));
        p.direction = rng.chance(0.5) ? SwapDirection::kNativeIn : SwapDirection::kTokenIn;
        p.amount_in = rng.between(1, 10'000);
        p.min_out = rng.chance(0.05) ? std::numeric_limits<std::uint64_t>::max() : 0;
        return p;
      }
      case TxKind::kAddLiquidity: {
        AddLiquidityPayload p;
        p.pool = static_cast<std::uint32_t>(rng.below(genesis.pools));
        p.amount_native = rng.between(1'000, 10'000);
        p.amount_token = rng.between(1'000, 10'000);
        return p;
      }
      case TxKind::kRemoveLiquidity: {
        RemoveLiquidityPayload p;
        p.pool = static_cast<std::uint32_t>(rng.below(genesis.pools));
        p.shares = rng.between(1, 50);
        return p;
      }
      case TxKind::kNftMint: return nft_mint(commit, sender);
      case TxKind::kNftTransfer: return nft_transfer(commit, sender);
      case TxKind::kStake: return stake(commit, sender);
      case TxKind::kUnstake: return unstake(commit, sender);
      case TxKind::kClaimRewards: {
        const auto& ds = account(sender).delegations;
        if (ds.empty()) return stake(commit, sender);
        ClaimRewardsPayload p;
        p.validator = ds[rng.below(ds.size())].first;
        return p;
      }
      case TxKind::kVote: {
        VotePayload p;
        p.proposal = static_cast<std::uint32_t>(rng.below(genesis.proposals));
        p.choice = static_cast<std::uint32_t>(rng.below(proposal_choices(p.proposal)));
        p.weight = rng.between(1, 1000);
        return p;
      }
      case TxKind::kAirdrop: {
        AirdropPayload p;
        p.token = pick_token();
        p.amount = rng.between(1, 10);
        p.recipients.resize(rng.between(1, 32));
        for (Address& a : p.recipients) a = address(pick_account());
        return p;
      }
    }
    // Token transfers, and mints that found no usable issuer.
    TokenTransferPayload p;
    p.token = pick_token();
    p.to = address(pick_other(sender));
    p.amount = rng.between(1, 100);
    return p;
  }

  Payload nft_mint(bool commit, std::uint32_t sender) {
    NftMintPayload p;
    p.collection = static_cast<std::uint32_t>(rng.below(genesis.collections));
    if (commit) account(sender).nfts.emplace_back(p.collection, next_nft_id[p.collection]++);
    return p;
  }

  Payload stake(bool commit, std::uint32_t sender) {
    StakePayload p;
    p.validator = static_cast<std::uint32_t>(rng.below(genesis.validators));
    p.amount = rng.between(1, 1000);
    if (commit) {
      auto& ds = account(sender).delegations;
      auto it = std::find_if(ds.begin(), ds.end(), [&](const auto& d) { return d.first == p.validator; });
      if (it == ds.end()) ds.emplace_back(p.validator, p.amount); else it->second += p.amount;
    }
    return p;
  }
};

WorkloadGenerator::WorkloadGenerator(const GenesisParams& genesis, WorkloadParams params) {
  Status s = check(genesis, params);
  if (!s) throw std::invalid_argument(s.to_string());
  m_ = std::make_unique<Model>(genesis, std::move(params));
}

WorkloadGenerator::~WorkloadGenerator() = default;

void WorkloadGenerator::sync_with_state(const BaseState& state) {
  Model& m = *m_;
  const bool first = m.state == nullptr;
  m.state = &state;
  if (!first) return;
  for (std::uint32_t c = 0; c < m.genesis.collections; ++c) {
    CollectionRecord coll;
    if (m.read(collection_key(c), coll)) m.next_nft_id[c] = coll.next_id;
  }
}

std::vector<Transaction> WorkloadGenerator::next_block() {
  enum class Flaw : std::uint8_t { kNone, kSignature, kNonce, kChain, kPayload };
  Model& m = *m_;
  const std::size_t n = m.params.block_size;
  std::vector<Transaction> block(n);
  std::vector<std::uint32_t> signer(n);
  std::vector<Flaw> flaws(n, Flaw::kNone);
  // Every random decision is made here, in order; only signing runs in parallel below.
  for (std::size_t i = 0; i < n; ++i) {
    if (m.rng.chance(m.params.invalid_fraction)) flaws[i] = static_cast<Flaw>(1 + m.rng.below(4));
    const TxKind kind = m.pick_kind();
    Transaction& tx = block[i];
    tx = make_transaction(m.build(kind, flaws[i] == Flaw::kNone, signer[i]));
    std::uint64_t& nonce = m.account(signer[i]).nonce;
    tx.nonce = nonce;
    const std::size_t keys = 8 + (tx.kind == TxKind::kAirdrop ? kMaxAirdropRecipients : 0);
    tx.gas_limit = gas::base(tx.kind) + tx.payload.size() * gas::kPerPayloadByte +
                   keys * (gas::kPerRead + gas::kPerWrite);
    tx.max_fee_per_gas = 1;
    tx.chain_id = m.genesis.chain_id;
    switch (flaws[i]) {
      case Flaw::kNone: ++nonce; break;
      case Flaw::kNonce: tx.nonce += 1 + m.rng.below(4); break;
      case Flaw::kChain: tx.chain_id += 1; break;
      case Flaw::kPayload: tx.payload.push_back(0); break;  // a trailing byte: strict decode fails
      case Flaw::kSignature: break;                          // spoiled after signing
    }
  }
  parallel_ranges(n, 16, [&](std::size_t begin, std::size_t end) {
    for (std::size_t i = begin; i != end; ++i) {
      block[i].sign(m.accounts[signer[i]]->key);  // loaded above: read-only here
      if (flaws[i] == Flaw::kSignature) block[i].signature.bytes[0] ^= 0x01;
    }
  });
  return block;
}

}  // namespace pel::ledger
