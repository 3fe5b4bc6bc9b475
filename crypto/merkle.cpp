#include "crypto/merkle.hpp"

#include <cstdint>
#include <vector>

namespace pel {

namespace {
constexpr std::uint8_t kLeafPrefix[1] = {0x00};
constexpr std::uint8_t kNodePrefix[1] = {0x01};
}  // namespace

Hash256 merkle_root(std::span<const Hash256> leaves) {
  if (leaves.empty()) return sha256({});
  Sha256 h;  // one context for the whole tree
  std::vector<Hash256> level(leaves.size());
  for (std::size_t i = 0; i < leaves.size(); ++i) {
    level[i] = h.update(kLeafPrefix).update(leaves[i].view()).finish();
  }
  // Pairing neighbours bottom-up and carrying an odd last node up unchanged builds the same tree
  // as the recursive "split at the largest power of two below n" rule, in place.
  std::size_t n = level.size();
  while (n > 1) {
    std::size_t out = 0;
    for (std::size_t i = 0; i + 1 < n; i += 2) {
      level[out++] = h.update(kNodePrefix).update(level[i].view()).update(level[i + 1].view()).finish();
    }
    if (n % 2 == 1) level[out++] = level[n - 1];
    n = out;
  }
  return level[0];
}

}  // namespace pel
