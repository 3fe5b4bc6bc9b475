// Power cuts: produce and import run on a simulated disk (tests/support/power_cut_env.hpp) whose
// power is cut at many points, in every sync mode; the disk is then left as a strict POSIX file
// system may leave it. Every block reported durable must survive the reopen, and the chain
// must reopen at a block it made, with a verified state. Before the logs LevelDB leaves were
// synced, a cut lost blocks reported durable under --sync-every (issue 24, item 1); before new
// logs' directory entries were synced, a cut lost a synced log whole, and a chain reported made
// could lose its directory (item 2).
#include <gtest/gtest.h>

#include <map>

#include "node/chain.hpp"
#include "node/producer.hpp"
#include "tests/node/temp_dir.hpp"
#include "tests/support/power_cut_env.hpp"

namespace pel {
namespace {

ledger::GenesisParams genesis() {
  ledger::GenesisParams g;
  g.accounts = 60;
  g.seed = 5;
  return g;
}

constexpr std::uint64_t kBlocks = 10;

ProduceParams workload(bool pipeline) {
  ProduceParams p;
  p.workload.name = "mix";
  p.workload.accounts = 60;
  p.workload.block_size = 25;
  p.workload.seed = 3;
  p.blocks = kBlocks;
  p.pipeline = pipeline;
  return p;
}

struct SyncMode {
  std::uint32_t sync_every;
  bool pipeline;
  std::string name() const {
    return "sync every " + std::to_string(sync_every) + (pipeline ? ", pipelined" : ", one at a time");
  }
};

const SyncMode kModes[] = {{1, false}, {1, true}, {3, false}, {3, true}};

ChainOptions options_on(const std::string& dir, testing::PowerCutEnv* env, const SyncMode& mode) {
  ChainOptions o;
  o.datadir = dir;
  o.database.env = env;
  o.sync_every_blocks = mode.sync_every;
  // Tiny memtables: LevelDB leaves a log every block or two, and compacts in the background.
  o.database.write_buffer_bytes = 16u << 10;
  return o;
}

// What a run reported durable: height -> hash.
using Reported = std::map<std::uint64_t, Hash256>;

// After the cut: the chain reopens (on the real disk) at a block at or above every one
// reported, each reported block is the one reported, and the state verifies.
void expect_survived(const std::string& dir, const Reported& reported, const std::string& what) {
  ChainOptions o;
  o.datadir = dir;
  auto chain = Chain::open(o);
  ASSERT_TRUE(chain.is_ok()) << what << ": " << chain.status().to_string();
  const std::uint64_t head = (*chain)->head().height;
  for (const auto& [height, hash] : reported) {
    ASSERT_LE(height, head) << what << ": block " << height << " was reported durable and is gone";
    auto block = (*chain)->block_at(height);
    ASSERT_TRUE(block.is_ok()) << what;
    EXPECT_EQ(block->header.hash(), hash) << what << ": height " << height;
  }
  EXPECT_TRUE((*chain)->verify_state().is_ok()) << what;
}

// The number of changes a whole run makes, to spread the cuts over it.
template <typename Run>
std::uint64_t changes_in_a_run(const Run& run) {
  testing::TempDir dir;
  testing::PowerCutEnv env;
  Reported reported;
  run(dir.path() + "/chain", env, reported);
  EXPECT_EQ(reported.size(), kBlocks + 1) << "the uncut run reported every block";
  return env.files().changes();
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr std::uint64_t kCuts = 12;
#else
constexpr std::uint64_t kCuts = 40;
#endif

// Cuts the power at kCuts points spread over `run` (the chain's creation included), then
// checks what survived.
template <typename Run>
void cut_everywhere(const Run& run, const std::string& what) {
  const std::uint64_t total = changes_in_a_run(run);
  ASSERT_GT(total, kCuts);
  int survivors_above_genesis = 0;
  for (std::uint64_t c = 0; c < kCuts; ++c) {
    const std::uint64_t cut = 1 + c * total / kCuts + c % 3;  // the offset varies the kind of change cut
    testing::TempDir dir;
    const std::string datadir = dir.path() + "/chain";
    testing::PowerCutEnv env;
    env.files().cut_after(cut);
    Reported reported;
    run(datadir, env, reported);
    env.files().power_loss();
    const std::string trial = what + ", cut at change " + std::to_string(cut) + " of " + std::to_string(total);
    if (reported.empty()) continue;  // the chain was never reported made
    expect_survived(datadir, reported, trial);
    if (::testing::Test::HasFailure()) return;
    if (reported.rbegin()->first > 0) ++survivors_above_genesis;
  }
  EXPECT_GT(survivors_above_genesis, 0) << what << ": no cut came after a block";
}

TEST(PowerCut, ProduceKeepsEveryBlockReportedDurable) {
  for (const SyncMode& mode : kModes) {
    auto run = [&](const std::string& datadir, testing::PowerCutEnv& env, Reported& reported) {
      auto chain = Chain::create(options_on(datadir, &env, mode), genesis());
      if (!chain.is_ok()) return;
      reported[0] = (*chain)->head_hash();
      auto made = produce(**chain, workload(mode.pipeline),
                          [&](const ExecutedBlock& b) { reported[b.block.header.height] = b.block.header.hash(); });
      EXPECT_TRUE(made.is_ok() || env.files().cut()) << made.status().to_string();
    };
    cut_everywhere(run, "produce, " + mode.name());
  }
}

TEST(PowerCut, ImportKeepsEveryBlockReportedDurable) {
  // The blocks to import, made once on the real disk.
  testing::TempDir source_dir;
  std::vector<Block> blocks;
  PublicKey producer;
  {
    ChainOptions o;
    o.datadir = source_dir.path() + "/producer";
    auto chain = Chain::create(o, genesis());
    ASSERT_TRUE(chain.is_ok());
    ASSERT_TRUE(produce(**chain, workload(true)).is_ok());
    for (std::uint64_t h = 1; h <= kBlocks; ++h) blocks.push_back(*(*chain)->block_at(h));
    producer = (*chain)->genesis().producer;
  }
  ledger::GenesisParams follower = genesis();
  follower.producer = producer;
  for (const SyncMode& mode : kModes) {
    auto run = [&](const std::string& datadir, testing::PowerCutEnv& env, Reported& reported) {
      auto chain = Chain::create(options_on(datadir, &env, mode), follower);
      if (!chain.is_ok()) return;
      reported[0] = (*chain)->head_hash();
      const DiscardCallbacksOnExit guard(**chain);
      auto durable = [&](const ExecutedBlock& b) { reported[b.block.header.height] = b.block.header.hash(); };
      for (const Block& block : blocks) {
        Status s = mode.pipeline ? (*chain)->import_async(block, nullptr, durable) : (*chain)->import(block, nullptr, durable);
        if (!s.is_ok()) break;
      }
      Status flushed = (*chain)->flush();
      EXPECT_TRUE(flushed.is_ok() || env.files().cut()) << flushed.to_string();
    };
    cut_everywhere(run, "import, " + mode.name());
  }
}

}  // namespace
}  // namespace pel
