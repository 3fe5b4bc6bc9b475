// A block made ready to execute off the critical path: import and replay both prepare the next
// block this way, on their read-ahead thread, while the current one executes.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "node/block.hpp"
#include "node/chain.hpp"

namespace pel {

struct PreparedBlock {
  Block block;
  /// One verdict per transaction (1: its signature verified); empty where this step checked
  /// none (SignaturePolicy::kAssumeValid: the caller decides).
  std::vector<std::uint8_t> signature_ok;
  /// The block's access list, decoded; unset where it was not, and then the executor decodes it
  /// and reports a list that does not decode in its place among the block's checks.
  std::optional<DecodedAccessList> access_list;
};

/// Checks `block`'s signatures on `threads` workers under kVerify and, with `decode_for`,
/// decodes its access list once the header is that chain's (Chain::check_header) and commits to
/// the list: decoding takes memory in proportion to the bytes, so only an authentic list is.
/// Thread-safety: as Chain::check_header (any thread).
PreparedBlock prepare_block(Block block, SignaturePolicy signatures, int threads, const Chain* decode_for);

}  // namespace pel
