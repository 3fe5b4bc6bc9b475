#include "state/database.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdarg>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <thread>
#include <vector>

#include <leveldb/cache.h>
#include <leveldb/db.h>
#include <leveldb/env.h>
#include <leveldb/filter_policy.h>
#include <leveldb/write_batch.h>

#include "crypto/hash.hpp"
#include "state/durable_env.hpp"

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
void WriteBatch::clear() { impl_->batch.Clear(); }
std::size_t WriteBatch::approximate_size() const { return impl_->batch.ApproximateSize(); }

struct Database::Impl {
  std::unique_ptr<DurableEnv> owned_env;  // when the options name none
  DurableEnv* env = nullptr;
  std::unique_ptr<leveldb::Env> table_reads;  // over env: table files read with pread
  leveldb::FileLock* lock = nullptr;  // pel's own lock on the directory, taken first
  std::unique_ptr<leveldb::Logger> info_log;
  std::unique_ptr<leveldb::Cache> cache;
  std::unique_ptr<const leveldb::FilterPolicy> filter;
  std::unique_ptr<leveldb::DB> db;
  std::unique_ptr<leveldb::WritableFile> mark_file;  // opened at the first mark
  std::uint64_t mark_file_bytes = 0;

  ~Impl() {
    mark_file.reset();
    db.reset();  // the DB uses the cache, filter and logger until it closes
    if (lock) env->UnlockFile(lock);
  }
};

namespace {

// The durable mark file: fixed 64-byte records, appended and synced, the last valid one counts.
//   "PELM" | flags u8 (1: closed cleanly) | length u8 | payload, zero-padded to 48 | 2 zero bytes |
//   first 8 bytes of SHA-256 over the 56 bytes before
// A record torn by a power cut fails its checksum (it was never reported); a damaged one only
// makes an older record count, which is still a bound the open can hold the chain to.
constexpr const char* kMarkFile = "pel.durable";
constexpr std::size_t kMarkRecordBytes = 64;
constexpr std::size_t kMarkChecked = 56;
constexpr std::uint64_t kMarkFileLimit = 1024 * kMarkRecordBytes;  // then rewritten with one record
constexpr std::uint8_t kClosedCleanly = 1;

Bytes mark_record(ByteView mark, bool closed_cleanly) {
  Bytes r(kMarkRecordBytes, 0);
  std::copy_n("PELM", 4, r.begin());
  r[4] = closed_cleanly ? kClosedCleanly : 0;
  r[5] = static_cast<std::uint8_t>(mark.size());
  std::copy(mark.begin(), mark.end(), r.begin() + 6);
  const Hash256 sum = sha256(ByteView(r).first(kMarkChecked));
  std::copy_n(sum.bytes.begin(), 8, r.begin() + kMarkChecked);
  return r;
}

bool parse_mark_record(ByteView r, Database::Recovery& out) {
  if (!std::equal(r.begin(), r.begin() + 4, "PELM") || r[5] > Database::kMaxMarkBytes) return false;
  const Hash256 sum = sha256(r.first(kMarkChecked));
  if (!std::equal(sum.bytes.begin(), sum.bytes.begin() + 8, r.begin() + kMarkChecked)) return false;
  out.closed_cleanly = (r[4] & kClosedCleanly) != 0;
  out.durable_mark.assign(r.begin() + 6, r.begin() + 6 + r[5]);
  return true;
}

// What the mark file says (nothing when there is none yet).
Status read_mark(leveldb::Env* env, const std::string& path, Database::Recovery& out) {
  const std::string file = path + "/" + kMarkFile;
  if (!env->FileExists(file)) return Status::ok();
  std::uint64_t size = 0;
  PEL_TRY(from_leveldb(env->GetFileSize(file, &size), path, "durable mark"));
  leveldb::SequentialFile* raw = nullptr;
  PEL_TRY(from_leveldb(env->NewSequentialFile(file, &raw), path, "durable mark"));
  std::unique_ptr<leveldb::SequentialFile> in(raw);
  Bytes record(kMarkRecordBytes);
  bool any = false;
  for (std::uint64_t at = 0; at + kMarkRecordBytes <= size; at += kMarkRecordBytes) {
    leveldb::Slice got;
    PEL_TRY(from_leveldb(in->Read(kMarkRecordBytes, &got, reinterpret_cast<char*>(record.data())), path, "durable mark"));
    if (got.size() != kMarkRecordBytes) break;
    if (got.data() != reinterpret_cast<const char*>(record.data())) std::copy_n(got.data(), kMarkRecordBytes, record.begin());
    any = parse_mark_record(record, out) || any;
  }
  if (size >= kMarkRecordBytes && !any) {
    return error(ErrorCode::kCorruption, file + ": no valid record (the durable mark is damaged)");
  }
  return Status::ok();
}

// Creates `path` and the missing directories above it, outermost first, through `env` (a
// DurableEnv makes each durable in its parent, so a directory reported made survives a cut).
Status create_missing_directories(leveldb::Env& env, const std::string& path) {
  namespace fs = std::filesystem;
  std::vector<std::string> missing;
  std::error_code ec;
  for (fs::path p = fs::absolute(path, ec); !p.empty() && !fs::exists(p, ec); p = p.parent_path()) {
    missing.push_back(p.string());
    if (p == p.parent_path()) break;
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    PEL_TRY(from_leveldb(env.CreateDir(*it), *it, "create directory"));
  }
  return Status::ok();
}

// The scratch copy a recovery is tried in, inside the directory (LevelDB ignores the name).
constexpr const char* kScratchDir = "pel-recovery-check";

bool belongs_to_scratch(const std::string& name) {
  return name != "LOCK" && name != "pel.lock" && name != kMarkFile && name.rfind("LOG", 0) != 0;
}

// Links (or, where the file system cannot, copies) the database's files into `scratch`.
// LevelDB never rewrites a file in place (it writes new ones, renames and deletes), so a
// recovery in the scratch leaves every original untouched.
Status make_scratch_copy(const std::string& path, const std::string& scratch) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::remove_all(scratch, ec);
  if (!fs::create_directory(scratch, ec)) {
    return error(ErrorCode::kIo, scratch + ": cannot create the recovery scratch: " + ec.message());
  }
  for (const fs::directory_entry& entry : fs::directory_iterator(path, ec)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_regular_file() || !belongs_to_scratch(name)) continue;
    const fs::path to = fs::path(scratch) / name;
    fs::create_hard_link(entry.path(), to, ec);
    if (ec) fs::copy_file(entry.path(), to, ec);
    if (ec) return error(ErrorCode::kIo, to.string() + ": cannot copy into the recovery scratch: " + ec.message());
  }
  if (ec) return error(ErrorCode::kIo, path + ": cannot list: " + ec.message());
  return Status::ok();
}

}  // namespace

