// The export format: a versioned header naming the genesis (its producer included), then
// length-prefixed blocks, each header signed by the producer.
//   "PELBLOCK" | u32 version | bytes(genesis parameters) | { u32 length | block }*
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "node/chain.hpp"

namespace pel {

/// Writes blocks [from, to] of `chain` to `path`.
Status export_blocks(const Chain& chain, const std::string& path, std::uint64_t from, std::uint64_t to);

struct ImportOptions {
  /// Called once each imported block is durable.
  std::function<void(const Block&)> on_block;
  /// Called for each block the chain already holds (same hash at that height), or that comes
  /// before the snapshot the chain was made from: it is skipped, so an import that was
  /// interrupted can be run again and goes on from the head.
  std::function<void(const Block&)> on_skip;
  /// The last height to import: the import stops after it (a range of a longer file).
  std::optional<std::uint64_t> to;
  /// Block k is written in the background while block k+1 executes (Chain::import_async);
  /// without it, each import is synchronous.
  bool pipeline = true;
};

/// Imports every block of `path` into `chain`, in order, each verified before it is committed.
/// Stops at the first bad block (truncated, corrupted, tampered, out of order, a fork from the
/// stored chain) with an error naming the file, the block's position and the reason; the chain
/// stays at the last good block. A failed write names the height that failed.
Status import_blocks(Chain& chain, const std::string& path, const ImportOptions& options = {});

}  // namespace pel
