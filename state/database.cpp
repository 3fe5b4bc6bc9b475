#include "state/database.hpp"

#include <leveldb/cache.h>
#include <leveldb/db.h>
#include <leveldb/filter_policy.h>
#include <leveldb/write_batch.h>

namespace pel {
namespace {

std::string prefixed(Table table, ByteView key) {
  std::string out;
  out.reserve(key.size() + 1);
  out.push_back(static_cast<char>(table));
  out.append(reinterpret_cast<const char*>(key.data()), key.size());
  return out;
}

leveldb::Slice slice(ByteView v) { return {reinterpret_cast<const char*>(v.data()), v.size()}; }

Status from_leveldb(const leveldb::Status& s, const std::string& path, const char* doing) {
  if (s.ok()) return Status::ok();
  std::string msg = path + ": " + doing + ": " + s.ToString();
  if (s.IsCorruption()) return error(ErrorCode::kCorruption, msg);
  if (s.IsNotFound()) return error(ErrorCode::kNotFound, msg);
  // LevelDB reports a lock held by another process as an IO error naming the LOCK file.
  if (s.IsIOError() && s.ToString().find("lock") != std::string::npos) {
    return error(ErrorCode::kBusy, path + ": database is locked by another process (" + s.ToString() + ")");
  }
  return error(ErrorCode::kIo, msg);
}

}  // namespace

struct WriteBatch::Impl {
  leveldb::WriteBatch batch;
};

WriteBatch::WriteBatch() : impl_(std::make_unique<Impl>()) {}
WriteBatch::~WriteBatch() = default;
WriteBatch::WriteBatch(WriteBatch&&) noexcept = default;
WriteBatch& WriteBatch::operator=(WriteBatch&&) noexcept = default;

void WriteBatch::put(Table table, ByteView key, ByteView value) {
  impl_->batch.Put(prefixed(table, key), slice(value));
}
void WriteBatch::erase(Table table, ByteView key) { impl_->batch.Delete(prefixed(table, key)); }
std::size_t WriteBatch::approximate_size() const { return impl_->batch.ApproximateSize(); }

struct Database::Impl {
  std::unique_ptr<leveldb::Cache> cache;
  std::unique_ptr<const leveldb::FilterPolicy> filter;
  std::unique_ptr<leveldb::DB> db;
};

Database::Database(DatabaseOptions options, std::unique_ptr<Impl> impl)
    : options_(std::move(options)), impl_(std::move(impl)) {}

Database::~Database() {
  impl_->db.reset();  // the DB uses the cache and filter until it closes
}

Result<std::unique_ptr<Database>> Database::open(const DatabaseOptions& options) {
  auto impl = std::make_unique<Impl>();
  leveldb::Options lo;
  lo.create_if_missing = options.create_if_missing;
  // Not paranoid: after a power loss with unsynced blocks (sync_every_blocks > 1) the log's torn
  // tail must be dropped, not refuse the open. Batches are atomic, and Chain::open cross-checks
  // the head block and the state root, so a dropped tail reopens at an earlier whole block.
  lo.paranoid_checks = false;
  lo.write_buffer_size = options.write_buffer_bytes;
  lo.compression = options.compression ? leveldb::kSnappyCompression : leveldb::kNoCompression;
  impl->cache.reset(leveldb::NewLRUCache(options.block_cache_bytes));
  lo.block_cache = impl->cache.get();
  if (options.bloom_bits_per_key > 0) {
    impl->filter.reset(leveldb::NewBloomFilterPolicy(options.bloom_bits_per_key));
    lo.filter_policy = impl->filter.get();
  }
  leveldb::DB* raw = nullptr;
  leveldb::Status s = leveldb::DB::Open(lo, options.path, &raw);
  if (!s.ok()) return from_leveldb(s, options.path, "open");
  impl->db.reset(raw);
  return std::unique_ptr<Database>(new Database(options, std::move(impl)));
}

Result<std::optional<Bytes>> Database::get(Table table, ByteView key) const {
  std::string value;
  leveldb::Status s = impl_->db->Get(leveldb::ReadOptions(), prefixed(table, key), &value);
  if (s.IsNotFound()) return std::optional<Bytes>();
  if (!s.ok()) return from_leveldb(s, options_.path, "read");
  return std::optional<Bytes>(Bytes(value.begin(), value.end()));
}

Status Database::write(WriteBatch& batch, bool sync) {
  leveldb::WriteOptions wo;
  wo.sync = sync;
  return from_leveldb(impl_->db->Write(wo, &batch.impl_->batch), options_.path, "write");
}

Status Database::iterate(Table table, const std::function<bool(ByteView, ByteView)>& fn) const {
  leveldb::ReadOptions ro;
  ro.fill_cache = false;  // a full scan should not evict the hot working set
  std::unique_ptr<leveldb::Iterator> it(impl_->db->NewIterator(ro));
  const char prefix = static_cast<char>(table);
  for (it->Seek(leveldb::Slice(&prefix, 1)); it->Valid(); it->Next()) {
    leveldb::Slice k = it->key();
    if (k.empty() || k[0] != prefix) break;
    ByteView key(reinterpret_cast<const std::uint8_t*>(k.data()) + 1, k.size() - 1);
    ByteView value(reinterpret_cast<const std::uint8_t*>(it->value().data()), it->value().size());
    if (!fn(key, value)) break;
  }
  return from_leveldb(it->status(), options_.path, "iterate");
}

std::array<std::uint8_t, 8> height_key(std::uint64_t height) {
  std::array<std::uint8_t, 8> out{};
  for (int i = 0; i < 8; ++i) out[i] = static_cast<std::uint8_t>(height >> (8 * (7 - i)));
  return out;
}

}  // namespace pel
