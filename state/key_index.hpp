// An open-addressed index over distinct keys held elsewhere (a block's gathered keys, its write
// set): one allocation per block where a node-based map makes one per key, and a lookup that
// costs one probe of a small table plus one comparison in the common case.
// Thread-safety: a value; find() may be called from any number of threads once it is built.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "state/types.hpp"

namespace pel {

class KeyIndex {
 public:
  static constexpr std::size_t kNotFound = static_cast<std::size_t>(-1);

  /// Indexes positions 0..count-1, whose keys key_at(i) returns; the keys must be distinct.
  template <class KeyAt>
  KeyIndex(std::size_t count, const KeyAt& key_at) : slots_(std::bit_ceil(2 * count + 1), 0) {
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = 0; i < count; ++i) {
      std::size_t at = StateKeyHash{}(key_at(i)) & mask;
      while (slots_[at] != 0) at = (at + 1) & mask;  // distinct keys: no match to look for
      slots_[at] = static_cast<std::uint32_t>(i + 1);
    }
  }

  /// The position of `key` among the indexed keys (the same key_at), or kNotFound.
  template <class KeyAt>
  std::size_t find(const StateKey& key, const KeyAt& key_at) const {
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t at = StateKeyHash{}(key) & mask; slots_[at] != 0; at = (at + 1) & mask) {
      if (key_at(slots_[at] - 1) == key) return slots_[at] - 1;
    }
    return kNotFound;
  }

 private:
  std::vector<std::uint32_t> slots_;  // position + 1; 0: empty
};

}  // namespace pel
