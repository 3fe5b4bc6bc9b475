// The embedding API end to end: produce, reopen, export, import elsewhere, replay, and every way
// a block file or a stored block can be bad.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>

#include "crypto/merkle.hpp"
#include "engine/sequential_executor.hpp"
#include "node/block_file.hpp"
#include "node/chain.hpp"
#include "node/producer.hpp"
#include "node/replay.hpp"
#include "state/database.hpp"
#include "tests/node/temp_dir.hpp"
#include "tests/support/access_list_edit.hpp"

namespace pel {
namespace {

// Every chain in these tests has the same producer, so each can import the others' blocks.
const Seed kProducerSeed{7};

ChainOptions test_options(const std::string& dir) {
  ChainOptions o;
  o.datadir = dir;
  o.producer_seed = kProducerSeed;
  return o;
}

ledger::GenesisParams small_genesis() {
  ledger::GenesisParams g;
  g.accounts = 100;
  g.seed = 11;
  g.producer = KeyPair::from_seed(kProducerSeed).value().public_key();
  return g;
}

std::unique_ptr<Chain> make_chain(const std::string& dir, int blocks, const std::string& workload = "mix") {
  ChainOptions o = test_options(dir);
  auto chain = Chain::create(o, small_genesis());
  EXPECT_TRUE(chain.is_ok()) << chain.status().to_string();
  if (blocks > 0) {
    ProduceParams p;
    p.workload.name = workload;
    p.workload.accounts = 100;
    p.workload.block_size = 60;
    p.workload.invalid_fraction = 0.05;
    p.blocks = static_cast<std::uint64_t>(blocks);
    auto s = produce(**chain, p);
    EXPECT_TRUE(s.is_ok()) << s.status().to_string();
  }
  return std::move(chain).value();
}

std::unique_ptr<Chain> open_chain(const std::string& dir) {
  ChainOptions o = test_options(dir);
  auto chain = Chain::open(o);
  EXPECT_TRUE(chain.is_ok()) << chain.status().to_string();
  return chain.is_ok() ? std::move(chain).value() : nullptr;
}

TEST(Chain, ProduceReopenAndVerify) {
  testing::TempDir dir;
  Hash256 head_hash;
  {
    auto chain = make_chain(dir.path(), 6);
    EXPECT_EQ(chain->head().height, 6u);
    head_hash = chain->head_hash();
    EXPECT_TRUE(chain->verify_state().is_ok());
    auto receipts = chain->receipts_at(3);
    ASSERT_TRUE(receipts.is_ok());
    EXPECT_EQ(receipts->size(), 60u);
  }
  auto chain = open_chain(dir.path());
  ASSERT_TRUE(chain);
  EXPECT_EQ(chain->head_hash(), head_hash);
  EXPECT_TRUE(chain->verify_state().is_ok());
  // Producing continues from the head with the right nonces.
  ProduceParams p;
  p.workload.name = "p2p";
  p.workload.accounts = 100;
  p.workload.block_size = 50;
  p.blocks = 2;
  auto s = produce(*chain, p);
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  auto receipts = chain->receipts_at(8);
  ASSERT_TRUE(receipts.is_ok());
  for (const auto& r : *receipts) EXPECT_NE(r.status, ledger::TxStatus::kDiscarded) << r.reason;
}

// Receipts are hashed and stored as the VM encoded them: what is stored, decoded and encoded
// again canonically, gives each header's receipts root, and each receipt's own hash.
TEST(Chain, StoredReceiptsGiveTheReceiptsRoot) {
  testing::TempDir dir;
  auto chain = make_chain(dir.path(), 3);
  for (std::uint64_t h = 1; h <= 3; ++h) {
    auto receipts = chain->receipts_at(h);
    ASSERT_TRUE(receipts.is_ok());
    std::vector<Bytes> encoded;
    std::vector<Hash256> hashes;
    for (const ledger::Receipt& r : *receipts) {
      encoded.push_back(r.encode());
      hashes.push_back(r.hash());
    }
    EXPECT_EQ(receipts_root(encoded), chain->block_at(h)->header.receipts_root) << "height " << h;
    EXPECT_EQ(merkle_root(hashes), chain->block_at(h)->header.receipts_root) << "height " << h;
  }
}

TEST(Chain, CreateRefusesAnExistingChainAndOpenRefusesAnEmptyDir) {
  testing::TempDir dir;
  auto chain = make_chain(dir.path() + "/a", 0);
  ChainOptions o = test_options(dir.path() + "/a");
  chain.reset();
  EXPECT_FALSE(Chain::create(o, small_genesis()).is_ok());
  o.datadir = dir.path() + "/empty";
  auto missing = Chain::open(o);
  ASSERT_FALSE(missing.is_ok());
  EXPECT_NE(missing.status().message().find("pel init"), std::string::npos);
}

TEST(Chain, ADirectoryOfAnOlderFormatIsRefusedByName) {
  testing::TempDir dir;
  make_chain(dir.path(), 0).reset();
  {
    DatabaseOptions d;
    d.path = dir.path();
    auto db = Database::open(d);
    ASSERT_TRUE(db.is_ok());
    WriteBatch batch;
    const std::uint8_t version_7[4] = {7, 0, 0, 0};  // state history as undo records
    batch.put(ChainStore::kMetaSpace, as_bytes("format"), version_7);
    ASSERT_TRUE((*db)->write(batch, true).is_ok());
  }
  auto old = Chain::open(test_options(dir.path()));
  ASSERT_FALSE(old.is_ok());
  EXPECT_NE(old.status().message().find("format version 7, this pel reads version 8"), std::string::npos)
      << old.status().to_string();
}

// An embedder that checked signatures when the transactions arrived hands the verdicts in:
// import trusts them (the block's signatures are not checked twice), so a wrong verdict shows as
// a block whose roots differ, and the right verdicts import the block.
TEST(Chain, ImportTrustsSignatureVerdictsHandedIn) {
  testing::TempDir dir;
  auto created = Chain::create(test_options(dir.path() + "/source"), small_genesis());
  ASSERT_TRUE(created.is_ok());
  std::unique_ptr<Chain> source = std::move(created).value();
  ProduceParams p;
  p.workload.name = "p2p";
  p.workload.accounts = 100;
  p.workload.block_size = 60;
  p.workload.invalid_fraction = 0.3;  // bad signatures among them
  p.blocks = 2;
  ASSERT_TRUE(produce(*source, p).is_ok());
  for (std::uint64_t h = 1; h <= 2; ++h) {
    auto block = source->block_at(h);
    ASSERT_TRUE(block.is_ok());
    const std::vector<std::uint8_t> verdicts = ledger::verify_signatures(block->transactions, 1);
    ASSERT_LT(std::count(verdicts.begin(), verdicts.end(), 1), static_cast<std::ptrdiff_t>(verdicts.size()))
        << "block " << h << " should hold a bad signature";
    for (bool pipelined : {false, true}) {
      ChainOptions o = test_options(dir.path() + "/follower" + std::to_string(h) + (pipelined ? "p" : ""));
      auto follower = Chain::create(o, small_genesis());
      ASSERT_TRUE(follower.is_ok());
      for (std::uint64_t earlier = 1; earlier < h; ++earlier) ASSERT_TRUE((*follower)->import(*source->block_at(earlier)).is_ok());
      const std::vector<std::uint8_t> all_valid(verdicts.size(), 1);
      Status wrong = pipelined ? (*follower)->import_async(*block, &all_valid) : (*follower)->import(*block, &all_valid);
      EXPECT_EQ(wrong.code(), ErrorCode::kVerification) << wrong.to_string();
      EXPECT_EQ((*follower)->head().height, h - 1);
      const std::vector<std::uint8_t> too_few(verdicts.size() - 1, 1);
      EXPECT_EQ((*follower)->import(*block, &too_few).code(), ErrorCode::kInvalidArgument);
      Status right = pipelined ? (*follower)->import_async(*block, &verdicts) : (*follower)->import(*block, &verdicts);
      EXPECT_TRUE(right.is_ok()) << right.to_string();
      ASSERT_TRUE((*follower)->flush().is_ok());
      EXPECT_EQ((*follower)->head_hash(), block->header.hash());
    }
  }
}

// A block holding badly signed transactions, imported with signatures skipped, fails; the error
// says the skipped check changed the block's outcome, naming the transaction.
TEST(Chain, AnImportThatSkippedSignaturesSaysWhenABadOneChangedTheOutcome) {
  testing::TempDir dir;
  std::unique_ptr<Chain> source = std::move(Chain::create(test_options(dir.path() + "/source"), small_genesis())).value();
  ProduceParams p;
  p.workload.name = "p2p";
  p.workload.accounts = 100;
  p.workload.block_size = 60;
  p.workload.invalid_fraction = 0.3;
  ASSERT_TRUE(produce(*source, p).is_ok());
  auto block = source->block_at(1);
  ASSERT_TRUE(block.is_ok());
  const std::vector<std::uint8_t> verdicts = ledger::verify_signatures(block->transactions, 1);
  const auto first_bad = std::find(verdicts.begin(), verdicts.end(), 0) - verdicts.begin();
  ASSERT_LT(first_bad, static_cast<std::ptrdiff_t>(verdicts.size()));
  for (bool use_lists : {true, false}) {
    ChainOptions o = test_options(dir.path() + (use_lists ? "/listed" : "/block-stm"));
    o.signatures = SignaturePolicy::kAssumeValid;
    o.use_access_lists = use_lists;
    auto follower = Chain::create(o, small_genesis());
    ASSERT_TRUE(follower.is_ok());
    Status s = (*follower)->import(*block);
    ASSERT_FALSE(s.is_ok());
    EXPECT_NE(s.message().find("transaction " + std::to_string(first_bad) + " has a bad signature"), std::string::npos)
        << s.to_string();
    EXPECT_NE(s.message().find("skipped signature check"), std::string::npos) << s.to_string();
  }
}

// A decoded access list is bound to the block it was decoded from: handed in with another
// block, the import is refused before anything runs; with its own block, it imports.
TEST(Chain, ImportRefusesADecodedAccessListOfAnotherBlock) {
  testing::TempDir dir;
  auto source = make_chain(dir.path() + "/source", 2);
  auto follower = std::move(Chain::create(test_options(dir.path() + "/follower"), small_genesis())).value();
  const Block first = *source->block_at(1);
  const Block second = *source->block_at(2);
  auto second_list = second.decode_access_list();
  ASSERT_TRUE(second_list.is_ok());
  Status wrong = follower->import(first, nullptr, {}, &*second_list);
  EXPECT_EQ(wrong.code(), ErrorCode::kInvalidArgument) << wrong.to_string();
  EXPECT_NE(wrong.message().find("decoded from block " + second.header.hash().hex()), std::string::npos) << wrong.to_string();
  EXPECT_EQ(follower->head().height, 0u);
  auto first_list = first.decode_access_list();
  ASSERT_TRUE(first_list.is_ok());
  EXPECT_TRUE(follower->import(first, nullptr, {}, &*first_list).is_ok());
  EXPECT_TRUE(follower->import_async(second, nullptr, {}, &*second_list).is_ok());
  EXPECT_TRUE(follower->flush().is_ok());
  EXPECT_EQ(follower->head_hash(), second.header.hash());
}

// The genesis hash names the chain's author: the same parameters under two producers give two
// chains, and one cannot import the other's blocks.
TEST(Chain, TheGenesisHashCommitsToTheProducer) {
  testing::TempDir dir;
  ledger::GenesisParams other = small_genesis();
  other.producer = KeyPair::from_seed(Seed{8}).value().public_key();
  auto mine = Chain::create(test_options(dir.path() + "/mine"), small_genesis());
  ChainOptions o;
  o.datadir = dir.path() + "/other";
  auto theirs = Chain::create(o, other);
  ASSERT_TRUE(mine.is_ok() && theirs.is_ok());
  EXPECT_NE((*mine)->head_hash(), (*theirs)->head_hash());
  EXPECT_EQ((*mine)->head().state_root, (*theirs)->head().state_root) << "the same accounts";
}

// A producer key no signature could verify under is refused where the genesis names it.
TEST(Chain, AGenesisProducerThatCannotSignIsRefused) {
  testing::TempDir dir;
  std::array<std::uint8_t, 32> small_order{};  // the identity point: y = 1
  small_order[0] = 1;
  std::array<std::uint8_t, 32> non_canonical{};  // y = p, an encoding of y = 0 that is not canonical
  non_canonical.fill(0xff);
  non_canonical[0] = 0xed;
  non_canonical[31] = 0x7f;
  int n = 0;
  for (const auto& bytes : {small_order, non_canonical}) {
    ledger::GenesisParams g = small_genesis();
    g.producer = PublicKey{bytes};
    ChainOptions o;
    o.datadir = dir.path() + "/c" + std::to_string(n++);
    auto chain = Chain::create(o, g);
    ASSERT_FALSE(chain.is_ok()) << g.producer.hex();
    EXPECT_EQ(chain.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_FALSE(std::filesystem::exists(o.datadir)) << "nothing is made for a refused genesis";
  }
}

// The genesis is written in batches of accounts (bounded memory at any size): any batch size
// gives the state, root and genesis hash that one batch gives, and the state verifies.
TEST(Chain, AGenesisWrittenInPartsIsTheSameGenesis) {
  testing::TempDir dir;
  const ledger::GenesisParams genesis = small_genesis();
  std::vector<Hash256> hashes;
  for (std::uint32_t per_batch : {1u, 7u, 100u, 50'000u}) {
    ChainOptions o = test_options(dir.path() + "/batch" + std::to_string(per_batch));
    o.genesis_accounts_per_batch = per_batch;
    auto chain = Chain::create(o, genesis);
    ASSERT_TRUE(chain.is_ok()) << chain.status().to_string();
    EXPECT_EQ((*chain)->head().state_root, commitment_of(ledger::build_genesis(genesis)).digest()) << per_batch;
    EXPECT_TRUE((*chain)->verify_state().is_ok()) << per_batch;
    hashes.push_back((*chain)->head_hash());
  }
  EXPECT_EQ(std::count(hashes.begin(), hashes.end(), hashes.front()), static_cast<std::ptrdiff_t>(hashes.size()));
}

// An init stopped while it streamed the genesis leaves state without a chain: a new init there
// is refused (its keys would mix with the new genesis's), and so is an open.
TEST(Chain, AnInitThatDidNotFinishIsRefused) {
  testing::TempDir dir;
  {
    auto db = Database::open({.path = dir.path()});
    ASSERT_TRUE(db.is_ok());
    WriteSet part = ledger::build_genesis(small_genesis());
    part.resize(10);
    WriteBatch batch;
    StateStore::stage_genesis_part(part, batch);
    ASSERT_TRUE((*db)->write(batch, true).is_ok());
  }
  auto chain = Chain::create(test_options(dir.path()), small_genesis());
  ASSERT_FALSE(chain.is_ok());
  EXPECT_NE(chain.status().message().find("init that did not finish"), std::string::npos) << chain.status().to_string();
  EXPECT_FALSE(Chain::open(test_options(dir.path())).is_ok());
}

// One owner per key space: the chain store's and the state store's never share a prefix.
TEST(ChainStore, KeySpacesAreDisjointFromTheStateStores) {
  const std::vector<Keyspace> spaces = {ChainStore::kBlockSpace, ChainStore::kBlockIndexSpace,
                                        ChainStore::kReceiptSpace, ChainStore::kMetaSpace,
                                        StateStore::kStateSpace, StateStore::kHistorySpace,
                                        StateStore::kChangedKeysSpace, StateStore::kCommitmentSpace,
                                        StateStore::kOldestSpace};
  for (std::size_t i = 0; i < spaces.size(); ++i) {
    for (std::size_t j = i + 1; j < spaces.size(); ++j) EXPECT_NE(spaces[i], spaces[j]) << i << " and " << j;
  }
}

TEST(Chain, SecondOpenIsLocked) {
  testing::TempDir dir;
  auto chain = make_chain(dir.path(), 0);
  ChainOptions o = test_options(dir.path());
  auto second = Chain::open(o);
  ASSERT_FALSE(second.is_ok());
  EXPECT_EQ(second.status().code(), ErrorCode::kBusy);
}

TEST(Chain, TheStateOfEveryHeightHashesToItsRoot) {
  testing::TempDir dir;
  auto chain = make_chain(dir.path(), 4);
  for (std::uint64_t h = 0; h <= 4; ++h) {
    auto state = chain->state_at(h);
    ASSERT_TRUE(state.is_ok());
    auto block = chain->block_at(h);
    ASSERT_TRUE(block.is_ok());
    EXPECT_EQ(commitment_of((*state)->entries().value()).digest(), block->header.state_root) << "height " << h;
    EXPECT_EQ(chain->accumulator_at(h).value().digest(), block->header.state_root) << "height " << h;
  }
  auto beyond = chain->state_at(5);
  ASSERT_FALSE(beyond.is_ok());
  EXPECT_NE(beyond.status().message().find("height 5: beyond the head (4)"), std::string::npos) << beyond.status().to_string();
}

TEST(Chain, ExportImportGivesTheSameChainAndReplayVerifies) {
  testing::TempDir dir;
  auto source = make_chain(dir.path() + "/src", 5);
  const std::string file = dir.path() + "/blocks.pel";
  ASSERT_TRUE(export_blocks(*source, file, 1, 5).is_ok());
  ChainOptions o = test_options(dir.path() + "/dst");
  auto dst = Chain::create(o, small_genesis());
  ASSERT_TRUE(dst.is_ok());
  Status s = import_blocks(**dst, file);
  ASSERT_TRUE(s.is_ok()) << s.to_string();
  EXPECT_EQ((*dst)->head_hash(), source->head_hash());
  EXPECT_EQ((*dst)->head().state_root, source->head().state_root);

  ReplayOptions ro;
  auto summary = replay(**dst, ro);
  ASSERT_TRUE(summary.is_ok()) << summary.status().to_string();
  EXPECT_EQ(summary->blocks, 5u);
  EXPECT_EQ(summary->transactions, 300u);
  ReplayOptions from3;
  from3.from = 3;
  from3.signatures = SignaturePolicy::kAssumeValid;
  auto resumed = replay(**dst, from3);
  ASSERT_TRUE(resumed.is_ok()) << resumed.status().to_string();
  EXPECT_EQ(resumed->blocks, 3u);
  EXPECT_EQ(resumed->signatures, SignaturePolicy::kAssumeValid);
}

// A benchmark wraps each block's execution (ReplayOptions::around_execution): it sees every
// block with the state before it, replay's own result once it executed; an error it returns
// stops the replay at that height, and a wrapper that never executes the block is an error too.
TEST(Chain, ReplayHandsEachBlockToTheWrapperAroundItsExecution) {
  testing::TempDir dir;
  auto chain = make_chain(dir.path(), 4);
  std::vector<std::uint64_t> heights;
  ReplayOptions ro;
  ro.around_execution = [&](const ReplayedBlock& block, const std::function<const BlockResult*()>& execute) {
    heights.push_back(block.height);
    const BlockResult* result = execute();
    if (result == nullptr) return error(ErrorCode::kAborted, "replay's execution failed");
    // The plain loop on the same VM and state gives replay's result.
    const BlockResult sequential = execute_sequential(block.vm, block.transactions, block.state);
    if (sequential.writes != result->writes || sequential.outputs != result->outputs) {
      return error(ErrorCode::kVerification, "differs");
    }
    return Status::ok();
  };
  auto summary = replay(*chain, ro);
  ASSERT_TRUE(summary.is_ok()) << summary.status().to_string();
  EXPECT_EQ(heights, (std::vector<std::uint64_t>{1, 2, 3, 4}));

  ro.around_execution = [](const ReplayedBlock& block, const std::function<const BlockResult*()>& execute) {
    execute();
    return block.height == 3 ? error(ErrorCode::kVerification, "the benchmark disagrees") : Status::ok();
  };
  auto stopped = replay(*chain, ro);
  ASSERT_FALSE(stopped.is_ok());
  EXPECT_NE(stopped.status().message().find("height 3: the benchmark disagrees"), std::string::npos)
      << stopped.status().to_string();

  ro.around_execution = [](const ReplayedBlock&, const std::function<const BlockResult*()>&) { return Status::ok(); };
  auto skipped = replay(*chain, ro);
  ASSERT_FALSE(skipped.is_ok());
  EXPECT_NE(skipped.status().message().find("never executed the block"), std::string::npos)
      << skipped.status().to_string();
}

TEST(Chain, ReplayStartsAtAnyKeptHeightAndHoldsBoundedChanges) {
  testing::TempDir dir;
  auto chain = make_chain(dir.path(), 6);
  for (std::uint64_t from : {1u, 3u, 6u}) {
    // 0: continue from the stored state after every block, each first checked against replay's.
    for (std::size_t max_changes : {std::size_t{0}, std::size_t{1'000'000}}) {
      ReplayOptions ro;
      ro.from = from;
      ro.max_replayed_changes = max_changes;
      auto summary = replay(*chain, ro);
      ASSERT_TRUE(summary.is_ok()) << "from " << from << ": " << summary.status().to_string();
      EXPECT_EQ(summary->blocks, 7 - from);
    }
  }
}

TEST(Chain, ReplayBelowTheKeptHistoryIsRefusedNamingTheWindow) {
  testing::TempDir dir;
  make_chain(dir.path(), 0).reset();
  ChainOptions o = test_options(dir.path());
  o.history_blocks = 2;
  {
    auto chain = Chain::open(o);
    ASSERT_TRUE(chain.is_ok());
    ProduceParams p;
    p.workload.accounts = 100;
    p.workload.block_size = 40;
    p.blocks = 6;
    ASSERT_TRUE(produce(**chain, p).is_ok());
    EXPECT_EQ((*chain)->oldest_state_height(), 4u);
  }
  auto chain = Chain::open(o);
  ASSERT_TRUE(chain.is_ok());
  ReplayOptions below;
  below.from = 4;
  auto refused = replay(**chain, below);
  ASSERT_FALSE(refused.is_ok());
  EXPECT_EQ(refused.status().code(), ErrorCode::kNotFound);
  EXPECT_NE(refused.status().message().find("replay --from 4"), std::string::npos) << refused.status().to_string();
  EXPECT_NE(refused.status().message().find("height 3: outside the kept state history: this chain keeps the state of "
                                            "heights 4 and above (2 blocks of history)"),
            std::string::npos)
      << refused.status().to_string();
  ReplayOptions kept;
  kept.from = 5;
  auto summary = replay(**chain, kept);
  ASSERT_TRUE(summary.is_ok()) << summary.status().to_string();
  EXPECT_EQ(summary->blocks, 2u);
}

TEST(Chain, ReplayDetectsADamagedHistoryValue) {
  testing::TempDir dir;
  make_chain(dir.path(), 4).reset();
  {
    // The value before block 2 of the first key block 2 wrote, replaced by a well-formed other one.
    auto db = Database::open({.path = dir.path(), .create_if_missing = false});
    ASSERT_TRUE(db.is_ok());
    auto record = (*db)->get(StateStore::kChangedKeysSpace, height_key(2)).value();
    ASSERT_TRUE(record.has_value());
    auto keys = StateStore::decode_changed_keys(*record);
    ASSERT_TRUE(keys.is_ok() && !keys->empty());
    WriteBatch batch;
    batch.put(StateStore::kHistorySpace, history_key(keys->front(), 2), StateStore::encode_history_value("forged"));
    ASSERT_TRUE((*db)->write(batch, true).is_ok());
  }
  auto chain = open_chain(dir.path());
  ASSERT_TRUE(chain);
  ReplayOptions ro;
  ro.from = 2;
  Status s = replay(*chain, ro).status();
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("height 2"), std::string::npos) << s.to_string();
  // From before the damage, the rebase check or the roots catch it too.
  ro.from = 1;
  ro.max_replayed_changes = 0;
  EXPECT_FALSE(replay(*chain, ro).is_ok());
}

TEST(Chain, ImportsGiveTheSameChainWithAndWithoutPrefetch) {
  testing::TempDir dir;
  auto source = make_chain(dir.path() + "/src", 4);
  const std::string file = dir.path() + "/blocks.pel";
  ASSERT_TRUE(export_blocks(*source, file, 1, 4).is_ok());
  for (int readers : {0, 1, 16}) {
    ChainOptions o = test_options(dir.path() + "/dst" + std::to_string(readers));
    o.prefetch_readers = readers;
    o.state_cache_entries = 64;  // a tiny cache: most reads go to the disk
    auto dst = Chain::create(o, small_genesis());
    ASSERT_TRUE(dst.is_ok());
    Status s = import_blocks(**dst, file);
    ASSERT_TRUE(s.is_ok()) << readers << " readers: " << s.to_string();
    EXPECT_EQ((*dst)->head_hash(), source->head_hash()) << readers << " readers";
    EXPECT_TRUE((*dst)->verify_state().is_ok()) << readers << " readers";
  }
}

// Rewrites one stored block in place, the way disk damage or an attacker would.
void tamper_stored_block(const std::string& dir, std::uint64_t height, const std::function<void(Block&)>& change) {
  auto db = Database::open({.path = dir, .create_if_missing = false});
  ASSERT_TRUE(db.is_ok());
  auto bytes = (*db)->get(ChainStore::kBlockSpace, height_key(height));
  ASSERT_TRUE(bytes.is_ok() && bytes->has_value());
  auto block = Block::decode(**bytes);
  ASSERT_TRUE(block.is_ok());
  change(*block);
  WriteBatch batch;
  batch.put(ChainStore::kBlockSpace, height_key(height), block->encode());
  ASSERT_TRUE((*db)->write(batch, true).is_ok());
}

// Replays a 4-block chain after one of its stored blocks was changed: the replay's status.
Status replay_tampered(std::uint64_t height, const std::function<void(Block&)>& change) {
  testing::TempDir dir;
  make_chain(dir.path(), 4).reset();
  tamper_stored_block(dir.path(), height, change);
  auto chain = open_chain(dir.path());
  if (!chain) return error(ErrorCode::kAborted, "the tampered chain did not reopen");
  return replay(*chain, {}).status();
}

TEST(Chain, ReplayDetectsATamperedStoredBlock) {
  Status s = replay_tampered(3, [](Block& b) { b.transactions[5].payload.back() ^= 1; });
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("height 3"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("transactions root"), std::string::npos) << s.message();
}

TEST(Chain, ReplayDetectsAWrongStateRoot) {
  Status s = replay_tampered(2, [](Block& b) { b.header.state_root.bytes[0] ^= 1; });
  ASSERT_FALSE(s.is_ok());
  // Block 2's own state root is checked before block 3's parent link notices the change.
  EXPECT_NE(s.message().find("height 2: state root mismatch"), std::string::npos) << s.message();
}

TEST(Chain, ReplayRefusesAHeaderItsProducerDidNotSign) {
  Status s = replay_tampered(3, [](Block& b) { b.header.timestamp += 100; });
  ASSERT_FALSE(s.is_ok());
  // Block 3 is refused before block 4's parent link notices the change.
  EXPECT_NE(s.message().find("height 3"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("not signed by the producer"), std::string::npos) << s.message();
}

TEST(Chain, AnEmbeddersHeaderCheckReplacesTheProducerSignature) {
  testing::TempDir dir;
  auto source = make_chain(dir.path() + "/src", 3);
  const std::string file = dir.path() + "/blocks.pel";
  ASSERT_TRUE(export_blocks(*source, file, 1, 3).is_ok());
  ChainOptions o = test_options(dir.path() + "/dst");
  o.header_check = [](const BlockHeader& h) {
    return h.height < 3 ? Status::ok() : error(ErrorCode::kVerification, "no certificate for this header");
  };
  auto dst = Chain::create(o, small_genesis());
  ASSERT_TRUE(dst.is_ok());
  Status s = import_blocks(**dst, file);
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("no certificate"), std::string::npos) << s.message();
  EXPECT_EQ((*dst)->head().height, 2u);
}

class ImportFailures : public ::testing::Test {
 protected:
  void SetUp() override {
    source_ = make_chain(dir_.path() + "/src", 4);
    for (std::uint64_t h = 1; h <= 4; ++h) blocks_.push_back(source_->block_at(h).value());
    // The real file header, taken from an export of block 1 alone.
    const std::string one = dir_.path() + "/one";
    ASSERT_TRUE(export_blocks(*source_, one, 1, 1).is_ok());
    std::ifstream in(one, std::ios::binary);
    std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    header_ = all.substr(0, all.size() - blocks_[0].encode().size() - 4);
  }

  // A block file with the real header and these block records, cut short by `truncate_by`.
  std::string write_file(const std::vector<Bytes>& records, std::size_t truncate_by = 0) {
    const std::string file = dir_.path() + "/f" + std::to_string(files_++);
    {
      std::ofstream out(file, std::ios::binary | std::ios::trunc);
      out.write(header_.data(), static_cast<std::streamsize>(header_.size()));
      for (const Bytes& bytes : records) {
        std::uint32_t len = static_cast<std::uint32_t>(bytes.size());
        char l[4] = {static_cast<char>(len), static_cast<char>(len >> 8), static_cast<char>(len >> 16),
                     static_cast<char>(len >> 24)};
        out.write(l, 4);
        out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
      }
    }
    if (truncate_by) std::filesystem::resize_file(file, std::filesystem::file_size(file) - truncate_by);
    return file;
  }

  Status import(const std::vector<Block>& blocks, std::size_t truncate_by = 0) {
    std::vector<Bytes> records;
    for (const Block& b : blocks) records.push_back(b.encode());
    return import_file(write_file(records, truncate_by));
  }

  // Imports into fresh chains with the same genesis, pipelined and not: both must stop at the
  // same block with the same error. Remembers where the head stopped.
  Status import_file(const std::string& file) {
    Status result;
    std::string pipelined_message;
    for (bool pipeline : {true, false}) {
      ChainOptions o = test_options(file + (pipeline ? ".pipelined" : ".chain"));
      o.use_access_lists = use_access_lists_;
      auto dst = Chain::create(o, small_genesis());
      EXPECT_TRUE(dst.is_ok());
      std::uint64_t reported = 0;
      ImportOptions options;
      options.on_block = [&](const Block& b) { reported = b.header.height; };
      options.pipeline = pipeline;
      Status s = import_blocks(**dst, file, options);
      EXPECT_EQ(reported, (*dst)->head().height) << "every imported block is reported once durable";
      std::string message = s.message();  // names the chain directory: take it out
      if (auto at = message.find(o.datadir); at != std::string::npos) message.erase(at, o.datadir.size());
      if (pipeline) {
        imported_head_ = (*dst)->head().height;
        result = s;
        pipelined_message = message;
      } else {
        EXPECT_EQ((*dst)->head().height, imported_head_);
        EXPECT_EQ(s.code(), result.code());
        EXPECT_EQ(message, pipelined_message);
      }
      dst = Result<std::unique_ptr<Chain>>(error(ErrorCode::kAborted, "closed"));
      auto reopened = open_chain(o.datadir);
      EXPECT_EQ(reopened->head().height, imported_head_) << "the head reached is durable";
      EXPECT_TRUE(reopened->verify_state().is_ok());
    }
    return result;
  }

  testing::TempDir dir_;
  std::unique_ptr<Chain> source_;
  std::vector<Block> blocks_;
  std::string header_;
  int files_ = 0;
  std::uint64_t imported_head_ = 0;
  bool use_access_lists_ = true;  // import from the blocks' access lists, or check them
};

TEST_F(ImportFailures, GoodFileImportsEverything) {
  const Status imported = import(blocks_);
  ASSERT_TRUE(imported.is_ok()) << imported.message();
  EXPECT_EQ(imported_head_, 4u);
}

TEST_F(ImportFailures, TruncatedFileStopsAtTheLastWholeBlock) {
  Status s = import(blocks_, 10);
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("block record 3"), std::string::npos) << s.message();
  EXPECT_EQ(imported_head_, 3u);
}

TEST_F(ImportFailures, ChangedTransactionByte) {
  auto bad = blocks_;
  bad[2].transactions[0].payload[0] ^= 0x40;
  Status s = import(bad);
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("height 3"), std::string::npos) << s.message();
  EXPECT_EQ(imported_head_, 2u);
}

// The producer's key signs a header it did not execute: import executes and compares.
void resign(BlockHeader& header) {
  header.producer_signature = KeyPair::from_seed(kProducerSeed).value().sign(header.hash().view()).value();
}

TEST_F(ImportFailures, WrongStateRoot) {
  auto bad = blocks_;
  bad[1].header.state_root.bytes[7] ^= 1;
  resign(bad[1].header);
  Status s = import(bad);
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("state root mismatch"), std::string::npos) << s.message();
  EXPECT_EQ(imported_head_, 1u);
}

