// Every transaction kind on hand-built cases: exact balances, gas and receipts, and every
// failure path (discarded: nothing written; failed: gas charged, nonce bumped, nothing else).
#include <gtest/gtest.h>

#include "engine/access_list.hpp"
#include "engine/parallel_executor.hpp"

#include "tests/ledger/ledger_fixture.hpp"

namespace pel::ledger::testing {
namespace {

constexpr std::uint64_t kInit = 1'000'000'000;
__extension__ using u128 = unsigned __int128;

// A failed receipt changes exactly one key, the sender's account: nonce + 1, balance - fee.
void expect_failed(Ledger& l, std::uint32_t from, const Transaction& t, std::uint64_t gas,
                   const std::string& reason_prefix) {
  const AccountRecord before = l.account(from);
  const std::uint64_t ben = l.account_at(l.beneficiary()).balance;
  BlockRun r = l.run({t});
  const Receipt& rc = r.receipts.at(0);
  EXPECT_EQ(rc.status, TxStatus::kFailed) << rc.reason;
  EXPECT_EQ(rc.reason.rfind(reason_prefix, 0), 0u) << "reason: " << rc.reason;
  EXPECT_EQ(rc.gas_used, gas) << rc.reason;
  EXPECT_EQ(rc.fee, gas);
  ASSERT_EQ(r.result.outputs[0].writes.size(), 1u);
  EXPECT_EQ(r.result.outputs[0].writes[0].key, account_key(l.addr(from)));
  EXPECT_EQ(l.account(from).nonce, before.nonce + 1);
  EXPECT_EQ(l.balance(from), before.balance - gas);
  EXPECT_EQ(l.account_at(l.beneficiary()).balance, ben + gas);
}

void expect_success(const Receipt& r, std::uint64_t gas) {
  EXPECT_EQ(r.status, TxStatus::kSuccess) << r.reason;
  EXPECT_EQ(r.reason, "");
  EXPECT_EQ(r.gas_used, gas);
  EXPECT_EQ(r.fee, gas);
  EXPECT_TRUE(r.work_digest.is_zero());
}

TransferPayload transfer_to(const Address& to, std::uint64_t amount) {
  TransferPayload p;
  p.to = to;
  p.amount = amount;
  return p;
}

// ---- native transfer and the admission rules ----

TEST(LedgerTransfer, MovesCoinAndChargesExactGas) {
  Ledger l;
  Transaction t = l.tx(0, transfer_to(l.addr(1), 100));
  Receipt r = l.run1(t);
  const std::uint64_t gas = gas_for(t, 2, 2);
  expect_success(r, gas);
  EXPECT_EQ(l.balance(0), kInit - 100 - gas);
  EXPECT_EQ(l.balance(1), kInit + 100);
  EXPECT_EQ(l.account(0).nonce, 1u);
  EXPECT_EQ(l.account(1).nonce, 0u);
  EXPECT_EQ(l.account_at(l.beneficiary()).balance, gas);
}

TEST(LedgerTransfer, ToSelfAndToANewAccount) {
  Ledger l;
  Transaction self = l.tx(0, transfer_to(l.addr(0), 100));
  expect_success(l.run1(self), gas_for(self, 1, 1));
  EXPECT_EQ(l.balance(0), kInit - gas_for(self, 1, 1));
  Address fresh;
  fresh.bytes.fill(0x42);
  Transaction t = l.tx(1, transfer_to(fresh, 5));
  expect_success(l.run1(t), gas_for(t, 2, 2));
  EXPECT_EQ(l.account_at(fresh).balance, 5u);
}

TEST(LedgerTransfer, FeesReachTheBeneficiaryOncePerBlock) {
  Ledger l;
  std::vector<Transaction> txns{l.tx(0, transfer_to(l.addr(1), 1)), l.tx(0, transfer_to(l.addr(2), 1), 100'000, 1),
                                l.tx(2, transfer_to(l.addr(3), 1))};
  BlockRun r = l.run(txns);
  std::uint64_t fees = 0;
  for (const Receipt& rc : r.receipts) {
    EXPECT_EQ(rc.status, TxStatus::kSuccess) << rc.reason;
    fees += rc.fee;
  }
  for (const TxnOutput& o : r.result.outputs) {
    for (const Write& w : o.writes) EXPECT_NE(w.key, account_key(l.beneficiary()));
  }
  EXPECT_EQ(l.account_at(l.beneficiary()).balance, fees);
  EXPECT_EQ(l.account(0).nonce, 2u);
}

// A damaged beneficiary record must not swallow the block's fees silently: the block cannot be
// finished, on both executors alike, and says why.
TEST(LedgerTransfer, ACorruptBeneficiaryRecordFailsTheBlockInsteadOfDroppingItsFees) {
  Ledger l;
  l.state().put(account_key(l.beneficiary()), Value("not an account record"));
  std::vector<Transaction> txns;
  for (int i = 0; i < 40; ++i) txns.push_back(l.tx(0, transfer_to(l.addr(1), 1), 100'000, static_cast<std::uint64_t>(i)));
  const std::vector<std::uint8_t> ok = verify_signatures(txns, 1);
  LedgerVm vm({.height = 1, .timestamp = 1, .beneficiary = l.beneficiary(), .chain_id = l.genesis().chain_id}, txns, ok);
  const BlockResult seq = execute_sequential(vm, txns.size(), l.state());
  EXPECT_NE(seq.finish_error.find("beneficiary account"), std::string::npos) << seq.finish_error;
  ParallelExecutor par(ParallelOptions{.threads = 2, .min_parallel_txns = 2, .always_block_stm = true, .fallback_speedup = 0});
  const BlockResult parallel = par.execute(vm, txns.size(), l.state());
  EXPECT_EQ(parallel.finish_error, seq.finish_error);
  EXPECT_EQ(parallel.writes, seq.writes);
}

// ---- credits: deltas ----

// `txns` as one block on every executor (the plain loop, Block-STM on 2-8 workers, execution
// from its access list), which must agree; the plain loop's result.
BlockResult run_everywhere(Ledger& l, const std::vector<Transaction>& txns) {
  const std::vector<std::uint8_t> ok = verify_signatures(txns, 1);
  LedgerVm vm({.height = 1, .timestamp = 1, .beneficiary = l.beneficiary(), .chain_id = l.genesis().chain_id}, txns, ok);
  const BlockResult seq = execute_sequential(vm, txns.size(), l.state());
  for (int threads : {2, 4, 8}) {
    ParallelExecutor par({.threads = threads, .min_parallel_txns = 2, .always_block_stm = true, .fallback_speedup = 0});
    const BlockResult parallel = par.execute(vm, txns.size(), l.state());
    EXPECT_EQ(parallel.finish_error, seq.finish_error) << threads;
    EXPECT_EQ(parallel.outputs, seq.outputs) << threads;
    EXPECT_EQ(parallel.writes, seq.writes) << threads;
    AccessRecorder recorder(vm, txns.size());
    const BlockResult recorded = execute_sequential(recorder, txns.size(), l.state());
    Result<BlockResult> listed = par.execute_listed(vm, txns.size(), l.state(), recorder.take(recorded.outputs));
    EXPECT_TRUE(listed.is_ok()) << listed.status().message();
    if (!listed.is_ok()) continue;
    EXPECT_EQ(listed->finish_error, seq.finish_error) << threads;
    EXPECT_EQ(listed->outputs, seq.outputs) << threads;
    EXPECT_EQ(listed->writes, seq.writes) << threads;
  }
  return seq;
}

// Thirty payments to one account, which also pays itself and then pays out: the credits are
// deltas (no transaction reads the recipient's balance until it sends), the self-transfer
// (sender equal to recipient) one plain write, and the balance comes out exact.
TEST(LedgerCredits, CreditsToOneAccountAreDeltasAndAddUp) {
  Ledger l;
  std::vector<Transaction> txns;
  std::vector<std::uint64_t> received;  // per transaction: what account 1 gets
  for (std::uint64_t k = 0; k < 10; ++k) {
    for (std::uint32_t from : {0u, 2u, 3u}) {
      received.push_back(1'000 + 10 * k + from);
      txns.push_back(l.tx(from, transfer_to(l.addr(1), received.back()), 100'000, k));
    }
  }
  txns.insert(txns.begin() + 10, l.tx(1, transfer_to(l.addr(1), 77)));
  received.insert(received.begin() + 10, 0);
  txns.push_back(l.tx(1, transfer_to(l.addr(0), 500), 100'000, 1));
  received.push_back(0);
  const BlockResult seq = run_everywhere(l, txns);
  ASSERT_TRUE(seq.finish_error.empty()) << seq.finish_error;
  ASSERT_EQ(seq.outputs[0].deltas.size(), 1u);
  EXPECT_EQ(seq.outputs[0].deltas[0].key, account_key(l.addr(1)));
  EXPECT_TRUE(seq.outputs[10].deltas.empty()) << "paying oneself reads the balance: no delta";
  std::uint64_t expected = kInit;
  for (std::size_t i = 0; i < txns.size(); ++i) {
    const Receipt r = Receipt::decode(as_bytes(seq.outputs[i].receipt)).value();
    ASSERT_EQ(r.status, TxStatus::kSuccess) << i << ": " << r.reason;
    expected += received[i];
    if (i == 10) expected -= r.fee;
    if (i + 1 == txns.size()) expected -= r.fee + 500;
  }
  l.state().apply(seq.writes);
  EXPECT_EQ(l.balance(1), expected);
  EXPECT_EQ(l.account(1).nonce, 2u);
}

// Only a state made by hand holds a balance near 2^64 (a valid chain's balances are parts of a
// supply that fits 64 bits): a credit past it fails the block, on every executor alike, rather
// than wrapping or failing a receipt that sequential execution of exact credits did not.
TEST(LedgerCredits, ACreditPastTwoToThe64FailsTheBlock) {
  Ledger l;
  AccountRecord rich;
  rich.balance = ~std::uint64_t{0} - 5;
  l.state().put(account_key(l.addr(1)), rich.encode());
  const BlockResult seq = run_everywhere(l, {l.tx(0, transfer_to(l.addr(1), 3)), l.tx(2, transfer_to(l.addr(1), 3))});
  EXPECT_NE(seq.finish_error.find("balance overflow"), std::string::npos) << seq.finish_error;
  EXPECT_TRUE(seq.writes.empty());
}

TEST(LedgerCredits, ACorruptRecipientRecordFailsTheBlock) {
  Ledger l;
  l.state().put(account_key(l.addr(1)), Value("\xff"));
  const BlockResult seq = run_everywhere(l, {l.tx(0, transfer_to(l.addr(1), 3))});
  EXPECT_NE(seq.finish_error.find("corrupt record at key"), std::string::npos) << seq.finish_error;
}

TEST(LedgerAdmission, DiscardedTransactionsChangeNothing) {
  Ledger l;
  auto expect_discarded = [&](const Transaction& t, std::optional<std::vector<std::uint8_t>> ok, const std::string& reason) {
    BlockRun r = l.run({t}, ok);
    EXPECT_EQ(r.receipts[0].status, TxStatus::kDiscarded);
    EXPECT_EQ(r.receipts[0].reason, reason);
    EXPECT_EQ(r.receipts[0].gas_used, 0u);
    EXPECT_EQ(r.receipts[0].fee, 0u);
    EXPECT_TRUE(r.result.outputs[0].writes.empty());
    EXPECT_TRUE(r.result.writes.empty());
    EXPECT_EQ(l.account(0).nonce, 0u);
    EXPECT_EQ(l.balance(0), kInit);
  };
  Transaction t = l.tx(0, transfer_to(l.addr(1), 100));
  Transaction bad_sig = t;
  bad_sig.signature.bytes[5] ^= 0x10;
  expect_discarded(bad_sig, std::nullopt, "bad signature");
  expect_discarded(t, std::vector<std::uint8_t>{0}, "bad signature");

  Transaction chain = t;
  chain.chain_id = 9;
  l.resign(chain, 0);
  expect_discarded(chain, std::nullopt, "wrong chain id: expected 1, got 9");

  Transaction nonce = t;
  nonce.nonce = 5;
  l.resign(nonce, 0);
  expect_discarded(nonce, std::nullopt, "nonce mismatch: expected 0, got 5");

  Transaction malformed = t;
  malformed.payload.push_back(0);
  l.resign(malformed, 0);
  expect_discarded(malformed, std::nullopt, "malformed payload: transfer payload: 1 trailing bytes");

  Transaction truncated = t;
  truncated.payload.resize(10);
  l.resign(truncated, 0);
  BlockRun r = l.run({truncated});
  EXPECT_EQ(r.receipts[0].status, TxStatus::kDiscarded);
  EXPECT_EQ(r.receipts[0].reason.rfind("malformed payload", 0), 0u);

  AirdropPayload empty;
  empty.token = 1;
  empty.amount = 1;
  Transaction no_recipients = l.tx(0, empty);
  r = l.run({no_recipients});
  EXPECT_EQ(r.receipts[0].status, TxStatus::kDiscarded);

  // The valid original still goes through afterwards: nothing above moved the nonce.
  EXPECT_EQ(l.run1(t).status, TxStatus::kSuccess);
}

TEST(LedgerAdmission, CorruptSenderAccountIsDiscarded) {
  Ledger l;
  Transaction t = l.tx(0, transfer_to(l.addr(2), 1));
  l.state().put(account_key(l.addr(0)), "\xff");
  BlockRun r = l.run({t});
  EXPECT_EQ(r.receipts[0].status, TxStatus::kDiscarded);
  EXPECT_EQ(r.receipts[0].reason.rfind("corrupt record at key", 0), 0u) << r.receipts[0].reason;
  EXPECT_TRUE(r.result.writes.empty());
}

TEST(LedgerFailure, InsufficientBalance) {
  Ledger l;
  Transaction t = l.tx(0, transfer_to(l.addr(1), 2 * kInit));
  expect_failed(l, 0, t, gas_for(t, 1, 0), "insufficient balance: have ");
  EXPECT_EQ(l.balance(1), kInit);
}

TEST(LedgerFailure, OutOfGasChargesTheLimit) {
  Ledger l;
  Transaction probe = l.tx(0, transfer_to(l.addr(1), 100));
  const std::uint64_t needed = gas_for(probe, 2, 2);
  Transaction t = l.tx(0, transfer_to(l.addr(1), 100), needed - 1);
  expect_failed(l, 0, t, needed - 1, "out of gas");
  EXPECT_EQ(l.balance(1), kInit);
  Transaction tiny = l.tx(0, transfer_to(l.addr(1), 100), 100);
  expect_failed(l, 0, tiny, 100, "out of gas");
  // Exactly enough succeeds.
  Transaction exact = l.tx(0, transfer_to(l.addr(1), 100), needed);
  expect_success(l.run1(exact), needed);
}

TEST(LedgerFailure, CannotCoverTheGasLimitPaysWhatItHas) {
  Ledger l;
  Transaction t = l.tx(0, transfer_to(l.addr(1), 1));
  t.max_fee_per_gas = 1'000'000;  // 100,000 * 1e6 > 1e9
  l.resign(t, 0);
  BlockRun r = l.run({t});
  EXPECT_EQ(r.receipts[0].status, TxStatus::kFailed);
  EXPECT_EQ(r.receipts[0].reason.rfind("insufficient balance for gas", 0), 0u) << r.receipts[0].reason;
  EXPECT_EQ(r.receipts[0].gas_used, gas_for(t, 1, 0));
  EXPECT_EQ(r.receipts[0].fee, kInit);  // gas_used * 1e6 exceeds the balance: all of it
  EXPECT_EQ(l.balance(0), 0u);
  EXPECT_EQ(l.account(0).nonce, 1u);
  EXPECT_EQ(l.account_at(l.beneficiary()).balance, kInit);
}

// ---- tokens ----

TEST(LedgerToken, MintByIssuerOnly) {
  Ledger l;
  TokenMintPayload p;
  p.token = 1;  // issuer: account 0
  p.to = l.addr(2);
  p.amount = 500;
  const std::uint64_t supply = l.get<TokenInfoRecord>(token_info_key(1))->total_supply;
  Transaction t = l.tx(0, p);
  expect_success(l.run1(t), gas_for(t, 3, 3));
  EXPECT_EQ(l.token(1, 2), kInit + 500);
  EXPECT_EQ(l.get<TokenInfoRecord>(token_info_key(1))->total_supply, supply + 500);

  Transaction not_issuer = l.tx(1, p);
  expect_failed(l, 1, not_issuer, gas_for(not_issuer, 2, 0), "not the issuer of token 1");
  p.token = 9;
  Transaction unknown = l.tx(0, p);
  expect_failed(l, 0, unknown, gas_for(unknown, 2, 0), "unknown token 9");
  EXPECT_EQ(l.token(1, 2), kInit + 500);
}

TEST(LedgerToken, Transfer) {
  Ledger l;
  TokenTransferPayload p;
  p.token = 2;
  p.to = l.addr(1);
  p.amount = 300;
  Transaction t = l.tx(0, p);
  expect_success(l.run1(t), gas_for(t, 4, 3));
  EXPECT_EQ(l.token(2, 0), kInit - 300);
  EXPECT_EQ(l.token(2, 1), kInit + 300);
  p.amount = 2 * kInit;
  Transaction too_much = l.tx(0, p);
  expect_failed(l, 0, too_much, gas_for(too_much, 3, 0), "insufficient token balance");
  p.token = 3;
  Transaction unknown = l.tx(0, p);
  expect_failed(l, 0, unknown, gas_for(unknown, 2, 0), "unknown token 3");
}

TEST(LedgerToken, AirdropPaysEveryRecipientIncludingRepeats) {
  Ledger l;
  AirdropPayload p;
  p.token = 2;
  p.amount = 7;
  p.recipients = {l.addr(1), l.addr(2), l.addr(1)};
  Transaction t = l.tx(0, p);
  expect_success(l.run1(t), gas_for(t, 5, 4));
  EXPECT_EQ(l.token(2, 0), kInit - 21);
  EXPECT_EQ(l.token(2, 1), kInit + 14);
  EXPECT_EQ(l.token(2, 2), kInit + 7);
  p.amount = kInit;
  Transaction too_much = l.tx(0, p);
  expect_failed(l, 0, too_much, gas_for(too_much, 3, 0), "insufficient token balance");
  p.amount = ~std::uint64_t{0};
  Transaction overflow = l.tx(0, p);
  expect_failed(l, 0, overflow, gas_for(overflow, 2, 0), "arithmetic overflow");
}

// ---- pools ----

TEST(LedgerPool, SwapBothDirections) {
  Ledger l;
  const std::uint64_t reserve = pool_reserve(l.genesis());
  SwapPayload p;
  p.pool = 0;  // native / token 1, 30 bps
  p.direction = SwapDirection::kNativeIn;
  p.amount_in = 10'000;
  Transaction t = l.tx(0, p);
  const std::uint64_t gas = gas_for(t, 3, 3);
  expect_success(l.run1(t), gas);
  // out = 10000 * 9970 * R / (R * 10000 + 10000 * 9970), R = 1e11, rounded down.
  EXPECT_EQ(l.token(1, 0), kInit + 9969);
  EXPECT_EQ(l.balance(0), kInit - 10'000 - gas);
  PoolRecord pool = *l.get<PoolRecord>(pool_key(0));
  EXPECT_EQ(pool.reserve_native, reserve + 10'000);
  EXPECT_EQ(pool.reserve_token, reserve - 9969);

  p.direction = SwapDirection::kTokenIn;
  Transaction back = l.tx(1, p);
  const std::uint64_t gas_back = gas_for(back, 3, 3);
  expect_success(l.run1(back), gas_back);
  const u128 in = 10'000u * 9970u;
  const auto out = static_cast<std::uint64_t>(in * pool.reserve_native / (static_cast<u128>(pool.reserve_token) * 10'000 + in));
  EXPECT_EQ(l.token(1, 1), kInit - 10'000);
  EXPECT_EQ(l.balance(1), kInit + out - gas_back);
}

TEST(LedgerPool, SwapFailures) {
  Ledger l;
  SwapPayload p;
  p.pool = 0;
  p.amount_in = 10'000;
  p.min_out = 9970;
  Transaction t = l.tx(0, p);
  expect_failed(l, 0, t, gas_for(t, 2, 0), "slippage: out 9969 < min 9970");
  p.pool = 5;
  Transaction unknown = l.tx(0, p);
  expect_failed(l, 0, unknown, gas_for(unknown, 2, 0), "unknown pool 5");
  p.pool = 0;
  p.min_out = 0;
  p.amount_in = 2 * kInit;
  Transaction poor = l.tx(0, p);
  expect_failed(l, 0, poor, gas_for(poor, 2, 0), "insufficient balance");
  p.amount_in = 0;
  Transaction zero = l.tx(0, p);
  expect_failed(l, 0, zero, gas_for(zero, 2, 0), "swap amount is zero");
  EXPECT_EQ(l.get<PoolRecord>(pool_key(0))->reserve_native, pool_reserve(l.genesis()));
}

TEST(LedgerPool, CorruptPoolRecordFailsTheTransaction) {
  Ledger l;
  l.state().put(pool_key(0), std::string("\x01\x80", 2));  // truncated varint
  SwapPayload p;
  p.amount_in = 10;
  Transaction t = l.tx(0, p);
  expect_failed(l, 0, t, gas_for(t, 2, 0), "corrupt record at key 04");
}

TEST(LedgerPool, AddAndRemoveLiquidity) {
  Ledger l;
  const std::uint64_t reserve = pool_reserve(l.genesis());
  const std::uint64_t each = genesis_lp_shares(l.genesis());  // 2.5e10
  const std::uint64_t lp = each * l.genesis().accounts;       // 1e11, the reserve
  AddLiquidityPayload add;
  add.amount_native = 1'000'000;
  add.amount_token = 2'000'000;  // twice the pool's ratio: the excess is donated
  add.min_shares = 1'000'001;
  Transaction greedy = l.tx(0, add);
  expect_failed(l, 0, greedy, gas_for(greedy, 2, 0), "slippage: shares 1000000 < min 1000001");
  add.min_shares = 1'000'000;
  Transaction t = l.tx(0, add);
  const std::uint64_t gas = gas_for(t, 4, 4);
  expect_success(l.run1(t), gas);
  PoolRecord pool = *l.get<PoolRecord>(pool_key(0));
  EXPECT_EQ(pool.lp_supply, lp + 1'000'000);
  EXPECT_EQ(pool.reserve_native, reserve + 1'000'000);
  EXPECT_EQ(pool.reserve_token, reserve + 2'000'000);
  EXPECT_EQ(l.get<AmountRecord>(lp_balance_key(0, l.addr(0)))->amount, each + 1'000'000);
  EXPECT_EQ(l.token(1, 0), kInit - 2'000'000);

  RemoveLiquidityPayload rm;
  rm.shares = 1'000'000;
  Transaction r = l.tx(1, rm);
  const std::uint64_t gas_rm = gas_for(r, 4, 4);
  expect_success(l.run1(r), gas_rm);
  const auto out_native = static_cast<std::uint64_t>(static_cast<u128>(rm.shares) * pool.reserve_native / pool.lp_supply);
  const auto out_token = static_cast<std::uint64_t>(static_cast<u128>(rm.shares) * pool.reserve_token / pool.lp_supply);
  EXPECT_EQ(out_native, 1'000'000u);  // reserve and LP supply are equal
  EXPECT_EQ(l.balance(1), kInit + out_native - gas_rm);
  EXPECT_EQ(l.token(1, 1), kInit + out_token);
  EXPECT_EQ(l.get<AmountRecord>(lp_balance_key(0, l.addr(1)))->amount, each - 1'000'000);
  EXPECT_EQ(l.get<PoolRecord>(pool_key(0))->lp_supply, pool.lp_supply - 1'000'000);

  rm.shares = each;
  Transaction again = l.tx(1, rm);
  expect_failed(l, 1, again, gas_for(again, 3, 0), "insufficient LP shares: have 24999000000, need 25000000000");
  rm.shares = 1;
  rm.min_token = ~std::uint64_t{0};
  Transaction slip = l.tx(2, rm);
  expect_failed(l, 2, slip, gas_for(slip, 3, 0), "slippage: token out");
}

// ---- NFTs ----

TEST(LedgerNft, MintTakesTheNextId) {
  Ledger l;
  NftMintPayload p;
  p.collection = 0;
  Transaction t = l.tx(3, p);
  expect_success(l.run1(t), gas_for(t, 2, 3));
  EXPECT_EQ(l.get<NftRecord>(nft_key(0, 4))->owner, l.addr(3));  // genesis minted ids 0..3
  EXPECT_EQ(l.get<CollectionRecord>(collection_key(0))->next_id, 5u);
  p.collection = 2;
  Transaction unknown = l.tx(3, p);
  expect_failed(l, 3, unknown, gas_for(unknown, 2, 0), "unknown collection 2");
}

TEST(LedgerNft, TransferAndSaleWithRoyalty) {
  Ledger l;
  NftTransferPayload p;
  p.collection = 0;
  p.id = 2;  // owned by account 2
  p.to = l.addr(3);
  Transaction gift = l.tx(2, p);
  expect_success(l.run1(gift), gas_for(gift, 2, 2));
  EXPECT_EQ(l.get<NftRecord>(nft_key(0, 2))->owner, l.addr(3));

  p.id = 1;  // account 1 sells to account 2 for 10,000; creator (account 0) takes 2.5%
  p.to = l.addr(2);
  p.price = 10'000;
  Transaction sale = l.tx(1, p);
  const std::uint64_t gas = gas_for(sale, 5, 4);
  expect_success(l.run1(sale), gas);
  EXPECT_EQ(l.get<NftRecord>(nft_key(0, 1))->owner, l.addr(2));
  EXPECT_EQ(l.balance(1), kInit + 9'750 - gas);
  EXPECT_EQ(l.balance(2), kInit - 10'000 - gas_for(gift, 2, 2));
  EXPECT_EQ(l.balance(0), kInit + 250);

  Transaction not_owner = l.tx(1, p);
  expect_failed(l, 1, not_owner, gas_for(not_owner, 2, 0), "not the owner of nft 0/1");
  p.id = 99;
  Transaction unknown = l.tx(1, p);
  expect_failed(l, 1, unknown, gas_for(unknown, 2, 0), "unknown nft 0/99");
  p.id = 0;
  p.to = l.addr(1);
  p.price = 2 * kInit;  // the buyer cannot pay
  Transaction poor = l.tx(0, p);
  expect_failed(l, 0, poor, gas_for(poor, 4, 0), "insufficient balance");
  EXPECT_EQ(l.get<NftRecord>(nft_key(0, 0))->owner, l.addr(0));
}

// ---- staking ----

TEST(LedgerStaking, StakeClaimUnstake) {
  Ledger l;
  const ValidatorRecord v0 = *l.get<ValidatorRecord>(validator_key(0));  // 10 ppm per block
  StakePayload stake;
  stake.validator = 0;
  stake.amount = 100'000'000;
  Transaction s = l.tx(0, stake);  // height 1
  // Reads: the sender, the validator, the delegation; the credit to the validator's total pays
  // a read. Writes: the sender, the delegation, the total (no rewards due: not the validator).
  const std::uint64_t gas_s = gas_for(s, 4, 3);
  expect_success(l.run1(s), gas_s);
  EXPECT_EQ(l.get<AmountRecord>(validator_stake_key(0))->amount, 100'000'000u);
  EXPECT_EQ(l.get<ValidatorRecord>(validator_key(0))->reward_pool, v0.reward_pool);
  EXPECT_EQ(l.get<DelegationRecord>(delegation_key(0, l.addr(0)))->since_height, 1u);
  EXPECT_EQ(l.balance(0), kInit - 100'000'000 - gas_s);

  l.set_height(11);
  ClaimRewardsPayload claim;
  Transaction c = l.tx(0, claim);
  const std::uint64_t gas_c = gas_for(c, 3, 3);
  expect_success(l.run1(c), gas_c);
  // 1e8 * 10 ppm * 10 blocks = 10,000.
  EXPECT_EQ(l.balance(0), kInit - 100'000'000 - gas_s + 10'000 - gas_c);
  EXPECT_EQ(l.get<ValidatorRecord>(validator_key(0))->reward_pool, v0.reward_pool - 10'000);

  UnstakePayload un;
  un.amount = 200'000'000;
  Transaction greedy = l.tx(0, un);  // height 12
  expect_failed(l, 0, greedy, gas_for(greedy, 3, 0), "insufficient stake: have 100000000, need 200000000");
  un.amount = 100'000'000;
  const std::uint64_t before = l.balance(0);
  Transaction u = l.tx(0, un);  // height 13: 2 blocks of rewards since 11
  const std::uint64_t gas_u = gas_for(u, 4, 4);  // the validator's total read and written too
  expect_success(l.run1(u), gas_u);
  EXPECT_EQ(l.balance(0), before + 100'000'000 + 2'000 - gas_u);
  EXPECT_FALSE(l.get<DelegationRecord>(delegation_key(0, l.addr(0))).has_value());
  EXPECT_EQ(l.get<AmountRecord>(validator_stake_key(0))->amount, 0u);

  Transaction none = l.tx(1, claim);
  expect_failed(l, 1, none, gas_for(none, 3, 0), "unknown delegation to validator 0");
  stake.validator = 3;
  Transaction unknown = l.tx(1, stake);
  expect_failed(l, 1, unknown, gas_for(unknown, 2, 0), "unknown validator 3");
}

// ---- DAO ----

// A proposal's tallies, one per choice (an absent tally is 0; these fit 64 bits).
std::vector<std::uint64_t> tallies(const Ledger& l, std::uint32_t proposal, std::uint32_t choices) {
  std::vector<std::uint64_t> out;
  for (std::uint32_t c = 0; c < choices; ++c) {
    const std::optional<TallyRecord> t = l.get<TallyRecord>(tally_key(proposal, c));
    out.push_back(t ? static_cast<std::uint64_t>(t->amount) : 0);
  }
  return out;
}

TEST(LedgerDao, VoteAndRevote) {
  Ledger l;
  VotePayload v;
  v.proposal = 0;  // token 1, 2 choices
  v.choice = 1;
  v.weight = 500;
  // Reads: the sender, the proposal, the weight's balance, the vote record; the credit to the
  // tally pays a read. Writes: the sender, the vote record, the tally.
  Transaction t = l.tx(0, v);
  expect_success(l.run1(t), gas_for(t, 5, 3));
  EXPECT_EQ(tallies(l, 0, 2), (std::vector<std::uint64_t>{0, 500}));
  v.choice = 0;
  v.weight = 200;
  // A re-vote also reads and writes the old choice's tally.
  Transaction again = l.tx(0, v);
  expect_success(l.run1(again), gas_for(again, 6, 4));
  EXPECT_EQ(tallies(l, 0, 2), (std::vector<std::uint64_t>{200, 0}));
  Transaction other = l.tx(1, v);
  expect_success(l.run1(other), gas_for(other, 5, 3));
  EXPECT_EQ(tallies(l, 0, 2), (std::vector<std::uint64_t>{400, 0}));
  EXPECT_EQ(l.get<VoteRecord>(vote_key(0, l.addr(1)))->weight, 200u);

  v.weight = 2 * kInit;
  Transaction heavy = l.tx(2, v);
  expect_failed(l, 2, heavy, gas_for(heavy, 3, 0), "vote weight 2000000000 exceeds balance 1000000000");
  v.weight = 1;
  v.choice = 5;
  Transaction bad_choice = l.tx(2, v);
  expect_failed(l, 2, bad_choice, gas_for(bad_choice, 2, 0), "no choice 5 on proposal 0");
  v.proposal = 3;
  Transaction unknown = l.tx(2, v);
  expect_failed(l, 2, unknown, gas_for(unknown, 2, 0), "unknown proposal 3");
}

// ---- the work knob ----

TEST(LedgerWork, DigestDependsOnWhatWasRead) {
  Ledger a;
  Ledger b;
  Transaction t = a.tx(0, transfer_to(a.addr(1), 100));
  std::vector<Transaction> txns{t};
  std::vector<std::uint8_t> ok{1};
  BlockContext ctx{.height = 1, .beneficiary = a.beneficiary()};
  auto receipt_with = [&](Ledger& l, std::uint32_t work) {
    LedgerVm vm(ctx, txns, ok, LedgerOptions{.work = work});
    return decode_receipts(execute_sequential(vm, 1, l.state())).at(0);
  };
  EXPECT_TRUE(receipt_with(a, 0).work_digest.is_zero());
  const Receipt r3 = receipt_with(a, 3);
  EXPECT_FALSE(r3.work_digest.is_zero());
  EXPECT_EQ(r3.work_digest, receipt_with(a, 3).work_digest);
  EXPECT_NE(r3.work_digest, receipt_with(a, 4).work_digest);
  // A different value read: the sender's balance (the recipient's is credited unread).
  AccountRecord sender;
  sender.balance = b.balance(0) - 1;
  b.state().put(account_key(b.addr(0)), sender.encode());
  EXPECT_NE(r3.work_digest, receipt_with(b, 3).work_digest);
  EXPECT_EQ(r3.gas_used, receipt_with(a, 0).gas_used);
}

}  // namespace
}  // namespace pel::ledger::testing
