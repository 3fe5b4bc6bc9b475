// The LevelDB store: records round trip and survive reopening, the incremental state commitment
// equals a full recomputation, the state of every kept height reads in place, and damaged or locked
// databases give clear errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
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

TEST(Database, CompactAllLeavesEveryTableInOneLevel) {
  TempDir dir;
  auto db = open_db(dir.str());
  constexpr Keyspace kSpace{'k'};
  // Ten overlapping loads, each moved from the log to a table of its own.
  for (std::uint64_t load = 0; load < 10; ++load) {
    WriteBatch batch;
    for (std::uint64_t n = 0; n < 1000; ++n) batch.put(kSpace, key(n * 10 + load).view(), height_key(load));
    ASSERT_TRUE(db->write(batch, false).is_ok());
    ASSERT_TRUE(db->flush_memtable().is_ok());
  }
  auto levels_used = [&] { return std::ranges::count_if(db->tables_per_level(), [](int t) { return t > 0; }); };
  ASSERT_GT(levels_used(), 1);  // LevelDB placed the loads' tables at different levels
  ASSERT_TRUE(db->compact_all().is_ok());
  EXPECT_EQ(db->tables_per_level().at(0), 0);
  EXPECT_EQ(levels_used(), 1);
  for (std::uint64_t n = 0; n < 10000; n += 7) {
    auto v = db->get(kSpace, key(n).view());
    ASSERT_TRUE(v.is_ok() && v->has_value());
    const auto load = height_key(n % 10);
    EXPECT_EQ(**v, Bytes(load.begin(), load.end()));
  }
}

