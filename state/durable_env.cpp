#include "state/durable_env.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "state/file_sync.hpp"

namespace pel {

Status sync_directory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return error(ErrorCode::kIo, dir + ": cannot open the directory to sync it: " + std::strerror(errno));
  const bool ok = ::fsync(fd) == 0;
  const int saved = errno;
  ::close(fd);
  if (!ok) return error(ErrorCode::kIo, dir + ": cannot sync the directory: " + std::strerror(saved));
  return Status::ok();
}

namespace {

std::string directory_of(const std::string& fname) {
  const std::size_t slash = fname.rfind('/');
  return slash == std::string::npos ? std::string(".") : fname.substr(0, slash == 0 ? 1 : slash);
}

bool is_write_ahead_log(const std::string& fname) {
  return fname.size() > 4 && fname.compare(fname.size() - 4, 4, ".log") == 0;
}

leveldb::Status to_leveldb(const Status& s) {
  return s.is_ok() ? leveldb::Status::OK() : leveldb::Status::IOError(s.message());
}

}  // namespace

// A file written through DurableEnv. Used by one thread at a time, as LevelDB's files are.
class DurableFile final : public leveldb::WritableFile {
 public:
  DurableFile(DurableEnv& env, std::unique_ptr<leveldb::WritableFile> base, std::string fname)
      : env_(env), base_(std::move(base)), dir_(directory_of(fname)), log_(is_write_ahead_log(fname)) {}

  ~DurableFile() override {
    // LevelDB deletes a log it leaves (a full memtable, or its own close) without closing it
    // first: sync it here, and keep a failure for the next writer to see.
    if (!closed_ && log_ && unsynced_) {
      leveldb::Status s = Sync();
      if (!s.ok()) env_.record_background_error(s);
    }
  }

  leveldb::Status Append(const leveldb::Slice& data) override {
    unsynced_ = true;
    return base_->Append(data);
  }
  leveldb::Status Flush() override { return base_->Flush(); }
  leveldb::Status Sync() override {
    leveldb::Status s = base_->Sync();
    if (s.ok() && !entry_synced_) {
      s = env_.SyncDirectory(dir_);
      entry_synced_ = s.ok();
    }
    if (s.ok()) unsynced_ = false;
    return s;
  }
  leveldb::Status Close() override {
    leveldb::Status s = log_ && unsynced_ ? Sync() : leveldb::Status::OK();
    leveldb::Status closed = base_->Close();
    closed_ = true;
    return s.ok() ? closed : s;
  }

 private:
  DurableEnv& env_;
  std::unique_ptr<leveldb::WritableFile> base_;
  const std::string dir_;
  const bool log_;
  bool entry_synced_ = false;  // the directory was synced since this file was opened
  bool unsynced_ = false;      // appended since the last sync
  bool closed_ = false;
};

leveldb::Status DurableEnv::SyncDirectory(const std::string& dir) { return to_leveldb(sync_directory(dir)); }

leveldb::Status DurableEnv::background_error() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return background_error_;
}

void DurableEnv::record_background_error(const leveldb::Status& s) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (background_error_.ok()) background_error_ = s;
}

leveldb::Status DurableEnv::NewWritableFile(const std::string& fname, leveldb::WritableFile** result) {
  leveldb::WritableFile* base = nullptr;
  leveldb::Status s = target()->NewWritableFile(fname, &base);
  *result = s.ok() ? new DurableFile(*this, std::unique_ptr<leveldb::WritableFile>(base), fname) : nullptr;
  return s;
}

leveldb::Status DurableEnv::NewAppendableFile(const std::string& fname, leveldb::WritableFile** result) {
  leveldb::WritableFile* base = nullptr;
  leveldb::Status s = target()->NewAppendableFile(fname, &base);
  *result = s.ok() ? new DurableFile(*this, std::unique_ptr<leveldb::WritableFile>(base), fname) : nullptr;
  return s;
}

leveldb::Status DurableEnv::RenameFile(const std::string& src, const std::string& target_name) {
  leveldb::Status s = target()->RenameFile(src, target_name);
  return s.ok() ? SyncDirectory(directory_of(target_name)) : s;
}

leveldb::Status DurableEnv::CreateDir(const std::string& dirname) {
  leveldb::Status s = target()->CreateDir(dirname);
  return s.ok() ? SyncDirectory(directory_of(dirname)) : s;
}

}  // namespace pel
