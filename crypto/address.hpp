// Account addresses: 20 bytes derived from an Ed25519 public key. Plain values, thread-safe.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "crypto/bytes.hpp"
#include "crypto/ed25519.hpp"
#include "crypto/result.hpp"

namespace pel {

/// An account address (20 bytes).
struct Address {
  std::array<std::uint8_t, 20> bytes{};

  std::string hex() const;
  /// Exactly 40 hex digits, with an optional "0x" prefix.
  static Result<Address> from_hex(std::string_view hex);
  ByteView view() const { return bytes; }
  friend auto operator<=>(const Address&, const Address&) = default;
};

/// The last 20 bytes of SHA-256(public key bytes).
Address address_of(const PublicKey& key);

}  // namespace pel
