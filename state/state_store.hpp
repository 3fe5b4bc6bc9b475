// The committed state in LevelDB: serves executions' base-state reads through a read cache,
// keeps the state commitment (a lattice hash over every live key/value pair) up to date in
// O(writes) per block, and keeps the state of past blocks readable in place (one seek per key)
// for as many blocks as it is asked to.
#pragma once

#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "crypto/hash.hpp"
#include "crypto/lattice_hash.hpp"
#include "state/base_state.hpp"
#include "state/database.hpp"
#include "state/read_cache.hpp"

namespace pel {

/// The element a (key, value) pair contributes to the state commitment.
Bytes commitment_element(const StateKey& key, const Value& value);

/// The change a write set makes to the commitment of `before`: every new pair added, every
/// overwritten or deleted pair removed. Hashes in parallel on the calling thread's TBB arena.
LatticeHash commitment_delta(const WriteSet& writes, const BaseState& before);

/// The commitment of a whole state given as sorted entries (genesis, full recomputation).
LatticeHash commitment_of(const WriteSet& entries);

/// The state after one kept block, read from the database where it stands: a key's value is
/// its value before the first later block that wrote it (one seek in the history) or, when no
/// later block wrote it, its current value. Its reads stay right while later blocks commit; once
/// the kept window moves past its height, they fail with kNotFound. It must not outlive the
/// state store that made it.
/// Thread-safety: get() and take_read_error() may be called from any number of threads, beside
/// commits; entries() only while nothing commits.
class HistoricalState final : public BaseState {
 public:
  std::uint64_t height() const { return height_; }
  /// A database error makes get() return nothing and is kept for take_read_error(); a damaged
  /// history record is a kCorruption error naming its key and height.
  std::optional<Value> get(const StateKey& key) const override;
  Status take_read_error() const override { return read_error_.take(); }
  /// Calls fn for every (key, value) pair of this state in key order, until it returns an
  /// error (returned): a scan of the current state merged with the history, holding in memory
  /// only the keys changed since this height.
  Status for_each_entry(const std::function<Status(const Write&)>& fn) const;
  /// Every pair, collected (tests, small states).
  Result<WriteSet> entries() const;

 private:
  friend class StateStore;
  HistoricalState(const Database& db, const std::atomic<std::uint64_t>& pruning_below, std::uint64_t height,
                  std::size_t cache_entries);
  Result<std::optional<Value>> read(const StateKey& key) const;

  const Database& db_;
  const std::atomic<std::uint64_t>& pruning_below_;  // the state store's
  std::uint64_t height_;
  ReadCache cache_;
  mutable FirstReadError read_error_;
};

/// Thread-safety: get() may be called concurrently with itself and with one committing thread's
/// stage() and publish(), as long as it never reads a key that the block being committed writes
/// (a pipelined execution reads those from the pending block's overlay instead). state_at(),
/// accumulator_at() and oldest_height() may not run beside stage() and publish().
class StateStore final : public BaseState {
 public:
  /// Loads the accumulator and the history window from the database (empty for a new one).
  /// `keep_history_blocks`: how many blocks of state history to keep below the head (each
  /// stage() removes what falls out of the window); unset keeps every height since genesis.
  /// `cache_entries`: the read cache in front of the state table.
  static Result<std::unique_ptr<StateStore>> open(Database& db,
                                                  std::optional<std::uint64_t> keep_history_blocks = std::nullopt,
                                                  std::size_t cache_entries = kDefaultCacheEntries);
  static constexpr std::size_t kDefaultCacheEntries = 1u << 20;

  /// Reads through the cache. A database error makes get() return nothing and is kept: see
  /// take_read_error(). Callers check it before committing anything computed from the reads.
  std::optional<Value> get(const StateKey& key) const override;
  Status take_read_error() const override { return read_error_.take(); }

