#include "node/snapshot.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "crypto/hash.hpp"
#include "node/chain.hpp"
#include "node/chain_store.hpp"
#include "state/file_sync.hpp"

namespace pel {
namespace {

constexpr char kMagic[8] = {'P', 'E', 'L', 'S', 'N', 'A', 'P', 'S'};
constexpr std::uint32_t kMaxSectionBytes = 256u << 20;  // the genesis or the block

// A file written through POSIX calls, so it can be synced before it is renamed into place.
class OutFile {
 public:
  explicit OutFile(std::string path) : path_(std::move(path)) {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) status_ = error(ErrorCode::kIo, path_ + ": cannot create: " + std::strerror(errno));
  }
  ~OutFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  OutFile(const OutFile&) = delete;
  OutFile& operator=(const OutFile&) = delete;

  void write(ByteView bytes) {
    std::size_t done = 0;
    while (status_.is_ok() && done < bytes.size()) {
      const ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) status_ = error(ErrorCode::kIo, path_ + ": cannot write: " + std::strerror(errno));
      else done += static_cast<std::size_t>(n);
    }
    bytes_ += done;
  }
  void write_u32(std::uint32_t v) {
    const std::uint8_t b[4] = {static_cast<std::uint8_t>(v), static_cast<std::uint8_t>(v >> 8),
                               static_cast<std::uint8_t>(v >> 16), static_cast<std::uint8_t>(v >> 24)};
    write(b);
  }
  void write_section(ByteView bytes) {
    write_u32(static_cast<std::uint32_t>(bytes.size()));
    write(bytes);
  }
  Status sync_and_close() {
    if (status_.is_ok() && ::fsync(fd_) != 0) status_ = error(ErrorCode::kIo, path_ + ": cannot sync: " + std::strerror(errno));
    if (::close(fd_) != 0 && status_.is_ok()) status_ = error(ErrorCode::kIo, path_ + ": cannot close: " + std::strerror(errno));
    fd_ = -1;
    return status_;
  }
  const Status& status() const { return status_; }
  std::uint64_t bytes() const { return bytes_; }

 private:
  std::string path_;
  int fd_ = -1;
  Status status_;
  std::uint64_t bytes_ = 0;
};

}  // namespace

Result<SnapshotSummary> write_snapshot(const Chain& chain, std::uint64_t height, const std::string& path,
                                       std::uint32_t entries_per_chunk) {
  if (entries_per_chunk == 0) return error(ErrorCode::kInvalidArgument, "a snapshot chunk holds at least one entry");
  auto state = chain.state_at(height);
  if (!state.is_ok()) return state.status().with_context("snapshot --at " + std::to_string(height));
  auto block = chain.block_at(height);
  if (!block.is_ok()) return block.status();
  const std::string partial = path + ".partial";
  SnapshotSummary summary{.height = height};
  {
    OutFile out(partial);
    out.write(ByteView(reinterpret_cast<const std::uint8_t*>(kMagic), sizeof(kMagic)));
    out.write_u32(SnapshotReader::kVersion);
    out.write_section(encode_genesis_params(chain.genesis()));
    out.write_section(block->encode());
    Writer body;
    std::uint32_t count = 0;
    Writer chunk_hashes;
    auto flush_chunk = [&] {
      if (count == 0) return;
      out.write_u32(count);
      out.write_section(body.data());
      const Hash256 hash = sha256(body.data());
      out.write(hash.view());
      chunk_hashes.raw(hash.view());
      summary.chunks += 1;
      body = Writer();
      count = 0;
    };
    Status streamed = (*state)->for_each_entry([&](const Write& w) {
      body.array(w.key.bytes);
      body.bytes(as_bytes(*w.value));
      summary.entries += 1;
      if (++count == entries_per_chunk || body.data().size() >= SnapshotReader::kMaxChunkBytes / 2) flush_chunk();
      return out.status();
    });
    PEL_TRY(streamed.with_context("snapshot of height " + std::to_string(height)));
    flush_chunk();
    out.write_u32(0);
    Writer trailer;
    trailer.u64(summary.entries);
    trailer.raw(sha256(chunk_hashes.data()).view());
    out.write(trailer.data());
    summary.bytes = out.bytes();
    Status closed = out.sync_and_close();
    if (!closed.is_ok()) {
      std::error_code ignored;
      std::filesystem::remove(partial, ignored);
      return closed;
    }
  }
  std::error_code ec;
  std::filesystem::rename(partial, path, ec);
  if (ec) return error(ErrorCode::kIo, path + ": cannot rename the finished snapshot into place: " + ec.message());
  const std::string dir = std::filesystem::path(path).parent_path().string();
  PEL_TRY(sync_directory(dir.empty() ? "." : dir));
  return summary;
}

