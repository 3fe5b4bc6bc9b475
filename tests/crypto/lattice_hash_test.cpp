#include "crypto/lattice_hash.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace pel {
namespace {

Bytes elem(std::uint64_t i) {
  Writer w;
  w.u64(i);
  return w.take();
}

// The element hash recomputed from its definition by another route: SHA-256, then AES-128 in
// ECB mode over explicit big-endian counter blocks (SP 800-38A CTR built by hand), so a wrong
// key split, counter width or byte order in the library fails here.
std::array<std::uint8_t, LatticeHash::kBytes> element_bytes_by_definition(ByteView element) {
  const Hash256 seed = sha256(element);
  std::array<std::uint8_t, 16> counter;
  std::copy(seed.bytes.begin() + 16, seed.bytes.end(), counter.begin());
  std::array<std::uint8_t, LatticeHash::kBytes> out{};
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  EXPECT_EQ(EVP_EncryptInit_ex2(ctx, EVP_aes_128_ecb(), seed.bytes.data(), nullptr, nullptr), 1);
  EVP_CIPHER_CTX_set_padding(ctx, 0);
  for (std::size_t block = 0; block < out.size() / 16; ++block) {
    int len = 0;
    EXPECT_EQ(EVP_EncryptUpdate(ctx, out.data() + 16 * block, &len, counter.data(), 16), 1);
    for (int i = 15; i >= 0 && ++counter[static_cast<std::size_t>(i)] == 0; --i) {
    }
  }
  EVP_CIPHER_CTX_free(ctx);
  return out;
}

TEST(LatticeHash, Empty) {
  LatticeHash h;
  EXPECT_TRUE(h.is_empty());
  EXPECT_EQ(h.digest(), sha256(Bytes(LatticeHash::kBytes, 0)));
}

// Known answers from the openssl command line:
//   seed=$(printf pel | openssl dgst -sha256 -r | cut -c1-64)
//   head -c 2048 /dev/zero | openssl enc -aes-128-ctr -K ${seed:0:32} -iv ${seed:32:32} -nosalt
TEST(LatticeHash, ElementHashKnownAnswers) {
  auto pel = LatticeHash::of(as_bytes("pel")).to_bytes();
  EXPECT_EQ(to_hex(ByteView(pel).first(32)), "6e43c4bfd700dece362fc09ad13ab1a684f29737272462c19c7d76e04cb92c9b");
  EXPECT_EQ(LatticeHash::of(as_bytes("pel")).digest().hex(),
            "035696b57ad1bd7f40bdcf7187c92e91541c42578232863c84685a0e44373373");
  EXPECT_EQ(LatticeHash::of({}).digest().hex(), "630a18092599057429fa44b31839295e4085861688fbdbfa54efc3fe4ce32d13");
  LatticeHash h;
  h.add(as_bytes("pel"));
  EXPECT_EQ(h, LatticeHash::of(as_bytes("pel")));
  EXPECT_FALSE(h.is_empty());
}

TEST(LatticeHash, ElementHashMatchesItsDefinition) {
  std::mt19937_64 rng(11);
  for (int trial = 0; trial < 200; ++trial) {
    Bytes element(rng() % 300);
    for (auto& b : element) b = static_cast<std::uint8_t>(rng());
    EXPECT_EQ(LatticeHash::of(element).to_bytes(), element_bytes_by_definition(element)) << "trial " << trial;
  }
}

TEST(LatticeHash, ThreadsAgree) {
  const auto want = LatticeHash::of(as_bytes("threads"));
  std::vector<int> bad(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        if (LatticeHash::of(as_bytes("threads")) != want) ++bad[t];
        (void)sha256(as_bytes("interleaved"));
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(bad, std::vector<int>(4, 0));
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
