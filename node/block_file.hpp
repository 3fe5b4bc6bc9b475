// The export format: a versioned header naming the genesis, then length-prefixed blocks.
//   "PELBLOCK" | u32 version | bytes(genesis parameters) | { u32 length | block }*
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "node/chain.hpp"

namespace pel {

/// Writes blocks [from, to] of `chain` to `path`.
Status export_blocks(const Chain& chain, const std::string& path, std::uint64_t from, std::uint64_t to);

/// Imports every block of `path` into `chain`, in order, each verified before it is committed.
/// Stops at the first bad block (truncated, corrupted, tampered, out of order) with an error
/// naming the file, the block's position and the reason; the chain stays at the last good block.
/// `on_block` is called once each block is durable. With `pipeline`, block k is written in the
/// background while block k+1 executes (Chain::import_async); without it, each import is synchronous.
Status import_blocks(Chain& chain, const std::string& path,
                     const std::function<void(const Block&)>& on_block = {}, bool pipeline = true);

}  // namespace pel
