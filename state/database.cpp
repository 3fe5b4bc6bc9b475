#include "state/database.hpp"

#include <cstdarg>
#include <cstdlib>
#include <vector>

#include <leveldb/cache.h>
#include <leveldb/db.h>
#include <leveldb/env.h>
#include <leveldb/filter_policy.h>
#include <leveldb/write_batch.h>

namespace pel {
namespace {

std::string prefixed(Keyspace space, ByteView key) {
  std::string out;
  out.reserve(key.size() + 1);
  out.push_back(static_cast<char>(space.prefix));
  out.append(reinterpret_cast<const char*>(key.data()), key.size());
  return out;
}

leveldb::Slice slice(ByteView v) { return {reinterpret_cast<const char*>(v.data()), v.size()}; }

Status from_leveldb(const leveldb::Status& s, const std::string& path, const char* doing) {
  if (s.ok()) return Status::ok();
  std::string msg = path + ": " + doing + ": " + s.ToString();
  if (s.IsCorruption()) return error(ErrorCode::kCorruption, msg);
  if (s.IsNotFound()) return error(ErrorCode::kNotFound, msg);
  return error(ErrorCode::kIo, msg);
}

// leveldb::Log is not exported by Debian's shared library; Logger::Logv is.
void log_info(leveldb::Logger* logger, const char* format, ...) {
  if (!logger) return;
  std::va_list args;
  va_start(args, format);
  logger->Logv(format, args);
  va_end(args);
}

// Reads verify the CRC of every block they load from disk (the block cache keeps verified ones).
leveldb::ReadOptions verified_read() {
  leveldb::ReadOptions ro;
  ro.verify_checksums = true;
  return ro;
}


}  // namespace

struct WriteBatch::Impl {
  leveldb::WriteBatch batch;
};

WriteBatch::WriteBatch() : impl_(std::make_unique<Impl>()) {}
WriteBatch::~WriteBatch() = default;
WriteBatch::WriteBatch(WriteBatch&&) noexcept = default;
WriteBatch& WriteBatch::operator=(WriteBatch&&) noexcept = default;

void WriteBatch::put(Keyspace space, ByteView key, ByteView value) {
  impl_->batch.Put(prefixed(space, key), slice(value));
}
void WriteBatch::erase(Keyspace space, ByteView key) { impl_->batch.Delete(prefixed(space, key)); }
std::size_t WriteBatch::approximate_size() const { return impl_->batch.ApproximateSize(); }

struct Database::Impl {
  leveldb::Env* env = leveldb::Env::Default();
  leveldb::FileLock* lock = nullptr;  // pel's own lock on the directory, taken first
  std::unique_ptr<leveldb::Logger> info_log;
  std::unique_ptr<leveldb::Cache> cache;
  std::unique_ptr<const leveldb::FilterPolicy> filter;
  std::unique_ptr<leveldb::DB> db;

