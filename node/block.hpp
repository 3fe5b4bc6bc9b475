// Blocks as pel stores, exports and imports them: a header that commits to the transactions,
// the receipts and the state after the block, and the signed transactions themselves.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "crypto/address.hpp"
#include "crypto/hash.hpp"
#include "engine/ledger/receipt.hpp"
#include "engine/ledger/transaction.hpp"

namespace pel {

struct BlockHeader {
  std::uint64_t height = 0;
  Hash256 parent_hash;
  std::uint64_t timestamp = 0;
  Address beneficiary;
  Hash256 transactions_root;  // Merkle root of the transaction hashes
  Hash256 receipts_root;      // Merkle root of the receipt hashes
  Hash256 state_root;         // digest of the state commitment after the block
  std::uint64_t gas_used = 0;
  std::uint32_t transaction_count = 0;

  /// Canonical encoding: little-endian integers, fixed-size hashes, in the order above.
  Bytes encode() const;
  static Result<BlockHeader> decode(ByteView bytes);
  /// SHA-256 of the canonical encoding.
  Hash256 hash() const;
  friend bool operator==(const BlockHeader&, const BlockHeader&) = default;
};

struct Block {
  BlockHeader header;
  std::vector<ledger::Transaction> transactions;

  /// The header, then a count and each transaction length-prefixed.
  Bytes encode() const;
  /// Strict: truncation, trailing bytes and a count that disagrees with the header are errors.
  static Result<Block> decode(ByteView bytes);
};

Hash256 transactions_root(std::span<const ledger::Transaction> txns);
Hash256 receipts_root(std::span<const ledger::Receipt> receipts);

/// Receipts as stored per block: a count then each receipt length-prefixed.
Bytes encode_receipts(std::span<const ledger::Receipt> receipts);
Result<std::vector<ledger::Receipt>> decode_receipts(ByteView bytes);

}  // namespace pel
