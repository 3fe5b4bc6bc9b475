// Ed25519 (RFC 8032) keys, signing and verification, single and batched, through libsodium
// (2.2x OpenSSL 3.0's verification rate on the same core; README, "Dependencies").
// Thread-safety: every function here is safe from any thread; a KeyPair may be shared and
// signed with concurrently.
//
// The rule of validity, one for every signature pel checks (transactions and block headers),
// libsodium's crypto_sign_ed25519_verify_detached in its default (strict) build:
//   - the signature is exactly 64 bytes R || S, the key exactly 32 bytes (the types enforce it);
//   - S is canonical: S < L, the group order (rejects malleated signatures, RFC 8032 5.1.7);
//   - R is not one of the small-order points, in any of their encodings, canonical or not;
//   - the key A is a canonical encoding (y < p) of a curve point that is not of small order;
//   - the cofactorless equation holds byte for byte: encode([S]B - [k]A) == R, with
//     k = SHA-512(R || A || message) mod L. A non-canonical encoding of R therefore never
//     verifies (the recomputed point is always encoded canonically).
// tests/crypto/wycheproof_test.cpp checks every Wycheproof Ed25519 vector against this rule.
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

/// An Ed25519 key pair derived deterministically from a seed. Copies share one secret key, wiped
/// from memory when the last copy goes.
class KeyPair {
 public:
  static Result<KeyPair> from_seed(const Seed& seed);

  const PublicKey& public_key() const { return public_; }
  /// Deterministic (RFC 8032) signature over `message`. Thread-safe.
  Result<Signature> sign(ByteView message) const;

 private:
  using SecretKey = std::array<std::uint8_t, 64>;  // libsodium's form: seed || public key
  struct SecretFree {
    void operator()(SecretKey* key) const;
  };
  KeyPair(std::shared_ptr<const SecretKey> secret, const PublicKey& pub)
      : secret_(std::move(secret)), public_(pub) {}

  std::shared_ptr<const SecretKey> secret_;  // immutable once built, so shared reads are safe
  PublicKey public_;
};

/// OK when `key` is one a signer can have: a canonical encoding of a point of the prime-order
/// subgroup (so not of small order). Stricter than verify() by refusing mixed-order keys, which
/// no key derived from a seed is; kInvalidArgument otherwise. For keys named by hand (a chain's
/// producer), so a key no signature can verify under is refused where it is given.
Status check_public_key(const PublicKey& key);
/// OK when `sig` is a valid signature of `message` under `key` by the rule above; otherwise
/// kVerification (a bad signature, or a key the rule refuses).
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
