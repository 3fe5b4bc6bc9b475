// Crash safety: `pel produce` commits blocks in a loop and is killed with SIGKILL at random
// moments. After every kill the chain reopens at a block that was committed, and its state
// equals, key by key, what the sequential executor computes for that height; a killed `pel
// replay` leaves the chain as it was.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include "engine/ledger/ledger_vm.hpp"
#include "engine/ledger/workload.hpp"
#include "engine/sequential_executor.hpp"
#include "node/block_file.hpp"
#include "node/chain.hpp"
#include "node/producer.hpp"
#include "node/replay.hpp"
#include "tests/node/temp_dir.hpp"

extern char** environ;

namespace pel {
namespace {

// Starts `pel ARGS...` with its standard output to `log`.
pid_t spawn_pel(const std::vector<std::string>& pel_args, const std::string& log) {
  std::vector<std::string> args = {PEL_BINARY};
  args.insert(args.end(), pel_args.begin(), pel_args.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, PEL_BINARY, &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  EXPECT_EQ(rc, 0) << "cannot start " << PEL_BINARY;
  return pid;
}

// Kills `pid` after `after_ms` and reaps it: whether the kill ended it (it was still running).
bool kill_after(pid_t pid, int after_ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(after_ms));
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFSIGNALED(status);
}

Result<std::unique_ptr<Chain>> reopen(const std::string& datadir) {
  ChainOptions o;
  o.datadir = datadir;
  return Chain::open(o);
}

pid_t spawn_produce(const std::string& datadir, const std::string& log, std::uint64_t seed) {
  return spawn_pel({"produce", "--datadir", datadir, "--workload", "mix", "--blocks", "1000000", "--block-size", "40",
                    "--threads", "2", "--seed", std::to_string(seed)},
                   log);
}

// "block H HASH: ..." lines: what the child reported as committed (after commit returned).
std::map<std::uint64_t, std::string> committed_lines(const std::string& log) {
  std::map<std::uint64_t, std::string> out;
  std::ifstream in(log);
  std::string word, hash;
  std::uint64_t height = 0;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    if (ls >> word >> height >> hash && word == "block" && hash.size() == 65) out[height] = hash.substr(0, 64);
  }
  return out;
}

TEST(CrashSafety, SigkillDuringCommitsNeverLosesOrMixesAState) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  const int kills = 15;
#else
  const int kills = 50;
#endif
  testing::TempDir dir;
  const std::string datadir = dir.path() + "/chain";
  ledger::GenesisParams genesis;
  genesis.accounts = 200;
  {
    ChainOptions o;
    o.datadir = datadir;
    ASSERT_TRUE(Chain::create(o, genesis).is_ok());
  }
  // The model: genesis state advanced block by block with the sequential executor.
  MemoryState model;
  model.apply(ledger::build_genesis(genesis));
  std::uint64_t model_height = 0;
  std::uint64_t last_head = 0;
  std::mt19937_64 rng(2024);
  int killed_mid_run = 0;
  // How long a child may run before its kill. A slow machine (or a sanitizer build) may need more
  // than the first window to start and commit a block: the window doubles after every kill that
  // found no block yet, so the test adapts instead of depending on the machine's speed.
  int window_ms = 250;

