// The vocabulary shared by the state and engine layers: fixed-size state keys, opaque values,
// write sets, and the indices that name a transaction and one execution of it.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "crypto/bytes.hpp"

namespace pel {

/// Position of a transaction in its block; the block's order is the serialization order.
using TxnIndex = std::uint32_t;
/// How many times a transaction has been (re-)started in this block, from 0.
using Incarnation = std::uint32_t;

/// A state key: a one-byte table tag followed by up to 31 bytes of identifiers, zero padded.
/// Fixed size so keys hash, compare and copy without allocating.
struct StateKey {
  static constexpr std::size_t kSize = 32;
  std::array<std::uint8_t, kSize> bytes{};

  std::uint8_t tag() const { return bytes[0]; }
  ByteView view() const { return bytes; }
  std::string hex() const { return to_hex(bytes); }
  /// The first eight bytes as a number in key order: sorting by it, then by the key where it
  /// ties, sorts by key while most comparisons touch only a 64-bit integer.
  std::uint64_t prefix() const {
    std::uint64_t x;
    std::memcpy(&x, bytes.data(), sizeof(x));
    return __builtin_bswap64(x);
  }

  /// Byte-wise (lexicographic) order, compared a 64-bit word at a time: keys are compared on
  /// every hash probe and sort, where a memcmp call per comparison showed in profiles.
  friend bool operator==(const StateKey& a, const StateKey& b) {
    std::uint64_t x[4], y[4];
    std::memcpy(x, a.bytes.data(), sizeof(x));
    std::memcpy(y, b.bytes.data(), sizeof(y));
    return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3])) == 0;
  }
  friend std::strong_ordering operator<=>(const StateKey& a, const StateKey& b) {
    for (std::size_t i = 0; i < kSize; i += 8) {
      std::uint64_t x, y;
      std::memcpy(&x, a.bytes.data() + i, 8);
      std::memcpy(&y, b.bytes.data() + i, 8);
      if (x != y) return __builtin_bswap64(x) <=> __builtin_bswap64(y);  // big-endian: byte order
    }
    return std::strong_ordering::equal;
  }
};

/// Hash for StateKey in unordered containers: mixes all four 64-bit words (identifiers are
/// usually hash-derived already, so a cheap mix is enough).
struct StateKeyHash {
  std::size_t operator()(const StateKey& key) const noexcept {
    std::uint64_t w[4];
    std::memcpy(w, key.bytes.data(), sizeof(w));
    std::uint64_t h = w[0] * 0x9E3779B97F4A7C15ull ^ w[1] * 0xC2B2AE3D27D4EB4Full ^
                      w[2] * 0x165667B19E3779F9ull ^ w[3] * 0xD6E8FEB86659FD93ull;
    h ^= h >> 32;
    h *= 0x9FB21C651E98DF25ull;
    h ^= h >> 29;
    return static_cast<std::size_t>(h);
  }
};

/// A state value: opaque bytes whose encoding belongs to the VM. std::string keeps records of
/// up to 15 bytes inline (no allocation).
using Value = std::string;

/// One write: a new value, or std::nullopt for a deletion.
struct Write {
  StateKey key;
  std::optional<Value> value;
  friend bool operator==(const Write&, const Write&) = default;
};

/// The writes of a transaction or of a whole block. A block's write set is sorted by key with
/// one entry per key.
using WriteSet = std::vector<Write>;

/// A commutative write: `amount` added to the counter that `key`'s value holds, without reading
/// it (the VM defines where in the value the counter is: Vm::apply_delta). Adds to one key
/// commute, so transactions that only add to a key never conflict on it.
struct Delta {
  StateKey key;
  std::uint64_t amount = 0;
  friend bool operator==(const Delta&, const Delta&) = default;
};
/// A transaction's deltas: one per key, sorted by key.
using DeltaSet = std::vector<Delta>;

/// The sum of the deltas a key collected since its last value, applied to that value at once.
/// 128 bits: a block's at most 2^32 adds of less than 2^64 each cannot overflow it, so summing
/// never fails and its result does not depend on the order of the adds.
__extension__ using DeltaSum = unsigned __int128;  // __extension__: -Wpedantic

/// A key whose last writes in a block (or part of one) were deltas, not yet applied: their sum
/// and the value they add to.
struct PendingDeltas {
  StateKey key;
  bool on_storage = false;    // they add to the base state's value
  std::optional<Value> base;  // when !on_storage: they add to this value (nullopt: deleted)
  DeltaSum total = 0;
};

/// The state a block (or part of one) leaves: per key written, its last value, or the deltas
/// added since (see Vm::apply_delta for when they are applied).
struct FinalWrites {
  /// Every key written, sorted, one write each; a key with pending deltas holds no value here
  /// until they are applied.
  WriteSet writes;
  struct Pending {
    std::size_t index;  // into writes
    PendingDeltas deltas;
  };
  std::vector<Pending> deltas;  // ascending index
};

}  // namespace pel
