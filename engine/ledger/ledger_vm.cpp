#include "engine/ledger/ledger_vm.hpp"

#include <algorithm>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "engine/ledger/gas.hpp"
#include "engine/ledger/receipt.hpp"
#include "engine/ledger/records.hpp"
#include "engine/ledger/state_keys.hpp"

namespace pel::ledger {
namespace {

constexpr std::uint64_t kU64Max = std::numeric_limits<std::uint64_t>::max();

std::string str(std::uint64_t v) { return std::to_string(v); }

// floor(sqrt(n)) for the first liquidity deposit; the root of a u128 fits 64 bits.
std::uint64_t isqrt(u128 n) {
  std::uint64_t lo = 0, hi = kU64Max;
  while (lo < hi) {
    std::uint64_t mid = lo + (hi - lo) / 2 + 1;
    if (static_cast<u128>(mid) * mid <= n) lo = mid; else hi = mid - 1;
  }
  return lo;
}

// The credit `total` to the balance `key` holds (an account's coin, a token or LP amount, or a
// choice's tally), applied to `base` (nullopt: none yet): LedgerVm::apply_delta, and a
// transaction reading a key it credited before. Fails on a record that does not decode, and
// past the record's bound, which a valid chain never reaches: every balance is part of its
// coin's supply, which fits 64 bits (check_genesis; a mint fails before the supply overflows),
// and a tally has 128 bits (TallyRecord).
Result<Value> credited(const StateKey& key, const std::optional<Value>& base, DeltaSum total) {
  auto add = [&]<typename N>(N& balance) -> Status {
    if (total > std::numeric_limits<N>::max() - balance) {
      return error(ErrorCode::kInvalidArgument, "balance overflow at key " + key.hex());
    }
    balance += static_cast<N>(total);
    return Status::ok();
  };
  auto credit = [&]<typename R, typename N>(R record, N R::*balance) -> Result<Value> {
    if (base) {
      Result<R> r = R::decode(as_bytes(*base));
      if (!r) return error(ErrorCode::kCorruption, "corrupt record at key " + key.hex() + ": " + r.status().message());
      record = std::move(r).value();
    }
    PEL_TRY(add(record.*balance));
    return Value(record.encode());
  };
  switch (static_cast<KeyKind>(key.tag())) {
    case KeyKind::kAccount: return credit(AccountRecord{}, &AccountRecord::balance);
    case KeyKind::kTokenBalance:
    case KeyKind::kLpBalance:
    case KeyKind::kValidatorStake: return credit(AmountRecord{}, &AmountRecord::amount);
    case KeyKind::kTally: return credit(TallyRecord{}, &TallyRecord::amount);
    default: return error(ErrorCode::kInvalidArgument, "key " + key.hex() + " holds no balance");
  }
}

// One execution of one transaction: reads go to the engine's reader once per key (and are
// metered), writes stay pending here so the transaction reads its own writes, and a failure
// records why. Everything lives on the stack of execute(): nothing is shared between threads.
class Txn {
 public:
  Txn(StateReader& reader, const BlockContext& block, bool log_reads)
      : reader_(reader), block_(block), log_reads_(log_reads) {
    slots_.reserve(8);
  }

  const BlockContext& block() const { return block_; }
  Address sender;

  // ---- gas and failure ----
  void set_gas_limit(std::uint64_t limit) { gas_limit_ = limit; }
  std::uint64_t gas_used() const { return gas_used_; }
  bool charge(std::uint64_t amount) {
    if (amount > gas_limit_ - std::min(gas_used_, gas_limit_)) {
      gas_used_ = gas_limit_;
      return fail("out of gas");
    }
    gas_used_ += amount;
    return true;
  }
  bool fail(std::string why) {
    if (reason_.empty()) reason_ = std::move(why);
    return false;
  }
  const std::string& reason() const { return reason_; }

