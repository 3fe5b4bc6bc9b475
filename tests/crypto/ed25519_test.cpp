#include "crypto/ed25519.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace pel {
namespace {

struct Rfc8032Vector {
  const char* name;
  const char* secret;
  const char* public_key;
  const char* message;
  const char* signature;
};

// RFC 8032 section 7.1.
const Rfc8032Vector kVectors[] = {
    {"TEST 1", "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
     "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"},
    {"TEST 2", "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
     "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
    {"TEST 3", "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
     "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"},
    {"TEST SHA(abc)", "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
     "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
     "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
     "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
     "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b589"
     "09351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704"},
};

Seed seed_from_hex(const char* hex) {
  Bytes b = *from_hex(hex);
  Seed s{};
  std::copy(b.begin(), b.end(), s.begin());
  return s;
}

Seed seed_of(std::uint8_t n) {
  Seed s{};
  s.fill(n);
  return s;
}

TEST(Ed25519, Rfc8032Vectors) {
  for (const Rfc8032Vector& v : kVectors) {
    SCOPED_TRACE(v.name);
    Result<KeyPair> kp = KeyPair::from_seed(seed_from_hex(v.secret));
    ASSERT_TRUE(kp.is_ok()) << kp.status().to_string();
    EXPECT_EQ(kp->public_key().hex(), v.public_key);
    Bytes msg = *from_hex(v.message);
    Result<Signature> sig = kp->sign(msg);
    ASSERT_TRUE(sig.is_ok()) << sig.status().to_string();
    EXPECT_EQ(to_hex(sig->bytes), v.signature);
    Signature expected = *Signature::from_bytes(*from_hex(v.signature));
    PublicKey pub = *PublicKey::from_bytes(*from_hex(v.public_key));
    EXPECT_TRUE(verify(pub, msg, expected).is_ok());
  }
}

TEST(Ed25519, CopiesShareKeyAndSignIdentically) {
  KeyPair a = *KeyPair::from_seed(seed_of(7));
  KeyPair b = a;
  EXPECT_EQ(a.public_key(), b.public_key());
  EXPECT_EQ(*a.sign(as_bytes("m")), *b.sign(as_bytes("m")));
}

TEST(Ed25519, NegativeCases) {
  KeyPair kp = *KeyPair::from_seed(seed_of(1));
  KeyPair other = *KeyPair::from_seed(seed_of(2));
  Bytes msg = {1, 2, 3, 4};
  Signature sig = *kp.sign(msg);
  ASSERT_TRUE(verify(kp.public_key(), msg, sig).is_ok());

  Bytes tampered_msg = msg;
  tampered_msg[0] ^= 1;
  EXPECT_EQ(verify(kp.public_key(), tampered_msg, sig).code(), ErrorCode::kVerification);

  for (std::size_t pos : {0u, 31u, 32u, 63u}) {
    Signature bad = sig;
    bad.bytes[pos] ^= 0x40;
    EXPECT_FALSE(verify(kp.public_key(), msg, bad).is_ok()) << "byte " << pos;
  }

  EXPECT_EQ(verify(other.public_key(), msg, sig).code(), ErrorCode::kVerification);
  EXPECT_FALSE(verify(kp.public_key(), msg, Signature{}).is_ok());
}

TEST(Ed25519, MalformedKeys) {
  EXPECT_EQ(PublicKey::from_bytes(Bytes(31)).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(PublicKey::from_bytes(Bytes(33)).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(Signature::from_bytes(Bytes(63)).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(Signature::from_bytes(Bytes(65)).status().code(), ErrorCode::kInvalidArgument);

  KeyPair kp = *KeyPair::from_seed(seed_of(3));
  Signature sig = *kp.sign(as_bytes("x"));
  PublicKey ff = *PublicKey::from_bytes(Bytes(32, 0xff));  // y >= p: not a valid point encoding
  Status s = verify(ff, as_bytes("x"), sig);
  EXPECT_FALSE(s.is_ok());
  EXPECT_FALSE(s.message().empty());
  // The failure leaves nothing behind: the next good verify still passes.
  EXPECT_TRUE(verify(kp.public_key(), as_bytes("x"), sig).is_ok());
}

TEST(Ed25519, VerifyBatchMixed) {
  std::vector<KeyPair> keys;
  for (std::uint8_t i = 0; i < 5; ++i) keys.push_back(*KeyPair::from_seed(seed_of(i + 10)));
  std::vector<Bytes> msgs;
  std::vector<Signature> sigs;
  for (int i = 0; i < 40; ++i) {
    msgs.push_back(Bytes{static_cast<std::uint8_t>(i), 0x55});
    sigs.push_back(*keys[i % 5].sign(msgs.back()));
  }
  PublicKey ff;
  ff.bytes.fill(0xff);
  std::vector<VerifyItem> items;
  std::vector<std::uint8_t> want;
  for (int i = 0; i < 40; ++i) {
    const PublicKey* key = &keys[i % 5].public_key();
    const Signature* sig = &sigs[i];
    bool good = true;
    switch (i % 8) {
      case 3: key = &keys[(i + 1) % 5].public_key(); good = false; break;  // wrong key
      case 5: sig = &sigs[(i + 1) % 40]; good = false; break;              // wrong signature
      case 6: key = &ff; good = false; break;                              // not a point
      case 7: if (i == 39) { key = nullptr; good = false; } break;          // null item
      default: break;
    }
    items.push_back({key, msgs[i], sig});
    want.push_back(good ? 1 : 0);
  }
  for (int threads : {0, 1, 2, 4}) {
    SCOPED_TRACE(threads);
    EXPECT_EQ(verify_batch(items, threads), want);
  }
  EXPECT_TRUE(verify_batch({}, 2).empty());
}

}  // namespace
}  // namespace pel