// A header field execution does not check (the timestamp), edited by someone without the
// producer's key: the signature no longer covers the header.
TEST_F(ImportFailures, EditedHeaderNotSignedByTheProducer) {
  auto bad = blocks_;
  bad[3].header.timestamp += 1;
  Status s = import(bad);
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.code(), ErrorCode::kVerification);
  EXPECT_NE(s.message().find("height 4"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("not signed by the producer"), std::string::npos) << s.message();
  EXPECT_EQ(imported_head_, 3u);
}

// Signed, but by another key than the genesis names.
TEST_F(ImportFailures, HeaderSignedByAnotherKey) {
  auto bad = blocks_;
  bad[0].header.producer_signature = KeyPair::from_seed(Seed{8}).value().sign(bad[0].header.hash().view()).value();
  Status s = import(bad);
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("not signed by the producer"), std::string::npos) << s.message();
  EXPECT_EQ(imported_head_, 0u);
}

// A faulty producer: the block's access list is decoded, changed by `damage`, encoded again,
// committed to by the header and signed. Execution must find the difference.
void damage_access_list(Block& block, const std::function<void(AccessList&)>& damage) {
  const std::vector<std::uint8_t> signature_ok(block.transactions.size(), 1);
  const ledger::LedgerVm vm(ledger::BlockContext{}, block.transactions, signature_ok);
  auto list = decode_access_list(block.access_list, vm, block.transactions.size());
  ASSERT_TRUE(list.is_ok()) << list.status().to_string();
  damage(*list);
  block.access_list = encode_access_list(*list, vm, block.transactions.size()).value();
  block.header.access_list_root = sha256(block.access_list);
  resign(block.header);
}

