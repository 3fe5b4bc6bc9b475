// A small ledger for hand-built tests: genesis in memory, signed transactions from genesis
// accounts, blocks run through the sequential executor (and optionally the parallel one), and
// typed reads of the resulting state.
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <vector>

#include "engine/ledger/gas.hpp"
#include "engine/ledger/genesis.hpp"
#include "engine/ledger/ledger_vm.hpp"
#include "engine/ledger/receipt.hpp"
#include "engine/ledger/records.hpp"
#include "engine/ledger/state_keys.hpp"
#include "engine/sequential_executor.hpp"

namespace pel::ledger::testing {

struct BlockRun {
  BlockResult result;
  std::vector<Receipt> receipts;
};

inline std::vector<Receipt> decode_receipts(const BlockResult& r) {
  std::vector<Receipt> out;
  for (const TxnOutput& o : r.outputs) {
    EXPECT_TRUE(o.vm_error.empty()) << o.vm_error;
    Result<Receipt> rec = Receipt::decode(as_bytes(o.receipt));
    EXPECT_TRUE(rec.is_ok()) << rec.status().to_string();
    out.push_back(rec.is_ok() ? *rec : Receipt{});
  }
  return out;
}

class Ledger {
 public:
  explicit Ledger(GenesisParams g = small_genesis()) : genesis_(g) {
    state_.apply(build_genesis(g));
    for (std::uint32_t i = 0; i < g.accounts; ++i) {
      keys_.push_back(account_keypair(g.seed, i));
      addr_.push_back(address_of(keys_.back().public_key()));
    }
    beneficiary_.bytes.fill(0xbe);
  }

  static GenesisParams small_genesis() {
    GenesisParams g;
    g.seed = 7;
    g.accounts = 4;
    g.tokens = 2;
    g.pools = 1;
    g.collections = 1;
    g.validators = 1;
    g.proposals = 1;
    return g;
  }

  /// A signed transaction from account `from` with the nonce the state expects (plus
  /// `nonce_offset`, for a sender's later transactions in one block).
  Transaction tx(std::uint32_t from, const Payload& payload, std::uint64_t gas_limit = 100'000,
                 std::uint64_t nonce_offset = 0) {
    Transaction t = make_transaction(payload);
    t.nonce = account(from).nonce + nonce_offset;
    t.gas_limit = gas_limit;
    t.max_fee_per_gas = 1;
    t.chain_id = genesis_.chain_id;
    t.sign(keys_[from]);
    return t;
  }
  /// Re-signs after a field was changed by hand.
  void resign(Transaction& t, std::uint32_t from) { t.sign(keys_[from]); }

  BlockRun run(const std::vector<Transaction>& txns, std::optional<std::vector<std::uint8_t>> sig_ok = {}) {
    std::vector<std::uint8_t> ok = sig_ok ? *sig_ok : verify_signatures(txns, 2);
    BlockContext ctx{.height = height_, .timestamp = height_, .beneficiary = beneficiary_, .chain_id = genesis_.chain_id};
    LedgerVm vm(ctx, txns, ok);
    BlockRun r;
    r.result = execute_sequential(vm, txns.size(), state_);
    r.receipts = decode_receipts(r.result);
    state_.apply(r.result.writes);
    ++height_;
    return r;
  }
  /// One transaction in its own block; its receipt.
  Receipt run1(const Transaction& t) { return run({t}).receipts.at(0); }

  template <typename R>
  std::optional<R> get(const StateKey& key) const {
    std::optional<Value> v = state_.get(key);
    if (!v) return std::nullopt;
    Result<R> r = R::decode(as_bytes(*v));
    EXPECT_TRUE(r.is_ok()) << r.status().to_string();
    return r.is_ok() ? std::optional<R>(*r) : std::nullopt;
  }
  AccountRecord account(std::uint32_t i) const { return account_at(addr_[i]); }
  AccountRecord account_at(const Address& a) const { return get<AccountRecord>(account_key(a)).value_or(AccountRecord{}); }
  std::uint64_t balance(std::uint32_t i) const { return account(i).balance; }
  std::uint64_t token(std::uint32_t t, std::uint32_t i) const { return token_at(t, addr_[i]); }
  std::uint64_t token_at(std::uint32_t t, const Address& a) const {
    return get<AmountRecord>(token_balance_key(t, a)).value_or(AmountRecord{}).amount;
  }

  const Address& addr(std::uint32_t i) const { return addr_[i]; }
  const Address& beneficiary() const { return beneficiary_; }
  const GenesisParams& genesis() const { return genesis_; }
  MemoryState& state() { return state_; }
  std::uint64_t height() const { return height_; }
  void set_height(std::uint64_t h) { height_ = h; }

 private:
  GenesisParams genesis_;
  MemoryState state_;
  std::vector<KeyPair> keys_;
  std::vector<Address> addr_;
  Address beneficiary_;
  std::uint64_t height_ = 1;
};

/// Gas of a transaction that read `reads` distinct keys and wrote `writes`.
inline std::uint64_t gas_for(const Transaction& t, std::uint64_t reads, std::uint64_t writes) {
  return gas::base(t.kind) + t.payload.size() * gas::kPerPayloadByte + reads * gas::kPerRead +
         writes * gas::kPerWrite;
}

}  // namespace pel::ledger::testing
