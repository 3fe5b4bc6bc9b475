#include "crypto/merkle.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace pel {
namespace {

Hash256 leaf_hash(const Hash256& leaf) {
  Bytes b = {0x00};
  b.insert(b.end(), leaf.bytes.begin(), leaf.bytes.end());
  return sha256(b);
}

Hash256 node_hash(const Hash256& l, const Hash256& r) {
  Bytes b = {0x01};
  b.insert(b.end(), l.bytes.begin(), l.bytes.end());
  b.insert(b.end(), r.bytes.begin(), r.bytes.end());
  return sha256(b);
}

// The rule straight from RFC 6962, recursively, as an independent model.
Hash256 reference_root(std::span<const Hash256> leaves) {
  if (leaves.empty()) return sha256({});
  if (leaves.size() == 1) return leaf_hash(leaves[0]);
  std::size_t k = 1;
  while (k * 2 < leaves.size()) k *= 2;
  return node_hash(reference_root(leaves.first(k)), reference_root(leaves.subspan(k)));
}

std::vector<Hash256> make_leaves(int n) {
  std::vector<Hash256> v;
  for (int i = 0; i < n; ++i) v.push_back(sha256(Bytes{static_cast<std::uint8_t>(i)}));
  return v;
}

TEST(Merkle, Empty) {
  EXPECT_EQ(merkle_root({}).hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Merkle, SingleLeaf) {
  auto l = make_leaves(1);
  EXPECT_EQ(merkle_root(l), leaf_hash(l[0]));
  EXPECT_NE(merkle_root(l), l[0]);  // domain separation: the root is not the leaf itself
  EXPECT_NE(merkle_root(l), sha256(l[0].bytes));
}

TEST(Merkle, OddCountsByHand) {
  auto l = make_leaves(7);
  std::vector<Hash256> h;
  for (auto& x : l) h.push_back(leaf_hash(x));
  // n = 3: split at 2.
  EXPECT_EQ(merkle_root(std::span(l).first(3)), node_hash(node_hash(h[0], h[1]), h[2]));
  // n = 5: split at 4; the fifth leaf is carried up, not duplicated.
  Hash256 four = node_hash(node_hash(h[0], h[1]), node_hash(h[2], h[3]));
  EXPECT_EQ(merkle_root(std::span(l).first(5)), node_hash(four, h[4]));
  // n = 7: split at 4, then the right three split at 2.
  EXPECT_EQ(merkle_root(l), node_hash(four, node_hash(node_hash(h[4], h[5]), h[6])));
}

TEST(Merkle, MatchesRecursiveRule) {
  auto l = make_leaves(70);
  for (std::size_t n = 0; n <= l.size(); ++n) {
    EXPECT_EQ(merkle_root(std::span(l).first(n)), reference_root(std::span(l).first(n))) << n;
  }
}

TEST(Merkle, OrderMattersAndNoDuplicationMalleability) {
  auto l = make_leaves(4);
  auto swapped = l;
  std::swap(swapped[1], swapped[2]);
  EXPECT_NE(merkle_root(l), merkle_root(swapped));
  // Bitcoin's tree gives [a,b,c] and [a,b,c,c] the same root; this one must not.
  auto three = make_leaves(3);
  auto dup = three;
  dup.push_back(three[2]);
  EXPECT_NE(merkle_root(three), merkle_root(dup));
}

TEST(Merkle, TwoLeafRootIsNotALeafOfTheConcatenation) {
  auto l = make_leaves(2);
  Hash256 root = merkle_root(l);
  Bytes cat(l[0].bytes.begin(), l[0].bytes.end());
  cat.insert(cat.end(), l[1].bytes.begin(), l[1].bytes.end());
  Bytes leaf_of_cat = {0x00};
  leaf_of_cat.insert(leaf_of_cat.end(), cat.begin(), cat.end());
  EXPECT_NE(root, sha256(cat));
  EXPECT_NE(root, sha256(leaf_of_cat));
  EXPECT_EQ(root, node_hash(leaf_hash(l[0]), leaf_hash(l[1])));
}

}  // namespace
}  // namespace pel