// The first transaction of `list` that reads and writes something.
std::size_t busy_transaction(const AccessList& list) {
  for (std::size_t e = 0; e + 1 < list.entries(); ++e) {
    if (list.reads(e).size() >= 2 && !list.writes(e).empty()) return e;
  }
  ADD_FAILURE() << "no transaction reads and writes";
  return 0;
}

TEST_F(ImportFailures, AnAccessListUnlikeTheBlockIsRefusedAtThatBlock) {
  struct Case {
    const char* name;
    std::function<void(AccessList&)> damage;
  };
  const std::vector<Case> cases = {
      {"a missing key",
       [](AccessList& l) {
         const std::size_t t = busy_transaction(l);
         testing::set_part(l, t, AccessList::Part::kReads, {l.reads(t).begin() + 1, l.reads(t).end()});
       }},
      {"an extra key",
       [](AccessList& l) {
         const std::size_t t = busy_transaction(l);
         auto ids = testing::ids_of(l.reads(t));
         StateKey unrelated;
         unrelated.bytes[0] = 0x7f;
         ids.push_back(testing::add_key(l, unrelated));
         testing::set_part(l, t, AccessList::Part::kReads, ids);
       }},
      {"a key moved to another transaction",
       [](AccessList& l) {
         const std::size_t t = busy_transaction(l);
         auto moved = testing::ids_of(l.writes(t));
         auto other = testing::ids_of(l.writes(t + 1));
         for (std::uint32_t id : moved) {
           if (std::find(other.begin(), other.end(), id) == other.end()) other.push_back(id);
         }
         testing::set_part(l, t, AccessList::Part::kWrites, {});
         testing::set_part(l, t + 1, AccessList::Part::kWrites, other);
       }},
      {"a write marked as a read",
       [](AccessList& l) {
         const std::size_t t = busy_transaction(l);
         auto reads = testing::ids_of(l.reads(t));
         for (std::uint32_t id : l.writes(t)) {
           if (std::find(reads.begin(), reads.end(), id) == reads.end()) reads.push_back(id);
         }
         testing::set_part(l, t, AccessList::Part::kWrites, {});
         testing::set_part(l, t, AccessList::Part::kReads, reads);
       }},
  };
  for (bool use_lists : {true, false}) {
    use_access_lists_ = use_lists;
    for (const Case& c : cases) {
      auto bad = blocks_;
      damage_access_list(bad[2], c.damage);
      Status s = import(bad);
      ASSERT_FALSE(s.is_ok()) << c.name;
      EXPECT_EQ(s.code(), ErrorCode::kVerification) << c.name << ": " << s.message();
      EXPECT_NE(s.message().find("height 3: access list"), std::string::npos) << c.name << ": " << s.message();
      EXPECT_NE(s.message().find("transaction "), std::string::npos) << c.name << ": " << s.message();
      EXPECT_NE(s.message().find(" key "), std::string::npos) << c.name << ": " << s.message();
      EXPECT_EQ(imported_head_, 2u) << c.name;
    }
  }
}

