// The chain's own records in the database, beside the state store's: blocks by height, the
// block-hash index, receipts, and the chain's metadata (format version, genesis parameters,
// head). The one place that knows how they are keyed and encoded.
// Thread-safety: reads may run concurrently with each other; writes go into the caller's
// WriteBatch, which the caller writes.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/ledger/genesis.hpp"
#include "engine/ledger/receipt.hpp"
#include "node/block.hpp"
#include "state/database.hpp"

namespace pel {

/// Encodes genesis parameters as stored in the chain's metadata (and export files).
Bytes encode_genesis_params(const ledger::GenesisParams& params);
Result<ledger::GenesisParams> decode_genesis_params(ByteView bytes);

class ChainStore {
 public:
  /// The database layout this pel reads and writes (docs/formats.md, with its history).
  static constexpr std::uint32_t kFormatVersion = 8;

  /// The key spaces it owns (the state store owns the others).
  static constexpr Keyspace kBlockSpace{'b'};      // big-endian height -> encoded block
  static constexpr Keyspace kBlockIndexSpace{'h'}; // block hash -> big-endian height
  static constexpr Keyspace kReceiptSpace{'r'};    // big-endian height -> encoded receipts
  static constexpr Keyspace kMetaSpace{'m'};       // name -> chain metadata

  struct Head {
    std::uint64_t height = 0;
    Hash256 hash;
  };

  /// Errors name the database's path.
  explicit ChainStore(const Database& db) : db_(db) {}

  /// Whether the database holds a chain (a format record).
  Result<bool> holds_chain() const;
  /// Checks the format version and returns the genesis parameters: kNotFound for a database
  /// without a chain, kInvalidArgument for another format version, kCorruption when damaged.
  Result<ledger::GenesisParams> load_genesis() const;
  Result<Head> head() const;

  /// A new chain's metadata: the format version and the genesis parameters.
  static void put_genesis(WriteBatch& batch, const ledger::GenesisParams& params);
  /// The block, its hash-index entry, its receipts (as the VM encoded them) and the new head.
  static void put_block(WriteBatch& batch, const Block& block, const Hash256& hash,
                        std::span<const Bytes> receipts);

  Result<Block> block_at(std::uint64_t height) const;
  Result<std::vector<ledger::Receipt>> receipts_at(std::uint64_t height) const;
  /// Every height from `base` to `head` is in the block-hash index, once, and nothing outside
  /// them: a block batch the write-ahead log dropped shows as a missing height. Reads only the
  /// index.
  Status check_block_index(std::uint64_t base, std::uint64_t head) const;
  /// The height the chain starts from: 0, or the block of the snapshot it was made from.
  Result<std::uint64_t> base_height() const;
  static void put_base_height(WriteBatch& batch, std::uint64_t height);


 private:
  std::string at_height(std::uint64_t height) const;

  const Database& db_;
};

}  // namespace pel
