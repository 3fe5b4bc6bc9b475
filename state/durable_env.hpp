// The file system under pel's database: LevelDB's Env with the syncs that LevelDB 1.23 leaves
// out, so that what a synced write reported survives a power cut on a strict POSIX file system:
//  - a write-ahead log is synced when LevelDB closes it. LevelDB moves to a new log when its
//    memtable is full and closes the old one unsynced; the blocks in it would be durable only
//    once the memtable reaches a table, so a cut in between lost blocks synced later writes
//    had reported durable;
//  - a new file's directory entry is synced at the file's first sync (a synced log that its
//    directory does not name is lost with it), and so is every rename (LevelDB's CURRENT).
// Internal to the state layer and its tests (the power-cut simulator derives from it).
// Thread-safety: as leveldb::Env: every member may be called from any thread.
#pragma once

#include <leveldb/env.h>

#include <mutex>
#include <string>

namespace pel {

class DurableEnv : public leveldb::EnvWrapper {
 public:
  explicit DurableEnv(leveldb::Env* target) : leveldb::EnvWrapper(target) {}

  /// Makes the entries of directory `dir` durable (fsync). The power-cut simulator overrides it.
  virtual leveldb::Status SyncDirectory(const std::string& dir);
  /// The first failure of a sync that nobody could be told of when it happened (a log LevelDB
  /// closed inside a write), or OK. Whoever reports durability checks it first.
  leveldb::Status background_error() const;

  leveldb::Status NewWritableFile(const std::string& fname, leveldb::WritableFile** result) override;
  leveldb::Status NewAppendableFile(const std::string& fname, leveldb::WritableFile** result) override;
  leveldb::Status RenameFile(const std::string& src, const std::string& target) override;
  leveldb::Status CreateDir(const std::string& dirname) override;

 private:
  friend class DurableFile;
  void record_background_error(const leveldb::Status& s);

  mutable std::mutex mutex_;
  leveldb::Status background_error_;  // guarded by mutex_
};

}  // namespace pel
