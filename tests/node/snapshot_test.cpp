// Snapshots: the state at a height written in hashed chunks and a chain made from it, which
// imports and replays from there; and every way a snapshot can be bad (truncated, a damaged
// chunk, another chain's genesis, a header its producer did not sign, a state that does not
// hash to the root), each refused by name with no directory left behind.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "node/block_file.hpp"
#include "node/chain.hpp"
#include "node/producer.hpp"
#include "node/replay.hpp"
#include "node/snapshot.hpp"
#include "tests/node/temp_dir.hpp"

namespace pel {
namespace {

namespace fs = std::filesystem;

ChainOptions options_at(const std::string& dir, std::uint8_t producer = 7) {
  ChainOptions o;
  o.datadir = dir;
  o.producer_seed = Seed{producer};
  return o;
}

// A chain of `blocks` mix blocks whose producer is Seed{producer}.
std::unique_ptr<Chain> make_chain(const std::string& dir, int blocks, std::uint8_t producer = 7) {
  ledger::GenesisParams g;
  g.accounts = 150;
  g.seed = 3;
  g.producer = KeyPair::from_seed(Seed{producer}).value().public_key();
  auto chain = Chain::create(options_at(dir, producer), g);
  EXPECT_TRUE(chain.is_ok()) << chain.status().to_string();
  ProduceParams p;
  p.workload.name = "mix";
  p.workload.accounts = 150;
  p.workload.block_size = 50;
  p.blocks = static_cast<std::uint64_t>(blocks);
  EXPECT_TRUE(produce(**chain, p).is_ok());
  return std::move(chain).value();
}

Bytes read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), {});
}
void write_file(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// A snapshot file cut into its parts: magic and version, genesis section, block section, chunks
// and trailer (the sections with their length prefixes).
struct Parts {
  Bytes head, genesis, block, rest;
  static std::uint32_t le32(const Bytes& b, std::size_t at) {
    return b[at] | b[at + 1] << 8 | b[at + 2] << 16 | static_cast<std::uint32_t>(b[at + 3]) << 24;
  }
  explicit Parts(const Bytes& file) {
    std::size_t at = 12;
    head.assign(file.begin(), file.begin() + 12);
    const std::size_t g = 4 + le32(file, at);
    genesis.assign(file.begin() + at, file.begin() + at + g);
    at += g;
    const std::size_t b = 4 + le32(file, at);
    block.assign(file.begin() + at, file.begin() + at + b);
    at += b;
    rest.assign(file.begin() + at, file.end());
  }
  Bytes join() const {
    Bytes out = head;
    for (const Bytes* p : {&genesis, &block, &rest}) out.insert(out.end(), p->begin(), p->end());
    return out;
  }
};

Status init_from(const std::string& snapshot, const std::string& datadir) {
  auto reader = SnapshotReader::open(snapshot);
  if (!reader.is_ok()) return reader.status();
  return Chain::create_from_snapshot(options_at(datadir), **reader).status();
}

class Snapshots : public ::testing::Test {
 protected:
  void SetUp() override {
    source_ = make_chain(dir_.path() + "/source", 8);
    ASSERT_TRUE(write_snapshot(*source_, 5, file(5), 40).is_ok());
    ASSERT_TRUE(write_snapshot(*source_, 4, file(4), 40).is_ok());
  }
  std::string file(std::uint64_t h) const { return dir_.path() + "/at" + std::to_string(h) + ".snap"; }
  // Init from `snapshot` must fail with a message holding `expected`, leaving no directory.
  void expect_refused(const std::string& snapshot, const std::string& expected) {
    const std::string datadir = dir_.path() + "/refused";
    Status s = init_from(snapshot, datadir);
    ASSERT_FALSE(s.is_ok()) << expected;
    EXPECT_NE(s.message().find(expected), std::string::npos) << s.to_string();
    EXPECT_FALSE(fs::exists(datadir)) << "a refused snapshot left " << datadir;
  }

  testing::TempDir dir_;
  std::unique_ptr<Chain> source_;
};

TEST_F(Snapshots, AChainMadeFromASnapshotHoldsThatStateAndGoesOn) {
  auto summary = write_snapshot(*source_, 5, file(5), 40);
  ASSERT_TRUE(summary.is_ok());
  EXPECT_GT(summary->chunks, 2u);
  EXPECT_FALSE(fs::exists(file(5) + ".partial"));
  const std::string datadir = dir_.path() + "/from5";
  {
    auto reader = SnapshotReader::open(file(5));
    ASSERT_TRUE(reader.is_ok());
    auto chain = Chain::create_from_snapshot(options_at(datadir), **reader);
    ASSERT_TRUE(chain.is_ok()) << chain.status().to_string();
    EXPECT_EQ((*chain)->head_hash(), source_->block_at(5).value().header.hash());
    EXPECT_EQ((*chain)->base_height(), 5u);
    EXPECT_EQ((*chain)->state_at(5).value()->entries().value(), source_->state_at(5).value()->entries().value());
    EXPECT_TRUE((*chain)->verify_state().is_ok());
    EXPECT_FALSE((*chain)->state_at(4).is_ok());
  }
  // Reopened, it imports the rest of the chain (the blocks before 5 skipped) and replays it.
  const std::string blocks = dir_.path() + "/blocks.pel";
  ASSERT_TRUE(export_blocks(*source_, blocks, 1, 8).is_ok());
  auto chain = Chain::open(options_at(datadir));
  ASSERT_TRUE(chain.is_ok()) << chain.status().to_string();
  Status imported = import_blocks(**chain, blocks);
  ASSERT_TRUE(imported.is_ok()) << imported.to_string();
  EXPECT_EQ((*chain)->head_hash(), source_->head_hash());
  ReplayOptions ro;
  ro.from = 6;
  auto replayed = replay(**chain, ro);
  ASSERT_TRUE(replayed.is_ok()) << replayed.status().to_string();
  EXPECT_EQ(replayed->blocks, 3u);
  // Nothing below the snapshot: exporting it says so.
  EXPECT_FALSE(export_blocks(**chain, dir_.path() + "/x.pel", 1, 8).is_ok());
}

TEST_F(Snapshots, TheGenesisIsASnapshotToo) {
  ASSERT_TRUE(write_snapshot(*source_, 0, file(0)).is_ok());
  const std::string datadir = dir_.path() + "/from0";
  ASSERT_TRUE(init_from(file(0), datadir).is_ok());
  auto chain = Chain::open(options_at(datadir));
  ASSERT_TRUE(chain.is_ok()) << chain.status().to_string();
  const std::string blocks = dir_.path() + "/blocks.pel";
  ASSERT_TRUE(export_blocks(*source_, blocks, 1, 8).is_ok());
  ASSERT_TRUE(import_blocks(**chain, blocks).is_ok());
  EXPECT_EQ((*chain)->head_hash(), source_->head_hash());
}

TEST_F(Snapshots, ATruncatedSnapshotIsRefusedByName) {
  const Bytes whole = read_file(file(5));
  const Parts parts(whole);
  const std::size_t chunks_start = parts.head.size() + parts.genesis.size() + parts.block.size();
  for (std::size_t keep : {std::size_t{5}, std::size_t{20}, chunks_start - 3, chunks_start + 100, whole.size() - 20,
                           whole.size() - 1}) {
    write_file(dir_.path() + "/cut.snap", Bytes(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(keep)));
    const std::string datadir = dir_.path() + "/refused";
    Status s = init_from(dir_.path() + "/cut.snap", datadir);
    ASSERT_FALSE(s.is_ok()) << "cut at " << keep;
    EXPECT_FALSE(fs::exists(datadir)) << "cut at " << keep;
  }
  write_file(dir_.path() + "/cut.snap", Bytes(whole.begin(), whole.end() - 20));
  expect_refused(dir_.path() + "/cut.snap", "truncated");
}

TEST_F(Snapshots, ADamagedChunkIsNamed) {
  Bytes bytes = read_file(file(5));
  Parts parts(bytes);
  // Chunk 2's body: past chunk 0 and 1 (each a count, a length, the body and a hash).
  std::size_t at = 0;
  for (int chunk = 0; chunk < 2; ++chunk) at += 8 + Parts::le32(parts.rest, at + 4) + 32;
  parts.rest[at + 8 + 10] ^= 1;
  write_file(dir_.path() + "/damaged.snap", parts.join());
  expect_refused(dir_.path() + "/damaged.snap", "chunk 2: damaged");
}

TEST_F(Snapshots, AnotherChainsGenesisIsRefused) {
  auto other = make_chain(dir_.path() + "/other", 1, /*producer=*/9);
  ASSERT_TRUE(write_snapshot(*other, 1, file(91)).is_ok());
  Parts parts(read_file(file(5)));
  parts.genesis = Parts(read_file(file(91))).genesis;  // its producer did not sign block 5
  write_file(dir_.path() + "/foreign.snap", parts.join());
  expect_refused(dir_.path() + "/foreign.snap", "not signed by the producer");
}

TEST_F(Snapshots, AHeaderItsProducerDidNotSignIsRefused) {
  Block block = source_->block_at(5).value();
  block.header.timestamp += 1;
  Parts parts(read_file(file(5)));
  const Bytes encoded = block.encode();
  Bytes prefixed(4);  // the section's u32 length, then the block
  for (int i = 0; i < 4; ++i) prefixed[i] = static_cast<std::uint8_t>(encoded.size() >> (8 * i));
  prefixed.insert(prefixed.end(), encoded.begin(), encoded.end());
  parts.block = prefixed;
  write_file(dir_.path() + "/unsigned.snap", parts.join());
  expect_refused(dir_.path() + "/unsigned.snap", "not signed by the producer");
}

TEST_F(Snapshots, AStateThatDoesNotHashToTheRootIsRefused) {
  Parts parts(read_file(file(5)));
  parts.rest = Parts(read_file(file(4))).rest;  // whole, well-formed chunks of another height
  write_file(dir_.path() + "/wrong.snap", parts.join());
  expect_refused(dir_.path() + "/wrong.snap", "not to the block's state root");
}

TEST_F(Snapshots, ADirectoryThatIsNotEmptyIsLeftAlone) {
  const std::string datadir = dir_.path() + "/busy";
  fs::create_directories(datadir);
  write_file(datadir + "/keep.txt", Bytes{1, 2, 3});
  Status s = init_from(file(5), datadir);
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("not empty"), std::string::npos) << s.to_string();
  EXPECT_EQ(read_file(datadir + "/keep.txt"), (Bytes{1, 2, 3}));
  // Not a snapshot at all, or a height outside the kept state: clear errors too.
  EXPECT_FALSE(SnapshotReader::open(datadir + "/keep.txt").is_ok());
  EXPECT_FALSE(write_snapshot(*source_, 99, file(99)).is_ok());
}

}  // namespace
}  // namespace pel
