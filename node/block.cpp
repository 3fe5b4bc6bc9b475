#include "node/block.hpp"

#include "crypto/merkle.hpp"
#include "engine/ledger/ledger_vm.hpp"

namespace pel {
namespace {

constexpr std::size_t kMaxTransactionBytes = 1u << 20;
constexpr std::size_t kMaxReceiptBytes = 1u << 16;
constexpr std::size_t kMaxAccessListBytes = 1u << 30;
// The smallest possible encodings, length prefix included: a count larger than the input could
// hold is rejected before anything is reserved for it.
constexpr std::size_t kMinTransactionBytes = 1 + 32 + 8 + 8 + 8 + 4 + 1 + 1 + 64;
constexpr std::size_t kMinReceiptBytes = 2;

}  // namespace

Bytes BlockHeader::encode_unsigned() const {
  Writer w;
  w.u64(height);
  w.array(parent_hash.bytes);
  w.u64(timestamp);
  w.array(beneficiary.bytes);
  w.array(transactions_root.bytes);
  w.array(receipts_root.bytes);
  w.array(state_root.bytes);
  w.array(access_list_root.bytes);
  w.u64(gas_used);
  w.u32(transaction_count);
  return w.take();
}

Bytes BlockHeader::encode() const {
  Writer w(encode_unsigned());
  w.array(producer_signature.bytes);
  return w.take();
}

namespace {
bool read_header(Reader& r, BlockHeader& h) {
  return r.u64(h.height) && r.array(h.parent_hash.bytes) && r.u64(h.timestamp) &&
         r.array(h.beneficiary.bytes) && r.array(h.transactions_root.bytes) &&
         r.array(h.receipts_root.bytes) && r.array(h.state_root.bytes) && r.array(h.access_list_root.bytes) && r.u64(h.gas_used) &&
         r.u32(h.transaction_count) && r.array(h.producer_signature.bytes);
}
}  // namespace

Result<BlockHeader> BlockHeader::decode(ByteView bytes) {
  Reader r(bytes);
  BlockHeader h;
  read_header(r, h);
  PEL_TRY(r.finish("block header"));
  return h;
}

Hash256 BlockHeader::hash() const { return sha256(encode_unsigned()); }

Status check_producer_signature(const BlockHeader& header, const PublicKey& producer) {
  Status s = verify(producer, header.hash().view(), header.producer_signature);
  if (s.is_ok()) return s;
  return error(ErrorCode::kVerification, "header " + header.hash().hex() + " is not signed by the producer " +
                                             producer.hex() + " (" + s.message() + ")");
}

Bytes Block::encode() const {
  Writer w(header.encode());
  w.varint(transactions.size());
  for (const auto& tx : transactions) w.bytes(tx.encode());
  w.bytes(access_list);
  return w.take();
}

Result<Block> Block::decode(ByteView bytes) {
  Reader r(bytes);
  Block b;
  std::uint64_t count = 0;
  if (!read_header(r, b.header) || !r.varint(count)) PEL_TRY(r.finish("block"));
  if (count != b.header.transaction_count) {
    return error(ErrorCode::kInvalidArgument,
                 "block " + std::to_string(b.header.height) + ": header says " +
                     std::to_string(b.header.transaction_count) + " transactions, body has " +
                     std::to_string(count));
  }
  if (count > r.remaining() / kMinTransactionBytes) {
    return error(ErrorCode::kInvalidArgument, "block: transaction count exceeds what the bytes can hold");
  }
  b.transactions.reserve(count);
  for (std::uint64_t i = 0; i < count; ++i) {
    ByteView tx_bytes;
    if (!r.bytes(tx_bytes, kMaxTransactionBytes)) break;
    auto tx = ledger::Transaction::decode(tx_bytes);
    if (!tx.is_ok()) {
      return tx.status().with_context("block " + std::to_string(b.header.height) + " transaction " +
                                      std::to_string(i));
    }
    b.transactions.push_back(std::move(tx).value());
  }
  ByteView list;
  if (r.bytes(list, kMaxAccessListBytes)) b.access_list.assign(list.begin(), list.end());
  PEL_TRY(r.finish("block " + std::to_string(b.header.height)));
  return b;
}

Result<DecodedAccessList> Block::decode_access_list() const {
  auto list = pel::decode_access_list(access_list, ledger::declare_block(transactions));
  if (!list.is_ok()) return list.status();
  return DecodedAccessList(std::move(list).value(), header.hash());
}

Hash256 transactions_root(std::span<const ledger::Transaction> txns) {
  std::vector<Hash256> leaves;
  leaves.reserve(txns.size());
  for (const auto& tx : txns) leaves.push_back(tx.hash());
  return merkle_root(leaves);
}

Hash256 receipts_root(std::span<const Bytes> encoded_receipts) {
  std::vector<Hash256> leaves;
  leaves.reserve(encoded_receipts.size());
  for (const Bytes& r : encoded_receipts) leaves.push_back(sha256(r));
  return merkle_root(leaves);
}

Bytes encode_receipts(std::span<const Bytes> encoded_receipts) {
  Writer w;
  w.varint(encoded_receipts.size());
  for (const Bytes& r : encoded_receipts) w.bytes(r);
  return w.take();
}

Result<std::vector<ledger::Receipt>> decode_receipts(ByteView bytes) {
  Reader r(bytes);
  std::uint64_t count = 0;
  r.varint(count);
  if (count > bytes.size() / kMinReceiptBytes) return error(ErrorCode::kCorruption, "receipts: impossible count");
  std::vector<ledger::Receipt> out;
  out.reserve(count);
  for (std::uint64_t i = 0; i < count && !r.failed(); ++i) {
    ByteView one;
    if (!r.bytes(one, kMaxReceiptBytes)) break;
    auto receipt = ledger::Receipt::decode(one);
    if (!receipt.is_ok()) return receipt.status().with_context("receipt " + std::to_string(i));
    out.push_back(std::move(receipt).value());
  }
  PEL_TRY(r.finish("receipts"));
  return out;
}

}  // namespace pel