  for (int k = 0; k < kills; ++k) {
    const std::string log = dir.path() + "/produce.log";
    pid_t pid = spawn_produce(datadir, log, 100 + k);
    if (kill_after(pid, std::uniform_int_distribution<int>(window_ms / 12, window_ms)(rng))) ++killed_mid_run;

    auto chain = reopen(datadir);
    ASSERT_TRUE(chain.is_ok()) << "kill " << k << ": " << chain.status().to_string();
    const std::uint64_t head = (*chain)->head().height;
    ASSERT_GE(head, last_head) << "a synced block was lost";
    if (head == 0) window_ms = std::min(window_ms * 2, 30'000);
    for (const auto& [height, hash] : committed_lines(log)) {
      ASSERT_LE(height, head) << "block " << height << " was reported committed but is gone";
      auto block = (*chain)->block_at(height);
      ASSERT_TRUE(block.is_ok());
      ASSERT_EQ(block->header.hash().hex(), hash);
    }
    ASSERT_TRUE((*chain)->verify_state().is_ok()) << "kill " << k;
    // The state history survived with the state: earlier kept heights read as their roots say.
    for (std::uint64_t h : {last_head, head > 0 ? head - 1 : 0}) {
      auto past = (*chain)->state_at(h);
      ASSERT_TRUE(past.is_ok()) << past.status().to_string();
      ASSERT_EQ(commitment_of((*past)->entries().value()).digest(), (*chain)->block_at(h).value().header.state_root)
          << "kill " << k << ": the state at height " << h;
    }
    last_head = head;

    for (; model_height < head; ++model_height) {
      auto block = (*chain)->block_at(model_height + 1);
      ASSERT_TRUE(block.is_ok());
      const auto& txns = block->transactions;
      std::vector<std::uint8_t> sig_ok = ledger::verify_signatures(txns, 1);
      ledger::LedgerVm vm({.height = block->header.height, .timestamp = block->header.timestamp,
                           .beneficiary = block->header.beneficiary, .chain_id = genesis.chain_id},
                          txns, sig_ok);
      model.apply(execute_sequential(vm, txns.size(), model).writes);
    }
    auto stored = (*chain)->state_at(head);
    ASSERT_TRUE(stored.is_ok());
    ASSERT_EQ((*stored)->entries().value(), model.sorted_entries()) << "state differs from sequential execution at height " << head;
  }
  EXPECT_GT(last_head, 0u) << "the child never committed a block";
  EXPECT_GE(killed_mid_run, kills / 2) << "most kills should land while the child runs";
}

// A replay writes nothing: killed at any moment, it leaves the chain as it was (the next open
// verifies the directory, which was not closed cleanly, and finds the same head and state).
TEST(CrashSafety, AReplayKilledMidRunChangesNothing) {
  testing::TempDir dir;
  const std::string datadir = dir.path() + "/chain";
  Hash256 head_hash;
  {
    ChainOptions o;
    o.datadir = datadir;
    ledger::GenesisParams genesis;
    genesis.accounts = 200;
    auto chain = Chain::create(o, genesis);
    ASSERT_TRUE(chain.is_ok());
    ProduceParams p;
    p.workload.name = "mix";
    p.workload.accounts = 200;
    p.workload.block_size = 200;
    p.blocks = 60;  // a replay of about half a second here, so that most kills land inside it
    ASSERT_TRUE(produce(**chain, p).is_ok());
    head_hash = (*chain)->head_hash();
  }
  std::mt19937_64 rng(5);
  int killed_mid_run = 0;
  for (int k = 0; k < 5; ++k) {
    pid_t pid = spawn_pel({"replay", "--datadir", datadir, "--compare-sequential"}, "/dev/null");
    if (kill_after(pid, std::uniform_int_distribution<int>(10, 150)(rng))) ++killed_mid_run;
    auto chain = reopen(datadir);
    ASSERT_TRUE(chain.is_ok()) << "kill " << k << ": " << chain.status().to_string();
    EXPECT_EQ((*chain)->head_hash(), head_hash) << "kill " << k;
    EXPECT_TRUE((*chain)->verify_state().is_ok()) << "kill " << k;
    if (k == 4) {
      auto replayed = replay(**chain, {});
      ASSERT_TRUE(replayed.is_ok()) << replayed.status().to_string();
      EXPECT_EQ(replayed->blocks, 60u);
    }
  }
  EXPECT_GE(killed_mid_run, 1) << "no kill landed while the replay ran";
}

// A chain whose commit of height 3 fails before anything is written.
class FaultInjection : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.datadir = dir_.path();
    genesis_.accounts = 50;
    ASSERT_TRUE(Chain::create(options_, genesis_).is_ok());
    options_.fail_commit_at = 3;
    wp_.name = "mix";
    wp_.accounts = 50;
    wp_.block_size = 30;
  }

  // After the chain is closed: it reopens at height 2 with the state it had there.
  void expect_reopens_at_2(const Hash256& root_at_2) {
    options_.fail_commit_at.reset();
    auto reopened = Chain::open(options_);
    ASSERT_TRUE(reopened.is_ok());
    EXPECT_EQ((*reopened)->head().height, 2u);
    EXPECT_EQ((*reopened)->head().state_root, root_at_2);
    EXPECT_TRUE((*reopened)->verify_state().is_ok());
  }

  testing::TempDir dir_;
  ChainOptions options_;
  ledger::GenesisParams genesis_;
  ledger::WorkloadParams wp_;
};