  // ---- records ----
  /// Reads the record under `key` into `out`; found is false when there is none.
  template <typename R>
  bool get(const StateKey& key, R& out, bool& found) {
    Slot* s = load(key);
    if (s == nullptr) return false;
    found = s->value.has_value();
    if (!found) return true;
    Result<R> r = R::decode(as_bytes(*s->value));
    if (!r) return fail("corrupt record at key " + key.hex() + ": " + r.status().message());
    out = std::move(r).value();
    return true;
  }
  /// A missing record reads as the default (zero balances).
  template <typename R>
  bool get_or_default(const StateKey& key, R& out) {
    bool found = false;
    out = R{};
    return get(key, out, found);
  }
  /// A record that must exist: "unknown pool 7" otherwise.
  template <typename R>
  bool require(const StateKey& key, R& out, const char* what, std::uint64_t id) {
    bool found = false;
    if (!get(key, out, found)) return false;
    return found || fail(std::string("unknown ") + what + " " + str(id));
  }
  template <typename R>
  void put(const StateKey& key, const R& rec) {
    Slot& s = slot(key);
    s.value = rec.encode();
    s.dirty = true;
  }
  void erase(const StateKey& key) {
    Slot& s = slot(key);
    s.value.reset();
    s.dirty = true;
  }

  // ---- arithmetic and balances ----
  bool add_to(std::uint64_t& x, std::uint64_t v) {
    if (x > kU64Max - v) return fail("arithmetic overflow");
    x += v;
    return true;
  }
  bool sub_from(std::uint64_t& x, std::uint64_t v, const char* what) {
    if (x < v) return fail(std::string("insufficient ") + what + ": have " + str(x) + ", need " + str(v));
    x -= v;
    return true;
  }
  /// Credits are deltas unless the transaction read the balance (see credit()).
  bool native_add(const Address& a, std::uint64_t v) { return add_to_record(account_key(a), &AccountRecord::balance, v); }
  bool native_sub(const Address& a, std::uint64_t v) {
    AccountRecord r;
    const StateKey key = account_key(a);
    if (!get_or_default(key, r) || !sub_from(r.balance, v, "balance")) return false;
    put(key, r);
    return true;
  }
  bool amount_add(const StateKey& key, std::uint64_t v) { return add_to_record(key, &AmountRecord::amount, v); }
  bool amount_sub(const StateKey& key, std::uint64_t v, const char* what) {
    AmountRecord r;
    if (!get_or_default(key, r) || !sub_from(r.amount, v, what)) return false;
    put(key, r);
    return true;
  }
  bool tally_add(const StateKey& key, std::uint64_t v) { return add_to_record(key, &TallyRecord::amount, v); }
  bool tally_sub(const StateKey& key, std::uint64_t v) {
    TallyRecord r;
    if (!get_or_default(key, r)) return false;
    if (r.amount < v) return fail("corrupt tally at " + key.hex() + ": below a vote it holds");
    r.amount -= v;
    put(key, r);
    return true;
  }

  // ---- output ----
  std::size_t written_keys() const {
    return static_cast<std::size_t>(std::count_if(slots_.begin(), slots_.end(), [](const Slot& s) { return s.dirty; }));
  }
  WriteSet take_writes() {
    WriteSet out;
    out.reserve(slots_.size());
    for (Slot& s : slots_) {
      if (s.dirty && !s.credit) out.push_back({s.key, std::move(s.value)});
    }
    return out;
  }
  DeltaSet take_credits() const {
    DeltaSet out;
    for (const Slot& s : slots_) {
      if (s.credit) out.push_back({s.key, s.credited});
    }
    return out;
  }
  /// `rounds` of SHA-256 over (previous digest || every key and value read, in read order).
  Hash256 work_digest(std::uint32_t rounds) {
    Bytes buf(32);
    buf.insert(buf.end(), read_log_.begin(), read_log_.end());
    Hash256 d;
    for (std::uint32_t i = 0; i < rounds; ++i) {
      std::copy(d.bytes.begin(), d.bytes.end(), buf.begin());
      d = sha256(buf);
    }
    return d;
  }

 private:
  struct Slot {
    std::size_t hash;
    StateKey key;
    std::optional<Value> value;
    bool dirty = false;
    bool credit = false;          // not read: `credited` is added to it as a delta
    std::uint64_t credited = 0;
  };

