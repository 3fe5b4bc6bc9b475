// Multi-version memory: reads see the highest lower writer, ESTIMATEs become dependencies,
// stale writes disappear, validation notices every change.
#include <gtest/gtest.h>

#include <deque>
#include <thread>

#include "state/mv_memory.hpp"

namespace pel {
namespace {

// MVMemory::record keeps pointers into the write set it is given: the tests keep every write
// set alive for the whole test, as the executor keeps each transaction's output.
const WriteSet& keep(WriteSet writes) {
  static std::deque<WriteSet> kept;  // a deque never moves its elements
  return kept.emplace_back(std::move(writes));
}

StateKey key(std::uint8_t n) {
  StateKey k;
  k.bytes[0] = 1;
  k.bytes[1] = n;
  return k;
}

TEST(MVMemory, ReadsTheHighestLowerWriter) {
  MVMemory mv(10);
  EXPECT_TRUE(mv.record({2, 0}, {}, keep({{key(1), "two"}})));
  EXPECT_TRUE(mv.record({5, 0}, {}, keep({{key(1), "five"}})));
  KeyCell* c = mv.cell(key(1));
  EXPECT_EQ(MVMemory::read(*c, 0).kind, MVRead::Kind::kStorage);
  EXPECT_EQ(MVMemory::read(*c, 2).kind, MVRead::Kind::kStorage);  // own write is not visible
  MVRead r = MVMemory::read(*c, 3);
  ASSERT_EQ(r.kind, MVRead::Kind::kValue);
  EXPECT_EQ(*r.value, "two");
  EXPECT_EQ(r.version, (Version{2, 0}));
  EXPECT_EQ(*MVMemory::read(*c, 9).value, "five");
}

TEST(MVMemory, DeletionIsAVersionWithoutValue) {
  MVMemory mv(4);
  (void)mv.record({1, 0}, {}, keep({{key(1), std::nullopt}}));
  MVRead r = MVMemory::read(*mv.cell(key(1)), 2);
  ASSERT_EQ(r.kind, MVRead::Kind::kValue);
  EXPECT_FALSE(r.value.has_value());
}

TEST(MVMemory, EstimateBecomesDependencyUntilReexecuted) {
  MVMemory mv(4);
  (void)mv.record({1, 0}, {}, keep({{key(1), "a"}}));
  mv.convert_writes_to_estimates(1);
  MVRead r = MVMemory::read(*mv.cell(key(1)), 3);
  ASSERT_EQ(r.kind, MVRead::Kind::kDependency);
  EXPECT_EQ(r.blocking_txn, 1u);
  EXPECT_FALSE(mv.record({1, 1}, {}, keep({{key(1), "b"}})));  // same key: no new path
  EXPECT_EQ(*MVMemory::read(*mv.cell(key(1)), 3).value, "b");
}

TEST(MVMemory, StaleWritesOfThePreviousIncarnationAreRemoved) {
  MVMemory mv(4);
  EXPECT_TRUE(mv.record({1, 0}, {}, keep({{key(1), "a"}, {key(2), "b"}})));
  EXPECT_FALSE(mv.record({1, 1}, {}, keep({{key(2), "c"}})));
  EXPECT_EQ(MVMemory::read(*mv.cell(key(1)), 3).kind, MVRead::Kind::kStorage);
  EXPECT_TRUE(mv.record({1, 2}, {}, keep({{key(2), "c"}, {key(3), "d"}})));  // grew: new path
  WriteSet snap = mv.final_writes().writes;
  ASSERT_EQ(snap.size(), 2u);
  EXPECT_EQ(snap[0].key, key(2));
  EXPECT_EQ(snap[1].key, key(3));
}

TEST(MVMemory, ValidationNoticesNewWritesEstimatesAndNewIncarnations) {
  MVMemory mv(8);
  KeyCell* c1 = mv.cell(key(1));
  KeyCell* c2 = mv.cell(key(2));
  (void)mv.record({1, 0}, {}, keep({{key(2), "x"}}));
  // txn 5 read key 1 from storage and key 2 from txn 1.
  (void)mv.record({5, 0}, {{c1, true, false, {}, 0}, {c2, false, false, {1, 0}, 0}}, keep({}));
  EXPECT_TRUE(mv.validate_read_set(5));
  (void)mv.record({3, 0}, {}, keep({{key(1), "y"}}));  // a lower txn now writes key 1
  EXPECT_FALSE(mv.validate_read_set(5));
  (void)mv.record({3, 1}, {}, keep({}));  // and stops writing it
  EXPECT_TRUE(mv.validate_read_set(5));
  mv.convert_writes_to_estimates(1);
  EXPECT_FALSE(mv.validate_read_set(5));
  (void)mv.record({1, 1}, {}, keep({{key(2), "x"}}));  // same value, new incarnation: still invalid
  EXPECT_FALSE(mv.validate_read_set(5));
  EXPECT_EQ(mv.first_stale_read(5), c2) << "the failed validation names the key that changed";
  EXPECT_TRUE(mv.validate_read_set(0));  // no reads recorded
  EXPECT_EQ(mv.first_stale_read(0), nullptr);
}

TEST(MVMemory, ReadIsCurrentUntilALowerTransactionChangesIt) {
  MVMemory mv(8);
  KeyCell* c = mv.cell(key(1));
  const MVRead from_storage = MVMemory::read(*c, 5);
  const ReadDescriptor storage_read{c, true, false, {}, from_storage.changes};
  EXPECT_TRUE(MVMemory::read_is_current(storage_read, 5));
  (void)mv.record({7, 0}, {}, keep({{key(1), "higher"}}));  // the cell changes, not what txn 5 sees
  EXPECT_TRUE(MVMemory::read_is_current(storage_read, 5));
  (void)mv.record({3, 0}, {}, keep({{key(1), "lower"}}));
  EXPECT_FALSE(MVMemory::read_is_current(storage_read, 5));
  (void)mv.record({3, 1}, {}, keep({}));  // re-executed without the key: the read holds again
  EXPECT_TRUE(MVMemory::read_is_current(storage_read, 5));

  (void)mv.record({3, 2}, {}, keep({{key(1), "lower"}}));
  const MVRead value = MVMemory::read(*c, 5);
  const ReadDescriptor value_read{c, false, false, value.version, value.changes};
  EXPECT_TRUE(MVMemory::read_is_current(value_read, 5));
  mv.convert_writes_to_estimates(3);
  EXPECT_FALSE(MVMemory::read_is_current(value_read, 5));
  (void)mv.record({3, 3}, {}, keep({{key(1), "lower"}}));  // same value, new incarnation
  EXPECT_FALSE(MVMemory::read_is_current(value_read, 5));
  // It agrees with validation, which uses the same check.
  (void)mv.record({5, 0}, {value_read}, keep({}));
  EXPECT_FALSE(mv.validate_read_set(5));
}

TEST(MVMemory, DeltasSumDownToTheValueTheyAddTo) {
  MVMemory mv(10);
  KeyCell* c = mv.cell(key(1));
  (void)mv.record({1, 0}, {}, keep({}), {{key(1), 5}});
  (void)mv.record({3, 0}, {}, keep({}), {{key(1), 7}});
  MVRead r = MVMemory::read(*c, 9);
  EXPECT_EQ(r.kind, MVRead::Kind::kStorage);  // they add to the stored value
  EXPECT_TRUE(r.has_deltas);
  EXPECT_TRUE(r.deltas == 12);
  EXPECT_TRUE(MVMemory::read(*c, 2).deltas == 5);
  EXPECT_FALSE(MVMemory::read(*c, 1).has_deltas);

  (void)mv.record({2, 0}, {}, keep({{key(1), "two"}}));  // a value between them
  r = MVMemory::read(*c, 9);
  EXPECT_EQ(r.kind, MVRead::Kind::kValue);
  EXPECT_EQ(r.value, "two");
  EXPECT_TRUE(r.deltas == 7) << "only the deltas above the value count";

  // A new incarnation replaces its delta, never adds a second one.
  (void)mv.record({3, 1}, {}, keep({}), {{key(1), 70}});
  EXPECT_TRUE(MVMemory::read(*c, 9).deltas == 70);
  // An aborted one is an ESTIMATE: a reader waits for it.
  mv.convert_writes_to_estimates(3);
  r = MVMemory::read(*c, 9);
  EXPECT_EQ(r.kind, MVRead::Kind::kDependency);
  EXPECT_EQ(r.blocking_txn, 3u);
  // One that no longer adds leaves nothing behind.
  (void)mv.record({3, 2}, {}, keep({}));
  r = MVMemory::read(*c, 9);
  EXPECT_EQ(r.kind, MVRead::Kind::kValue);
  EXPECT_FALSE(r.has_deltas);
}

TEST(MVMemory, AReadThroughDeltasHoldsWhileTheirSumDoes) {
  MVMemory mv(10);
  KeyCell* c = mv.cell(key(1));
  (void)mv.record({1, 0}, {}, keep({}), {{key(1), 5}});
  (void)mv.record({2, 0}, {}, keep({}), {{key(1), 6}});
  const MVRead r = MVMemory::read(*c, 5);
  const ReadDescriptor read{c, true, true, {}, r.changes};
  (void)mv.record({5, 0}, {read}, keep({}), {}, {r.deltas});
  EXPECT_TRUE(mv.validate_read_set(5));
  (void)mv.record({2, 1}, {}, keep({}), {{key(1), 6}});  // re-executed, same amount: same value read
  EXPECT_TRUE(mv.validate_read_set(5));
  (void)mv.record({2, 2}, {}, keep({}), {{key(1), 8}});  // another amount
  EXPECT_FALSE(mv.validate_read_set(5));
  EXPECT_FALSE(MVMemory::read_is_current(read, 5, r.deltas));
  (void)mv.record({2, 3}, {}, keep({{key(1), std::nullopt}}));  // a delete instead of the add
  EXPECT_FALSE(mv.validate_read_set(5)) << "the base moved: a value, not the stored one";
  // A read that saw no deltas does not hold once one appears below it.
  const MVRead plain = MVMemory::read(*c, 1);
  const ReadDescriptor plain_read{c, true, false, {}, plain.changes};
  EXPECT_TRUE(MVMemory::read_is_current(plain_read, 1));
  (void)mv.record({0, 0}, {}, keep({}), {{key(1), 1}});
  EXPECT_FALSE(MVMemory::read_is_current(plain_read, 1));
}

TEST(MVMemory, FinalDeltasComeWithTheValueTheyAddTo) {
  MVMemory mv(6);
  (void)mv.record({0, 0}, {}, keep({{key(1), std::nullopt}, {key(2), "x"}}));
  (void)mv.record({1, 0}, {}, keep({}), {{key(1), 4}, {key(3), 9}});
  (void)mv.record({2, 0}, {}, keep({}), {{key(1), 1}});
  (void)mv.record({3, 0}, {}, keep({{key(4), "y"}}), {{key(2), 2}});
  const FinalWrites all = mv.final_writes();
  ASSERT_EQ(all.writes.size(), 4u);  // every key, in order; those with deltas hold no value yet
  EXPECT_EQ(all.writes[3].key, key(4));
  EXPECT_EQ(all.writes[3].value, "y");
  ASSERT_EQ(all.deltas.size(), 3u);
  EXPECT_EQ(all.deltas[0].index, 0u);
  const PendingDeltas& one = all.deltas[0].deltas;
  EXPECT_EQ(one.key, key(1));  // deleted, then 4 + 1 added
  EXPECT_FALSE(one.on_storage);
  EXPECT_EQ(one.base, std::nullopt);
  EXPECT_TRUE(one.total == 5);
  EXPECT_EQ(all.deltas[1].index, 1u);
  EXPECT_EQ(all.deltas[1].deltas.base, "x");
  EXPECT_TRUE(all.deltas[1].deltas.total == 2);
  EXPECT_EQ(all.deltas[2].index, 2u);
  EXPECT_TRUE(all.deltas[2].deltas.on_storage);  // key 3: only added to
  EXPECT_TRUE(all.deltas[2].deltas.total == 9);
  // The first two transactions alone: key 1's one delta over the delete, key 2 a value.
  const FinalWrites two = mv.final_writes_below(2);
  ASSERT_EQ(two.writes.size(), 3u);
  EXPECT_EQ(two.writes[1].value, "x");
  ASSERT_EQ(two.deltas.size(), 2u);
  EXPECT_TRUE(two.deltas[0].deltas.total == 4);
}

TEST(MVMemory, CellsAreCreatedOnceUnderConcurrency) {
  MVMemory mv(2);
  std::vector<KeyCell*> a(1000), b(1000);
  std::thread t1([&] { for (int i = 0; i < 1000; ++i) a[i] = mv.cell(key(static_cast<std::uint8_t>(i % 200))); });
  std::thread t2([&] { for (int i = 0; i < 1000; ++i) b[i] = mv.cell(key(static_cast<std::uint8_t>(i % 200))); });
  t1.join();
  t2.join();
  EXPECT_EQ(a, b);
}

}  // namespace
}  // namespace pel