TEST_F(FaultInjection, AFailedCommitWritesNothing) {
  Hash256 root_at_2;
  {
    auto chain = Chain::open(options_);
    ASSERT_TRUE(chain.is_ok());
    ledger::WorkloadGenerator gen(genesis_, wp_);
    for (int h = 1; h <= 3; ++h) {
      auto executed = (*chain)->execute(gen.next_block(), static_cast<std::uint64_t>(h), Address{});
      ASSERT_TRUE(executed.is_ok());
      Status s = (*chain)->commit(*executed);
      if (h < 3) {
        ASSERT_TRUE(s.is_ok()) << s.to_string();
        root_at_2 = (*chain)->head().state_root;
      } else {
        ASSERT_FALSE(s.is_ok());
        EXPECT_NE(s.message().find("height 3"), std::string::npos) << s.message();
      }
    }
    EXPECT_EQ((*chain)->head().height, 2u);
  }
  expect_reopens_at_2(root_at_2);
}

// A background write that fails is reported by the next call; the chain refuses further blocks
// and reopens at the last block that was written.
TEST_F(FaultInjection, AFailedBackgroundCommitIsReportedAndWritesNothing) {
  Hash256 root_at_2;
  {
    auto chain = Chain::open(options_);
    ASSERT_TRUE(chain.is_ok());
    ledger::WorkloadGenerator gen(genesis_, wp_);
    std::vector<std::uint64_t> durable;
    auto on_durable = [&](const ExecutedBlock& b) { durable.push_back(b.block.header.height); };
    for (int h = 1; h <= 3; ++h) {
      auto executed = (*chain)->execute(gen.next_block(), static_cast<std::uint64_t>(h), Address{});
      ASSERT_TRUE(executed.is_ok());
      if (h == 2) root_at_2 = executed->block.header.state_root;
      ASSERT_TRUE((*chain)->commit_async(std::move(executed).value(), on_durable).is_ok()) << "height " << h;
    }
    Status s = (*chain)->flush();
    ASSERT_FALSE(s.is_ok());
    EXPECT_NE(s.message().find("height 3"), std::string::npos) << s.message();
    EXPECT_EQ(durable, (std::vector<std::uint64_t>{1, 2}));
    auto next = (*chain)->execute(gen.next_block(), 4, Address{});
    ASSERT_FALSE(next.is_ok());
    EXPECT_NE(next.status().message().find("reopen"), std::string::npos) << next.status().message();
  }
  expect_reopens_at_2(root_at_2);
}

