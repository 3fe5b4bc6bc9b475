// SHA-256 on the execution hot path, through OpenSSL 3 with algorithms fetched once.
// Thread-safety: the free functions are safe from any thread (one reused context per thread);
// a Sha256 object is not shared between threads without external locking.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "crypto/bytes.hpp"
#include "crypto/result.hpp"

struct evp_md_ctx_st;

namespace pel {

/// A 32-byte digest: block, transaction and state identities.
struct Hash256 {
  std::array<std::uint8_t, 32> bytes{};

  std::string hex() const;
  /// Exactly 64 hex digits, with an optional "0x" prefix.
  static Result<Hash256> from_hex(std::string_view hex);
  ByteView view() const { return bytes; }
  bool is_zero() const;
  friend auto operator<=>(const Hash256&, const Hash256&) = default;
};

/// One-shot SHA-256. Throws std::runtime_error only when OpenSSL itself fails (out of memory).
Hash256 sha256(ByteView data);

/// Incremental SHA-256 over several pieces without concatenating them.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  Sha256& update(ByteView data);
  /// Returns the digest of everything fed since construction or the last finish(), and resets.
  Hash256 finish();

 private:
  struct CtxFree {
    void operator()(evp_md_ctx_st* ctx) const;
  };
  std::unique_ptr<evp_md_ctx_st, CtxFree> ctx_;
};

}  // namespace pel
