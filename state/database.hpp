// pel's LevelDB database: one store per chain directory, tables kept apart by a one-byte key
// prefix, every change written through an atomic batch. The only place that includes LevelDB.
// Every read verifies LevelDB's block checksums and compactions check their inputs (paranoid
// mode), so a damaged file is a kCorruption error naming the directory, never a wrong value.
// Thread-safety: get() and iterate() are safe from any thread; write(), sync() and
// flush_memtable() from one thread at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "crypto/bytes.hpp"
#include "crypto/result.hpp"

namespace pel {

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
  /// Sync every Nth block commit to disk (1: every block, the safe default). Every batch is
  /// atomic and carries the new head, so a crash always reopens at a whole block; a larger N
  /// only lets a power loss take back up to N-1 of the latest blocks (write() syncs the log
  /// before LevelDB leaves it, so no earlier block is lost under a later one).
  std::uint32_t sync_every_blocks = 1;
  std::size_t state_cache_entries = 1u << 20;  // read cache in front of the state table
};

/// One atomic set of changes.
class WriteBatch {
 public:
  WriteBatch();
  ~WriteBatch();
  WriteBatch(WriteBatch&&) noexcept;
  WriteBatch& operator=(WriteBatch&&) noexcept;

  void put(Keyspace space, ByteView key, ByteView value);
  void erase(Keyspace space, ByteView key);
  std::size_t approximate_size() const;

 private:
  friend class Database;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class Database {
 public:
  /// Opens (or creates) the database at options.path. Errors name the path and the problem:
  /// kBusy when another process (or another Database in this one) has it open, kCorruption for
  /// damaged files, kIo otherwise. The lock is taken before any file in the directory is
  /// touched, so a refused open changes nothing (LevelDB's info LOG included).
  ///
  /// The write-ahead log is replayed strictly first. When that finds damage, the log is replayed
  /// again keeping every whole record (a torn tail after a power cut is normal), and
  /// log_was_damaged() tells the owner to verify what it reopened.
  static Result<std::unique_ptr<Database>> open(const DatabaseOptions& options);
  ~Database();

  /// True when the write-ahead log had damaged records that the open dropped.
  bool log_was_damaged() const { return log_was_damaged_; }

  Result<std::optional<Bytes>> get(Keyspace space, ByteView key) const;
  /// Applies `batch` atomically; syncs to disk first when `sync`. An unsynced write is synced
  /// anyway when LevelDB is about to move to a new log (see the definition): a power cut then
  /// loses only the latest unsynced batches, never earlier ones under later ones.
  Status write(WriteBatch& batch, bool sync);
  /// Makes every earlier write durable (an empty synced write: the log is synced in order).
  Status sync();
  /// Moves everything written so far from the write-ahead log into table files, leaving the log
  /// empty: after it, nothing that was written depends on the log being read back whole.
  Status flush_memtable();
  /// Calls `fn(key without prefix, value)` for every entry of `space` in key order, until it
  /// returns false.
  Status iterate(Keyspace space, const std::function<bool(ByteView key, ByteView value)>& fn) const;

  const DatabaseOptions& options() const { return options_; }

 private:
  struct Impl;
  Database(DatabaseOptions options, std::unique_ptr<Impl> impl, bool log_was_damaged);
  /// What LevelDB's memtables hold (approximately).
  std::size_t memtable_bytes() const;
  DatabaseOptions options_;
  std::unique_ptr<Impl> impl_;
  bool log_was_damaged_;
};

/// Big-endian height, so LevelDB's byte order is height order.
std::array<std::uint8_t, 8> height_key(std::uint64_t height);

}  // namespace pel