  // Adds `v` to the `field` of the record R at `key` (absent: a default record): a credit, the
  // engine's delta, unless this transaction read the key, then an exact update.
  template <typename R, typename N>
  bool add_to_record(const StateKey& key, N R::*field, std::uint64_t v) {
    if (!read_already(key)) return credit(key, v);
    R r;
    if (!get_or_default(key, r)) return false;
    if (r.*field > std::numeric_limits<N>::max() - v) return fail("arithmetic overflow");
    r.*field += v;
    put(key, r);
    return true;
  }
  bool read_already(const StateKey& key) {
    const Slot* s = find(key, StateKeyHash{}(key));
    return s != nullptr && !s->credit;
  }
  // A credit to a balance this transaction has not read is a delta: the engine adds it without
  // the transaction reading the balance, so transactions crediting one account (an exchange,
  // an airdrop's recipients, a creator's royalties) do not conflict. It pays the read gas an
  // exact credit pays, so fees are the same either way. Reading the balance later in the same
  // transaction applies the credit and makes it a plain write.
  bool credit(const StateKey& key, std::uint64_t v) {
    const std::size_t h = StateKeyHash{}(key);
    if (Slot* s = find(key, h)) {
      return add_to(s->credited, v);
    }
    if (!charge(gas::kPerRead)) return false;
    slots_.push_back({h, key, std::nullopt, true, true, v});
    return true;
  }
  // Turns a credit slot into a read one: the balance read now, the credit applied.
  bool apply_credit(Slot& s) {
    std::optional<Value> v = reader_.read(s.key);
    log_read(s.key, v);
    Result<Value> applied = credited(s.key, v, s.credited);
    if (!applied) return fail(applied.status().message());
    s.value = std::move(applied).value();
    s.credit = false;
    s.credited = 0;
    return true;
  }
  void log_read(const StateKey& key, const std::optional<Value>& v) {
    if (!log_reads_) return;
    read_log_.insert(read_log_.end(), key.bytes.begin(), key.bytes.end());
    if (v) read_log_.insert(read_log_.end(), v->begin(), v->end());
  }

  // Transactions touch a handful of keys (an airdrop up to 258): a linear scan on a
  // precomputed hash beats a node-based map, which would allocate per key.
  Slot* find(const StateKey& key, std::size_t h) {
    for (Slot& s : slots_) {
      if (s.hash == h && s.key == key) return &s;
    }
    return nullptr;
  }
  Slot* load(const StateKey& key) {
    const std::size_t h = StateKeyHash{}(key);
    if (Slot* s = find(key, h)) return !s->credit || apply_credit(*s) ? s : nullptr;
    if (!charge(gas::kPerRead)) return nullptr;
    std::optional<Value> v = reader_.read(key);
    log_read(key, v);
    slots_.push_back({h, key, std::move(v), false});
    return &slots_.back();
  }
  // A blind write needs no read: it neither costs read gas nor enters the read set.
  Slot& slot(const StateKey& key) {
    const std::size_t h = StateKeyHash{}(key);
    if (Slot* s = find(key, h)) return *s;
    slots_.push_back({h, key, std::nullopt, false});
    return slots_.back();
  }

