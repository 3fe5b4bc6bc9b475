#include "crypto/lattice_hash.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace pel {
namespace {

Bytes elem(std::uint64_t i) {
  Writer w;
  w.u64(i);
  return w.take();
}

TEST(LatticeHash, EmptyAndElementHash) {
  LatticeHash h;
  EXPECT_TRUE(h.is_empty());
  EXPECT_EQ(h.digest(), sha256(Bytes(LatticeHash::kBytes, 0)));
  // of(x) is SHAKE256(x) to 2048 bytes read as little-endian lanes: to_bytes gives it back.
  Bytes xof(LatticeHash::kBytes);
  shake256(as_bytes("pel"), xof);
  auto b = LatticeHash::of(as_bytes("pel")).to_bytes();
  EXPECT_TRUE(std::equal(b.begin(), b.end(), xof.begin()));
  h.add(as_bytes("pel"));
  EXPECT_EQ(h, LatticeHash::of(as_bytes("pel")));
  EXPECT_FALSE(h.is_empty());
}

TEST(LatticeHash, AddThenRemoveIsIdentity) {
  LatticeHash h;
  h.add(elem(1));
  LatticeHash before = h;
  for (int i = 2; i < 50; ++i) h.add(elem(i));
  for (int i = 2; i < 50; ++i) h.remove(elem(i));
  EXPECT_EQ(h, before);
  h.remove(elem(1));
  EXPECT_TRUE(h.is_empty());
}

TEST(LatticeHash, OrderDoesNotMatter) {
  std::vector<std::uint64_t> ids(200);
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = i * 31 + 7;
  LatticeHash a;
  for (auto id : ids) a.add(elem(id));
  std::mt19937_64 rng(42);
  for (int round = 0; round < 5; ++round) {
    std::shuffle(ids.begin(), ids.end(), rng);
    LatticeHash b;
    for (auto id : ids) b.add(elem(id));
    EXPECT_EQ(a.digest(), b.digest());
  }
}

TEST(LatticeHash, CombineIsUnionAndSubtractUndoes) {
  LatticeHash x, y, all;
  for (int i = 0; i < 30; ++i) {
    (i % 2 ? x : y).add(elem(i));
    all.add(elem(i));
  }
  LatticeHash u = x;
  u.combine(y);
  EXPECT_EQ(u, all);
  u.subtract(y);
  EXPECT_EQ(u, x);
}

TEST(LatticeHash, RemoveBeforeAddCommutes) {
  LatticeHash a, b;
  a.remove(elem(5));
  a.add(elem(5));
  EXPECT_TRUE(a.is_empty());
  b.add(elem(9));
  b.remove(elem(7));
  b.add(elem(7));
  EXPECT_EQ(b, LatticeHash::of(elem(9)));
}

TEST(LatticeHash, MultiplicityCounts) {
  LatticeHash once, twice;
  once.add(elem(3));
  twice.add(elem(3));
  twice.add(elem(3));
  EXPECT_NE(once.digest(), twice.digest());
}

TEST(LatticeHash, DistinctMultisetsDistinctDigests) {
  std::mt19937_64 rng(2024);
  std::set<Hash256> seen;
  std::set<std::vector<std::uint64_t>> sets;
  for (int trial = 0; trial < 2000; ++trial) {
    std::vector<std::uint64_t> ms(1 + rng() % 4);
    for (auto& v : ms) v = rng() % 64;  // small universe so multisets overlap
    std::sort(ms.begin(), ms.end());
    if (!sets.insert(ms).second) continue;  // same multiset drawn twice
    LatticeHash h;
    for (auto v : ms) h.add(elem(v));
    EXPECT_TRUE(seen.insert(h.digest()).second) << "collision at trial " << trial;
  }
  EXPECT_GT(seen.size(), 1000u);
}

TEST(LatticeHash, BytesRoundTrip) {
  LatticeHash h;
  for (int i = 0; i < 10; ++i) h.add(elem(i));
  auto b = h.to_bytes();
  Result<LatticeHash> back = LatticeHash::from_bytes(b);
  ASSERT_TRUE(back.is_ok());
  EXPECT_EQ(*back, h);
  EXPECT_EQ(back->digest(), sha256(b));
  EXPECT_EQ(LatticeHash::from_bytes(Bytes(2047)).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(LatticeHash::from_bytes(Bytes(2049)).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(LatticeHash::from_bytes({}).status().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace pel
