// Ed25519 (RFC 8032) keys, signing and verification, single and batched, through OpenSSL 3.
// Thread-safety: every function here is safe from any thread; a KeyPair may be shared and
// signed with concurrently.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "crypto/bytes.hpp"
#include "crypto/result.hpp"

struct evp_pkey_st;

namespace pel {

/// RFC 8032 private key: 32 bytes from which the key pair is derived.
using Seed = std::array<std::uint8_t, 32>;

/// An Ed25519 public key (32 bytes, compressed point). Not checked to be on the curve until used.
struct PublicKey {
  std::array<std::uint8_t, 32> bytes{};

  /// Fails with kInvalidArgument unless `b` is exactly 32 bytes.
  static Result<PublicKey> from_bytes(ByteView b);
  std::string hex() const;
  friend auto operator<=>(const PublicKey&, const PublicKey&) = default;
};

/// An Ed25519 signature (64 bytes, R || S).
struct Signature {
  std::array<std::uint8_t, 64> bytes{};

  /// Fails with kInvalidArgument unless `b` is exactly 64 bytes.
  static Result<Signature> from_bytes(ByteView b);
  friend bool operator==(const Signature&, const Signature&) = default;
};

/// A fresh seed from OpenSSL's CSPRNG, for a key nobody else can derive.
Result<Seed> random_seed();

/// An Ed25519 key pair derived deterministically from a seed. Copies share one OpenSSL key.
class KeyPair {
 public:
  static Result<KeyPair> from_seed(const Seed& seed);

  const PublicKey& public_key() const { return public_; }
  /// Deterministic (RFC 8032) signature over `message`. Thread-safe.
  Result<Signature> sign(ByteView message) const;

 private:
  struct PkeyFree {
    void operator()(evp_pkey_st* key) const;
  };
  KeyPair(std::shared_ptr<evp_pkey_st> key, const PublicKey& pub)
      : key_(std::move(key)), public_(pub) {}

  std::shared_ptr<evp_pkey_st> key_;  // immutable once built, so shared reads are safe
  PublicKey public_;
};

/// OK when `sig` is a valid signature of `message` under `key`; kVerification for a bad
/// signature (or a key that is not a curve point); kInvalidArgument/kCrypto when OpenSSL rejects
/// the key outright.
Status verify(const PublicKey& key, ByteView message, const Signature& sig);

/// One signature check for verify_batch. The pointers must stay valid for the call; a null
/// pointer counts as a failed item.
struct VerifyItem {
  const PublicKey* key;
  ByteView message;
  const Signature* signature;
};

/// Verifies every item in parallel on `threads` workers (a oneTBB task_arena of that size +
/// parallel_for); result[i] is 1 when item i verified. threads <= 1 verifies inline.
std::vector<std::uint8_t> verify_batch(std::span<const VerifyItem> items, int threads);

}  // namespace pel