  StateReader& reader_;
  const BlockContext& block_;
  const bool log_reads_;
  std::vector<Slot> slots_;
  Bytes read_log_;
  std::uint64_t gas_used_ = 0;
  std::uint64_t gas_limit_ = kU64Max;  // unmetered until the transaction is admitted
  std::string reason_;
};

// ---- one function per kind: true on success, else t.reason() says why ----

bool apply(Txn& t, const TransferPayload& p) {
  return t.native_sub(t.sender, p.amount) && t.native_add(p.to, p.amount);
}

bool apply(Txn& t, const TokenMintPayload& p) {
  TokenInfoRecord info;
  if (!t.require(token_info_key(p.token), info, "token", p.token)) return false;
  if (info.issuer != t.sender) return t.fail("not the issuer of token " + str(p.token));
  if (!t.add_to(info.total_supply, p.amount)) return false;
  t.put(token_info_key(p.token), info);
  return t.amount_add(token_balance_key(p.token, p.to), p.amount);
}

bool apply(Txn& t, const TokenTransferPayload& p) {
  TokenInfoRecord info;
  return t.require(token_info_key(p.token), info, "token", p.token) &&
         t.amount_sub(token_balance_key(p.token, t.sender), p.amount, "token balance") &&
         t.amount_add(token_balance_key(p.token, p.to), p.amount);
}

// Constant product with the fee taken from the input:
//   out = in*(1 - fee) * R_out / (R_in + in*(1 - fee)), rounded down, so R_in*R_out never falls.
bool apply(Txn& t, const SwapPayload& p) {
  PoolRecord pool;
  if (!t.require(pool_key(p.pool), pool, "pool", p.pool)) return false;
  const bool native_in = p.direction == SwapDirection::kNativeIn;
  std::uint64_t& r_in = native_in ? pool.reserve_native : pool.reserve_token;
  std::uint64_t& r_out = native_in ? pool.reserve_token : pool.reserve_native;
  if (p.amount_in == 0) return t.fail("swap amount is zero");
  const u128 in_after_fee = static_cast<u128>(p.amount_in) * (kBpsDenominator - pool.fee_bps);
  u128 numerator = 0;
  if (__builtin_mul_overflow(in_after_fee, static_cast<u128>(r_out), &numerator)) {
    return t.fail("arithmetic overflow");
  }
  const u128 denominator = static_cast<u128>(r_in) * kBpsDenominator + in_after_fee;  // > 0
  const auto out = static_cast<std::uint64_t>(numerator / denominator);  // < r_out
  if (out < p.min_out) return t.fail("slippage: out " + str(out) + " < min " + str(p.min_out));
  if (out == 0) return t.fail("swap output is zero");
  const StateKey token_key = token_balance_key(pool.token, t.sender);
  const bool paid = native_in ? t.native_sub(t.sender, p.amount_in)
                              : t.amount_sub(token_key, p.amount_in, "token balance");
  if (!paid || !t.add_to(r_in, p.amount_in)) return false;
  r_out -= out;
  t.put(pool_key(p.pool), pool);
  return native_in ? t.amount_add(token_key, out) : t.native_add(t.sender, out);
}

bool apply(Txn& t, const AddLiquidityPayload& p) {
  PoolRecord pool;
  if (!t.require(pool_key(p.pool), pool, "pool", p.pool)) return false;
  if (p.amount_native == 0 || p.amount_token == 0) return t.fail("liquidity amounts must be positive");
  u128 shares = 0;
  if (pool.lp_supply == 0) {
    shares = isqrt(static_cast<u128>(p.amount_native) * p.amount_token);
  } else {
    if (pool.reserve_native == 0 || pool.reserve_token == 0) return t.fail("pool " + str(p.pool) + " is empty");
    shares = std::min(static_cast<u128>(p.amount_native) * pool.lp_supply / pool.reserve_native,
                      static_cast<u128>(p.amount_token) * pool.lp_supply / pool.reserve_token);
  }
  if (shares > kU64Max) return t.fail("arithmetic overflow");
  const auto minted = static_cast<std::uint64_t>(shares);
  if (minted == 0) return t.fail("liquidity too small: no shares");
  if (minted < p.min_shares) return t.fail("slippage: shares " + str(minted) + " < min " + str(p.min_shares));
  if (!t.native_sub(t.sender, p.amount_native) ||
      !t.amount_sub(token_balance_key(pool.token, t.sender), p.amount_token, "token balance") ||
      !t.add_to(pool.reserve_native, p.amount_native) || !t.add_to(pool.reserve_token, p.amount_token) ||
      !t.add_to(pool.lp_supply, minted)) {
    return false;
  }
  t.put(pool_key(p.pool), pool);
  return t.amount_add(lp_balance_key(p.pool, t.sender), minted);
}

bool apply(Txn& t, const RemoveLiquidityPayload& p) {
  PoolRecord pool;
  if (!t.require(pool_key(p.pool), pool, "pool", p.pool)) return false;
  if (p.shares == 0) return t.fail("zero shares");
  if (!t.amount_sub(lp_balance_key(p.pool, t.sender), p.shares, "LP shares")) return false;
  if (pool.lp_supply < p.shares) return t.fail("corrupt pool " + str(p.pool) + ": shares exceed supply");
  const auto out_native = static_cast<std::uint64_t>(static_cast<u128>(p.shares) * pool.reserve_native / pool.lp_supply);
  const auto out_token = static_cast<std::uint64_t>(static_cast<u128>(p.shares) * pool.reserve_token / pool.lp_supply);
  if (out_native < p.min_native) return t.fail("slippage: native out " + str(out_native) + " < min " + str(p.min_native));
  if (out_token < p.min_token) return t.fail("slippage: token out " + str(out_token) + " < min " + str(p.min_token));
  pool.reserve_native -= out_native;
  pool.reserve_token -= out_token;
  pool.lp_supply -= p.shares;
  t.put(pool_key(p.pool), pool);
  return t.native_add(t.sender, out_native) &&
         t.amount_add(token_balance_key(pool.token, t.sender), out_token);
}

bool apply(Txn& t, const NftMintPayload& p) {
  CollectionRecord c;
  if (!t.require(collection_key(p.collection), c, "collection", p.collection)) return false;
  const std::uint64_t id = c.next_id;
  if (!t.add_to(c.next_id, 1)) return false;
  t.put(collection_key(p.collection), c);
  NftRecord nft;
  nft.owner = t.sender;
  t.put(nft_key(p.collection, id), nft);  // ids are never reused, so a blind write
  return true;
}

bool apply(Txn& t, const NftTransferPayload& p) {
  NftRecord nft;
  bool found = false;
  if (!t.get(nft_key(p.collection, p.id), nft, found)) return false;
  auto name = [&] { return str(p.collection) + "/" + str(p.id); };
  if (!found) return t.fail("unknown nft " + name());
  if (nft.owner != t.sender) return t.fail("not the owner of nft " + name());
  if (p.price > 0) {
    // Only a sale reads the collection, so plain transfers do not conflict with its mints.
    CollectionRecord c;
    if (!t.require(collection_key(p.collection), c, "collection", p.collection)) return false;
    const auto royalty = static_cast<std::uint64_t>(static_cast<u128>(p.price) * c.royalty_bps / kBpsDenominator);
    if (!t.native_sub(p.to, p.price) || !t.native_add(t.sender, p.price - royalty) ||
        !t.native_add(c.creator, royalty)) {
      return false;
    }
  }
  nft.owner = p.to;
  t.put(nft_key(p.collection, p.id), nft);
  return true;
}

// Pays the delegation's rewards since its last settlement out of the validator's reward pool
// (at most what the pool holds), writing the validator record when it pays, and moves the
// settlement height to this block.
bool settle(Txn& t, std::uint32_t validator, ValidatorRecord& v, DelegationRecord& d) {
  const std::uint64_t height = t.block().height;
  if (height > d.since_height && d.amount > 0) {
    u128 reward = 0;
    if (__builtin_mul_overflow(static_cast<u128>(d.amount) * v.reward_rate_ppm,
                               static_cast<u128>(height - d.since_height), &reward)) {
      return t.fail("arithmetic overflow");
    }
    const auto paid = static_cast<std::uint64_t>(std::min<u128>(reward / 1'000'000, v.reward_pool));
    if (paid > 0) {
      v.reward_pool -= paid;
      t.put(validator_key(validator), v);
      if (!t.native_add(t.sender, paid)) return false;
    }
  }
  d.since_height = height;
  return true;
}

bool apply(Txn& t, const StakePayload& p) {
  ValidatorRecord v;
  DelegationRecord d;
  bool found = false;
  const StateKey dkey = delegation_key(p.validator, t.sender);
  if (!t.require(validator_key(p.validator), v, "validator", p.validator) || !t.get(dkey, d, found) ||
      !settle(t, p.validator, v, d) || !t.native_sub(t.sender, p.amount) || !t.add_to(d.amount, p.amount) ||
      !t.amount_add(validator_stake_key(p.validator), p.amount)) {
    return false;
  }
  t.put(dkey, d);
  return true;
}

bool apply(Txn& t, const UnstakePayload& p) {
  ValidatorRecord v;
  DelegationRecord d;
  const StateKey dkey = delegation_key(p.validator, t.sender);
  if (!t.require(validator_key(p.validator), v, "validator", p.validator) ||
      !t.require(dkey, d, "delegation to validator", p.validator) || !settle(t, p.validator, v, d) ||
      !t.sub_from(d.amount, p.amount, "stake") ||
      !t.amount_sub(validator_stake_key(p.validator), p.amount, "validator stake") ||
      !t.native_add(t.sender, p.amount)) {
    return false;
  }
  if (d.amount == 0) t.erase(dkey); else t.put(dkey, d);
  return true;
}

bool apply(Txn& t, const ClaimRewardsPayload& p) {
  ValidatorRecord v;
  DelegationRecord d;
  const StateKey dkey = delegation_key(p.validator, t.sender);
  if (!t.require(validator_key(p.validator), v, "validator", p.validator) ||
      !t.require(dkey, d, "delegation to validator", p.validator) || !settle(t, p.validator, v, d)) {
    return false;
  }
  t.put(dkey, d);
  return true;
}

bool apply(Txn& t, const VotePayload& p) {
  ProposalRecord prop;
  if (!t.require(proposal_key(p.proposal), prop, "proposal", p.proposal)) return false;
  if (p.choice >= prop.choices) {
    return t.fail("no choice " + str(p.choice) + " on proposal " + str(p.proposal));
  }
  // Weight is bounded by the balance now (the native balance net of the reserved gas).
  std::uint64_t balance = 0;
  if (prop.token == 0) {
    AccountRecord a;
    if (!t.get_or_default(account_key(t.sender), a)) return false;
    balance = a.balance;
  } else {
    AmountRecord a;
    if (!t.get_or_default(token_balance_key(prop.token, t.sender), a)) return false;
    balance = a.amount;
  }
  if (p.weight > balance) return t.fail("vote weight " + str(p.weight) + " exceeds balance " + str(balance));
  const StateKey vkey = vote_key(p.proposal, t.sender);
  VoteRecord old;
  bool voted = false;
  if (!t.get(vkey, old, voted)) return false;
  if (voted) {  // a new vote replaces the old one
    if (old.choice >= prop.choices) return t.fail("corrupt vote record at " + vkey.hex());
    if (!t.tally_sub(tally_key(p.proposal, old.choice), old.weight)) return false;
  }
  // A credit to the tally, a delta unless the old vote's subtraction read it: votes for one
  // choice do not conflict.
  if (!t.tally_add(tally_key(p.proposal, p.choice), p.weight)) return false;
  VoteRecord vote;
  vote.choice = p.choice;
  vote.weight = p.weight;
  t.put(vkey, vote);
  return true;
}

bool apply(Txn& t, const AirdropPayload& p) {
  TokenInfoRecord info;
  if (!t.require(token_info_key(p.token), info, "token", p.token)) return false;
  const u128 total = static_cast<u128>(p.amount) * p.recipients.size();
  if (total > kU64Max) return t.fail("arithmetic overflow");
  if (!t.amount_sub(token_balance_key(p.token, t.sender), static_cast<std::uint64_t>(total), "token balance")) {
    return false;
  }
  for (const Address& to : p.recipients) {
    if (!t.amount_add(token_balance_key(p.token, to), p.amount)) return false;
  }
  return true;
}

}  // namespace

LedgerVm::LedgerVm(const BlockContext& ctx, std::span<const Transaction> txns,
                   std::span<const std::uint8_t> signature_ok, LedgerOptions options)
    : ctx_(ctx), txns_(txns), signature_ok_(signature_ok), options_(options) {
  PEL_ASSERT(signature_ok.size() == txns.size(), "one signature flag per transaction");
}

TxnOutput LedgerVm::execute(TxnIndex index, StateReader& reader) const {
  const Transaction& tx = txns_[index];
  Txn t(reader, ctx_, options_.work > 0);
  Receipt receipt;
  auto output = [&](WriteSet writes, DeltaSet deltas = {}) {
    // Skip the extra work of a doomed execution: the engine discards its output anyway. Only
    // where there is work to skip: asking re-checks every read, which costs cross-core cache
    // traffic that a plain transaction does not repay (about 5% of p2p at 2 threads).
    if (options_.work > 0 && reader.aborted()) return TxnOutput{};
    if (options_.work > 0) receipt.work_digest = t.work_digest(options_.work);
    const Bytes encoded = receipt.encode();
    return TxnOutput{std::move(writes), std::string(encoded.begin(), encoded.end()), {}, std::move(deltas)};
  };
  auto discard = [&](std::string why) {
    receipt.status = TxStatus::kDiscarded;
    receipt.reason = std::move(why);
    return output({});
  };

  // Admission: any failure here leaves no trace but the receipt.
  if (signature_ok_[index] == 0) return discard(std::string(kBadSignatureReason));
  if (tx.chain_id != ctx_.chain_id) {
    return discard("wrong chain id: expected " + str(ctx_.chain_id) + ", got " + str(tx.chain_id));
  }
  Result<Payload> payload = decode_payload(tx.kind, tx.payload);
  if (!payload) return discard("malformed payload: " + payload.status().message());
  t.sender = address_of(tx.sender);
  const StateKey sender_key = account_key(t.sender);
  AccountRecord account;
  if (!t.get_or_default(sender_key, account)) return discard(t.reason());
  if (account.nonce != tx.nonce) {
    return discard("nonce mismatch: expected " + str(account.nonce) + ", got " + str(tx.nonce));
  }

  // Admitted: from here on the sender pays for what it uses, success or not.
  const AccountRecord before = account;
  t.set_gas_limit(tx.gas_limit);
  const u128 max_fee = static_cast<u128>(tx.gas_limit) * tx.max_fee_per_gas;
  bool ok = t.charge(gas::base(tx.kind) + tx.payload.size() * gas::kPerPayloadByte);
  if (ok && max_fee > account.balance) {
    ok = t.fail("insufficient balance for gas: have " + str(account.balance) + ", need " +
                (max_fee > kU64Max ? std::string("more than 2^64") : str(static_cast<std::uint64_t>(max_fee))));
  }
  if (ok) {
    // Reserve the most the transaction can cost, so what it spends cannot eat its fee; the
    // unused gas is refunded below.
    account.balance -= static_cast<std::uint64_t>(max_fee);
    account.nonce += 1;
    t.put(sender_key, account);
    ok = std::visit([&](const auto& p) { return apply(t, p); }, *payload) &&
         t.charge(t.written_keys() * gas::kPerWrite);
  }
  if (ok) {
    receipt.fee = t.gas_used() * tx.max_fee_per_gas;  // <= max_fee
    ok = t.get_or_default(sender_key, account) &&
         t.add_to(account.balance, static_cast<std::uint64_t>(max_fee) - receipt.fee);
    if (ok) {
      t.put(sender_key, account);
      receipt.gas_used = t.gas_used();
      return output(t.take_writes(), t.take_credits());
    }
  }
  // Failed: drop every pending write; the sender pays for the gas used and the nonce moves.
  receipt.status = TxStatus::kFailed;
  receipt.reason = t.reason();
  receipt.gas_used = t.gas_used();
  receipt.fee = static_cast<std::uint64_t>(
      std::min<u128>(static_cast<u128>(receipt.gas_used) * tx.max_fee_per_gas, before.balance));
  AccountRecord charged = before;
  charged.balance -= receipt.fee;
  charged.nonce += 1;
  return output({Write{sender_key, charged.encode()}});
}

namespace {

// The keys each kind writes a value to that its payload names, beside the sender's account.
// Keys it only credits (a recipient's balance, a validator's total stake, a tally) are adds,
// deltas that conflict with no other add, declared apart (declare_add): declared as writes,
// they would make their readers wait.
void declare(const Address&, const TransferPayload&, DeclaredWrites&) {}
void declare(const Address&, const TokenMintPayload& p, DeclaredWrites& out) { out.push_back(token_info_key(p.token)); }
void declare(const Address& sender, const TokenTransferPayload& p, DeclaredWrites& out) {
  out.push_back(token_balance_key(p.token, sender));
}
void declare(const Address&, const SwapPayload& p, DeclaredWrites& out) { out.push_back(pool_key(p.pool)); }
void declare(const Address&, const AddLiquidityPayload& p, DeclaredWrites& out) { out.push_back(pool_key(p.pool)); }
void declare(const Address& sender, const RemoveLiquidityPayload& p, DeclaredWrites& out) {
  out.push_back(pool_key(p.pool));
  out.push_back(lp_balance_key(p.pool, sender));
}
void declare(const Address&, const NftMintPayload& p, DeclaredWrites& out) { out.push_back(collection_key(p.collection)); }
void declare(const Address&, const NftTransferPayload& p, DeclaredWrites& out) {
  out.push_back(nft_key(p.collection, p.id));
  if (p.price > 0) out.push_back(account_key(p.to));  // the buyer pays: a read and a write
}
// Staking, unstaking and claiming all settle the sender's delegation against its validator
// (which writes the validator record only when rewards are due: known from state alone). An
// unstake also subtracts from the validator's total, which a stake only adds to.
void declare(const Address& sender, const StakePayload& p, DeclaredWrites& out) {
  out.push_back(delegation_key(p.validator, sender));
}
void declare(const Address& sender, const UnstakePayload& p, DeclaredWrites& out) {
  out.push_back(validator_stake_key(p.validator));
  out.push_back(delegation_key(p.validator, sender));
}
void declare(const Address& sender, const ClaimRewardsPayload& p, DeclaredWrites& out) {
  out.push_back(delegation_key(p.validator, sender));
}
void declare(const Address& sender, const VotePayload& p, DeclaredWrites& out) {
  out.push_back(vote_key(p.proposal, sender));
}
void declare(const Address& sender, const AirdropPayload& p, DeclaredWrites& out) {
  out.push_back(token_balance_key(p.token, sender));
}

// The keys each kind only credits that its payload names (see declare_adds).
void declare_add(const Address&, const TransferPayload& p, DeclaredWrites& out) { out.push_back(account_key(p.to)); }
void declare_add(const Address&, const TokenMintPayload& p, DeclaredWrites& out) {
  out.push_back(token_balance_key(p.token, p.to));
}
void declare_add(const Address&, const TokenTransferPayload& p, DeclaredWrites& out) {
  out.push_back(token_balance_key(p.token, p.to));
}
void declare_add(const Address& sender, const AddLiquidityPayload& p, DeclaredWrites& out) {
  out.push_back(lp_balance_key(p.pool, sender));
}
void declare_add(const Address&, const StakePayload& p, DeclaredWrites& out) {
  out.push_back(validator_stake_key(p.validator));
}
void declare_add(const Address&, const VotePayload& p, DeclaredWrites& out) {
  out.push_back(tally_key(p.proposal, p.choice));
}
void declare_add(const Address&, const AirdropPayload& p, DeclaredWrites& out) {
  for (const Address& to : p.recipients) out.push_back(token_balance_key(p.token, to));
}
// The other kinds credit no key their payload names: what they credit is known only from state
// (a pool's token, an NFT's owner and creator) or is the sender's account, which they read.
// Each kind says so here: a kind added to PEL_TX_KINDS without both declarations does not
// compile (std::visit needs an overload for every payload).
void declare_add(const Address&, const SwapPayload&, DeclaredWrites&) {}
void declare_add(const Address&, const RemoveLiquidityPayload&, DeclaredWrites&) {}
void declare_add(const Address&, const NftMintPayload&, DeclaredWrites&) {}
void declare_add(const Address&, const NftTransferPayload&, DeclaredWrites&) {}
void declare_add(const Address&, const UnstakePayload&, DeclaredWrites&) {}
void declare_add(const Address&, const ClaimRewardsPayload&, DeclaredWrites&) {}

// Both declarations of one transaction from one decoding of its payload; either output may be
// null. A payload that does not decode declares only the sender's account.
void declare_transaction(const Transaction& tx, DeclaredWrites* writes, DeclaredWrites* adds) {
  const Address sender = address_of(tx.sender);
  if (writes != nullptr) writes->push_back(account_key(sender));
  Result<Payload> payload = decode_payload(tx.kind, tx.payload);
  if (!payload) return;
  std::visit(
      [&](const auto& p) {
        if (writes != nullptr) declare(sender, p, *writes);
        if (adds != nullptr) declare_add(sender, p, *adds);
      },
      *payload);
}

}  // namespace

void LedgerVm::declare_adds(TxnIndex index, DeclaredWrites& out) const { declare_transaction(txns_[index], nullptr, &out); }

void LedgerVm::declare_writes(TxnIndex index, DeclaredWrites& out) const {
  declare_transaction(txns_[index], &out, nullptr);
}

BlockDeclarations declare_block(std::span<const Transaction> txns) {
  return BlockDeclarations::build(txns.size(), [txns](TxnIndex txn, DeclaredWrites& writes, DeclaredWrites& adds) {
    declare_transaction(txns[txn], &writes, &adds);
  });
}

Value LedgerVm::apply_delta(const StateKey& key, const std::optional<Value>& base, DeltaSum total) const {
  Result<Value> value = credited(key, base, total);
  if (!value) throw std::runtime_error(value.status().message());
  return std::move(value).value();
}

WriteSet LedgerVm::finish_block(std::span<const TxnOutput> outputs, StateReader& state) const {
  std::uint64_t fees = 0;
  for (const TxnOutput& out : outputs) {
    if (!out.vm_error.empty()) continue;  // the engine's record of a VM failure: no fee
    Result<Receipt> r = Receipt::decode(as_bytes(out.receipt));
    PEL_ASSERT(r.is_ok(), "the ledger VM's own receipt does not decode");
    // Fees come out of balances, so their sum fits wherever the balances did.
    PEL_ASSERT(fees <= kU64Max - r->fee, "block fees overflow");
    fees += r->fee;
  }
  if (fees == 0) return {};
  const StateKey key = account_key(ctx_.beneficiary);
  AccountRecord account;
  if (std::optional<Value> v = state.read(key)) {
    Result<AccountRecord> r = AccountRecord::decode(as_bytes(*v));
    if (!r) throw std::runtime_error("beneficiary account: " + r.status().message());
    account = *r;
  }
  if (account.balance > kU64Max - fees) throw std::runtime_error("beneficiary balance overflow");
  account.balance += fees;
  return {Write{key, account.encode()}};
}

}  // namespace pel::ledger