// A list naming one key as both written and added to by one transaction cannot be executed from;
// the error names the list once (it read "access list: access list: ...").
TEST_F(ImportFailures, AKeyBothWrittenAndAddedToIsRefusedNamingTheListOnce) {
  auto bad = blocks_;
  damage_access_list(bad[2], [](AccessList& l) {
    const std::size_t t = busy_transaction(l);
    testing::set_part(l, t, AccessList::Part::kAdds, testing::ids_of(l.writes(t)));
  });
  Status s = import(bad);
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("height 3: access list: transaction "), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("both writes and adds to key"), std::string::npos) << s.message();
  EXPECT_EQ(s.message().find("access list: access list"), std::string::npos) << s.message();
  EXPECT_EQ(imported_head_, 2u);
}

TEST_F(ImportFailures, AnAccessListOfAnotherBlockIsRefused) {
  auto bad = blocks_;
  bad[2].access_list = blocks_[1].access_list;
  Status unsigned_swap = import(bad);
  ASSERT_FALSE(unsigned_swap.is_ok());
  EXPECT_NE(unsigned_swap.message().find("height 3: access list root mismatch"), std::string::npos)
      << unsigned_swap.message();
  EXPECT_EQ(imported_head_, 2u);

  bad[2].header.access_list_root = sha256(bad[2].access_list);
  Status not_signed = import(bad);
  ASSERT_FALSE(not_signed.is_ok());
  EXPECT_NE(not_signed.message().find("not signed by the producer"), std::string::npos) << not_signed.message();

  resign(bad[2].header);  // a producer that signs another block's list
  Status signed_swap = import(bad);
  ASSERT_FALSE(signed_swap.is_ok());
  EXPECT_NE(signed_swap.message().find("height 3"), std::string::npos) << signed_swap.message();
  EXPECT_NE(signed_swap.message().find("access list"), std::string::npos) << signed_swap.message();
  EXPECT_EQ(imported_head_, 2u);
}

