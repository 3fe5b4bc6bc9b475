// A damaged chain directory is never used silently: bits flipped in LevelDB's tables, logs and
// manifest, holes in the write-ahead log, a torn tail; and a refused second opener leaves the
// running one's files alone. Every outcome is a clean error or a verified state equal to the
// undamaged chain's.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include "node/chain.hpp"
#include "node/producer.hpp"
#include "node/replay.hpp"
#include "tests/node/temp_dir.hpp"

namespace pel {
namespace {

namespace fs = std::filesystem;

ledger::GenesisParams genesis() {
  ledger::GenesisParams g;
  g.accounts = 80;
  g.seed = 21;
  return g;
}

ChainOptions options_for(const std::string& dir) {
  ChainOptions o;
  o.datadir = dir;
  // Small memtables: the chain spreads over several table files and compactions run.
  o.database.write_buffer_bytes = 64u << 10;
  return o;
}

ProduceParams blocks(std::uint64_t count, std::uint64_t seed) {
  ProduceParams p;
  p.workload.name = "mix";
  p.workload.accounts = 80;
  p.workload.block_size = 50;
  p.workload.seed = seed;
  p.blocks = count;
  return p;
}

// What the undamaged chain holds: every block's hash and the block its next produce makes.
struct Reference {
  std::vector<Hash256> hashes;  // by height
  Hash256 next_block;
};

Reference reference_of(const std::string& dir) {
  Reference ref;
  auto chain = Chain::open(options_for(dir));
  EXPECT_TRUE(chain.is_ok()) << chain.status().to_string();
  for (std::uint64_t h = 0; h <= (*chain)->head().height; ++h) ref.hashes.push_back((*chain)->block_at(h)->header.hash());
  EXPECT_TRUE(produce(**chain, blocks(1, 99)).is_ok());
  ref.next_block = (*chain)->head_hash();
  return ref;
}

void copy_dir(const std::string& from, const std::string& to) {
  fs::remove_all(to);
  fs::copy(from, to, fs::copy_options::recursive);
}

std::map<std::string, std::uintmax_t> listing(const std::string& dir) {
  std::map<std::string, std::uintmax_t> files;
  for (const auto& entry : fs::directory_iterator(dir)) files[entry.path().filename().string()] = entry.file_size();
  return files;
}

// The directory of a process killed now, taken from a live database: LevelDB may be moving a
// full memtable into a table in the background, and a copy made meanwhile mixes files from
// before and after (an old MANIFEST beside a log already deleted): a state no crash leaves.
// So copy until the directory did not change while it was copied. A file the compaction
// deletes between the listing and its copy (or its size) makes that attempt fail outright:
// it is retried the same way.
void copy_live_dir(const std::string& from, const std::string& to) {
  for (int attempt = 0; attempt < 200; ++attempt) {
    try {
      const auto before = listing(from);
      copy_dir(from, to);
      if (listing(from) == before && listing(to) == before) return;
    } catch (const fs::filesystem_error&) {
      // a file vanished mid-copy: the directory was changing
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // let the compaction finish
  }
  FAIL() << from << " kept changing while it was copied";
}

// Every file of a directory, name -> content: what a refused open must leave as it was.
std::map<std::string, std::string> contents(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    out[fs::relative(entry.path(), dir).string()] = std::string(std::istreambuf_iterator<char>(in), {});
  }
  return out;
}

std::vector<fs::path> leveldb_files(const std::string& dir) {
  std::vector<fs::path> out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    const bool data = entry.path().extension() == ".ldb" || entry.path().extension() == ".log" ||
                      name.rfind("MANIFEST-", 0) == 0 || name == "CURRENT";
    if (data && fs::file_size(entry.path()) > 0) out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

void flip_bit(const fs::path& file, std::uint64_t offset, int bit) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.get(c);
  c = static_cast<char>(c ^ (1 << bit));
  f.seekp(static_cast<std::streamoff>(offset));
  f.put(c);
}

// Opens a damaged copy and uses it every way pel does. Either a step fails with an error, or
// what it returns is what the undamaged chain holds. Returns a word for the tally.
std::string use_damaged(const std::string& dir, const Reference& ref, const std::string& what) {
  auto chain = Chain::open(options_for(dir));
  if (!chain.is_ok()) {
    EXPECT_NE(chain.status().message().find(dir), std::string::npos) << what << ": " << chain.status().to_string();
    return "refused at open";
  }
  const std::uint64_t head = (*chain)->head().height;
  EXPECT_LT(head, ref.hashes.size()) << what;
  if (head >= ref.hashes.size()) return "wrong";
  // A crash image may reopen at an earlier block, never at a block the chain did not have.
  EXPECT_EQ((*chain)->head_hash(), ref.hashes[head]) << what;
  // First what a node does next, building on the state it found; then every check pel has.
  auto produced = produce(**chain, blocks(1, 99));
  if (!produced.is_ok()) return "error producing";
  if (head + 1 == ref.hashes.size()) {
    EXPECT_EQ((*chain)->head_hash(), ref.next_block) << what << ": a block built on a damaged state";
  }
  for (std::uint64_t h = 0; h <= head; ++h) {
    auto block = (*chain)->block_at(h);
    if (!block.is_ok()) return "error reading a block";
    EXPECT_EQ(block->header.hash(), ref.hashes[h]) << what << ": height " << h << " read back wrong";
  }
  if (!(*chain)->verify_state().is_ok()) return "error verifying the state";
  auto replayed = replay(**chain, {});
  if (!replayed.is_ok()) return "error replaying";
  return "verified";
}

class DamagedDatabase : public ::testing::Test {
 protected:
  void SetUp() override {
    auto chain = Chain::create(options_for(clean_), genesis());
    ASSERT_TRUE(chain.is_ok()) << chain.status().to_string();
    ASSERT_TRUE(produce(**chain, blocks(8, 1)).is_ok());
    // The directory of a process killed now: blocks since the last memtable flush are only
    // in the write-ahead log.
    copy_live_dir(clean_, crashed_);
    ASSERT_TRUE((*chain)->close().is_ok());
    chain = Result<std::unique_ptr<Chain>>(error(ErrorCode::kAborted, "closed"));
    copy_dir(clean_, pristine_);
    clean_ref_ = reference_of(pristine_);
    copy_dir(crashed_, pristine_);
    crashed_ref_ = reference_of(pristine_);
  }