struct SnapshotReader::File {
  int fd = -1;
  std::uint64_t size = 0;
  std::uint64_t offset = 0;
  ~File() {
    if (fd >= 0) ::close(fd);
  }
  // Reads exactly n bytes at the current offset, or fails naming what was cut short.
  bool read(void* dst, std::size_t n) {
    if (n > size - offset) return false;
    auto* p = static_cast<std::uint8_t*>(dst);
    std::size_t done = 0;
    while (done < n) {
      const ssize_t got = ::pread(fd, p + done, n - done, static_cast<off_t>(offset + done));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) return false;
      done += static_cast<std::size_t>(got);
    }
    offset += n;
    return true;
  }
  bool read_u32(std::uint32_t& v) {
    std::uint8_t b[4];
    if (!read(b, 4)) return false;
    v = static_cast<std::uint32_t>(b[0]) | static_cast<std::uint32_t>(b[1]) << 8 |
        static_cast<std::uint32_t>(b[2]) << 16 | static_cast<std::uint32_t>(b[3]) << 24;
    return true;
  }
  // A length-prefixed section of at most `max` bytes, and no more than the file holds.
  bool read_section(Bytes& out, std::uint64_t max) {
    std::uint32_t n = 0;
    if (!read_u32(n) || n > max || n > size - offset) return false;
    out.resize(n);
    return read(out.data(), n);
  }
};

SnapshotReader::SnapshotReader(std::unique_ptr<File> file, std::string path)
    : file_(std::move(file)), path_(std::move(path)) {}
SnapshotReader::~SnapshotReader() = default;

Status SnapshotReader::corrupt(const std::string& what) const {
  return error(ErrorCode::kCorruption, path_ + ": " + what);
}

Result<std::unique_ptr<SnapshotReader>> SnapshotReader::open(const std::string& path) {
  auto file = std::make_unique<File>();
  file->fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (file->fd < 0) return error(ErrorCode::kNotFound, path + ": cannot open: " + std::strerror(errno));
  std::error_code ec;
  file->size = std::filesystem::file_size(path, ec);
  if (ec) return error(ErrorCode::kIo, path + ": " + ec.message());
  std::unique_ptr<SnapshotReader> r(new SnapshotReader(std::move(file), path));
  char magic[sizeof(kMagic)];
  std::uint32_t version = 0;
  if (!r->file_->read(magic, sizeof(magic)) || std::memcmp(magic, kMagic, sizeof(kMagic)) != 0) {
    return error(ErrorCode::kInvalidArgument, path + ": not a pel snapshot");
  }
  if (!r->file_->read_u32(version) || version != kVersion) {
    return error(ErrorCode::kInvalidArgument, path + ": snapshot format version " + std::to_string(version) +
                                                  ", this pel reads version " + std::to_string(kVersion));
  }
  Bytes genesis, block;
  if (!r->file_->read_section(genesis, kMaxSectionBytes)) return r->corrupt("the genesis parameters are cut short");
  auto params = decode_genesis_params(genesis);
  if (!params.is_ok()) return r->corrupt("the genesis parameters: " + params.status().message());
  r->genesis_ = *params;
  if (!r->file_->read_section(block, kMaxSectionBytes)) return r->corrupt("the block is cut short");
  auto decoded = Block::decode(block);
  if (!decoded.is_ok()) return r->corrupt("the block: " + decoded.status().message());
  r->block_ = std::move(decoded).value();
  return r;
}

Result<std::optional<WriteSet>> SnapshotReader::next_chunk() {
  if (done_) return std::optional<WriteSet>();
  const std::string chunk = "chunk " + std::to_string(chunks_);
  std::uint32_t count = 0;
  if (!file_->read_u32(count)) return corrupt(chunk + ": cut short (the snapshot is truncated)");
  if (count == 0) {
    std::uint8_t trailer[8 + 32];
    if (!file_->read(trailer, sizeof(trailer))) return corrupt("the trailer is cut short (the snapshot is truncated)");
    Reader tr(ByteView(trailer, sizeof(trailer)));
    std::uint64_t entries = 0;
    tr.u64(entries);
    if (entries != entries_) {
      return corrupt("the trailer counts " + std::to_string(entries) + " entries, the chunks hold " + std::to_string(entries_));
    }
    if (!std::equal(trailer + 8, trailer + sizeof(trailer), sha256(chunk_hashes_).bytes.begin())) {
      return corrupt("the trailer's hash over the chunk hashes does not match (chunks missing, added or reordered)");
    }
    if (file_->offset != file_->size) return corrupt("bytes after the trailer");
    done_ = true;
    return std::optional<WriteSet>();
  }
  Bytes body;
  if (!file_->read_section(body, kMaxChunkBytes)) return corrupt(chunk + ": cut short or longer than the file");
  Hash256 stored;
  if (!file_->read(stored.bytes.data(), stored.bytes.size())) return corrupt(chunk + ": its hash is cut short");
  if (sha256(body) != stored) return corrupt(chunk + ": damaged (its hash does not match)");
  if (count > body.size() / (StateKey::kSize + 1)) return corrupt(chunk + ": impossible entry count");
  WriteSet out;
  out.reserve(count);
  Reader r(body);
  for (std::uint32_t i = 0; i < count && !r.failed(); ++i) {
    Write w;
    ByteView value;
    r.array(w.key.bytes);
    r.bytes(value, body.size());
    if (r.failed()) break;
    if (last_key_ && !(*last_key_ < w.key)) return corrupt(chunk + ": keys out of order or repeated");
    last_key_ = w.key;
    w.value = Value(value.begin(), value.end());
    out.push_back(std::move(w));
  }
  Status s = r.finish(chunk);
  if (!s.is_ok()) return corrupt(s.message());
  chunk_hashes_.insert(chunk_hashes_.end(), stored.bytes.begin(), stored.bytes.end());
  chunks_ += 1;
  entries_ += count;
  return std::optional<WriteSet>(std::move(out));
}

}  // namespace pel
