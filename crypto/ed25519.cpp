#include "crypto/ed25519.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstddef>

#include <tbb/task_arena.h>

#include "crypto/openssl_util.hpp"
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

void KeyPair::PkeyFree::operator()(evp_pkey_st* key) const { EVP_PKEY_free(key); }

Result<KeyPair> KeyPair::from_seed(const Seed& seed) {
  detail::PkeyPtr key(
      EVP_PKEY_new_raw_private_key_ex(nullptr, "ED25519", nullptr, seed.data(), seed.size()));
  if (!key) return error(ErrorCode::kCrypto, "Ed25519 key from seed: " + take_openssl_error());
  PublicKey pub;
  std::size_t len = pub.bytes.size();
  if (EVP_PKEY_get_raw_public_key(key.get(), pub.bytes.data(), &len) != 1 ||
      len != pub.bytes.size()) {
    return error(ErrorCode::kCrypto, "Ed25519 public key: " + take_openssl_error());
  }
  std::shared_ptr<evp_pkey_st> shared(key.release(), PkeyFree{});
  return KeyPair(std::move(shared), pub);
}

Result<Signature> KeyPair::sign(ByteView message) const {
  // A context per call: EVP_MD_CTX is not shareable, and signing is far costlier than the
  // allocation.
  detail::MdCtxPtr ctx = detail::new_md_ctx();
  if (EVP_DigestSignInit_ex(ctx.get(), nullptr, nullptr, nullptr, nullptr, key_.get(),
                            nullptr) != 1) {
    return error(ErrorCode::kCrypto, "Ed25519 sign init: " + take_openssl_error());
  }
  Signature sig;
  std::size_t len = sig.bytes.size();
  if (EVP_DigestSign(ctx.get(), sig.bytes.data(), &len, message.data(), message.size()) != 1 ||
      len != sig.bytes.size()) {
    return error(ErrorCode::kCrypto, "Ed25519 sign: " + take_openssl_error());
  }
  return sig;
}

Status verify(const PublicKey& key, ByteView message, const Signature& sig) {
  detail::PkeyPtr pkey(EVP_PKEY_new_raw_public_key_ex(nullptr, "ED25519", nullptr,
                                                      key.bytes.data(), key.bytes.size()));
  if (!pkey) {
    return error(ErrorCode::kInvalidArgument,
                 "Ed25519 public key " + key.hex() + " rejected: " + take_openssl_error());
  }
  detail::MdCtxPtr ctx = detail::new_md_ctx();
  if (EVP_DigestVerifyInit_ex(ctx.get(), nullptr, nullptr, nullptr, nullptr, pkey.get(),
                              nullptr) != 1) {
    return error(ErrorCode::kCrypto, "Ed25519 verify init: " + take_openssl_error());
  }
  int rc = EVP_DigestVerify(ctx.get(), sig.bytes.data(), sig.bytes.size(), message.data(),
                            message.size());
  if (rc == 1) return Status::ok();
  // 0 is a bad signature; OpenSSL also reports a key that does not decode to a point here.
  std::string why = take_openssl_error();
  if (rc == 0) {
    return error(ErrorCode::kVerification,
                 "Ed25519 signature does not verify under key " + key.hex());
  }
  return error(ErrorCode::kCrypto, "Ed25519 verify under key " + key.hex() + ": " + why);
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
  tbb::task_arena arena(threads);
  arena.execute([&] {
    // Each verify is ~100 us, so small grains cost nothing and balance well.
    parallel_ranges(items.size(), 8, [&](std::size_t begin, std::size_t end) {
      for (std::size_t i = begin; i != end; ++i) check(i);
    });
  });
  return ok;
}

}  // namespace pel
