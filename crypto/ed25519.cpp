#include "crypto/ed25519.hpp"

#include <openssl/err.h>
#include <openssl/rand.h>
#include <sodium.h>

#include <algorithm>
#include <cstddef>
#include <stdexcept>

#include <tbb/task_arena.h>

#include "crypto/parallel_for.hpp"

namespace pel {

namespace {

// The OpenSSL error queue is per thread; drain it after an expected failure (a bad signature or
// a rejected key) so it does not grow and later calls see no stale errors.
std::string take_openssl_error() {
  unsigned long code = ERR_get_error();
  char buf[256] = "no OpenSSL error queued";
  if (code != 0) ERR_error_string_n(code, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

}  // namespace

Result<PublicKey> PublicKey::from_bytes(ByteView b) {
  PublicKey k;
  if (b.size() != k.bytes.size()) {
    return error(ErrorCode::kInvalidArgument,
                 "public key must be 32 bytes, got " + std::to_string(b.size()));
  }
  std::copy(b.begin(), b.end(), k.bytes.begin());
  return k;
}

std::string PublicKey::hex() const { return to_hex(bytes); }

Result<Signature> Signature::from_bytes(ByteView b) {
  Signature s;
  if (b.size() != s.bytes.size()) {
    return error(ErrorCode::kInvalidArgument,
                 "signature must be 64 bytes, got " + std::to_string(b.size()));
  }
  std::copy(b.begin(), b.end(), s.bytes.begin());
  return s;
}

Result<Seed> random_seed() {
  Seed seed{};
  if (RAND_bytes(seed.data(), static_cast<int>(seed.size())) != 1) {
    return error(ErrorCode::kCrypto, "random seed: " + take_openssl_error());
  }
  return seed;
}

namespace {

// libsodium must be initialised once before use (it picks its implementations at run time);
// sodium_init() is thread-safe and idempotent, and the static makes it run once.
void ensure_sodium() {
  static const int initialised = sodium_init();
  if (initialised < 0) throw std::runtime_error("libsodium failed to initialise");
}

}  // namespace

void KeyPair::SecretFree::operator()(SecretKey* key) const {
  sodium_memzero(key->data(), key->size());
  delete key;
}

Result<KeyPair> KeyPair::from_seed(const Seed& seed) {
  ensure_sodium();
  std::shared_ptr<SecretKey> secret(new SecretKey{}, SecretFree{});
  PublicKey pub;
  if (crypto_sign_ed25519_seed_keypair(pub.bytes.data(), secret->data(), seed.data()) != 0) {
    return error(ErrorCode::kCrypto, "Ed25519 key from seed failed");
  }
  return KeyPair(std::move(secret), pub);
}

Result<Signature> KeyPair::sign(ByteView message) const {
  Signature sig;
  if (crypto_sign_ed25519_detached(sig.bytes.data(), nullptr, message.data(), message.size(),
                                   secret_->data()) != 0) {
    return error(ErrorCode::kCrypto, "Ed25519 sign failed");
  }
  return sig;
}

Status check_public_key(const PublicKey& key) {
  ensure_sodium();
  if (crypto_core_ed25519_is_valid_point(key.bytes.data()) == 1) return Status::ok();
  return error(ErrorCode::kInvalidArgument, "not a usable Ed25519 public key (not a canonical encoding of a curve "
                                            "point of the prime-order subgroup): " + key.hex());
}

Status verify(const PublicKey& key, ByteView message, const Signature& sig) {
  ensure_sodium();
  if (crypto_sign_ed25519_verify_detached(sig.bytes.data(), message.data(), message.size(),
                                          key.bytes.data()) == 0) {
    return Status::ok();
  }
  return error(ErrorCode::kVerification, "Ed25519 signature does not verify under key " + key.hex());
}

std::vector<std::uint8_t> verify_batch(std::span<const VerifyItem> items, int threads) {
  std::vector<std::uint8_t> ok(items.size(), 0);
  auto check = [&](std::size_t i) {
    const VerifyItem& it = items[i];
    ok[i] = it.key != nullptr && it.signature != nullptr &&
            verify(*it.key, it.message, *it.signature).is_ok();
  };
  if (threads <= 1 || items.size() < 2) {
    for (std::size_t i = 0; i < items.size(); ++i) check(i);
    return ok;
  }
  ensure_sodium();  // once here, not raced for by the workers
  tbb::task_arena arena(threads);
  arena.execute([&] {
    // Each verify is ~50 us, so small grains cost nothing and balance well.
    parallel_ranges(items.size(), 8, [&](std::size_t begin, std::size_t end) {
      for (std::size_t i = begin; i != end; ++i) check(i);
    });
  });
  return ok;
}

}  // namespace pel
