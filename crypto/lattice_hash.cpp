#include "crypto/lattice_hash.hpp"

#include <openssl/evp.h>

#include <string>

#include "crypto/openssl_util.hpp"

namespace pel {

namespace {

// Fetched once per process (a fetch per call takes a provider lock), one context per thread.
const EVP_CIPHER* aes_128_ctr() {
  static const detail::CipherPtr cipher = [] {
    detail::CipherPtr fetched(EVP_CIPHER_fetch(nullptr, "AES-128-CTR", nullptr));
    if (!fetched) detail::throw_openssl_error("EVP_CIPHER_fetch AES-128-CTR");
    return fetched;
  }();
  return cipher.get();
}

// Bound to AES-128-CTR once: later inits pass only a key and counter block, which skips the
// context reset (cleanse, cipher free and re-reference) a full init does on every element.
EVP_CIPHER_CTX* thread_cipher_ctx() {
  thread_local const detail::CipherCtxPtr ctx = [] {
    detail::CipherCtxPtr made(EVP_CIPHER_CTX_new());
    if (!made || EVP_EncryptInit_ex2(made.get(), aes_128_ctr(), nullptr, nullptr, nullptr) != 1) {
      detail::throw_openssl_error("AES-128-CTR context");
    }
    return made;
  }();
  return ctx.get();
}

using Lanes = std::array<std::uint16_t, LatticeHash::kLanes>;

// Little-endian decode, written as a plain loop so it vectorises on any host byte order.
void decode(const std::uint8_t* in, Lanes& out) {
  for (std::size_t i = 0; i < LatticeHash::kLanes; ++i) {
    out[i] = static_cast<std::uint16_t>(in[2 * i] | (in[2 * i + 1] << 8));
  }
}

// The definition in the header: the AES-128-CTR keystream keyed by SHA-256(element).
void element_lanes(ByteView element, Lanes& out) {
  const Hash256 seed = sha256(element);
  EVP_CIPHER_CTX* ctx = thread_cipher_ctx();
  if (EVP_EncryptInit_ex2(ctx, nullptr, seed.bytes.data(), seed.bytes.data() + 16, nullptr) != 1) {
    detail::throw_openssl_error("EVP_EncryptInit_ex2 AES-128-CTR");
  }
  std::array<std::uint8_t, LatticeHash::kBytes> keystream{};  // encrypting zeros gives the keystream
  int written = 0;
  if (EVP_EncryptUpdate(ctx, keystream.data(), &written, keystream.data(), static_cast<int>(keystream.size())) != 1 ||
      written != static_cast<int>(keystream.size())) {
    detail::throw_openssl_error("EVP_EncryptUpdate AES-128-CTR");
  }
  decode(keystream.data(), out);
}

// Lane loops: plain indexed loops over fixed-size arrays, which GCC vectorises at -O2/-O3.
void add_lanes(Lanes& acc, const Lanes& x) {
  for (std::size_t i = 0; i < LatticeHash::kLanes; ++i) {
    acc[i] = static_cast<std::uint16_t>(acc[i] + x[i]);
  }
}

void sub_lanes(Lanes& acc, const Lanes& x) {
  for (std::size_t i = 0; i < LatticeHash::kLanes; ++i) {
    acc[i] = static_cast<std::uint16_t>(acc[i] - x[i]);
  }
}

}  // namespace

LatticeHash LatticeHash::of(ByteView element) {
  LatticeHash h;
  element_lanes(element, h.lanes_);
  return h;
}

void LatticeHash::add(ByteView element) {
  Lanes x;
  element_lanes(element, x);
  add_lanes(lanes_, x);
}

void LatticeHash::remove(ByteView element) {
  Lanes x;
  element_lanes(element, x);
  sub_lanes(lanes_, x);
}

void LatticeHash::combine(const LatticeHash& other) { add_lanes(lanes_, other.lanes_); }

void LatticeHash::subtract(const LatticeHash& other) { sub_lanes(lanes_, other.lanes_); }

std::array<std::uint8_t, LatticeHash::kBytes> LatticeHash::to_bytes() const {
  std::array<std::uint8_t, kBytes> out;
  for (std::size_t i = 0; i < kLanes; ++i) {
    out[2 * i] = static_cast<std::uint8_t>(lanes_[i]);
    out[2 * i + 1] = static_cast<std::uint8_t>(lanes_[i] >> 8);
  }
  return out;
}

Hash256 LatticeHash::digest() const {
  std::array<std::uint8_t, kBytes> b = to_bytes();
  return sha256(b);
}

Result<LatticeHash> LatticeHash::from_bytes(ByteView b) {
  if (b.size() != kBytes) {
    return error(ErrorCode::kInvalidArgument,
                 "lattice hash must be 2048 bytes, got " + std::to_string(b.size()));
  }
  LatticeHash h;
  decode(b.data(), h.lanes_);
  return h;
}

bool LatticeHash::is_empty() const {
  std::uint16_t acc = 0;
  for (std::size_t i = 0; i < kLanes; ++i) acc = static_cast<std::uint16_t>(acc | lanes_[i]);
  return acc == 0;
}

}  // namespace pel