TEST_F(ImportFailures, ATruncatedOrOversizedAccessListIsRefused) {
  for (bool oversized : {false, true}) {
    auto bad = blocks_;
    Bytes& list = bad[1].access_list;
    if (oversized) {
      list.insert(list.end(), 100, 0);
    } else {
      list.resize(list.size() / 2);
    }
    bad[1].header.access_list_root = sha256(list);
    resign(bad[1].header);
    Status s = import(bad);
    ASSERT_FALSE(s.is_ok());
    EXPECT_NE(s.message().find("height 2: access list: "), std::string::npos) << s.message();
    if (oversized) {
      EXPECT_NE(s.message().find("trailing bytes"), std::string::npos) << s.message();
    }
    EXPECT_EQ(imported_head_, 1u);
  }
}

TEST_F(ImportFailures, BlocksOutOfOrder) {
  std::vector<Block> bad{blocks_[0], blocks_[2], blocks_[1]};
  Status s = import(bad);
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("out of order"), std::string::npos) << s.message();
  EXPECT_EQ(imported_head_, 1u);
}

TEST_F(ImportFailures, ParentHashMismatch) {
  auto bad = blocks_;
  bad[3].header.parent_hash.bytes[0] ^= 1;
  Status s = import(bad);
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("parent hash"), std::string::npos) << s.message();
  EXPECT_EQ(imported_head_, 3u);
}