// A pipelined import whose background write of height 3 fails: the error names height 3 (not the
// record being executed when it surfaced), and the head is the last block really written.
TEST_F(FaultInjection, AFailedPipelinedImportNamesTheHeightThatFailed) {
  const std::string file = dir_.path() + "/blocks.pel";
  ledger::GenesisParams source_genesis;
  {
    ChainOptions source_options;
    source_options.datadir = dir_.path();
    auto source = Chain::open(source_options);
    ASSERT_TRUE(source.is_ok());
    ProduceParams p;
    p.workload = wp_;
    p.blocks = 5;
    ASSERT_TRUE(produce(**source, p).is_ok());
    ASSERT_TRUE(export_blocks(**source, file, 1, 5).is_ok());
    source_genesis = (*source)->genesis();
  }
  testing::TempDir other;
  options_.datadir = other.path();
  ASSERT_TRUE(Chain::create(options_, source_genesis).is_ok());
  {
    auto chain = Chain::open(options_);
    ASSERT_TRUE(chain.is_ok());
    std::vector<std::uint64_t> durable;
    ImportOptions io;
    io.on_block = [&](const Block& b) { durable.push_back(b.header.height); };
    Status s = import_blocks(**chain, file, io);
    ASSERT_FALSE(s.is_ok());
    EXPECT_NE(s.message().find("height 3: injected write failure"), std::string::npos) << s.message();
    EXPECT_EQ(s.message().find("block record"), std::string::npos) << s.message();
    EXPECT_EQ(durable, (std::vector<std::uint64_t>{1, 2}));
    EXPECT_EQ((*chain)->head().height, 2u);
    EXPECT_EQ((*chain)->durable_height(), 2u);
  }
  options_.fail_commit_at.reset();
  auto reopened = Chain::open(options_);
  ASSERT_TRUE(reopened.is_ok());
  EXPECT_EQ((*reopened)->head().height, 2u);
}

// A produce that fails at height 3 with --sync-every 10 reports exactly the blocks it made
// durable before returning, and leaves no callback behind for the chain to run later, when
// produce's frame is gone (AddressSanitizer would see that).
TEST_F(FaultInjection, AFailedProduceReportsWhatItMadeDurableAndNothingLater) {
  options_.sync_every_blocks = 10;
  std::vector<std::uint64_t> reported;
  // Pipelined from genesis (blocks 1 and 2 made and reported), then, reopened at 2, not
  // pipelined (height 3 fails at once).
  for (bool pipeline : {true, false}) {
    auto chain = Chain::open(options_);
    ASSERT_TRUE(chain.is_ok());
    ProduceParams p;
    p.workload = wp_;
    p.blocks = 5;
    p.pipeline = pipeline;
    auto summary = produce(**chain, p, [&](const ExecutedBlock& b) { reported.push_back(b.block.header.height); });
    ASSERT_FALSE(summary.is_ok());
    EXPECT_NE(summary.status().message().find("height 3"), std::string::npos) << summary.status().message();
    EXPECT_EQ((*chain)->durable_height(), 2u);
    EXPECT_EQ(reported, (std::vector<std::uint64_t>{1, 2}));
  }
  EXPECT_EQ(reported, (std::vector<std::uint64_t>{1, 2})) << "a callback ran after produce returned";
}

// With --sync-every N, a block is written but not synced until a later block or flush(): it is
// reported durable only then, never before.
TEST(Durability, BlocksAreReportedOnlyOnceSynced) {
  testing::TempDir dir;
  ChainOptions o;
  o.datadir = dir.path();
  o.sync_every_blocks = 10;
  ledger::GenesisParams g;
  g.accounts = 40;
  auto chain = Chain::create(o, g);
  ASSERT_TRUE(chain.is_ok());
  ledger::WorkloadParams wp;
  wp.name = "p2p";
  wp.accounts = 40;
  wp.block_size = 20;
  ledger::WorkloadGenerator gen(g, wp);
  std::vector<std::uint64_t> durable;
  auto on_durable = [&](const ExecutedBlock& b) { durable.push_back(b.block.header.height); };
  for (std::uint64_t h = 1; h <= 4; ++h) {
    auto executed = (*chain)->execute(gen.next_block(), h, Address{});
    ASSERT_TRUE(executed.is_ok());
    if (h % 2) {
      ASSERT_TRUE((*chain)->commit(*executed, on_durable).is_ok());
    } else {
      ASSERT_TRUE((*chain)->commit_async(std::move(executed).value(), on_durable).is_ok());
    }
  }
  EXPECT_TRUE(durable.empty()) << "a block was reported before any sync";
  EXPECT_EQ((*chain)->durable_height(), 0u);
  ASSERT_TRUE((*chain)->flush().is_ok());
  EXPECT_EQ(durable, (std::vector<std::uint64_t>{1, 2, 3, 4}));
  EXPECT_EQ((*chain)->durable_height(), 4u);
}

}  // namespace
}  // namespace pel
