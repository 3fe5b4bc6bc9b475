// Binary Merkle roots (SHA-256) for the transaction and receipt lists in a block header.
// Thread-safety: a pure function, safe from any thread.
#pragma once

#include <span>

#include "crypto/hash.hpp"

namespace pel {

/// The Merkle tree hash of `leaves`, RFC 6962 style:
///   - no leaves:  SHA-256("")                      (the hash of the empty string)
///   - one leaf:   SHA-256(0x00 || leaf bytes)
///   - n > 1:      SHA-256(0x01 || root(first k) || root(rest)), k the largest power of two < n.
/// The 0x00/0x01 prefixes keep leaves and inner nodes apart (no second preimage from a leaf that
/// looks like two hashes), and an odd last node is carried up, never duplicated, so distinct
/// lists never share a root (no CVE-2012-2459 malleability).
Hash256 merkle_root(std::span<const Hash256> leaves);

}  // namespace pel
