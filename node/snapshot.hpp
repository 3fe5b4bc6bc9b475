// State snapshots: the state after one block, with the chain's genesis and that (signed) block,
// in a file of hashed chunks. A chain directory made from one starts at that block, so history
// can be verified in ranges, each from its own snapshot, side by side.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "crypto/result.hpp"
#include "engine/ledger/genesis.hpp"
#include "node/block.hpp"
#include "state/types.hpp"

namespace pel {

class Chain;

struct SnapshotSummary {
  std::uint64_t height = 0;
  std::uint64_t entries = 0;  // state pairs
  std::uint64_t chunks = 0;
  std::uint64_t bytes = 0;    // of the file
};

/// Writes the state after block `height` (a kept height of `chain`: see Chain::state_at), with
/// the genesis parameters and block `height`, to `path`: first to `path`.partial, synced, then
/// renamed, so `path` is never a partial snapshot. Streams: it holds one chunk, and the keys
/// changed since `height`, in memory.
Result<SnapshotSummary> write_snapshot(const Chain& chain, std::uint64_t height, const std::string& path,
                                       std::uint32_t entries_per_chunk = 10'000);

/// Reads a snapshot written by write_snapshot, a chunk at a time, in bounded memory. Every
/// length is checked against what the file holds before anything is allocated; a chunk whose
/// hash does not match, or whose keys are not after every earlier key, is a kCorruption error
/// naming the chunk. What it does not check is the trust: that the block is signed by the
/// genesis producer and that the state hashes to its root (Chain::create_from_snapshot does).
/// Thread-safety: one thread at a time.
class SnapshotReader {
 public:
  static Result<std::unique_ptr<SnapshotReader>> open(const std::string& path);
  ~SnapshotReader();

  const ledger::GenesisParams& genesis() const { return genesis_; }
  const Block& block() const { return block_; }
  /// The next chunk's pairs (keys ascending, after every earlier chunk's), or std::nullopt
  /// after the last chunk, once the trailer (entry count, hash over the chunk hashes) matched.
  Result<std::optional<WriteSet>> next_chunk();

  /// The format: "PELSNAPS" | u32 version | u32 length, genesis parameters | u32 length, block |
  /// chunks, each u32 entry count (> 0) | u32 body length | body | SHA-256 of the body | a u32 0
  /// | u64 entry count | SHA-256 over every chunk hash in order. A body is its entries, each a
  /// 32-byte key, a varint value length and the value. Integers little-endian.
  static constexpr std::uint32_t kVersion = 1;
  static constexpr std::uint32_t kMaxChunkBytes = 64u << 20;

 private:
  struct File;
  SnapshotReader(std::unique_ptr<File> file, std::string path);
  Status corrupt(const std::string& what) const;

  std::unique_ptr<File> file_;
  std::string path_;
  ledger::GenesisParams genesis_;
  Block block_;
  std::uint64_t chunks_ = 0;
  std::uint64_t entries_ = 0;
  std::optional<StateKey> last_key_;
  Bytes chunk_hashes_;
  bool done_ = false;
};

}  // namespace pel
