// Random blocks of every workload: the parallel executor, and execution from the block's access
// list, equal the sequential one byte for byte (threads 1, 2, 4, 8; several seeds, contention levels, skew and invalid transactions), and the
// ledger's invariants hold after every block: native and token supplies conserved (fees
// included), stakes, LP shares and tallies equal the sums they stand for, NFT ids dense with one
// owner each, and on the swap workload no pool's x*y ever falls.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <set>
#include <sstream>
#include <string_view>

#include "engine/ledger/workload.hpp"
#include "engine/parallel_executor.hpp"
#include "tests/ledger/ledger_fixture.hpp"
#include "tests/support/watchdog.hpp"

namespace pel::ledger::testing {
namespace {

__extension__ using u128 = unsigned __int128;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr std::uint32_t kBlockSize = 120;
constexpr int kBlocks = 2;
constexpr int kSeeds = 2;
#else
constexpr std::uint32_t kBlockSize = 400;
constexpr int kBlocks = 3;
constexpr int kSeeds = 4;
#endif

// Everything the invariants compare, summed from a full state dump.
struct Totals {
  u128 native = 0;
  std::map<std::uint32_t, u128> token_held;     // balances + pool reserves, per token
  std::map<std::uint32_t, u128> token_supply;   // token info
  std::map<std::uint32_t, u128> stake_sum;      // delegations, per validator
  std::map<std::uint32_t, u128> stake_total;    // validator records
  std::map<std::uint32_t, u128> lp_sum;         // LP balances, per pool
  std::map<std::uint32_t, PoolRecord> pools;
  std::map<std::uint32_t, std::uint64_t> nft_count;
  std::map<std::uint32_t, std::uint64_t> nft_max_id;
  std::map<std::uint32_t, std::uint64_t> next_id;
  std::map<std::uint32_t, std::vector<u128>> vote_sum;
  std::map<std::uint32_t, std::uint32_t> choices;  // per proposal
  std::map<std::pair<std::uint32_t, std::uint32_t>, u128> tallies;  // (proposal, choice)
};

std::uint32_t id_at(const StateKey& k) {
  return static_cast<std::uint32_t>(k.bytes[1] | k.bytes[2] << 8 | k.bytes[3] << 16 | k.bytes[4] << 24);
}

template <typename R>
R decode_or_fail(const Write& w) {
  Result<R> r = R::decode(as_bytes(*w.value));
  EXPECT_TRUE(r.is_ok()) << w.key.hex() << ": " << r.status().to_string();
  return r.is_ok() ? *r : R{};
}

Totals totals(const MemoryState& state) {
  Totals t;
  for (const Write& w : state.sorted_entries()) {
    const std::uint32_t id = id_at(w.key);
    switch (static_cast<KeyKind>(w.key.tag())) {
      case KeyKind::kAccount: t.native += decode_or_fail<AccountRecord>(w).balance; break;
      case KeyKind::kTokenBalance: t.token_held[id] += decode_or_fail<AmountRecord>(w).amount; break;
      case KeyKind::kTokenInfo: t.token_supply[id] = decode_or_fail<TokenInfoRecord>(w).total_supply; break;
      case KeyKind::kPool: {
        PoolRecord p = decode_or_fail<PoolRecord>(w);
        t.native += p.reserve_native;
        t.token_held[p.token] += p.reserve_token;
        t.pools[id] = p;
        break;
      }
      case KeyKind::kLpBalance: t.lp_sum[id] += decode_or_fail<AmountRecord>(w).amount; break;
      case KeyKind::kCollection: t.next_id[id] = decode_or_fail<CollectionRecord>(w).next_id; break;
      case KeyKind::kNft: {
        decode_or_fail<NftRecord>(w);
        std::uint64_t nft = 0;
        for (int i = 0; i < 8; ++i) nft |= static_cast<std::uint64_t>(w.key.bytes[5 + i]) << (8 * i);
        t.nft_count[id] += 1;
        t.nft_max_id[id] = std::max(t.nft_max_id[id], nft);
        break;
      }
      case KeyKind::kValidator: {
        t.native += decode_or_fail<ValidatorRecord>(w).reward_pool;
        break;
      }
      case KeyKind::kValidatorStake: {
        const std::uint64_t stake = decode_or_fail<AmountRecord>(w).amount;
        t.native += stake;
        t.stake_total[id] = stake;
        break;
      }
      case KeyKind::kDelegation: t.stake_sum[id] += decode_or_fail<DelegationRecord>(w).amount; break;
      case KeyKind::kProposal: t.choices[id] = decode_or_fail<ProposalRecord>(w).choices; break;
      case KeyKind::kTally: {
        const auto choice = static_cast<std::uint32_t>(w.key.bytes[5] | w.key.bytes[6] << 8 | w.key.bytes[7] << 16 |
                                                       w.key.bytes[8] << 24);
        t.tallies[{id, choice}] = decode_or_fail<TallyRecord>(w).amount;
        break;
      }
      case KeyKind::kVote: {
        VoteRecord v = decode_or_fail<VoteRecord>(w);
        auto& sums = t.vote_sum[id];
        if (sums.size() <= v.choice) sums.resize(v.choice + 1);
        sums[v.choice] += v.weight;
        break;
      }
      default: ADD_FAILURE() << "unknown table in key " << w.key.hex();
    }
  }
  return t;
}

// Checks the invariants of `now` against the genesis totals (and the previous block's pools).
void check_invariants(const Totals& genesis, const Totals& before, const Totals& now, bool swaps_only,
                      const std::string& what) {
  EXPECT_TRUE(now.native == genesis.native) << what << ": native supply changed";
  EXPECT_EQ(now.token_supply.size(), genesis.token_supply.size()) << what;
  for (const auto& [token, supply] : now.token_supply) {
    auto held = now.token_held.find(token);
    EXPECT_TRUE(held != now.token_held.end() && held->second == supply) << what << ": token " << token;
  }
  for (const auto& [v, total] : now.stake_total) {
    auto sum = now.stake_sum.find(v);
    EXPECT_TRUE(total == (sum == now.stake_sum.end() ? 0 : sum->second)) << what << ": validator " << v;
  }
  for (const auto& [id, pool] : now.pools) {
    auto lp = now.lp_sum.find(id);
    EXPECT_TRUE(lp != now.lp_sum.end() && lp->second == pool.lp_supply) << what << ": LP of pool " << id;
    const PoolRecord& old = before.pools.at(id);
    if (swaps_only) {
      EXPECT_TRUE(static_cast<u128>(pool.reserve_native) * pool.reserve_token >=
                  static_cast<u128>(old.reserve_native) * old.reserve_token)
          << what << ": x*y of pool " << id << " fell";
    }
  }
  for (const auto& [c, next] : now.next_id) {
    // Ids 0..next-1 each hold exactly one owner record, and no other id exists.
    EXPECT_EQ(now.nft_count.at(c), next) << what << ": collection " << c;
    EXPECT_EQ(now.nft_max_id.at(c), next - 1) << what << ": collection " << c;
  }
  // Each choice's tally (absent: 0) is the sum of the votes cast for it, and no tally or vote
  // names a choice its proposal does not offer.
  for (const auto& [p, choices] : now.choices) {
    std::vector<u128> sums = now.vote_sum.count(p) ? now.vote_sum.at(p) : std::vector<u128>{};
    EXPECT_LE(sums.size(), choices) << what << ": proposal " << p;
    sums.resize(choices);
    for (std::uint32_t c = 0; c < choices; ++c) {
      const auto tally = now.tallies.find({p, c});
      EXPECT_TRUE((tally == now.tallies.end() ? 0 : tally->second) == sums[c]) << what << ": proposal " << p << " choice " << c;
    }
  }
  for (const auto& [at, tally] : now.tallies) {
    EXPECT_TRUE(now.choices.count(at.first) && at.second < now.choices.at(at.first))
        << what << ": a tally for proposal " << at.first << " choice " << at.second;
  }
}

void expect_same(const BlockResult& seq, const BlockResult& par, const std::string& what) {
  ASSERT_EQ(seq.outputs.size(), par.outputs.size()) << what;
  for (std::size_t i = 0; i < seq.outputs.size(); ++i) ASSERT_EQ(seq.outputs[i], par.outputs[i]) << what << " txn " << i;
  ASSERT_EQ(seq.writes.size(), par.writes.size()) << what;
  for (std::size_t i = 0; i < seq.writes.size(); ++i) {
    ASSERT_EQ(seq.writes[i], par.writes[i]) << what << " write " << i << " key " << seq.writes[i].key.hex() << " seq " << (seq.writes[i].value ? to_hex(as_bytes(*seq.writes[i].value)) : "none") << " par " << (par.writes[i].value ? to_hex(as_bytes(*par.writes[i].value)) : "none");
  }
}

struct Block {
  std::vector<Transaction> txns;
  std::vector<std::uint8_t> signature_ok;
  BlockContext ctx;
};

class WorkloadTest : public ::testing::TestWithParam<std::string> {};

TEST_P(WorkloadTest, ParallelEqualsSequentialAndInvariantsHold) {
  const std::string name = GetParam();
  for (int s = 0; s < kSeeds; ++s) {
    GenesisParams g;
    g.seed = 11 + s;
    g.accounts = 300;
    WorkloadParams w;
    w.name = name;
    w.seed = 1000 + s;
    // Low, high, extreme and total contention (two accounts: every p2p transaction conflicts).
    w.accounts = std::vector<std::uint32_t>{300, 20, 3, 2}[s];
    w.skew = s == 1 ? 1.0 : 0.0;
    w.block_size = kBlockSize;
    w.invalid_fraction = s == 2 ? 0.2 : 0.05;
    ASSERT_TRUE(WorkloadGenerator::check(g, w).is_ok()) << WorkloadGenerator::check(g, w).to_string();
    WorkloadGenerator gen(g, w);
    Address beneficiary;
    beneficiary.bytes.fill(0xbe);
    std::vector<Block> blocks(kBlocks);
    for (int b = 0; b < kBlocks; ++b) {
      blocks[b].txns = gen.next_block();
      blocks[b].signature_ok = verify_signatures(blocks[b].txns, 2);
      blocks[b].ctx = {.height = 1 + static_cast<std::uint64_t>(b) * 5, .timestamp = 0, .beneficiary = beneficiary,
                       .chain_id = g.chain_id};
    }

    // The sequential oracle, with the invariants after each block.
    MemoryState seq_state;
    seq_state.apply(build_genesis(g));
    const Totals genesis = totals(seq_state);
    Totals before = genesis;
    std::vector<BlockResult> oracle;
    std::size_t admitted = 0, succeeded = 0, discarded = 0;
    for (int b = 0; b < kBlocks; ++b) {
      LedgerVm vm(blocks[b].ctx, blocks[b].txns, blocks[b].signature_ok);
      oracle.push_back(execute_sequential(vm, blocks[b].txns.size(), seq_state));
      for (const Receipt& r : decode_receipts(oracle.back())) {
        discarded += r.status == TxStatus::kDiscarded;
        admitted += r.status != TxStatus::kDiscarded;
        succeeded += r.status == TxStatus::kSuccess;
      }
      seq_state.apply(oracle.back().writes);
      Totals now = totals(seq_state);
      std::ostringstream what;
      what << name << " seed " << s << " block " << b;
      check_invariants(genesis, before, now, name == "swap", what.str());
      before = std::move(now);
    }
    // The generator's valid transactions are valid: few fail (swap: 5% slippage on purpose).
    EXPECT_GE(succeeded * 100, admitted * 85) << name << " seed " << s << ": " << succeeded << "/" << admitted;
    EXPECT_GT(discarded, 0u) << name << " seed " << s;

    for (int threads : {1, 2, 4, 8}) {
      ParallelExecutor executor({.threads = threads, .min_parallel_txns = 2, .fallback_speedup = 0});
      MemoryState state;
      state.apply(build_genesis(g));
      for (int b = 0; b < kBlocks; ++b) {
        std::ostringstream what;
        what << name << " seed " << s << " threads " << threads << " block " << b;
        pel::testing::Watchdog dog(std::chrono::seconds(60), what.str());
        LedgerVm vm(blocks[b].ctx, blocks[b].txns, blocks[b].signature_ok);
        BlockResult par = executor.execute(vm, blocks[b].txns.size(), state);
        expect_same(oracle[b], par, what.str());
        if (HasFatalFailure()) return;
        // Executed from the block's access list (credits are deltas, listed as read and written).
        AccessRecorder recorder(vm, blocks[b].txns.size());
        const BlockResult recorded = execute_sequential(recorder, blocks[b].txns.size(), state);
        Result<BlockResult> listed =
            executor.execute_listed(vm, blocks[b].txns.size(), state, recorder.take(recorded.outputs));
        ASSERT_TRUE(listed.is_ok()) << what.str() << ": " << listed.status().message();
        expect_same(oracle[b], *listed, what.str() + " listed");
        if (HasFatalFailure()) return;
        state.apply(par.writes);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllWorkloads, WorkloadTest, ::testing::ValuesIn(workload_names()),
                         [](const auto& param_info) { return param_info.param; });

TEST(WorkloadGenerator, SameSeedSameBytes) {
  GenesisParams g;
  g.accounts = 100;
  for (const std::string& name : workload_names()) {
    WorkloadParams w;
    w.name = name;
    w.accounts = 50;
    w.block_size = 200;
    w.skew = 0.7;
    w.invalid_fraction = 0.1;
    WorkloadGenerator a(g, w), b(g, w);
    w.seed = 2;
    WorkloadGenerator c(g, w);
    for (int block = 0; block < 2; ++block) {
      std::vector<Transaction> ta = a.next_block(), tb = b.next_block(), tc = c.next_block();
      ASSERT_EQ(ta.size(), 200u);
      bool differs = false;
      for (std::size_t i = 0; i < ta.size(); ++i) {
        ASSERT_EQ(ta[i].encode(), tb[i].encode()) << name << " block " << block << " txn " << i;
        differs |= ta[i].encode() != tc[i].encode();
      }
      EXPECT_TRUE(differs) << name << ": another seed gave the same block";
    }
  }
}

// A generator that resumes from a chain's state (another generator's blocks applied) produces
// valid transactions: nonces, NFT owners and delegations come from the state, not the genesis.
TEST(WorkloadGenerator, SyncWithStateContinuesAChain) {
  GenesisParams g;
  g.accounts = 60;
  for (const char* name : {"mix", "nft", "staking"}) {
    WorkloadParams w;
    w.name = name;
    w.accounts = 40;
    w.block_size = 300;
    MemoryState state;
    state.apply(build_genesis(g));
    auto run = [&](std::vector<Transaction> txns, std::uint64_t height) {
      std::vector<std::uint8_t> ok = verify_signatures(txns, 2);
      LedgerVm vm(BlockContext{.height = height, .timestamp = 0, .beneficiary = {}, .chain_id = g.chain_id}, txns, ok);
      BlockResult r = execute_sequential(vm, txns.size(), state);
      state.apply(r.writes);
      return decode_receipts(r);
    };
    WorkloadGenerator first(g, w);
    run(first.next_block(), 1);
    run(first.next_block(), 2);
    w.seed = 99;
    WorkloadGenerator resumed(g, w);
    resumed.sync_with_state(state);
    std::size_t succeeded = 0;
    std::vector<Receipt> receipts = run(resumed.next_block(), 3);
    for (const Receipt& r : receipts) {
      EXPECT_NE(r.status, TxStatus::kDiscarded) << name << ": " << r.reason;
      succeeded += r.status == TxStatus::kSuccess;
    }
    EXPECT_GE(succeeded * 100, receipts.size() * 85) << name;
  }
}

// Following a state costs what the blocks name, not what the state holds: a generator over
// 20,000 accounts reads only the accounts its first small block names (issue 26: `produce`
// read every account, delegation and NFT of a 1,000,000-account chain before its first block).
TEST(WorkloadGenerator, FollowingAStateReadsOnlyTheAccountsABlockNames) {
  class CountingState final : public BaseState {
   public:
    explicit CountingState(const BaseState& inner) : inner_(inner) {}
    std::optional<Value> get(const StateKey& key) const override {
      ++reads;
      return inner_.get(key);
    }
    mutable std::size_t reads = 0;

   private:
    const BaseState& inner_;
  };
  GenesisParams g;
  g.accounts = 20'000;
  MemoryState genesis;
  genesis.apply(build_genesis(g));
  for (const char* name : {"p2p", "mix"}) {
    WorkloadParams w;
    w.name = name;
    w.block_size = 10;
    CountingState counting(genesis);
    WorkloadGenerator gen(g, w);
    gen.sync_with_state(counting);
    const std::vector<Transaction> block = gen.next_block();
    ASSERT_EQ(block.size(), 10u);
    // Each named account costs its record, its delegations and its genesis NFTs; an airdrop
    // names up to 32 recipients; the first call reads each collection.
    const std::size_t per_account = 1 + g.validators + g.collections;
    EXPECT_LE(counting.reads, g.collections + 10 * 33 * per_account) << name;
    EXPECT_GT(counting.reads, 0u) << name;
  }
}

TEST(WorkloadGenerator, CheckRejectsBadParameters) {
  GenesisParams g;
  g.accounts = 10;
  auto check = [&](auto edit) {
    WorkloadParams w;
    w.accounts = 10;
    edit(w);
    return WorkloadGenerator::check(g, w);
  };
  EXPECT_TRUE(check([](WorkloadParams&) {}).is_ok());
  // A genesis whose coin supply passes 2^64 - 1: credits could overflow (check_genesis).
  g.initial_balance = std::uint64_t{1} << 60;
  EXPECT_NE(check([](WorkloadParams&) {}).message().find("supply passes 2^64"), std::string::npos);
  g.initial_balance = GenesisParams{}.initial_balance;
  EXPECT_FALSE(check([](WorkloadParams& w) { w.name = "nope"; }).is_ok());
  EXPECT_FALSE(check([](WorkloadParams& w) { w.accounts = 11; }).is_ok());
  EXPECT_FALSE(check([](WorkloadParams& w) { w.accounts = 1; }).is_ok());  // p2p needs two
  EXPECT_FALSE(check([](WorkloadParams& w) { w.block_size = 0; }).is_ok());
  EXPECT_FALSE(check([](WorkloadParams& w) { w.invalid_fraction = 1.5; }).is_ok());
  EXPECT_FALSE(check([](WorkloadParams& w) { w.skew = -1; }).is_ok());
  EXPECT_FALSE(check([](WorkloadParams& w) { w.mix_weights = {{"swap", 1}}; }).is_ok());  // not "mix"
  EXPECT_FALSE(check([](WorkloadParams& w) { w.name = "mix"; w.mix_weights = {{"teleport", 1}}; }).is_ok());
  EXPECT_FALSE(check([](WorkloadParams& w) { w.name = "mix"; w.mix_weights = {{"swap", 0}}; }).is_ok());
  EXPECT_TRUE(check([](WorkloadParams& w) { w.name = "mix"; w.mix_weights = {{"swap", 2}, {"vote", 1}}; }).is_ok());
  g.pools = 0;
  EXPECT_FALSE(check([](WorkloadParams& w) { w.name = "swap"; }).is_ok());
  WorkloadParams swap;
  swap.name = "swap";
  swap.accounts = 10;
  EXPECT_THROW(WorkloadGenerator(g, swap), std::invalid_argument);
}

TEST(Genesis, SortedUniqueAndQuick) {
  GenesisParams g;
  g.accounts = 10'000;
  const auto start = std::chrono::steady_clock::now();
  WriteSet w = build_genesis(g);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  for (std::size_t i = 1; i < w.size(); ++i) ASSERT_LT(w[i - 1].key, w[i].key);
  EXPECT_EQ(account_address(g.seed, 3), address_of(account_keypair(g.seed, 3).public_key()));
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
  EXPECT_LT(ms, 3000) << "genesis of 10,000 accounts took " << ms << " ms";
#endif
  RecordProperty("genesis_ms", static_cast<int>(ms));
}

}  // namespace
}  // namespace pel::ledger::testing

namespace pel::ledger {
namespace {

constexpr const char* kDeclaringWorkloads[] = {"p2p", "token", "staking", "dao", "airdrop", "swap", "nft", "mix"};

// The first block of workload `name` over every account of `g`.
std::vector<Transaction> first_block(const GenesisParams& g, const char* name, std::uint32_t block_size) {
  WorkloadParams w;
  w.name = name;
  w.accounts = g.accounts;
  w.block_size = block_size;
  return WorkloadGenerator(g, w).next_block();
}

// The ledger VM's declared writes are right where they speak: every key a successful
// transaction declares, it writes a value to. For the kinds whose keys all come from the
// payload (transfers, token transfers, staking, airdrops) it writes exactly what it declared,
// besides what it only adds to (deltas, left undeclared). (A vote that replaces an earlier one
// also subtracts from the tally of the choice it replaces, which only the state names.)
TEST(DeclaredWrites, ASuccessfulTransactionWritesWhatItDeclared) {
  GenesisParams g;
  g.accounts = 200;
  for (const char* name : kDeclaringWorkloads) {
    MemoryState state;
    state.apply(build_genesis(g));
    const std::vector<Transaction> txns = first_block(g, name, 400);
    const std::vector<std::uint8_t> ok = verify_signatures(txns, 2);
    LedgerVm vm(BlockContext{.height = 1, .timestamp = 0, .beneficiary = {}, .chain_id = g.chain_id}, txns, ok);
    const bool exact = std::string_view(name) != "swap" && std::string_view(name) != "nft" &&
                       std::string_view(name) != "mix" && std::string_view(name) != "dao";
    std::size_t checked = 0;
    for (TxnIndex i = 0; i < txns.size(); ++i) {
      // Each transaction against the state before it, as the sequential executor runs them.
      BlockResult one = execute_sequential(vm, i + 1, state);
      const TxnOutput& out = one.outputs[i];
      auto receipt = Receipt::decode(as_bytes(out.receipt));
      ASSERT_TRUE(receipt.is_ok());
      if (receipt->status != TxStatus::kSuccess) continue;
      DeclaredWrites declared, declared_adds;
      vm.declare_writes(i, declared);
      vm.declare_adds(i, declared_adds);
      std::set<StateKey> written, added, named(declared.begin(), declared.end());
      const std::set<StateKey> named_adds(declared_adds.begin(), declared_adds.end());
      for (const Write& write : out.writes) written.insert(write.key);
      for (const Delta& delta : out.deltas) added.insert(delta.key);
      // A declared add is added to, or written when the transaction also read it (a
      // self-transfer); every add the payload names is declared.
      for (const StateKey& key : named_adds) {
        EXPECT_TRUE(added.contains(key) || written.contains(key)) << name << " txn " << i << " declared add " << key.hex();
      }
      for (const StateKey& key : named) EXPECT_TRUE(written.contains(key)) << name << " txn " << i << " declared " << key.hex();
      if (exact) {
        // Nothing written or added beyond what was declared (a declared add the transaction
        // also read, an airdrop's sender among its recipients, is written).
        for (const StateKey& key : written) {
          EXPECT_TRUE(named.contains(key) || named_adds.contains(key)) << name << " txn " << i << " wrote " << key.hex();
        }
        for (const StateKey& key : added) {
          EXPECT_TRUE(named_adds.contains(key)) << name << " txn " << i << " added to " << key.hex();
        }
      }
      ++checked;
    }
    EXPECT_GT(checked, txns.size() / 2) << name;
  }
}

// The block's declarations the access-list codec reads (declare_block: each payload decoded
// once, no VM) are the VM's, transaction by transaction, for every workload.
TEST(DeclaredWrites, TheBlocksDeclarationsAreTheVmsWithoutAVm) {
  GenesisParams g;
  g.accounts = 300;
  for (const char* name : kDeclaringWorkloads) {
    const std::vector<Transaction> txns = first_block(g, name, 700);  // more than one chunk of declarations
    const std::vector<std::uint8_t> ok(txns.size(), 1);
    LedgerVm vm(BlockContext{.height = 1, .timestamp = 0, .beneficiary = {}, .chain_id = g.chain_id}, txns, ok);
    const BlockDeclarations block = declare_block(txns);
    ASSERT_EQ(block.transactions(), txns.size()) << name;
    for (TxnIndex i = 0; i < txns.size(); ++i) {
      DeclaredWrites writes, adds;
      vm.declare_writes(i, writes);
      vm.declare_adds(i, adds);
      ASSERT_EQ(DeclaredWrites(block.writes(i).begin(), block.writes(i).end()), writes) << name << " txn " << i;
      ASSERT_EQ(DeclaredWrites(block.adds(i).begin(), block.adds(i).end()), adds) << name << " txn " << i;
      ASSERT_EQ(block.keys(i).size(), writes.size() + adds.size()) << name << " txn " << i;
    }
  }
}

}  // namespace
}  // namespace pel::ledger