TEST_F(ImportFailures, CorruptedRecordBytes) {
  // A whole record whose block encoding stops in the middle of a transaction.
  Bytes cut = blocks_[0].encode();
  cut.resize(cut.size() / 2);
  Status s = import_file(write_file({cut}));
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("block record 0"), std::string::npos) << s.message();
  EXPECT_EQ(imported_head_, 0u);
}

TEST_F(ImportFailures, OtherGenesisIsRefused) {
  const std::string file = write_file({});
  ChainOptions o = test_options(dir_.path() + "/other");
  ledger::GenesisParams other = small_genesis();
  other.seed = 12;
  auto dst = Chain::create(o, other);
  ASSERT_TRUE(dst.is_ok());
  Status s = import_blocks(**dst, file);
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("genesis"), std::string::npos) << s.message();
}

TEST(Chain, ParallelAndSequentialChainsAgree) {
  testing::TempDir dir;
  auto make = [&](const std::string& sub, int threads) {
    ChainOptions o = test_options(dir.path() + "/" + sub);
    o.threads = threads;
    auto chain = Chain::create(o, small_genesis());
    ProduceParams p;
    p.workload.name = "mix";
    p.workload.accounts = 20;  // high contention
    p.workload.block_size = 120;
    p.blocks = 3;
    auto st = produce(**chain, p); EXPECT_TRUE(st.is_ok()) << st.status().message();
    return std::move(chain).value();
  };
  auto seq = make("seq", 1);
  auto par = make("par", 4);
  EXPECT_EQ(seq->head_hash(), par->head_hash());
}

