#include "crypto/hash.hpp"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "crypto/address.hpp"

namespace pel {
namespace {

// FIPS 180-2 appendix B and the NIST example values.
TEST(Sha256, KnownAnswers) {
  EXPECT_EQ(sha256(as_bytes("")).hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256(as_bytes("abc")).hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256(as_bytes("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")).hex(),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256, MillionAIncremental) {
  Sha256 h;
  std::string chunk(1000, 'a');
  for (int i = 0; i < 1000; ++i) h.update(as_bytes(chunk));
  EXPECT_EQ(h.finish().hex(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  // finish() resets: the object is reusable.
  EXPECT_EQ(h.update(as_bytes("abc")).finish(), sha256(as_bytes("abc")));
  EXPECT_EQ(h.finish(), sha256({}));
}

TEST(Sha256, IncrementalMatchesOneShotAcrossSplits) {
  std::string msg;
  for (int i = 0; i < 300; ++i) msg.push_back(static_cast<char>(i * 7));
  Hash256 want = sha256(as_bytes(msg));
  Sha256 h;
  for (std::size_t split = 0; split <= msg.size(); split += 37) {
    ByteView all = as_bytes(msg);
    EXPECT_EQ(h.update(all.first(split)).update(all.subspan(split)).finish(), want);
  }
}

TEST(Sha256, ParallelThreadsAgree) {
  Hash256 want = sha256(as_bytes("parallel"));
  std::vector<int> bad(4, 0);
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        if (sha256(as_bytes("parallel")) != want) ++bad[t];
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(bad, std::vector<int>(4, 0));
}

TEST(Hash256, HexRoundTripAndErrors) {
  Hash256 h = sha256(as_bytes("abc"));
  Result<Hash256> back = Hash256::from_hex(h.hex());
  ASSERT_TRUE(back.is_ok());
  EXPECT_EQ(*back, h);
  EXPECT_EQ(*Hash256::from_hex("0x" + h.hex()), h);
  EXPECT_EQ(Hash256::from_hex(h.hex().substr(2)).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(Hash256::from_hex(h.hex() + "00").status().code(), ErrorCode::kInvalidArgument);
  std::string bad = h.hex();
  bad[10] = 'x';
  EXPECT_EQ(Hash256::from_hex(bad).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(Hash256{}.is_zero());
  EXPECT_FALSE(h.is_zero());
  EXPECT_LT(Hash256{}, h);
}

TEST(Address, HexRoundTripAndDerivation) {
  PublicKey k;
  for (std::size_t i = 0; i < k.bytes.size(); ++i) k.bytes[i] = static_cast<std::uint8_t>(i);
  Address a = address_of(k);
  EXPECT_EQ(a.hex(), sha256(k.bytes).hex().substr(24));
  EXPECT_EQ(*Address::from_hex(a.hex()), a);
  EXPECT_EQ(*Address::from_hex("0x" + a.hex()), a);
  EXPECT_FALSE(Address::from_hex(a.hex().substr(1)).is_ok());
  EXPECT_FALSE(Address::from_hex(sha256(k.bytes).hex()).is_ok());
  EXPECT_FALSE(Address::from_hex(std::string(40, 'g')).is_ok());
}

}  // namespace
}  // namespace pel