Database::Database(DatabaseOptions options, std::unique_ptr<Impl> impl, Recovery recovery)
    : options_(std::move(options)), impl_(std::move(impl)), recovery_(std::move(recovery)) {}

Database::~Database() = default;

namespace {

// LevelDB's options; the cache and filter they point to are kept in `cache` and `filter`.
leveldb::Options leveldb_options(const DatabaseOptions& options, leveldb::Env* env, leveldb::Logger* info_log,
                                 std::unique_ptr<leveldb::Cache>& cache,
                                 std::unique_ptr<const leveldb::FilterPolicy>& filter) {
  leveldb::Options lo;
  lo.env = env;
  lo.create_if_missing = options.create_if_missing;
  lo.info_log = info_log;
  lo.write_buffer_size = options.write_buffer_bytes;
  lo.compression = options.compression ? leveldb::kSnappyCompression : leveldb::kNoCompression;
  cache.reset(leveldb::NewLRUCache(options.block_cache_bytes));
  lo.block_cache = cache.get();
  if (options.bloom_bits_per_key > 0) {
    filter.reset(leveldb::NewBloomFilterPolicy(options.bloom_bits_per_key));
    lo.filter_policy = filter.get();
  }
  return lo;
}

// Opens LevelDB at `path`, replaying the write-ahead log strictly; when that finds a damaged
// record (a torn tail after a power cut, normal; or damage in the middle, not), replays it again
// keeping every whole record, sets `damaged`, and reopens strictly (the lenient replay moved the
// log into a table).
leveldb::Status open_leveldb(leveldb::Options lo, const std::string& path, std::unique_ptr<leveldb::DB>& db,
                             bool& damaged) {
  auto open_db = [&](bool paranoid) {
    // Paranoid: the log replay stops at a damaged record, and table reads and compactions check
    // every block's CRC (a damaged table then fails a read instead of feeding a compaction keys
    // out of order, or a filter that hides a key).
    lo.paranoid_checks = paranoid;
    leveldb::DB* raw = nullptr;
    leveldb::Status s = leveldb::DB::Open(lo, path, &raw);
    db.reset(raw);
    return s;
  };
  damaged = false;
  leveldb::Status s = open_db(true);
  if (!s.IsCorruption()) return s;
  log_info(lo.info_log, "pel: strict open of %s failed (%s); replaying the log again, keeping whole records",
           path.c_str(), s.ToString().c_str());
  s = open_db(false);
  if (!s.ok()) return s;
  damaged = true;
  db.reset();
  return open_db(true);
}

}  // namespace

