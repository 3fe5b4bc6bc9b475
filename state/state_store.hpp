// The committed state in LevelDB: serves executions' base-state reads through a read cache and
// keeps the state commitment (a lattice hash over every live key/value pair) up to date in
// O(writes) per block.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <oneapi/tbb/spin_mutex.h>

#include "crypto/hash.hpp"
#include "crypto/lattice_hash.hpp"
#include "state/base_state.hpp"
#include "state/database.hpp"

namespace pel {

/// The element a (key, value) pair contributes to the state commitment.
Bytes commitment_element(const StateKey& key, const Value& value);

/// The change a write set makes to the commitment of `before`: every new pair added, every
/// overwritten or deleted pair removed. Hashes in parallel on the calling thread's TBB arena.
LatticeHash commitment_delta(const WriteSet& writes, const BaseState& before);

/// The commitment of a whole state given as sorted entries (genesis, full recomputation).
LatticeHash commitment_of(const WriteSet& entries);

/// Thread-safety: get() may be called concurrently with itself and with one committing thread's
/// stage() and publish(), as long as it never reads a key that the block being committed writes
/// (a pipelined execution reads those from the pending block's overlay instead).
class StateStore final : public BaseState {
 public:
  /// Loads the accumulator from the database (empty for a new one).
  static Result<std::unique_ptr<StateStore>> open(Database& db);

  /// Reads through the cache. A database error makes get() return nothing and is kept: see
  /// take_read_error(). Callers check it before committing anything computed from the reads.
  std::optional<Value> get(const StateKey& key) const override;
  Status take_read_error() const override;

  /// The accumulator after applying `writes` to the committed state (hashes in parallel).
  LatticeHash accumulator_after(const WriteSet& writes) const;
  /// Adds the block's state writes, its undo record (the values it overwrote, to rebuild the
  /// state before it; genesis has none) and the accumulator after it to `batch`. Fails on a
  /// read error.
  Status stage(const WriteSet& writes, std::uint64_t height, const LatticeHash& accumulator,
               WriteBatch& batch);
  /// Part of a genesis written in parts into an empty store: its pairs only (no reads, no undo
  /// record, no commitment: stage() an empty write set with the whole accumulator last, then
  /// open the store again).
  static void stage_genesis_part(const WriteSet& part, WriteBatch& batch);
  /// After `batch` is durably written: makes the new state visible to readers and the cache.
  void publish(const WriteSet& writes, const LatticeHash& accumulator);

  const LatticeHash& accumulator() const { return accumulator_; }
  Hash256 state_root() const { return accumulator_.digest(); }
  /// Recomputes the accumulator from every stored pair: must equal accumulator().
  Result<LatticeHash> recompute_accumulator() const;
  /// Every stored (key, value) pair in key order.
  Result<WriteSet> entries() const;
  /// The whole state after block `height`: the stored state (that of block `head`) rolled back
  /// with the undo records of blocks head, head-1, ..., height+1.
  Result<MemoryState> state_at(std::uint64_t height, std::uint64_t head) const;

  /// Decodes an undo record into the writes that restore the state before its block.
  static Result<WriteSet> decode_undo(ByteView undo);

  /// What the state store keeps in the database, each in its own key space: every live pair
  /// (by state key), one undo record per block (by big-endian height), and the commitment.
  static constexpr Keyspace kStateSpace{'s'};
  static constexpr Keyspace kUndoSpace{'u'};
  static constexpr Keyspace kCommitmentSpace{'c'};

 private:
  explicit StateStore(Database& db);
  /// Reads through the cache, returning a database error instead of recording it.
  Result<std::optional<Value>> read(const StateKey& key) const;

  struct alignas(64) CacheShard {
    mutable tbb::spin_mutex mutex;
    std::unordered_map<StateKey, std::optional<Value>, StateKeyHash> entries;
  };
  static constexpr std::size_t kShards = 64;

  Database& db_;
  std::size_t shard_capacity_;
  mutable std::vector<CacheShard> cache_;
  LatticeHash accumulator_;
  mutable std::mutex error_mutex_;
  mutable Status read_error_;
  mutable std::atomic<bool> has_read_error_{false};
};

}  // namespace pel