// A pipelined producer executes block n on top of block n-1 while n-1 is still being written:
// the chain it leaves must be the one synchronous commits give, on disk as in memory.
TEST(Chain, PipelinedAndSynchronousCommitsAgree) {
  testing::TempDir dir;
  std::vector<Hash256> hashes[2];
  for (bool pipeline : {false, true}) {
    ChainOptions o = test_options(dir.path() + (pipeline ? "/pipelined" : "/synchronous"));
    auto chain = Chain::create(o, small_genesis());
    ASSERT_TRUE(chain.is_ok());
    ProduceParams p;
    p.workload.name = "mix";
    p.workload.accounts = 30;
    p.workload.block_size = 80;
    p.blocks = 6;
    p.pipeline = pipeline;
    std::uint64_t last_reported = 0;
    auto summary = produce(**chain, p, [&](const ExecutedBlock& b) {
      EXPECT_EQ(b.block.header.height, last_reported + 1) << "blocks are reported durable in order";
      last_reported = b.block.header.height;
      EXPECT_GT(b.timings.commit_ns, 0u);
    });
    ASSERT_TRUE(summary.is_ok()) << summary.status().to_string();
    EXPECT_EQ(summary->blocks, 6u);
    chain = Result<std::unique_ptr<Chain>>(error(ErrorCode::kAborted, "closed"));
    auto reopened = open_chain(o.datadir);
    ASSERT_TRUE(reopened);
    EXPECT_TRUE(reopened->verify_state().is_ok());
    for (std::uint64_t h = 1; h <= 6; ++h) hashes[pipeline].push_back(reopened->block_at(h)->header.hash());
  }
  EXPECT_EQ(hashes[0], hashes[1]);
}

