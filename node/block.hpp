// Blocks as pel stores, exports and imports them: a header that commits to the transactions,
// the receipts and the state after the block, and the signed transactions themselves.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "crypto/address.hpp"
#include "crypto/ed25519.hpp"
#include "crypto/hash.hpp"
#include "engine/access_list.hpp"
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
  Hash256 access_list_root;   // sha256 of the block's access list encoding
  std::uint64_t gas_used = 0;
  std::uint32_t transaction_count = 0;
  /// The producer's Ed25519 signature over hash() (all zero on the genesis block).
  Signature producer_signature;

  /// Canonical encoding of every field but the signature: little-endian integers, fixed-size
  /// hashes, in the order above. What hash() and the signature cover.
  Bytes encode_unsigned() const;
  /// encode_unsigned(), then the signature: what blocks store and export files carry.
  Bytes encode() const;
  static Result<BlockHeader> decode(ByteView bytes);
  /// SHA-256 of encode_unsigned(): the block's identity, chained by parent_hash.
  Hash256 hash() const;
  friend bool operator==(const BlockHeader&, const BlockHeader&) = default;
};

/// The default author check: `header` is signed by `producer` (every block after genesis).
Status check_producer_signature(const BlockHeader& header, const PublicKey& producer);

struct Block;

/// A block's access list, decoded (Block::decode_access_list), bound to the block it came from:
/// Chain::import uses it only for that block (a list decoded from another block, or from an
/// older version of this one, is refused, not trusted). A value; const members may be called
/// concurrently.
class DecodedAccessList {
 public:
  const AccessList& list() const { return list_; }
  /// The hash of the header of the block it was decoded from.
  const Hash256& block_hash() const { return block_hash_; }

 private:
  friend struct Block;
  DecodedAccessList(AccessList list, const Hash256& block_hash) : list_(std::move(list)), block_hash_(block_hash) {}
  AccessList list_;
  Hash256 block_hash_;
};

struct Block {
  BlockHeader header;
  std::vector<ledger::Transaction> transactions;
  /// What each transaction read and wrote when the block was made (engine/access_list.hpp,
  /// encoded against the ledger VM's declared writes): importers execute from it.
  Bytes access_list;

  /// The header, then a count and each transaction length-prefixed, then the access list
  /// length-prefixed.
  Bytes encode() const;
  /// Strict: truncation, trailing bytes and a count that disagrees with the header are errors.
  static Result<Block> decode(ByteView bytes);
  /// access_list decoded against the ledger VM's declarations (which come from the payloads
  /// alone), for Chain::import's `decoded_list`: a pipeline decodes the next block's list while
  /// this one executes. Errors as import reports them, without the height.
  Result<DecodedAccessList> decode_access_list() const;
};

Hash256 transactions_root(std::span<const ledger::Transaction> txns);
/// Merkle root of sha256 of each receipt's encoding (Receipt::hash of the canonical bytes).
Hash256 receipts_root(std::span<const Bytes> encoded_receipts);

/// Receipts as stored per block: a count then each receipt's encoding, length-prefixed.
Bytes encode_receipts(std::span<const Bytes> encoded_receipts);
Result<std::vector<ledger::Receipt>> decode_receipts(ByteView bytes);

}  // namespace pel