  ~Impl() {
    db.reset();  // the DB uses the cache, filter and logger until it closes
    if (lock) env->UnlockFile(lock);
  }
};

Database::Database(DatabaseOptions options, std::unique_ptr<Impl> impl, bool log_was_damaged)
    : options_(std::move(options)), impl_(std::move(impl)), log_was_damaged_(log_was_damaged) {}

Database::~Database() = default;

Result<std::unique_ptr<Database>> Database::open(const DatabaseOptions& options) {
  const std::string& path = options.path;
  auto impl = std::make_unique<Impl>();
  if (options.create_if_missing) impl->env->CreateDir(path);  // fails harmlessly when it exists
  // LevelDB rotates its info LOG before it takes its own lock, so a refused second opener would
  // empty the running one's log: pel locks the directory first (fcntl, and per process).
  leveldb::Status locked = impl->env->LockFile(path + "/pel.lock", &impl->lock);
  if (!locked.ok()) {
    const std::string why = locked.ToString();
    if (why.find("already held") != std::string::npos || why.find("temporarily unavailable") != std::string::npos) {
      return error(ErrorCode::kBusy, path + ": database is in use by another process (" + why + ")");
    }
    return from_leveldb(locked, path, "lock");
  }
  impl->env->RenameFile(path + "/LOG", path + "/LOG.old");  // fails harmlessly on a new directory
  leveldb::Logger* logger = nullptr;
  if (impl->env->NewLogger(path + "/LOG", &logger).ok()) impl->info_log.reset(logger);

  leveldb::Options lo;
  lo.create_if_missing = options.create_if_missing;
  lo.info_log = impl->info_log.get();
  lo.write_buffer_size = options.write_buffer_bytes;
  lo.compression = options.compression ? leveldb::kSnappyCompression : leveldb::kNoCompression;
  impl->cache.reset(leveldb::NewLRUCache(options.block_cache_bytes));
  lo.block_cache = impl->cache.get();
  if (options.bloom_bits_per_key > 0) {
    impl->filter.reset(leveldb::NewBloomFilterPolicy(options.bloom_bits_per_key));
    lo.filter_policy = impl->filter.get();
  }
  auto open_db = [&](bool paranoid) {
    // Paranoid: the log replay stops at a damaged record, and table reads and compactions check
    // every block's CRC (a damaged table then fails a read instead of feeding a compaction keys
    // out of order, or a filter that hides a key).
    lo.paranoid_checks = paranoid;
    leveldb::DB* raw = nullptr;
    leveldb::Status s = leveldb::DB::Open(lo, path, &raw);
    impl->db.reset(raw);
    return s;
  };
  leveldb::Status s = open_db(true);
  bool log_was_damaged = false;
  if (s.IsCorruption()) {
    // A damaged log record: a torn tail after a power cut (normal), or damage in the middle
    // (not). Keep every whole record, then reopen strictly: the lenient replay moved the log
    // into a table. The owner verifies what it got (log_was_damaged).
    log_info(lo.info_log, "pel: strict open failed (%s); replaying the log again, keeping whole records",
             s.ToString().c_str());
    s = open_db(false);
    if (s.ok()) {
      log_was_damaged = true;
      impl->db.reset();
      s = open_db(true);
    }
  }
  if (!s.ok()) return from_leveldb(s, path, "open");
  return std::unique_ptr<Database>(new Database(options, std::move(impl), log_was_damaged));
}

Result<std::optional<Bytes>> Database::get(Keyspace space, ByteView key) const {
  std::string value;
  leveldb::Status s = impl_->db->Get(verified_read(), prefixed(space, key), &value);
  if (s.IsNotFound()) return std::optional<Bytes>();
  if (!s.ok()) return from_leveldb(s, options_.path, "read");
  return std::optional<Bytes>(Bytes(value.begin(), value.end()));
}

Status Database::write(WriteBatch& batch, bool sync) {
  leveldb::WriteOptions wo;
  wo.sync = sync;
  Status written = from_leveldb(impl_->db->Write(wo, &batch.impl_->batch), options_.path, "write");
  if (!written.is_ok() || sync) return written;
  // When its memtable is full, LevelDB's next write switches to a new log and closes the old one
  // without syncing it; a later synced write syncs only the new log, so a power cut could keep
  // later batches and lose earlier ones, a hole no reopen can repair. Sync the log before that.
  if (memtable_bytes() >= options_.write_buffer_bytes / 8 * 7) return this->sync();
  return written;
}

std::size_t Database::memtable_bytes() const {
  std::string usage;
  if (!impl_->db->GetProperty("leveldb.approximate-memory-usage", &usage)) return 0;
  // The property counts the block cache too; what remains is the memtable being filled and the
  // one being written to a table, if any. Approximate (reads move the cache meanwhile), which
  // only moves the extra sync by a few blocks' worth.
  const std::size_t total = std::strtoull(usage.c_str(), nullptr, 10);
  const std::size_t cache = impl_->cache->TotalCharge();
  return total > cache ? total - cache : 0;
}

Status Database::sync() {
  leveldb::WriteBatch empty;
  leveldb::WriteOptions wo;
  wo.sync = true;
  return from_leveldb(impl_->db->Write(wo, &empty), options_.path, "sync");
}

Status Database::flush_memtable() {
  // CompactRange writes the memtable to a table and starts a new, empty log before it compacts
  // the tables overlapping the range; pel's keys all start with a table letter, so the range
  // "\0".."\0" overlaps none of them and only the memtable moves. It reports nothing itself, and
  // a failure to start the new log is not even kept as LevelDB's background error: check that
  // no log holds anything any more.
  const leveldb::Slice nothing("\0", 1);
  impl_->db->CompactRange(&nothing, &nothing);
  std::vector<std::string> children;
  PEL_TRY(from_leveldb(impl_->env->GetChildren(options_.path, &children), options_.path, "list"));
  for (const std::string& name : children) {
    if (name.size() < 4 || name.compare(name.size() - 4, 4, ".log") != 0) continue;
    std::uint64_t size = 0;
    PEL_TRY(from_leveldb(impl_->env->GetFileSize(options_.path + "/" + name, &size), options_.path, "stat"));
    if (size > 0) {
      return error(ErrorCode::kIo, options_.path + ": LevelDB kept " + name + " (" + std::to_string(size) +
                                       " bytes): the log was not moved into tables");
    }
  }
  return Status::ok();
}

Status Database::iterate(Keyspace space, const std::function<bool(ByteView, ByteView)>& fn) const {
  leveldb::ReadOptions ro = verified_read();
  ro.fill_cache = false;  // a full scan should not evict the hot working set
  std::unique_ptr<leveldb::Iterator> it(impl_->db->NewIterator(ro));
  const char prefix = static_cast<char>(space.prefix);
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
