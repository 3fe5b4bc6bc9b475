// A power-cut simulator for pel's database, after LevelDB's db/fault_injection_test.cc: a
// leveldb::Env that keeps, for every file written through it, how much of it was synced and
// whether its directory entry was (a directory sync since it was created or renamed), and so for
// every directory made through it. Once cut, every change fails as an I/O error; power_loss()
// then leaves the disk as a strict POSIX file system may after a cut: files truncated to what was
// synced, files and directories whose entry was never synced removed, unsynced renames undone. Removals are taken as durable: a file coming back is one
// LevelDB ignores (an obsolete log, table or manifest).
// Thread-safety: every member may be called from any thread (LevelDB compacts in the background).
#pragma once

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "state/durable_env.hpp"

namespace pel::testing {

// The files beneath: what was written, synced and named durably.
class PowerCutFiles final : public leveldb::EnvWrapper {
 public:
  PowerCutFiles() : leveldb::EnvWrapper(leveldb::Env::Default()) {}

  /// The `n`th change from now on (1: the next) and every later one fail. 0: never.
  void cut_after(std::uint64_t n) {
    std::lock_guard<std::mutex> lock(mutex_);
    cut_at_ = n == 0 ? 0 : changes_ + n;
    cut_ = false;
  }
  bool cut() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return cut_;
  }
  /// Changes seen so far (to pick cut points across a run).
  std::uint64_t changes() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return changes_;
  }

  /// What a strict file system keeps of everything written through this Env, once every file
  /// is closed; then forgets it all (what is left counts as durable).
  void power_loss() {
    std::lock_guard<std::mutex> lock(mutex_);
    namespace fs = std::filesystem;
    for (auto it = renames_.rbegin(); it != renames_.rend(); ++it) {
      std::error_code ec;
      fs::rename(it->target, it->source, ec);
      files_.erase(it->target);
      files_[it->source] = it->moved;
      if (it->old_target) {
        std::ofstream(it->target, std::ios::binary | std::ios::trunc) << *it->old_target;
      }
    }
    for (const auto& [name, file] : files_) {
      std::error_code ec;
      if (!file.entry_durable) {
        fs::remove(name, ec);
      } else if (fs::exists(name, ec) && fs::file_size(name, ec) > file.synced) {
        fs::resize_file(name, file.synced, ec);
      }
    }
    for (auto it = directories_.rbegin(); it != directories_.rend(); ++it) {
      std::error_code ec;
      if (!it->second) fs::remove_all(it->first, ec);
    }
    files_.clear();
    renames_.clear();
    directories_.clear();
    cut_ = false;
    cut_at_ = 0;
  }

  /// The directory's entries are durable from now on.
  leveldb::Status sync_directory(const std::string& dir) {
    if (!change()) return lost();
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [name, file] : files_) {
      if (parent(name) == dir) file.entry_durable = true;
    }
    std::erase_if(renames_, [&](const Rename& r) { return parent(r.target) == dir; });
    for (auto& [name, durable] : directories_) {
      if (parent(name) == dir) durable = true;
    }
    return leveldb::Status::OK();
  }

 private:
  struct FileState {
    std::uint64_t size = 0;
    std::uint64_t synced = 0;
    bool entry_durable = false;
  };
  struct Rename {
    std::string source, target;
    FileState moved;
    std::optional<std::string> old_target;  // its durable content, when it existed
  };

  class TrackedFile final : public leveldb::WritableFile {
   public:
    TrackedFile(PowerCutFiles& env, std::string name, leveldb::WritableFile* base)
        : env_(env), name_(std::move(name)), base_(base) {}
    leveldb::Status Append(const leveldb::Slice& data) override {
      if (!env_.change()) return lost();
      env_.grow(name_, data.size());
      return base_->Append(data);
    }
    leveldb::Status Flush() override { return env_.cut() ? lost() : base_->Flush(); }
    leveldb::Status Sync() override {
      if (!env_.change()) return lost();
      leveldb::Status s = base_->Sync();
      if (s.ok()) env_.synced(name_);
      return s;
    }
    leveldb::Status Close() override { return base_->Close(); }

   private:
    PowerCutFiles& env_;
    const std::string name_;
    std::unique_ptr<leveldb::WritableFile> base_;
  };

  static leveldb::Status lost() { return leveldb::Status::IOError("simulated power cut"); }
  static std::string parent(const std::string& name) { return std::filesystem::path(name).parent_path().string(); }

  // Counts one change; false once the power is cut.
  bool change() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (cut_) return false;
    ++changes_;
    if (cut_at_ != 0 && changes_ >= cut_at_) cut_ = true;
    return !cut_;
  }
  void grow(const std::string& name, std::uint64_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    files_[name].size += bytes;
  }
  void synced(const std::string& name) {
    std::lock_guard<std::mutex> lock(mutex_);
    files_[name].synced = files_[name].size;
  }
  // A file opened for writing: new (its entry not durable) or, appended to, as it was.
  leveldb::Status opened(const std::string& name, leveldb::WritableFile** result, bool append) {
    const bool existed = target()->FileExists(name);
    std::uint64_t size = 0;
    if (existed && append) target()->GetFileSize(name, &size);
    leveldb::WritableFile* base = nullptr;
    leveldb::Status s = append ? target()->NewAppendableFile(name, &base) : target()->NewWritableFile(name, &base);
    if (!s.ok()) return s;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto known = files_.find(name);
      const bool entry_durable = known != files_.end() ? known->second.entry_durable : existed;
      files_[name] = FileState{size, size, entry_durable};
    }
    *result = new TrackedFile(*this, name, base);
    return s;
  }

 public:
  leveldb::Status NewWritableFile(const std::string& name, leveldb::WritableFile** result) override {
    if (!change()) return lost();
    return opened(name, result, false);
  }
  leveldb::Status NewAppendableFile(const std::string& name, leveldb::WritableFile** result) override {
    if (!change()) return lost();
    return opened(name, result, true);
  }
  leveldb::Status RenameFile(const std::string& source, const std::string& target_name) override {
    if (!change()) return lost();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      Rename r{source, target_name, files_.count(source) ? files_[source] : FileState{0, 0, true}, std::nullopt};
      auto old = files_.find(target_name);
      const bool old_durable = old == files_.end() ? std::filesystem::exists(target_name) : old->second.entry_durable;
      if (old_durable) {
        std::ifstream in(target_name, std::ios::binary);
        std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (old != files_.end()) content.resize(std::min<std::uint64_t>(content.size(), old->second.synced));
        r.old_target = std::move(content);
      }
      renames_.push_back(std::move(r));
      FileState moved = renames_.back().moved;
      moved.entry_durable = false;
      files_.erase(source);
      files_[target_name] = moved;
    }
    return target()->RenameFile(source, target_name);
  }
  leveldb::Status CreateDir(const std::string& name) override {
    if (!change()) return lost();
    leveldb::Status s = target()->CreateDir(name);
    std::lock_guard<std::mutex> lock(mutex_);
    if (s.ok()) directories_.emplace_back(name, false);
    return s;
  }
  leveldb::Status RemoveFile(const std::string& name) override {
    if (!change()) return lost();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      files_.erase(name);
    }
    return target()->RemoveFile(name);
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::string, FileState> files_;  // guarded by mutex_
  std::vector<Rename> renames_;             // not yet made durable by a directory sync
  std::vector<std::pair<std::string, bool>> directories_;  // made here, in order; entry durable
  std::uint64_t changes_ = 0;
  std::uint64_t cut_at_ = 0;
  bool cut_ = false;
};

/// pel's DurableEnv over PowerCutFiles: what a database opened with it syncs is what survives.
class PowerCutEnv final : public DurableEnv {
 public:
  PowerCutEnv() : DurableEnv(&files_) {}
  leveldb::Status SyncDirectory(const std::string& dir) override { return files_.sync_directory(dir); }
  PowerCutFiles& files() { return files_; }

 private:
  PowerCutFiles files_;
};

}  // namespace pel::testing
