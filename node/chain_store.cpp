#include "node/chain_store.hpp"

#include <string>
#include <string_view>

namespace pel {
namespace {

constexpr std::string_view kMetaFormat = "format";
constexpr std::string_view kMetaGenesis = "genesis";
constexpr std::string_view kMetaHead = "head";
constexpr std::string_view kMetaBase = "base";

Bytes u32_bytes(std::uint32_t v) {
  Writer w;
  w.u32(v);
  return w.take();
}

}  // namespace

Bytes encode_genesis_params(const ledger::GenesisParams& p) {
  Writer w;
  w.u64(p.seed);
  w.u32(p.accounts);
  w.u64(p.initial_balance);
  w.u32(p.tokens);
  w.u32(p.pools);
  w.u32(p.collections);
  w.u32(p.validators);
  w.u32(p.proposals);
  w.u32(p.chain_id);
  w.array(p.producer.bytes);
  return w.take();
}

Result<ledger::GenesisParams> decode_genesis_params(ByteView bytes) {
  Reader r(bytes);
  ledger::GenesisParams p;
  r.u64(p.seed);
  r.u32(p.accounts);
  r.u64(p.initial_balance);
  r.u32(p.tokens);
  r.u32(p.pools);
  r.u32(p.collections);
  r.u32(p.validators);
  r.u32(p.proposals);
  r.u32(p.chain_id);
  r.array(p.producer.bytes);
  PEL_TRY(r.finish("genesis parameters"));
  return p;
}

std::string ChainStore::at_height(std::uint64_t height) const {
  return db_.options().path + ": height " + std::to_string(height);
}

Result<bool> ChainStore::holds_chain() const {
  auto format = db_.get(kMetaSpace, as_bytes(kMetaFormat));
  if (!format.is_ok()) return format.status();
  return format->has_value();
}

Result<ledger::GenesisParams> ChainStore::load_genesis() const {
  const std::string& path = db_.options().path;
  auto format = db_.get(kMetaSpace, as_bytes(kMetaFormat));
  if (!format.is_ok()) return format.status();
  if (!format->has_value()) return error(ErrorCode::kNotFound, path + ": not a pel chain (no format record)");
  Reader fr(**format);
  std::uint32_t version = 0;
  fr.u32(version);
  if (!fr.finish("format record").is_ok() || version != kFormatVersion) {
    return error(ErrorCode::kInvalidArgument, path + ": database format version " + std::to_string(version) +
                                                  ", this pel reads version " + std::to_string(kFormatVersion) +
                                                  " (use the pel that made it)");
  }
  auto genesis = db_.get(kMetaSpace, as_bytes(kMetaGenesis));
  if (!genesis.is_ok()) return genesis.status();
  if (!genesis->has_value()) return error(ErrorCode::kCorruption, path + ": genesis parameters missing");
  auto params = decode_genesis_params(**genesis);
  if (!params.is_ok()) return error(ErrorCode::kCorruption, path + ": " + params.status().message());
  return params;
}

Result<ChainStore::Head> ChainStore::head() const {
  const std::string& path = db_.options().path;
  auto record = db_.get(kMetaSpace, as_bytes(kMetaHead));
  if (!record.is_ok()) return record.status();
  if (!record->has_value()) return error(ErrorCode::kCorruption, path + ": head record missing");
  Reader r(**record);
  Head head;
  r.u64(head.height);
  r.array(head.hash.bytes);
  if (!r.finish("head record").is_ok()) return error(ErrorCode::kCorruption, path + ": head record damaged");
  return head;
}

void ChainStore::put_genesis(WriteBatch& batch, const ledger::GenesisParams& params) {
  batch.put(kMetaSpace, as_bytes(kMetaFormat), u32_bytes(kFormatVersion));
  batch.put(kMetaSpace, as_bytes(kMetaGenesis), encode_genesis_params(params));
}

void ChainStore::put_block(WriteBatch& batch, const Block& block, const Hash256& hash,
                           std::span<const Bytes> receipts) {
  const auto height = height_key(block.header.height);
  batch.put(kBlockSpace, height, block.encode());
  batch.put(kBlockIndexSpace, hash.view(), height);
  batch.put(kReceiptSpace, height, encode_receipts(receipts));
  Writer head;
  head.u64(block.header.height);
  head.array(hash.bytes);
  batch.put(kMetaSpace, as_bytes(kMetaHead), head.data());
}

Result<Block> ChainStore::block_at(std::uint64_t height) const {
  // Blocks and receipts are read once each (replay, export, a snapshot): not into the cache.
  auto bytes = db_.get(kBlockSpace, height_key(height), Database::CacheFill::kSkip);
  if (!bytes.is_ok()) return bytes.status();
  if (!bytes->has_value()) return error(ErrorCode::kNotFound, at_height(height) + ": no such block");
  auto block = Block::decode(**bytes);
  if (!block.is_ok()) return error(ErrorCode::kCorruption, at_height(height) + ": stored block: " + block.status().message());
  return block;
}

Result<std::vector<ledger::Receipt>> ChainStore::receipts_at(std::uint64_t height) const {
  auto bytes = db_.get(kReceiptSpace, height_key(height), Database::CacheFill::kSkip);
  if (!bytes.is_ok()) return bytes.status();
  if (!bytes->has_value()) return error(ErrorCode::kNotFound, at_height(height) + ": no receipts");
  auto receipts = decode_receipts(**bytes);
  if (!receipts.is_ok()) {
    return error(ErrorCode::kCorruption, at_height(height) + ": stored receipts: " + receipts.status().message());
  }
  return receipts;
}

Result<std::uint64_t> ChainStore::base_height() const {
  auto record = db_.get(kMetaSpace, as_bytes(kMetaBase));
  if (!record.is_ok()) return record.status();
  if (!record->has_value()) return std::uint64_t{0};
  Reader r(**record);
  std::uint64_t height = 0;
  r.u64(height);
  if (!r.finish("base height").is_ok()) return error(ErrorCode::kCorruption, db_.options().path + ": base height record damaged");
  return height;
}

void ChainStore::put_base_height(WriteBatch& batch, std::uint64_t height) {
  Writer w;
  w.u64(height);
  batch.put(kMetaSpace, as_bytes(kMetaBase), w.data());
}

Status ChainStore::check_block_index(std::uint64_t base, std::uint64_t head) const {
  const std::string& path = db_.options().path;
  if (head < base) return error(ErrorCode::kCorruption, path + ": the head is below the height the chain starts from");
  std::vector<bool> present(head - base + 1, false);
  std::uint64_t count = 0;
  bool outside = false;
  PEL_TRY(db_.iterate(kBlockIndexSpace, [&](ByteView, ByteView value) {
    std::uint64_t height = 0;
    for (std::uint8_t b : value) height = height << 8 | b;
    if (value.size() != 8 || height > head || height < base || present[height - base]) {
      outside = true;
      return false;
    }
    present[height - base] = true;
    ++count;
    return true;
  }));
  if (outside) return error(ErrorCode::kCorruption, path + ": the block index names a block beyond the head");
  if (count != present.size()) {
    const auto missing =
        base + static_cast<std::uint64_t>(std::find(present.begin(), present.end(), false) - present.begin());
    return error(ErrorCode::kCorruption, at_height(missing) + ": block missing below the head " + std::to_string(head) +
                                             " (the database lost a write: a damaged log?)");
  }
  return Status::ok();
}

}  // namespace pel
