// The LevelDB store: records round trip and survive reopening, the incremental state commitment
// equals a full recomputation, undo records rebuild earlier states, and damaged or locked
// databases give clear errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include <unistd.h>

#include "state/database.hpp"
#include "state/state_store.hpp"

namespace pel {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("pel-state-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    fs::remove_all(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string str() const { return path_.string(); }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

StateKey key(std::uint64_t n) {
  StateKey k;
  k.bytes[0] = 9;
  for (int i = 0; i < 8; ++i) k.bytes[1 + i] = static_cast<std::uint8_t>(n >> (8 * i));
  return k;
}

std::unique_ptr<Database> open_db(const std::string& path) {
  auto db = Database::open({.path = path});
  EXPECT_TRUE(db.is_ok()) << db.status().to_string();
  return std::move(db).value();
}

// Commits `writes` as block `height` the way the chain does: stage, write, publish.
void commit(Database& db, StateStore& store, const WriteSet& writes, std::uint64_t height) {
  LatticeHash acc = store.accumulator_after(writes);
  WriteBatch batch;
  ASSERT_TRUE(store.stage(writes, height, acc, batch).is_ok());
  ASSERT_TRUE(db.write(batch, true).is_ok());
  store.publish(writes, acc);
}

WriteSet random_block(std::mt19937_64& rng, std::uint64_t keys) {
  std::map<StateKey, std::optional<Value>> m;
  int n = std::uniform_int_distribution<int>(1, 30)(rng);
  for (int i = 0; i < n; ++i) {
    StateKey k = key(std::uniform_int_distribution<std::uint64_t>(0, keys - 1)(rng));
    if (rng() % 5 == 0) {
      m[k] = std::nullopt;
    } else {
      m[k] = "v" + std::to_string(rng() % 100000);
    }
  }
  WriteSet out;
  for (auto& [k, v] : m) out.push_back({k, v});
  return out;
}

TEST(Database, RoundTripAndReopen) {
  TempDir dir;
  constexpr Keyspace kNames{'n'}, kHeights{'t'}, kOther{'o'};
  {
    auto db = open_db(dir.str());
    WriteBatch batch;
    batch.put(kNames, as_bytes("name"), as_bytes("pel"));
    batch.put(kHeights, height_key(7), as_bytes("block seven"));
    batch.put(kHeights, height_key(300), as_bytes("block 300"));
    batch.put(kOther, height_key(8), as_bytes("not a block"));
    ASSERT_TRUE(db->write(batch, true).is_ok());
  }
  auto db = open_db(dir.str());
  auto v = db->get(kNames, as_bytes("name"));
  ASSERT_TRUE(v.is_ok());
  ASSERT_TRUE(v->has_value());
  EXPECT_EQ(std::string((*v)->begin(), (*v)->end()), "pel");
  EXPECT_FALSE(db->get(kOther, as_bytes("name"))->has_value());  // key spaces are apart
  std::vector<std::string> blocks;
  ASSERT_TRUE(db->iterate(kHeights, [&](ByteView, ByteView value) {
                  blocks.emplace_back(value.begin(), value.end());
                  return true;
                }).is_ok());
  EXPECT_EQ(blocks, (std::vector<std::string>{"block seven", "block 300"}));  // height order
}

TEST(Database, SecondOpenIsRefusedAsLocked) {
  TempDir dir;
  auto first = open_db(dir.str());
  auto second = Database::open({.path = dir.str()});
  ASSERT_FALSE(second.is_ok());
  EXPECT_EQ(second.status().code(), ErrorCode::kBusy);
  EXPECT_NE(second.status().message().find(dir.str()), std::string::npos);
}

TEST(Database, CorruptedFilesAreReported) {
  TempDir dir;
  {
    auto db = open_db(dir.str());
    WriteBatch batch;
    for (int i = 0; i < 100; ++i) batch.put(StateStore::kStateSpace, key(i).view(), as_bytes("value"));
    ASSERT_TRUE(db->write(batch, true).is_ok());
  }
  for (const auto& entry : fs::directory_iterator(dir.str())) {
    auto name = entry.path().filename().string();
    if (name.starts_with("MANIFEST")) {
      std::ofstream out(entry.path(), std::ios::binary | std::ios::trunc);
      out << "this is not a manifest";
    }
  }
  auto db = Database::open({.path = dir.str()});
  ASSERT_FALSE(db.is_ok());
  EXPECT_TRUE(db.status().code() == ErrorCode::kCorruption || db.status().code() == ErrorCode::kIo)
      << db.status().to_string();
  EXPECT_NE(db.status().message().find(dir.str()), std::string::npos);
}

TEST(Database, MissingDatabaseWithoutCreateIsAnError) {
  TempDir dir;
  auto db = Database::open({.path = dir.str(), .create_if_missing = false});
  ASSERT_FALSE(db.is_ok());
  EXPECT_NE(db.status().message().find(dir.str()), std::string::npos);
}

TEST(StateStore, IncrementalCommitmentEqualsFullRecomputationAfterManyBlocks) {
  TempDir dir;
  auto db = open_db(dir.str());
  auto store = StateStore::open(*db);
  ASSERT_TRUE(store.is_ok());
  std::mt19937_64 rng(42);
  MemoryState model;
  for (std::uint64_t h = 1; h <= 300; ++h) {
    WriteSet block = random_block(rng, 200);
    commit(*db, **store, block, h);
    model.apply(block);
    for (int probe = 0; probe < 5; ++probe) {  // the cache stays coherent with what was committed
      StateKey k = key(rng() % 200);
      ASSERT_EQ((*store)->get(k), model.get(k)) << "height " << h;
    }
  }
  auto full = (*store)->recompute_accumulator();
  ASSERT_TRUE(full.is_ok());
  EXPECT_EQ(*full, (*store)->accumulator());
  EXPECT_EQ(commitment_of(model.sorted_entries()), (*store)->accumulator());
  EXPECT_EQ((*store)->entries().value(), model.sorted_entries());

  // Reopening restores the same accumulator and state.
  store = Result<std::unique_ptr<StateStore>>(error(ErrorCode::kAborted, "closed"));
  db.reset();
  db = open_db(dir.str());
  auto reopened = StateStore::open(*db);
  ASSERT_TRUE(reopened.is_ok());
  EXPECT_EQ((*reopened)->accumulator(), commitment_of(model.sorted_entries()));
  EXPECT_EQ((*reopened)->get(key(3)), model.get(key(3)));
}

TEST(StateStore, UndoRecordsRestoreTheStateBeforeEachBlock) {
  TempDir dir;
  auto db = open_db(dir.str());
  auto store = StateStore::open(*db);
  ASSERT_TRUE(store.is_ok());
  std::mt19937_64 rng(7);
  std::vector<WriteSet> states;  // state after each height
  MemoryState model;
  states.push_back(model.sorted_entries());
  for (std::uint64_t h = 1; h <= 40; ++h) {
    WriteSet block = random_block(rng, 50);
    commit(*db, **store, block, h);
    model.apply(block);
    states.push_back(model.sorted_entries());
  }
  for (std::uint64_t h = 40; h >= 1; --h) {
    auto undo = db->get(StateStore::kUndoSpace, height_key(h));
    ASSERT_TRUE(undo.is_ok() && undo->has_value());
    auto writes = StateStore::decode_undo(**undo);
    ASSERT_TRUE(writes.is_ok()) << writes.status().to_string();
    model.apply(*writes);
    ASSERT_EQ(model.sorted_entries(), states[h - 1]) << "undo of height " << h;
  }
  // state_at rolls the stored state back the same way, to any height.
  for (std::uint64_t h : {40u, 39u, 17u, 0u}) {
    auto state = (*store)->state_at(h, 40);
    ASSERT_TRUE(state.is_ok()) << state.status().to_string();
    EXPECT_EQ(state->sorted_entries(), states[h]) << "state_at(" << h << ")";
  }
  EXPECT_FALSE(StateStore::decode_undo(as_bytes("\x05garbage")).is_ok());
}

TEST(StateStore, CommitmentIsOrderIndependentAndSeesValues) {
  WriteSet a{{key(1), "x"}, {key(2), "y"}};
  WriteSet b{{key(2), "y"}, {key(1), "x"}};
  EXPECT_EQ(commitment_of(a), commitment_of(b));
  WriteSet c{{key(1), "x"}, {key(2), "z"}};
  EXPECT_NE(commitment_of(a).digest(), commitment_of(c).digest());
}

// The pipelined commit: one thread stages, writes and publishes block A while another executes
// the next block, reading the head through an overlay of A's writes. Every read must see the
// state after A, and TSan (state_test runs under it) must see no race in the read cache.
TEST(StateStorePipelined, ReadsThroughTheOverlayWhileABlockIsWritten) {
  TempDir dir;
  auto db = open_db(dir.str());
  auto store = StateStore::open(*db);
  ASSERT_TRUE(store.is_ok());
  constexpr std::uint64_t kKeys = 600;
  WriteSet genesis;
  for (std::uint64_t i = 0; i < kKeys; ++i) genesis.push_back({key(i), "g" + std::to_string(i)});
  std::sort(genesis.begin(), genesis.end(), [](const Write& a, const Write& b) { return a.key < b.key; });
  commit(*db, **store, genesis, 1);

  for (std::uint64_t round = 0; round < 4; ++round) {
    WriteSet block;  // rewrites a third of the keys, deletes a few
    std::map<StateKey, std::optional<Value>> expected;
    for (std::uint64_t i = 0; i < kKeys; ++i) expected[key(i)] = (**store).get(key(i));
    for (std::uint64_t i = round; i < kKeys; i += 3) {
      std::optional<Value> v;
      if (i % 7 != 0) v = "r" + std::to_string(round) + "-" + std::to_string(i);
      block.push_back({key(i), v});
      expected[key(i)] = v;
    }
    std::sort(block.begin(), block.end(), [](const Write& a, const Write& b) { return a.key < b.key; });
    LatticeHash acc = (**store).accumulator_after(block);
    OverlayState head(**store, block);

    std::thread writer([&] {
      WriteBatch batch;
      ASSERT_TRUE((**store).stage(block, 2 + round, acc, batch).is_ok());
      ASSERT_TRUE(db->write(batch, true).is_ok());
      (**store).publish(block, acc);
    });
    for (int pass = 0; pass < 20; ++pass) {
      for (const auto& [k, v] : expected) ASSERT_EQ(head.get(k), v) << "pass " << pass;
    }
    writer.join();
    for (const auto& [k, v] : expected) ASSERT_EQ((**store).get(k), v) << "after the write";
    EXPECT_EQ((**store).accumulator(), acc);
  }
  auto recomputed = (**store).recompute_accumulator();
  ASSERT_TRUE(recomputed.is_ok());
  EXPECT_EQ(*recomputed, (**store).accumulator());
}

}  // namespace
}  // namespace pel
