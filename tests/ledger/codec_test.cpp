// Decoders against hostile bytes: random strings and mutations of valid encodings (bit flips,
// truncations, extensions, splices) never crash, and whatever decodes re-encodes to exactly the
// same bytes (one encoding per value). Runs under ASan/UBSan in CI.
#include <gtest/gtest.h>

#include <random>

#include "engine/ledger/workload.hpp"
#include "tests/ledger/ledger_fixture.hpp"

namespace pel::ledger::testing {
namespace {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr int kMutationsPerInput = 8;
#else
constexpr int kMutationsPerInput = 40;
#endif

Bytes mutate(const Bytes& in, std::mt19937_64& rng) {
  Bytes out = in;
  auto below = [&](std::size_t n) { return n == 0 ? 0 : static_cast<std::size_t>(rng() % n); };
  switch (rng() % 5) {
    case 0:  // flip one bit
      if (!out.empty()) out[below(out.size())] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
      break;
    case 1:  // truncate
      out.resize(below(out.size() + 1));
      break;
    case 2:  // extend with random bytes
      for (std::size_t n = 1 + below(8); n > 0; --n) out.push_back(static_cast<std::uint8_t>(rng()));
      break;
    case 3:  // overwrite a byte with an extreme value (varint continuation, length prefixes)
      if (!out.empty()) out[below(out.size())] = (rng() % 2) ? 0xff : 0x80;
      break;
    default: {  // pure noise of a similar length
      out.resize(below(in.size() + 16));
      for (auto& b : out) b = static_cast<std::uint8_t>(rng());
    }
  }
  return out;
}

// Decodes every mutation of every input; a success must round-trip exactly.
template <typename Decode, typename Encode>
void fuzz(const std::vector<Bytes>& inputs, Decode decode, Encode encode, const char* what) {
  std::mt19937_64 rng(42);
  std::size_t accepted = 0;
  for (const Bytes& in : inputs) {
    auto original = decode(in);
    ASSERT_TRUE(original.is_ok()) << what << ": a valid encoding did not decode: " << original.status().to_string();
    ASSERT_EQ(encode(*original), in) << what;
    for (int m = 0; m < kMutationsPerInput; ++m) {
      const Bytes bad = mutate(in, rng);
      auto r = decode(bad);
      if (r.is_ok()) {
        ++accepted;
        ASSERT_EQ(encode(*r), bad) << what << ": decoded but does not re-encode the same";
      }
    }
  }
  ::testing::Test::RecordProperty(std::string(what) + "_accepted_mutations", static_cast<int>(accepted));
}

// Valid transactions of every kind, with valid receipts from executing them.
struct Corpus {
  std::vector<Transaction> txns;
  std::vector<Bytes> receipts;
};

Corpus make_corpus() {
  GenesisParams g;
  g.accounts = 50;
  WorkloadParams w;
  w.name = "mix";
  w.accounts = 50;
  w.block_size = 300;
  w.invalid_fraction = 0.1;
  Corpus c;
  c.txns = WorkloadGenerator(g, w).next_block();
  MemoryState state;
  state.apply(build_genesis(g));
  std::vector<std::uint8_t> ok = verify_signatures(c.txns, 2);
  BlockContext ctx;
  ctx.height = 3;
  LedgerVm vm(ctx, c.txns, ok, LedgerOptions{.work = 1});
  for (const TxnOutput& o : execute_sequential(vm, c.txns.size(), state).outputs) {
    c.receipts.emplace_back(o.receipt.begin(), o.receipt.end());
  }
  return c;
}

TEST(LedgerCodec, TransactionDecodeIsStrictAndCanonical) {
  Corpus c = make_corpus();
  std::vector<Bytes> inputs;
  for (const Transaction& t : c.txns) inputs.push_back(t.encode());
  fuzz(inputs, [](const Bytes& b) { return Transaction::decode(b); }, [](const Transaction& t) { return t.encode(); },
       "transaction");
}

TEST(LedgerCodec, PayloadDecodeIsStrictAndCanonical) {
  Corpus c = make_corpus();
  std::map<TxKind, std::vector<Bytes>> by_kind;
  for (const Transaction& t : c.txns) {
    if (decode_payload(t.kind, t.payload).is_ok()) by_kind[t.kind].push_back(t.payload);
  }
  EXPECT_EQ(by_kind.size(), kMaxTxKind) << "the mix should cover every kind";
  for (const auto& [kind, inputs] : by_kind) {
    fuzz(inputs, [k = kind](const Bytes& b) { return decode_payload(k, b); },
         [](const Payload& p) { return make_transaction(p).payload; }, "payload");
  }
}

TEST(LedgerCodec, ReceiptDecodeIsStrictAndCanonical) {
  Corpus c = make_corpus();
  fuzz(c.receipts, [](const Bytes& b) { return Receipt::decode(b); }, [](const Receipt& r) { return r.encode(); },
       "receipt");
  Receipt r;
  r.status = TxStatus::kFailed;
  r.reason = "x";
  Bytes zero_digest = r.encode();
  zero_digest.back() = 1;  // a digest flag with an all-zero digest is not canonical
  zero_digest.resize(zero_digest.size() + 32, 0);
  EXPECT_FALSE(Receipt::decode(zero_digest).is_ok());
}

TEST(LedgerCodec, RecordsDecodeStrictlyAndCanonically) {
  GenesisParams g;
  g.accounts = 20;
  MemoryState state;
  state.apply(build_genesis(g));
  std::map<std::uint8_t, std::vector<Bytes>> by_table;
  for (const Write& w : state.sorted_entries()) by_table[w.key.tag()].emplace_back(w.value->begin(), w.value->end());
  // Records genesis does not create.
  DelegationRecord d;
  d.amount = 123456789;
  d.since_height = 7;
  VoteRecord v;
  v.choice = 3;
  v.weight = 1u << 30;
  TallyRecord tally;
  tally.amount = static_cast<u128>(1) << 70 | 12345;
  const Value dv = d.encode(), vv = v.encode(), tv = tally.encode();
  by_table[static_cast<std::uint8_t>(KeyKind::kDelegation)].emplace_back(dv.begin(), dv.end());
  by_table[static_cast<std::uint8_t>(KeyKind::kVote)].emplace_back(vv.begin(), vv.end());
  by_table[static_cast<std::uint8_t>(KeyKind::kTally)].emplace_back(tv.begin(), tv.end());
  auto run = [&](KeyKind t, auto tag) {
    using R = decltype(tag);
    const auto& inputs = by_table[static_cast<std::uint8_t>(t)];
    ASSERT_FALSE(inputs.empty());
    fuzz(inputs, [](const Bytes& b) { return R::decode(b); },
         [](const R& r) { const Value e = r.encode(); return Bytes(e.begin(), e.end()); }, R::kName);
  };
  run(KeyKind::kAccount, AccountRecord{});
  run(KeyKind::kTokenBalance, AmountRecord{});
  run(KeyKind::kTokenInfo, TokenInfoRecord{});
  run(KeyKind::kPool, PoolRecord{});
  run(KeyKind::kCollection, CollectionRecord{});
  run(KeyKind::kNft, NftRecord{});
  run(KeyKind::kValidator, ValidatorRecord{});
  run(KeyKind::kDelegation, DelegationRecord{});
  run(KeyKind::kProposal, ProposalRecord{});
  run(KeyKind::kVote, VoteRecord{});
  run(KeyKind::kTally, TallyRecord{});
}

TEST(LedgerCodec, TransactionRejectsWhatItMust) {
  Transaction t = make_transaction(TransferPayload{});
  Bytes ok = t.encode();
  EXPECT_TRUE(Transaction::decode(ok).is_ok());
  Bytes kind0 = ok;
  kind0[32 + 8 * 3 + 4] = 0;
  EXPECT_FALSE(Transaction::decode(kind0).is_ok());
  Bytes kind99 = ok;
  kind99[32 + 8 * 3 + 4] = 99;
  EXPECT_FALSE(Transaction::decode(kind99).is_ok());
  t.payload.assign(kMaxPayloadBytes + 1, 0);
  EXPECT_FALSE(Transaction::decode(t.encode()).is_ok());
  t.payload.assign(kMaxPayloadBytes, 0);
  EXPECT_TRUE(Transaction::decode(t.encode()).is_ok());
  EXPECT_FALSE(Transaction::decode({}).is_ok());
  // A payload id that needs more than 32 bits is malformed, not truncated to fit.
  Writer w;
  w.varint(std::uint64_t{1} << 32);
  EXPECT_FALSE(NftMintPayload::decode(w.data()).is_ok());
}

}  // namespace
}  // namespace pel::ledger::testing