  void campaign(const std::string& source, const Reference& ref, int trials) {
    std::mt19937_64 rng(7);
    std::map<std::string, int> tally;
    for (int t = 0; t < trials; ++t) {
      copy_dir(source, trial_);
      auto files = leveldb_files(trial_);
      ASSERT_FALSE(files.empty());
      const fs::path& file = files[rng() % files.size()];
      const std::uint64_t offset = rng() % fs::file_size(file);
      const int bit = static_cast<int>(rng() % 8);
      flip_bit(file, offset, bit);
      const std::string what = "trial " + std::to_string(t) + ": bit " + std::to_string(bit) + " of byte " +
                               std::to_string(offset) + " of " + file.filename().string();
      tally[use_damaged(trial_, ref, what)]++;
      if (HasFailure()) return;
    }
    for (const auto& [outcome, count] : tally) std::printf("  %-26s %d\n", outcome.c_str(), count);
  }

  testing::TempDir dir_;
  const std::string clean_ = dir_.path() + "/clean";
  const std::string crashed_ = dir_.path() + "/crashed";
  const std::string pristine_ = dir_.path() + "/pristine";
  const std::string trial_ = dir_.path() + "/trial";
  Reference clean_ref_;
  Reference crashed_ref_;
};

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr int kTrials = 40;
#else
constexpr int kTrials = 150;
#endif

TEST_F(DamagedDatabase, BitFlipsInACleanlyClosedDirectoryEndInAnErrorOrTheRightState) {
  campaign(clean_, clean_ref_, kTrials);
}

TEST_F(DamagedDatabase, BitFlipsInACrashedDirectoryEndInAnErrorOrTheRightState) {
  campaign(crashed_, crashed_ref_, kTrials);
}

// The newest write-ahead log: the one a power cut can tear. An image taken while LevelDB was
// moving a full memtable into a table also holds the previous log, which pel synced before
// LevelDB left it (Database::write), so no crash can tear that one.
fs::path log_file(const std::string& dir) {
  fs::path newest;
  for (const fs::path& f : leveldb_files(dir)) {
    if (f.extension() == ".log") newest = f;  // sorted: the highest number comes last
  }
  return newest;
}

// A record lost in the middle of the log (the later ones still replay) is found, and the open
// refused: the chain would otherwise lack one block's writes under a head that claims them.
TEST_F(DamagedDatabase, AHoleInTheMiddleOfTheLogIsRefused) {
  ChainOptions big_memtable = options_for(dir_.path() + "/wal");
  big_memtable.database.write_buffer_bytes = 32u << 20;  // every block stays in the log
  const std::string image = dir_.path() + "/wal-image";
  {
    auto chain = Chain::create(big_memtable, genesis());
    ASSERT_TRUE(chain.is_ok());
    ASSERT_TRUE(produce(**chain, blocks(12, 1)).is_ok());
    copy_live_dir(big_memtable.datadir, image);
  }
  const std::uint64_t size = fs::file_size(log_file(image));
  ASSERT_GT(size, 64u << 10) << "the test needs a log of many records";
  for (const char* damage : {"zero page", "bit flip"}) {
    copy_dir(image, trial_);
    const fs::path log = log_file(trial_);
    const std::uint64_t middle = (size / 2) & ~std::uint64_t{4095};
    if (std::string(damage) == "zero page") {
      std::fstream f(log, std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(static_cast<std::streamoff>(middle));
      const std::string zeros(4096, '\0');
      f.write(zeros.data(), static_cast<std::streamsize>(zeros.size()));
    } else {
      flip_bit(log, middle + 100, 3);
    }
    const auto before = contents(trial_);
    auto chain = Chain::open(options_for(trial_));
    ASSERT_FALSE(chain.is_ok()) << damage << ": opened at height " << (*chain)->head().height;
    EXPECT_EQ(chain.status().code(), ErrorCode::kCorruption) << chain.status().to_string();
    EXPECT_NE(chain.status().message().find(trial_), std::string::npos) << chain.status().to_string();
    // The recovery was tried on a scratch copy: the damaged log is still there to repair.
    EXPECT_TRUE(contents(trial_) == before) << damage << ": the refused open changed the directory";
    // Refused again on the next try, not accepted once LevelDB rewrote what it kept.
    auto again = Chain::open(options_for(trial_));
    EXPECT_FALSE(again.is_ok()) << damage;
  }
}

// Blocks reported durable that a damaged, truncated or deleted log lost: the open is refused,
// naming the height it came back at and the last durable one, and changes nothing. Before the
// durable mark, these reopened two to nine blocks back as if nothing had happened.
TEST_F(DamagedDatabase, ALogThatLostReportedBlocksIsRefusedNamingBothHeights) {
  const std::uint64_t last = crashed_ref_.hashes.size() - 1;
  for (const char* damage : {"log deleted", "log truncated to zero", "last page zeroed", "bit flip near the end"}) {
    copy_dir(crashed_, trial_);
    const fs::path log = log_file(trial_);
    ASSERT_FALSE(log.empty());
    const std::uint64_t size = fs::file_size(log);
    const std::string what = damage;
    if (what == "log deleted") {
      fs::remove(log);
    } else if (what == "log truncated to zero") {
      fs::resize_file(log, 0);
    } else if (what == "last page zeroed") {
      std::fstream f(log, std::ios::in | std::ios::out | std::ios::binary);
      const std::uint64_t page = (size - 1) & ~std::uint64_t{4095};
      f.seekp(static_cast<std::streamoff>(page));
      const std::string zeros(size - page, '\0');
      f.write(zeros.data(), static_cast<std::streamsize>(zeros.size()));
    } else {
      flip_bit(log, size - 40, 5);
    }
    const auto before = contents(trial_);
    auto chain = Chain::open(options_for(trial_));
    ASSERT_FALSE(chain.is_ok()) << damage << ": reopened at height " << (*chain)->head().height << " of " << last;
    EXPECT_EQ(chain.status().code(), ErrorCode::kCorruption) << damage;
    const std::string message = chain.status().message();
    EXPECT_NE(message.find("reopened at height "), std::string::npos) << damage << ": " << message;
    EXPECT_NE(message.find("up to height " + std::to_string(last) + " were reported durable"), std::string::npos)
        << damage << ": " << message;
    EXPECT_TRUE(contents(trial_) == before) << damage << ": the refused open changed the directory";
  }
}

// A torn log tail after a power cut, in blocks written but never reported durable (synced every
// 100 blocks): the open keeps every whole block, verifies, and goes on.
TEST_F(DamagedDatabase, ATornLogTailOfUnreportedBlocksReopensAtTheLastWholeBlock) {
  ChainOptions unsynced = options_for(dir_.path() + "/unsynced");
  unsynced.sync_every_blocks = 100;
  unsynced.database.write_buffer_bytes = 32u << 20;  // every block stays in the log
  const std::string image = dir_.path() + "/unsynced-image";
  std::vector<Hash256> hashes;
  {
    auto chain = Chain::create(unsynced, genesis());
    ASSERT_TRUE(chain.is_ok());
    ASSERT_TRUE(produce(**chain, blocks(2, 1)).is_ok());  // made durable: a flush ends it
    ledger::WorkloadGenerator generator((*chain)->genesis(), blocks(1, 1).workload);
    generator.sync_with_state((*chain)->state());
    for (int b = 0; b < 6; ++b) {  // written, never synced
      auto executed = (*chain)->execute(generator.next_block(), (*chain)->head().timestamp + 1,
                                        producer_beneficiary((*chain)->genesis()));
      ASSERT_TRUE(executed.is_ok());
      ASSERT_TRUE((*chain)->commit(*executed).is_ok());
    }
    ASSERT_EQ((*chain)->durable_height(), 2u);
    copy_live_dir(unsynced.datadir, image);
    for (std::uint64_t h = 0; h <= 8; ++h) hashes.push_back((*chain)->block_at(h)->header.hash());
  }
  for (std::uint64_t cut : {1u, 100u, 5000u}) {
    copy_dir(image, trial_);
    const fs::path log = log_file(trial_);
    ASSERT_FALSE(log.empty());
    fs::resize_file(log, fs::file_size(log) - std::min<std::uint64_t>(cut, fs::file_size(log)));
    auto chain = Chain::open(options_for(trial_));
    ASSERT_TRUE(chain.is_ok()) << "cut " << cut << ": " << chain.status().to_string();
    const std::uint64_t head = (*chain)->head().height;
    EXPECT_LT(head, 8u) << "cut " << cut << ": the last block was torn";
    EXPECT_GE(head, 2u) << "cut " << cut << ": a durable block was lost";
    EXPECT_EQ((*chain)->head_hash(), hashes[head]);
    EXPECT_TRUE((*chain)->verify_state().is_ok());
  }
}

// LevelDB rotates its info LOG before it takes its lock; pel locks first, so a refused second
// opener leaves the running one's LOG where it is.
TEST(DatabaseLock, ARefusedOpenTouchesNothing) {
  testing::TempDir dir;
  auto chain = Chain::create(options_for(dir.path()), genesis());
  ASSERT_TRUE(chain.is_ok());
  const fs::path log = fs::path(dir.path()) / "LOG";
  struct stat before {};
  ASSERT_EQ(::stat(log.c_str(), &before), 0);
  EXPECT_FALSE(fs::exists(fs::path(dir.path()) / "LOG.old"));
  for (int i = 0; i < 3; ++i) {
    auto second = Chain::open(options_for(dir.path()));
    ASSERT_FALSE(second.is_ok());
    EXPECT_EQ(second.status().code(), ErrorCode::kBusy) << second.status().to_string();
  }
  struct stat after {};
  ASSERT_EQ(::stat(log.c_str(), &after), 0);
  EXPECT_EQ(before.st_ino, after.st_ino) << "the running chain's LOG was replaced";
  EXPECT_FALSE(fs::exists(fs::path(dir.path()) / "LOG.old"));
  EXPECT_TRUE(produce(**chain, blocks(1, 5)).is_ok());
}

}  // namespace
}  // namespace pel
