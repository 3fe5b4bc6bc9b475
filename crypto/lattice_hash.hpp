// LatticeHash: the homomorphic multiset hash behind the state root (design.md section 5).
// Adding or removing one element costs O(1) in the state size, and sums commute. A plain value:
// safe to read from many threads; concurrent writers need external synchronisation.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "crypto/bytes.hpp"
#include "crypto/hash.hpp"
#include "crypto/result.hpp"

namespace pel {

/// A multiset hash: 1024 lanes of uint16 with arithmetic mod 2^16, so the hash of a multiset is
/// the lane-wise sum of the hashes of its elements.
class LatticeHash {
 public:
  static constexpr std::size_t kLanes = 1024;
  static constexpr std::size_t kBytes = 2048;

  /// The empty multiset (all lanes zero).
  LatticeHash() = default;

  /// The hash of one element: SHAKE256(element) to 2048 bytes, read as 1024 little-endian u16.
  static LatticeHash of(ByteView element);

  void add(ByteView element);              // += of(element)
  void remove(ByteView element);           // -= of(element)
  void combine(const LatticeHash& other);  // lane-wise +
  void subtract(const LatticeHash& other); // lane-wise -

  /// SHA-256 of the 2048 little-endian bytes: the 32 bytes a block header carries.
  Hash256 digest() const;
  std::array<std::uint8_t, kBytes> to_bytes() const;
  /// Exactly 2048 bytes, as written by to_bytes().
  static Result<LatticeHash> from_bytes(ByteView b);
  bool is_empty() const;

  friend bool operator==(const LatticeHash&, const LatticeHash&) = default;

 private:
  std::array<std::uint16_t, kLanes> lanes_{};
};

static_assert(sizeof(LatticeHash) == LatticeHash::kBytes, "LatticeHash is its 2048-byte lanes");

}  // namespace pel