TEST(Database, TablesBeyondTheKeptDescriptorsOpenTheirFileForEachRead) {
  TempDir dir;
  constexpr Keyspace kSpace{'k'};
  constexpr std::uint64_t kTables = 12, kKeysPerTable = 50;
  // Load t's keys all sort after load t-1's (their second byte is t), so LevelDB places each
  // load's table beside the others rather than merging them.
  auto load_key = [](std::uint64_t t, std::uint64_t n) {
    StateKey k = key(n);
    k.bytes[0] = static_cast<std::uint8_t>(t + 1);
    return k;
  };
  {
    auto db = open_db(dir.str());
    for (std::uint64_t t = 0; t < kTables; ++t) {
      WriteBatch batch;
      for (std::uint64_t n = 0; n < kKeysPerTable; ++n) batch.put(kSpace, load_key(t, n).view(), key(n).view());
      ASSERT_TRUE(db->write(batch, false).is_ok());
      ASSERT_TRUE(db->flush_memtable().is_ok());
    }
    const auto tables = db->tables_per_level();
    ASSERT_GE(std::accumulate(tables.begin(), tables.end(), 0), 2);
  }
  // One descriptor kept: every other table opens its file for each read.
  auto db = Database::open({.path = dir.str(), .table_descriptors = 1});
  ASSERT_TRUE(db.is_ok()) << db.status().to_string();
  for (int pass = 0; pass < 2; ++pass) {  // the second pass from the block cache
    for (std::uint64_t t = 0; t < kTables; ++t) {
      for (std::uint64_t n = 0; n < kKeysPerTable; n += 7) {
        auto v = (*db)->get(kSpace, load_key(t, n).view());
        ASSERT_TRUE(v.is_ok()) << v.status().to_string();
        ASSERT_TRUE(v->has_value());
        const StateKey stored = key(n);
        EXPECT_EQ(**v, Bytes(stored.bytes.begin(), stored.bytes.end()));
      }
    }
  }
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

// A store with an empty genesis at height 0 and `blocks` random blocks after it, keeping
// `keep` blocks of history; `states[h]` is the state after height h.
struct HistoryFixture {
  TempDir dir;
  std::unique_ptr<Database> db;
  std::unique_ptr<StateStore> store;
  std::vector<WriteSet> states;
  MemoryState model;

  HistoryFixture(std::uint64_t blocks, std::optional<std::uint64_t> keep, std::uint64_t keys = 60) {
    db = open_db(dir.str());
    store = StateStore::open(*db, keep).value();
    commit(*db, *store, {}, 0);
    states.push_back(model.sorted_entries());
    std::mt19937_64 rng(7);
    for (std::uint64_t h = 1; h <= blocks; ++h) {
      WriteSet block = random_block(rng, keys);
      commit(*db, *store, block, h);
      model.apply(block);
      states.push_back(model.sorted_entries());
    }
  }
  // Every history entry's height, by key space scan.
  std::vector<std::uint64_t> history_heights() const {
    std::vector<std::uint64_t> out;
    EXPECT_TRUE(db->iterate(StateStore::kHistorySpace, [&](ByteView k, ByteView) {
      std::uint64_t h = 0;
      for (std::size_t i = StateKey::kSize; i < k.size(); ++i) h = h << 8 | k[i];
      out.push_back(h);
      return true;
    }).is_ok());
    return out;
  }
};

// Every key of `expected` and of the key universe reads as it was at that height.
void expect_state_at(const StateStore& store, std::uint64_t h, const WriteSet& expected, std::uint64_t keys) {
  auto view = store.state_at(h);
  ASSERT_TRUE(view.is_ok()) << view.status().to_string();
  MemoryState model;
  model.apply(expected);
  for (std::uint64_t n = 0; n < keys; ++n) {
    ASSERT_EQ((*view)->get(key(n)), model.get(key(n))) << "key " << n << " at height " << h;
  }
  ASSERT_TRUE((*view)->take_read_error().is_ok());
  auto entries = (*view)->entries();
  ASSERT_TRUE(entries.is_ok()) << entries.status().to_string();
  EXPECT_EQ(*entries, expected) << "entries at height " << h;
  auto acc = store.accumulator_at(h);
  ASSERT_TRUE(acc.is_ok()) << acc.status().to_string();
  EXPECT_EQ(*acc, commitment_of(expected)) << "commitment at height " << h;
}

TEST(StateStore, TheStateOfEveryHeightIsReadInPlace) {
  HistoryFixture f(40, std::nullopt);
  for (std::uint64_t h = 0; h <= 40; ++h) expect_state_at(*f.store, h, f.states[h], 60);
  EXPECT_EQ(f.store->oldest_height(), 0u);
  // A view keeps its height's state whatever is committed after it was taken.
  auto view = f.store->state_at(40);
  ASSERT_TRUE(view.is_ok());
  std::mt19937_64 rng(99);
  for (std::uint64_t h = 41; h <= 45; ++h) commit(*f.db, *f.store, random_block(rng, 60), h);
  EXPECT_EQ((*view)->entries().value(), f.states[40]);
}

TEST(StateStore, KeysThatShareAPrefixDoNotReadEachOthersHistory) {
  // Keys differing only in their last byte sit side by side in the history key space.
  TempDir dir;
  auto db = open_db(dir.str());
  auto store = StateStore::open(*db).value();
  StateKey a = key(5), b = key(5);
  b.bytes[31] = 1;
  commit(*db, *store, {{a, "a0"}}, 0);
  commit(*db, *store, {{b, "b1"}}, 1);
  commit(*db, *store, {{a, "a2"}}, 2);
  auto at1 = store->state_at(1).value();
  EXPECT_EQ(at1->get(a), "a0");
  EXPECT_EQ(at1->get(b), "b1");
  auto at0 = store->state_at(0).value();
  EXPECT_EQ(at0->get(a), "a0");
  EXPECT_EQ(at0->get(b), std::nullopt);
}

TEST(StateStore, AKeptWindowRemovesOlderHistoryAndNamesItself) {
  HistoryFixture f(40, 10);
  EXPECT_EQ(f.store->oldest_height(), 30u);
  for (std::uint64_t h = 30; h <= 40; ++h) expect_state_at(*f.store, h, f.states[h], 60);
  auto below = f.store->state_at(29);
  ASSERT_FALSE(below.is_ok());
  EXPECT_EQ(below.status().code(), ErrorCode::kNotFound);
  EXPECT_NE(below.status().message().find("height 29: outside the kept state history"), std::string::npos);
  EXPECT_NE(below.status().message().find("heights 30 and above (10 blocks of history)"), std::string::npos)
      << below.status().to_string();
  EXPECT_FALSE(f.store->accumulator_at(29).is_ok());
  // Nothing of the heights below the window is left: no history entry at or below 30, no
  // changed-keys record, no commitment below 30.
  for (std::uint64_t h : f.history_heights()) EXPECT_GT(h, 30u);
  for (std::uint64_t h = 1; h <= 30; ++h) {
    EXPECT_FALSE(f.db->get(StateStore::kChangedKeysSpace, height_key(h)).value().has_value()) << h;
    if (h < 30) {
      EXPECT_FALSE(f.db->get(StateStore::kCommitmentSpace, height_key(h)).value().has_value()) << h;
    }
  }
  // The window survives a reopen; a narrower one catches up a bounded number of blocks a commit.
  f.store.reset();
  f.store = StateStore::open(*f.db, 2).value();
  EXPECT_EQ(f.store->oldest_height(), 30u);
  auto view_at_30 = f.store->state_at(30).value();
  commit(*f.db, *f.store, {}, 41);
  EXPECT_EQ(f.store->oldest_height(), 39u);
  expect_state_at(*f.store, 39, f.states[39], 60);
  // A view the window moved past says so rather than read what is left.
  EXPECT_EQ(view_at_30->get(key(1000)), std::nullopt);
  Status moved = view_at_30->take_read_error();
  EXPECT_EQ(moved.code(), ErrorCode::kNotFound);
  EXPECT_NE(moved.message().find("the kept window moved past it"), std::string::npos) << moved.to_string();
}

TEST(StateStore, TheWindowCatchesUpInBoundedSteps) {
  HistoryFixture f(StateStore::kMaxBlocksPrunedPerCommit + 20, std::nullopt);
  f.store.reset();
  f.store = StateStore::open(*f.db, 1).value();
  const std::uint64_t head = StateStore::kMaxBlocksPrunedPerCommit + 20;
  commit(*f.db, *f.store, {}, head + 1);
  EXPECT_EQ(f.store->oldest_height(), StateStore::kMaxBlocksPrunedPerCommit);
  commit(*f.db, *f.store, {}, head + 2);
  EXPECT_EQ(f.store->oldest_height(), head + 1);
}

TEST(StateStore, AWindowOfNoBlocksKeepsOnlyTheHeadAndWritesNoHistory) {
  HistoryFixture f(10, 0);
  EXPECT_EQ(f.store->oldest_height(), 10u);
  expect_state_at(*f.store, 10, f.states[10], 60);
  EXPECT_EQ(f.store->state_at(9).status().code(), ErrorCode::kNotFound);
  EXPECT_TRUE(f.history_heights().empty());
  for (std::uint64_t h = 1; h <= 10; ++h) {
    EXPECT_FALSE(f.db->get(StateStore::kChangedKeysSpace, height_key(h)).value().has_value()) << h;
  }
}

TEST(StateStore, AnArchiveReopenedWithAWindowOfNoBlocksCatchesUpToTheHead) {
  const std::uint64_t head = StateStore::kMaxBlocksPrunedPerCommit + 20;
  HistoryFixture f(head, std::nullopt);
  f.store.reset();
  f.store = StateStore::open(*f.db, 0).value();
  // The first commit moves the window a bounded step, so its own block keeps its history.
  commit(*f.db, *f.store, {{key(1), "after"}}, head + 1);
  EXPECT_EQ(f.store->oldest_height(), StateStore::kMaxBlocksPrunedPerCommit);
  auto before = f.store->state_at(head);
  ASSERT_TRUE(before.is_ok());
  EXPECT_EQ((*before)->get(key(1)), MemoryState(f.model).get(key(1)));
  commit(*f.db, *f.store, {}, head + 2);
  EXPECT_EQ(f.store->oldest_height(), head + 2);
  EXPECT_TRUE(f.history_heights().empty());
}

TEST(StateStore, ADamagedHistoryRecordIsAnErrorNamingItsKeyAndHeight) {
  HistoryFixture f(10, std::nullopt, 4);
  // The first history entry: damage its value.
  std::optional<Database::Entry> first = f.db->seek(StateStore::kHistorySpace, {}).value();
  ASSERT_TRUE(first.has_value());
  StateKey damaged;
  std::copy(first->key.begin(), first->key.begin() + StateKey::kSize, damaged.bytes.begin());
  std::uint64_t written_at = 0;
  for (std::size_t i = StateKey::kSize; i < first->key.size(); ++i) written_at = written_at << 8 | first->key[i];
  WriteBatch batch;
  const std::uint8_t bad[] = {7, 1, 2};
  batch.put(StateStore::kHistorySpace, first->key, bad);
  ASSERT_TRUE(f.db->write(batch, true).is_ok());
  auto view = f.store->state_at(written_at - 1).value();
  EXPECT_EQ(view->get(damaged), std::nullopt);
  Status s = view->take_read_error();
  EXPECT_EQ(s.code(), ErrorCode::kCorruption);
  EXPECT_NE(s.message().find("height " + std::to_string(written_at) + ": state key " + damaged.hex()), std::string::npos)
      << s.to_string();
  EXPECT_FALSE(view->entries().is_ok());
  const std::string absent_with_a_tail("\0x", 2);
  EXPECT_FALSE(StateStore::decode_history_value(as_bytes("")).is_ok());
  EXPECT_FALSE(StateStore::decode_history_value(as_bytes(absent_with_a_tail)).is_ok());
  EXPECT_FALSE(StateStore::decode_changed_keys(as_bytes("\x05garbage")).is_ok());
}

TEST(StateStore, GatherReadsEveryKeyOnceFromThePendingBlockTheCacheOrTheDisk) {
  TempDir dir;
  auto db = open_db(dir.str());
  auto store = StateStore::open(*db).value();
  WriteSet block;
  for (std::uint64_t n = 0; n < 300; ++n) block.push_back({key(n), "v" + std::to_string(n)});
  commit(*db, *store, block, 1);
  // A fresh store (an empty cache) gathers 300 keys while a pending block writes the first ten
  // and deletes the next ten; key 1000 is absent everywhere.
  store.reset();
  store = StateStore::open(*db).value();
  std::vector<StateKey> keys;
  for (std::uint64_t n = 0; n < 300; ++n) keys.push_back(key(n));
  keys.push_back(key(1000));
  WriteSet pending;
  for (std::uint64_t n = 0; n < 20; ++n) pending.push_back({key(n), n < 10 ? std::optional<Value>("pending") : std::nullopt});
  const OverlayState after_pending(*store, pending);
  auto gathered = store->gather(keys, &after_pending, 4);
  ASSERT_TRUE(store->take_read_error().is_ok());
  // Behind the store's back, every value changes on disk: what was gathered keeps the values it
  // read, and so does the cache for what was read from the disk.
  WriteBatch batch;
  for (std::uint64_t n = 0; n <= 1000; ++n) batch.put(StateStore::kStateSpace, key(n).view(), as_bytes("changed"));
  ASSERT_TRUE(db->write(batch, true).is_ok());
  for (std::uint64_t n = 0; n < 300; ++n) {
    const std::optional<Value> expected = n < 10 ? std::optional<Value>("pending")
                                          : n < 20 ? std::nullopt
                                                   : std::optional<Value>("v" + std::to_string(n));
    ASSERT_NE(gathered->find(key(n)), nullptr) << "key " << n;
    EXPECT_EQ(*gathered->find(key(n)), expected) << "key " << n;
    EXPECT_EQ(gathered->get(key(n)), expected) << "key " << n;
    // The pending block's keys were not read from the disk, so not cached: the store reads them now.
    EXPECT_EQ(store->get(key(n)), n < 20 ? "changed" : "v" + std::to_string(n)) << "key " << n;
  }
  EXPECT_EQ(*gathered->find(key(1000)), std::nullopt);
  // A key not gathered is read from the fallback.
  EXPECT_EQ(gathered->find(key(500)), nullptr);
  EXPECT_EQ(gathered->get(key(500)), "changed");
}

TEST(StateStore, StageTakesTheOverwrittenValuesFromTheGathering) {
  TempDir dir;
  auto db = open_db(dir.str());
  auto store = StateStore::open(*db).value();
  commit(*db, *store, {{key(1), "one"}, {key(2), "two"}}, 1);
  // A gathering of key 1 that says otherwise than the store (as if under a pending block), so
  // that where stage() took each value shows in the history it writes.
  const std::vector<StateKey> keys{key(1)};
  const WriteSet pending{{key(1), "gathered"}};
  const OverlayState after_pending(*store, pending);
  auto gathered = store->gather(keys, &after_pending, 1);
  const WriteSet block2{{key(1), "uno"}, {key(2), "dos"}};
  const LatticeHash acc = store->accumulator_after(block2);
  WriteBatch batch;
  ASSERT_TRUE(store->stage(block2, 2, acc, batch, gathered.get()).is_ok());
  ASSERT_TRUE(db->write(batch, true).is_ok());
  store->publish(block2, acc);
  auto at1 = store->state_at(1);
  ASSERT_TRUE(at1.is_ok());
  EXPECT_EQ((*at1)->get(key(1)), "gathered");  // from the gathering
  EXPECT_EQ((*at1)->get(key(2)), "two");       // not gathered: from the store
  EXPECT_EQ(store->get(key(1)), "uno");
}

TEST(Database, InjectedReadLatencyReadsTheSameValues) {
  TempDir dir;
  WriteSet block;
  for (std::uint64_t n = 0; n < 100; ++n) block.push_back({key(n), "v" + std::to_string(n)});
  {
    auto db = open_db(dir.str());
    auto store = StateStore::open(*db).value();
    commit(*db, *store, block, 1);
    ASSERT_TRUE(db->flush_memtable().is_ok());  // into a table file, where the latency applies
  }
  auto db = Database::open({.path = dir.str(), .table_read_latency_us = 50});
  ASSERT_TRUE(db.is_ok()) << db.status().to_string();
  auto store = StateStore::open(**db).value();
  for (const Write& w : block) EXPECT_EQ(store->get(w.key), w.value);
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