namespace {

// How table files are read: with pread, not mapped as LevelDB maps them on 64-bit systems. A
// mapped table's pages count in the process's resident memory once touched, so a long replay's
// RSS grew with the tables it had read (48 -> 106 MiB of mapped files over 300 blocks); read
// with pread, the pages stay in the kernel's page cache, and RSS is what pel holds itself, its
// bounded caches. An open table keeps its descriptor while fewer than
// DatabaseOptions::table_descriptors are kept so; past that it opens the file for each read.
// Benchmarks may make every read wait first (DatabaseOptions::table_read_latency_us).
class TableReadEnv final : public leveldb::EnvWrapper {
 public:
  TableReadEnv(leveldb::Env* target, const DatabaseOptions& options)
      : leveldb::EnvWrapper(target),
        latency_(options.table_read_latency_us),
        max_kept_(options.table_descriptors > 0 ? options.table_descriptors : default_descriptors()) {}

  leveldb::Status NewRandomAccessFile(const std::string& name, leveldb::RandomAccessFile** result) override;

 private:
  friend class TableFile;
  // A quarter of the process's descriptors (RLIMIT_NOFILE), the rest left to the embedder.
  static int default_descriptors() {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return 256;
    return static_cast<int>(std::clamp<rlim_t>(limit.rlim_cur / 4, 1, 4096));
  }

  const std::chrono::microseconds latency_;
  const int max_kept_;
  // Relaxed: a count that only bounds how many descriptors are kept; it publishes nothing.
  std::atomic<int> kept_{0};
};

class TableFile final : public leveldb::RandomAccessFile {
 public:
  /// `fd`: the file's descriptor, kept for every read, or -1 to open the file for each.
  TableFile(TableReadEnv& env, std::string name, int fd) : env_(env), name_(std::move(name)), fd_(fd) {}
  ~TableFile() override {
    if (fd_ < 0) return;
    ::close(fd_);
    env_.kept_.fetch_sub(1, std::memory_order_relaxed);
  }