  /// The values of `keys` (distinct) in the state after `pending` (this store seen through the
  /// write set of the block being committed, or null), gathered for one block: from `pending`,
  /// the cache, or the database, where `readers` threads read at once the keys the cache lacks
  /// (so that reads that wait on the disk overlap; what they read is cached). A read error is
  /// kept as get()'s are. `pending`, or else this store, serves the keys not gathered.
  /// Safe beside get() and, for keys outside `pending`, beside a commit.
  std::unique_ptr<BlockReads> gather(std::span<const StateKey> keys, const OverlayState* pending, int readers) const;
  /// The accumulator after applying `writes` to the committed state (hashes in parallel).
  LatticeHash accumulator_after(const WriteSet& writes) const;
  /// Adds to `batch` the block's state writes, its history (for each key it writes, the value
  /// before it, under (key, height); the keys it wrote, under its height), the accumulator
  /// after it (as the head's and under its height) and the removal of history that fell out of
  /// the kept window. The values before the block are taken from `gathered` (what gather() read
  /// for it) where it holds them. Fails on a read error.
  Status stage(const WriteSet& writes, std::uint64_t height, const LatticeHash& accumulator, WriteBatch& batch,
               const BlockReads* gathered = nullptr);
  /// The commitment of a state written with stage_genesis_part() as that of block `height`, the
  /// oldest kept: a chain that starts from a snapshot of that block.
  static void stage_snapshot_base(std::uint64_t height, const LatticeHash& accumulator, WriteBatch& batch);
  /// Part of a genesis written in parts into an empty store: its pairs only (no reads, no
  /// history, no commitment: stage() an empty write set with the whole accumulator last, then
  /// open the store again).
  static void stage_genesis_part(const WriteSet& part, WriteBatch& batch);
  /// After the batch of the last stage() is durably written: makes the new state visible to
  /// readers and the cache.
  void publish(const WriteSet& writes, const LatticeHash& accumulator);

  const LatticeHash& accumulator() const { return accumulator_; }
  Hash256 state_root() const { return accumulator_.digest(); }
  /// Recomputes the accumulator from every stored pair: must equal accumulator().
  Result<LatticeHash> recompute_accumulator() const;
  /// Every stored (key, value) pair in key order.
  Result<WriteSet> entries() const;

  /// The lowest height whose state is kept (0 unless history was pruned).
  std::uint64_t oldest_height() const { return oldest_height_; }
  /// The state after block `height` (at most the head), as a view: kNotFound naming the kept
  /// window when `height` is below oldest_height().
  Result<std::unique_ptr<HistoricalState>> state_at(std::uint64_t height) const;
  /// The state commitment after block `height` (at most the head), as stored with it.
  Result<LatticeHash> accumulator_at(std::uint64_t height) const;

  /// What the state store keeps in the database, each in its own key space.
  static constexpr Keyspace kStateSpace{'s'};        // state key -> live value
  static constexpr Keyspace kHistorySpace{'v'};      // state key | big-endian height -> value before that block
  static constexpr Keyspace kChangedKeysSpace{'u'};  // big-endian height -> the keys that block wrote
  static constexpr Keyspace kCommitmentSpace{'c'};   // {} -> the head's accumulator; height -> that block's
  static constexpr Keyspace kOldestSpace{'o'};       // {} -> big-endian oldest height whose state is kept

  /// A history value: 0 (the key was absent) or 1 followed by the value.
  static Bytes encode_history_value(const std::optional<Value>& value);
  static Result<std::optional<Value>> decode_history_value(ByteView stored);
  /// A block's changed-keys record: varint count, then the 32-byte keys in ascending order.
  static Result<std::vector<StateKey>> decode_changed_keys(ByteView record);

  /// The most blocks' history one stage() removes (a window shrunk by many blocks at a reopen
  /// catches up over the following commits, keeping each batch bounded).
  static constexpr std::uint64_t kMaxBlocksPrunedPerCommit = 64;

 private:
  StateStore(Database& db, std::optional<std::uint64_t> keep_history_blocks, std::size_t cache_entries);
  /// Reads through the cache, returning a database error instead of recording it.
  Result<std::optional<Value>> read(const StateKey& key) const;
  /// Reads from the database and caches what it read (for a key the cache lacks).
  Result<std::optional<Value>> read_stored(const StateKey& key) const;
  class PastTheCache;
  /// OK when the state after `height` is kept; else kNotFound naming the kept window.
  Status check_kept(std::uint64_t height) const;
  /// Adds the removal of blocks (oldest_height_, new_oldest]'s history to `batch`, where
  /// `batch` stages block `staged_height` (new_oldest at most).
  Status stage_pruning(std::uint64_t new_oldest, std::uint64_t staged_height, WriteBatch& batch);

  Database& db_;
  std::optional<std::uint64_t> keep_history_blocks_;
  ReadCache cache_;
  LatticeHash accumulator_;
  std::uint64_t oldest_height_ = 0;
  /// What the last stage() moves oldest_height_ to, set before its batch is written: a view
  /// below it may be reading history that batch removes.
  std::atomic<std::uint64_t> pruning_below_{0};
  mutable FirstReadError read_error_;
};

/// The history key of `key`'s value before block `height`.
std::array<std::uint8_t, StateKey::kSize + 8> history_key(const StateKey& key, std::uint64_t height);

}  // namespace pel