// Reads at the head see a block whose write is still in flight.
TEST(Chain, HeadReadsSeeABlockBeingWritten) {
  testing::TempDir dir;
  ChainOptions o = test_options(dir.path());
  auto chain = Chain::create(o, small_genesis());
  ASSERT_TRUE(chain.is_ok());
  ledger::WorkloadParams wp;
  wp.name = "p2p";
  wp.accounts = 100;
  wp.block_size = 50;
  ledger::WorkloadGenerator gen(small_genesis(), wp);
  auto executed = (*chain)->execute(gen.next_block(), 1, Address{});
  ASSERT_TRUE(executed.is_ok());
  const WriteSet writes = executed->writes;
  const Hash256 root = executed->block.header.state_root;
  ASSERT_TRUE((*chain)->commit_async(std::move(executed).value()).is_ok());
  EXPECT_EQ((*chain)->head().height, 1u);
  for (const Write& w : writes) EXPECT_EQ((*chain)->get_state(w.key).value(), w.value);
  ASSERT_TRUE((*chain)->flush().is_ok());
  for (const Write& w : writes) EXPECT_EQ((*chain)->get_state(w.key).value(), w.value);
  EXPECT_EQ((*chain)->head().state_root, root);
  EXPECT_TRUE((*chain)->verify_state().is_ok());
}

}  // namespace
}  // namespace pel

namespace pel {
namespace {

TEST(BlockCodec, ImpossibleTransactionCountIsRejectedBeforeAllocating) {
  Block b;
  b.header.transaction_count = 0xFFFFFFFF;
  Writer w(b.header.encode());
  w.varint(0xFFFFFFFF);  // a count no input of this size can hold
  w.raw(Bytes(1000, 0));
  auto decoded = Block::decode(w.data());
  ASSERT_FALSE(decoded.is_ok());
  EXPECT_NE(decoded.status().message().find("transaction count"), std::string::npos);
  EXPECT_FALSE(decode_receipts(Bytes{0xff, 0xff, 0xff, 0x0f, 0x00}).is_ok());
}

}  // namespace
}  // namespace pel