  leveldb::Status Read(std::uint64_t offset, std::size_t n, leveldb::Slice* result, char* scratch) const override {
    if (env_.latency_.count() > 0) std::this_thread::sleep_for(env_.latency_);
    *result = leveldb::Slice(scratch, 0);
    const int fd = fd_ >= 0 ? fd_ : ::open(name_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return leveldb::Status::IOError(name_, std::strerror(errno));
    ssize_t got;
    do {
      got = ::pread(fd, scratch, n, static_cast<off_t>(offset));
    } while (got < 0 && errno == EINTR);
    const int saved = errno;
    if (fd_ < 0) ::close(fd);
    if (got < 0) return leveldb::Status::IOError(name_, std::strerror(saved));
    // Fewer bytes than asked: the end of the file, which LevelDB reports as a truncated block.
    *result = leveldb::Slice(scratch, static_cast<std::size_t>(got));
    return leveldb::Status::OK();
  }

 private:
  TableReadEnv& env_;
  const std::string name_;
  const int fd_;
};

leveldb::Status TableReadEnv::NewRandomAccessFile(const std::string& name, leveldb::RandomAccessFile** result) {
  int fd = ::open(name.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int saved = errno;
    return saved == ENOENT ? leveldb::Status::NotFound(name, std::strerror(saved))
                           : leveldb::Status::IOError(name, std::strerror(saved));
  }
  if (kept_.fetch_add(1, std::memory_order_relaxed) >= max_kept_) {
    kept_.fetch_sub(1, std::memory_order_relaxed);
    ::close(fd);
    fd = -1;
  }
  *result = new TableFile(*this, name, fd);
  return leveldb::Status::OK();
}

}  // namespace

Result<std::unique_ptr<Database>> Database::open(const DatabaseOptions& options, const RecoveryCheck& check) {
  const std::string& path = options.path;
  auto impl = std::make_unique<Impl>();
  if (options.env) {
    impl->env = options.env;
  } else {
    impl->owned_env = std::make_unique<DurableEnv>(leveldb::Env::Default());
    impl->env = impl->owned_env.get();
  }
  if (options.create_if_missing) PEL_TRY(create_missing_directories(*impl->env, path));
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
  Recovery recovery;
  PEL_TRY(read_mark(impl->env, path, recovery));
  if (check && !recovery.closed_cleanly) {
    // Recover in a scratch copy first and let the owner judge it there: a refusal leaves the
    // directory byte for byte as it was (the info LOG too: the trial logs in the scratch).
    const std::string scratch = path + "/" + kScratchDir;
    PEL_TRY(make_scratch_copy(path, scratch));
    auto trial = std::make_unique<Impl>();
    trial->env = impl->env;  // takes no lock: the directory's is held
    // The scratch is thrown away: it needs no syncs.
    const leveldb::Options lo = leveldb_options(options, leveldb::Env::Default(), nullptr, trial->cache, trial->filter);
    Status tried = from_leveldb(open_leveldb(lo, scratch, trial->db, recovery.log_was_damaged), path,
                                "open (recovery scratch)");
    if (tried.is_ok()) {
      Database probe(options, std::move(trial), recovery);  // errors name the directory itself
      tried = check(probe, recovery);
    }
    std::error_code ec;
    std::filesystem::remove_all(scratch, ec);
    PEL_TRY(tried);
  }
  impl->env->RenameFile(path + "/LOG", path + "/LOG.old");  // fails harmlessly on a new directory
  leveldb::Logger* logger = nullptr;
  if (impl->env->NewLogger(path + "/LOG", &logger).ok()) impl->info_log.reset(logger);
  if (!recovery.closed_cleanly) {
    log_info(impl->info_log.get(), "pel: not closed cleanly%s; recovering", recovery.log_was_damaged ? ", log damaged" : "");
  }
  impl->table_reads = std::make_unique<TableReadEnv>(impl->env, options);
  const leveldb::Options lo =
      leveldb_options(options, impl->table_reads.get(), impl->info_log.get(), impl->cache, impl->filter);
  PEL_TRY(from_leveldb(open_leveldb(lo, path, impl->db, recovery.log_was_damaged), path, "open"));
  auto db = std::unique_ptr<Database>(new Database(options, std::move(impl), recovery));
  if (check && recovery.closed_cleanly) PEL_TRY(check(*db, recovery));
  // In use from now on: a crash must not find the directory marked cleanly closed.
  if (recovery.closed_cleanly) PEL_TRY(db->append_mark(recovery.durable_mark, /*closed_cleanly=*/false));
  return db;
}
Result<std::optional<Bytes>> Database::get(Keyspace space, ByteView key, CacheFill fill) const {
  std::string value;
  leveldb::ReadOptions ro = verified_read();
  ro.fill_cache = fill == CacheFill::kFill;
  leveldb::Status s = impl_->db->Get(ro, prefixed(space, key), &value);
  if (s.IsNotFound()) return std::optional<Bytes>();
  if (!s.ok()) return from_leveldb(s, options_.path, "read");
  return std::optional<Bytes>(Bytes(value.begin(), value.end()));
}

Status Database::write(WriteBatch& batch, bool sync) {
  leveldb::WriteOptions wo;
  wo.sync = sync;
  PEL_TRY(from_leveldb(impl_->db->Write(wo, &batch.impl_->batch), options_.path, "write"));
  return check_background_error();
}

Status Database::check_background_error() const {
  leveldb::Status s = impl_->env->background_error();
  if (s.ok()) return Status::ok();
  return error(ErrorCode::kIo, options_.path + ": a write-ahead log LevelDB left could not be synced: " + s.ToString());
}

Status Database::sync() {
  leveldb::WriteBatch empty;
  leveldb::WriteOptions wo;
  wo.sync = true;
  PEL_TRY(from_leveldb(impl_->db->Write(wo, &empty), options_.path, "sync"));
  return check_background_error();
}

Status Database::set_durable_mark(ByteView mark) { return append_mark(mark, /*closed_cleanly=*/false); }

Status Database::close_cleanly(ByteView mark) {
  PEL_TRY(flush_memtable());
  return append_mark(mark, /*closed_cleanly=*/true);
}

Status Database::append_mark(ByteView mark, bool closed_cleanly) {
  if (mark.size() > kMaxMarkBytes) {
    return error(ErrorCode::kInvalidArgument, options_.path + ": a durable mark holds at most " +
                                                  std::to_string(kMaxMarkBytes) + " bytes");
  }
  const std::string file = options_.path + "/" + kMarkFile;
  const Bytes record = mark_record(mark, closed_cleanly);
  const leveldb::Slice bytes(reinterpret_cast<const char*>(record.data()), record.size());
  leveldb::WritableFile* raw = nullptr;
  if (!impl_->mark_file || impl_->mark_file_bytes >= kMarkFileLimit) {
    impl_->mark_file.reset();
    if (impl_->mark_file_bytes >= kMarkFileLimit) {
      // Rewritten whole, with the new record only: synced, then renamed over the old file.
      const std::string tmp = file + ".tmp";
      PEL_TRY(from_leveldb(impl_->env->NewWritableFile(tmp, &raw), options_.path, "durable mark"));
      std::unique_ptr<leveldb::WritableFile> out(raw);
      PEL_TRY(from_leveldb(out->Append(bytes), options_.path, "durable mark"));
      PEL_TRY(from_leveldb(out->Sync(), options_.path, "durable mark"));
      PEL_TRY(from_leveldb(out->Close(), options_.path, "durable mark"));
      PEL_TRY(from_leveldb(impl_->env->RenameFile(tmp, file), options_.path, "durable mark"));
      impl_->mark_file_bytes = 0;
      PEL_TRY(from_leveldb(impl_->env->NewAppendableFile(file, &raw), options_.path, "durable mark"));
      impl_->mark_file.reset(raw);
      impl_->mark_file_bytes = record.size();
      return Status::ok();
    }
    std::uint64_t size = 0;
    if (impl_->env->FileExists(file)) PEL_TRY(from_leveldb(impl_->env->GetFileSize(file, &size), options_.path, "durable mark"));
    PEL_TRY(from_leveldb(impl_->env->NewAppendableFile(file, &raw), options_.path, "durable mark"));
    impl_->mark_file.reset(raw);
    // A record torn by an earlier cut stays where it is; the next starts at a record boundary.
    const std::uint64_t torn = size % kMarkRecordBytes;
    if (torn != 0) {
      const std::string fill(kMarkRecordBytes - torn, '\0');
      PEL_TRY(from_leveldb(impl_->mark_file->Append(fill), options_.path, "durable mark"));
    }
    impl_->mark_file_bytes = size + (torn ? kMarkRecordBytes - torn : 0);
  }
  leveldb::Status s = impl_->mark_file->Append(bytes);
  if (s.ok()) s = impl_->mark_file->Sync();
  if (!s.ok()) {
    impl_->mark_file.reset();  // reopened (and realigned) by the next mark
    return from_leveldb(s, options_.path, "durable mark");
  }
  impl_->mark_file_bytes += record.size();
  return Status::ok();
}

Status Database::compact_all() {
  impl_->db->CompactRange(nullptr, nullptr);
  // CompactRange reports nothing; a compaction that failed left LevelDB's background error,
  // which the next write returns.
  return sync();
}

std::vector<int> Database::tables_per_level() const {
  std::vector<int> tables;
  for (int level = 0;; ++level) {
    std::string count;
    if (!impl_->db->GetProperty("leveldb.num-files-at-level" + std::to_string(level), &count)) return tables;
    tables.push_back(std::stoi(count));
  }
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

Result<std::optional<Database::Entry>> Database::seek(Keyspace space, ByteView from) const {
  std::unique_ptr<leveldb::Iterator> it(impl_->db->NewIterator(verified_read()));
  it->Seek(prefixed(space, from));
  if (!it->Valid()) {
    PEL_TRY(from_leveldb(it->status(), options_.path, "seek"));
    return std::optional<Entry>();
  }
  leveldb::Slice k = it->key();
  if (k.empty() || static_cast<std::uint8_t>(k[0]) != space.prefix) return std::optional<Entry>();
  const auto* key = reinterpret_cast<const std::uint8_t*>(k.data());
  const auto* value = reinterpret_cast<const std::uint8_t*>(it->value().data());
  return std::optional<Entry>(Entry{Bytes(key + 1, key + k.size()), Bytes(value, value + it->value().size())});
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
