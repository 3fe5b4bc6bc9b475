// pel's LevelDB database: one store per chain directory, tables kept apart by a one-byte key
// prefix, every change written through an atomic batch. The only place that includes LevelDB
// (besides DurableEnv, the file system beneath it). Every read verifies LevelDB's block
// checksums and compactions check their inputs (paranoid mode), so a damaged file is a
// kCorruption error naming the directory, never a wrong value. A synced write survives a power
// cut, and so does what set_durable_mark() recorded, even where the write-ahead log is damaged.
// Table files are read with pread, not mapped: the process's resident memory is its own (the
// block cache, the open tables' indexes and filters), not the pages of every table it read.
// Thread-safety: get(), seek() and iterate() are safe from any thread; write(), sync(),
// flush_memtable(), compact_all(), set_durable_mark() and close_cleanly() from one thread at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "crypto/bytes.hpp"
#include "crypto/result.hpp"

namespace pel {

class DurableEnv;

/// A part of the key space, told apart by the first byte of every key in it. The database
/// knows none by name: each owner declares its own (StateStore: state, undo, commitment;
/// ChainStore: blocks, block index, receipts, chain metadata), disjoint from the others'.
struct Keyspace {
  std::uint8_t prefix;
  friend bool operator==(Keyspace, Keyspace) = default;
};

/// Everything that tunes the database, in one place.
struct DatabaseOptions {
  std::string path;
  bool create_if_missing = true;
  std::size_t block_cache_bytes = 64u << 20;  // LevelDB's block cache
  int bloom_bits_per_key = 10;                // 0 disables the bloom filter
  bool compression = true;                    // snappy
  std::size_t write_buffer_bytes = 32u << 20;
  /// Benchmarks only: every read of a table file first waits this many microseconds, as a read
  /// from an SSD the page cache does not hold would (this VM's disk is cached by its host).
  std::uint32_t table_read_latency_us = 0;
  /// Table files are read with pread, each open one keeping its descriptor while fewer than
  /// this many are kept; the others open their file for each read. 0: a quarter of the
  /// process's RLIMIT_NOFILE.
  int table_descriptors = 0;
  /// Tests only: the file system beneath the database (the power-cut simulator). Not owned;
  /// must outlive the database. Null: the operating system's, through a DurableEnv of its own.
  DurableEnv* env = nullptr;
};

/// One atomic set of changes. A value; not thread-safe.
class WriteBatch {
 public:
  WriteBatch();
  ~WriteBatch();
  WriteBatch(WriteBatch&&) noexcept;
  WriteBatch& operator=(WriteBatch&&) noexcept;

  void put(Keyspace space, ByteView key, ByteView value);
  void erase(Keyspace space, ByteView key);
  /// Empties the batch, keeping its buffer: a batch refilled for every block grows once.
  void clear();
  std::size_t approximate_size() const;

 private:
  friend class Database;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class Database {
 public:
  /// How the directory was found at open.
  struct Recovery {
    bool closed_cleanly = false;   // by close_cleanly(), and not opened since
    bool log_was_damaged = false;  // the write-ahead log had damaged records, which were dropped
    Bytes durable_mark;            // what set_durable_mark() or close_cleanly() recorded last
  };
  /// The owner's judgement of a recovered database: OK to use it, or the error that refuses it.
  using RecoveryCheck = std::function<Status(Database& recovered, const Recovery& how)>;

  /// Opens (or creates) the database at options.path. Errors name the path and the problem:
  /// kBusy when another process (or another Database in this one) has it open, kCorruption for
  /// damaged files, kIo otherwise. The lock is taken before any file in the directory is
  /// touched, so a refused open changes nothing (LevelDB's info LOG included).
  ///
  /// The write-ahead log is replayed strictly; when that finds damage, it is replayed again
  /// keeping every whole record (a torn tail after a power cut is normal). A directory not
  /// closed cleanly is first recovered in a scratch copy of itself (hard links where the file
  /// system allows, inside the directory), which `check` judges: a refusal leaves the directory
  /// as it was, byte for byte; only a recovery `check` accepted is repeated on the directory
  /// itself (replaying a log is deterministic). A cleanly closed directory is checked once
  /// opened (its log holds nothing to replay).
  static Result<std::unique_ptr<Database>> open(const DatabaseOptions& options, const RecoveryCheck& check = {});
  ~Database();

  /// How the directory was found at open.
  const Recovery& recovery() const { return recovery_; }

  /// Whether a read's table blocks go into the block cache: kSkip for what is read once (a
  /// stored block replayed or exported), so that it does not push out what is read again.
  enum class CacheFill { kFill, kSkip };
  /// The value of `key` in `space`, or std::nullopt when absent.
  Result<std::optional<Bytes>> get(Keyspace space, ByteView key, CacheFill fill = CacheFill::kFill) const;
  struct Entry {
    Bytes key;  // without the prefix
    Bytes value;
  };
  /// The first entry of `space` whose key is >= `from`, or std::nullopt when the key space has
  /// none: one seek.
  Result<std::optional<Entry>> seek(Keyspace space, ByteView from) const;
  /// Applies `batch` atomically; syncs to disk first when `sync`. A log LevelDB leaves is
  /// synced as it leaves it (DurableEnv): a power cut loses only the latest unsynced batches,
  /// never earlier ones under later ones.
  Status write(WriteBatch& batch, bool sync);
  /// Makes every earlier write durable (an empty synced write: the log is synced in order).
  Status sync();
  /// The most a durable mark holds.
  static constexpr std::size_t kMaxMarkBytes = 48;
  /// Records `mark` (the owner's name for what its synced writes made durable, such as a height
  /// and a hash) in a small file of its own, synced before it returns: a damaged or deleted
  /// write-ahead log cannot take it back, so the owner can refuse a reopen that comes back
  /// below it. The next open reports it in recovery().durable_mark.
  Status set_durable_mark(ByteView mark);
  /// Moves the log into tables (flush_memtable), then records `mark` with the closed-cleanly
  /// flag. Write nothing after it: the next open takes the directory as cleanly closed.
  Status close_cleanly(ByteView mark);
  /// Moves everything written so far from the write-ahead log into table files, leaving the log
  /// empty: after it, nothing that was written depends on the log being read back whole.
  Status flush_memtable();
  /// Rewrites every table into the deepest level LevelDB places it, so that a read of a key
  /// probes one table rather than one per level. For the end of a bulk load (a genesis, a
  /// snapshot's state), which otherwise leaves its tables spread over every level: it reads and
  /// writes the whole database once. Returns a failure of the compaction.
  Status compact_all();
  /// How many table files each of LevelDB's levels holds, level 0 first: a read of a key probes
  /// every level-0 table and one table in each deeper level that has any.
  std::vector<int> tables_per_level() const;
  /// Calls `fn(key without prefix, value)` for every entry of `space` in key order, until it
  /// returns false.
  Status iterate(Keyspace space, const std::function<bool(ByteView key, ByteView value)>& fn) const;

  const DatabaseOptions& options() const { return options_; }

 private:
  struct Impl;
  Database(DatabaseOptions options, std::unique_ptr<Impl> impl, Recovery recovery);
  Status append_mark(ByteView mark, bool closed_cleanly);
  /// A sync LevelDB could not report (a log it left), as an error naming the path.
  Status check_background_error() const;
  DatabaseOptions options_;
  std::unique_ptr<Impl> impl_;
  Recovery recovery_;
};

/// Big-endian height, so LevelDB's byte order is height order.
std::array<std::uint8_t, 8> height_key(std::uint64_t height);

}  // namespace pel
