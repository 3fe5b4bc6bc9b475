// The state as of a block's start, as the executors read it, and an in-memory implementation.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "crypto/result.hpp"
#include "state/key_index.hpp"
#include "state/types.hpp"

namespace pel {

/// Read-only state at the start of a block ("storage" in Block-STM terms).
/// Thread-safety: get() may be called concurrently from any number of threads.
class BaseState {
 public:
  virtual ~BaseState() = default;
  /// The value stored under `key`, or std::nullopt when there is none. A state that can fail
  /// (a database) returns std::nullopt on a failed read too, and keeps the error.
  virtual std::optional<Value> get(const StateKey& key) const = 0;
  /// The first read error since the last call, and clears it: OK when every read was whole.
  /// Whoever reads checks it before trusting what it read. Memory states never fail.
  virtual Status take_read_error() const { return Status::ok(); }
};

/// A whole state held in memory: genesis building, tests, and in-memory benchmarks.
/// Thread-safety: concurrent get() is safe; put/erase/apply need exclusive access.
class MemoryState final : public BaseState {
 public:
  std::optional<Value> get(const StateKey& key) const override;

  void put(const StateKey& key, Value value) { entries_[key] = std::move(value); }
  void erase(const StateKey& key) { entries_.erase(key); }
  /// Applies a block's write set (deletions included).
  void apply(const WriteSet& writes);

  std::size_t size() const { return entries_.size(); }
  /// Every (key, value) pair in ascending key order.
  WriteSet sorted_entries() const;

 private:
  std::unordered_map<StateKey, Value, StateKeyHash> entries_;
};

/// Where a state that can fail keeps its first read error until it is taken.
/// Thread-safety: keep() and take() may be called from any thread.
class FirstReadError {
 public:
  void keep(const Status& error);
  Status take();
  /// What a read returned, or nothing with its error kept: a BaseState::get() over a read
  /// that can fail.
  std::optional<Value> value_or_keep(Result<std::optional<Value>> read);

 private:
  std::mutex mutex_;
  Status error_;
  std::atomic<bool> has_error_{false};  // lets take() skip the lock when nothing failed
};

/// Writes held in memory over a base state: the state after some blocks executed on top of it,
/// holding only what they changed. Thread-safety: concurrent get() is safe; apply() needs
/// exclusive access.
class ChangedState final : public BaseState {
 public:
  explicit ChangedState(const BaseState& base) : base_(base) {}
  std::optional<Value> get(const StateKey& key) const override;
  Status take_read_error() const override { return base_.take_read_error(); }

  void apply(const WriteSet& writes);
  /// How many keys the applied writes changed.
  std::size_t size() const { return changes_.size(); }
  /// The value the applied writes left under `key` (an empty optional: deleted), or nullptr
  /// when they did not change it.
  const std::optional<Value>* find_change(const StateKey& key) const;
  /// Calls fn(key, value) for every changed key (in no particular order).
  void for_each_change(const std::function<void(const StateKey&, const std::optional<Value>&)>& fn) const;

 private:
  const BaseState& base_;
  std::unordered_map<StateKey, std::optional<Value>, StateKeyHash> changes_;
};

/// A read-only overlay of a write set on a base state: the state after a block (or a prefix of
/// it) without copying the base. `writes` (one write per key, as a block's write set) is
/// referred to, not copied: it must outlive the overlay. Thread-safe for concurrent reads.
class OverlayState final : public BaseState {
 public:
  OverlayState(const BaseState& base, const WriteSet& writes);
  std::optional<Value> get(const StateKey& key) const override;
  Status take_read_error() const override { return base_.take_read_error(); }

  /// The value the overlaid writes give `key` (an empty optional: deleted), or nullptr when
  /// they do not write it.
  const std::optional<Value>* find(const StateKey& key) const;

 private:
  const BaseState& base_;
  const WriteSet& writes_;
  KeyIndex index_;
};

/// The values one block reads from the state before it, gathered before it executes (every key
/// its access list names) into a table of its own: the block's execution, its state commitment
/// and its commit read them here, rather than each in turn from the state's shared cache, where
/// a lookup among a million entries costs a cache miss or two. A key not gathered is read from
/// `fallback`.
/// Thread-safety: get() and find() from any number of threads. get() only while `fallback`
/// lives; find() as long as this.
class BlockReads final : public BaseState {
 public:
  /// Where a key's value is already in memory: the value, or a known absence (an empty
  /// optional); unset when it must be read from the stored state.
  using MemoryLookup = std::function<std::optional<std::optional<Value>>(const StateKey&)>;

  /// Gathers `keys` (distinct): each from `in_memory` where it answers, else from `stored`,
  /// the keys to read shared among `readers` threads, so that reads that wait on a disk
  /// overlap (a warm memory costs a lookup per key and no thread). Read errors are kept by
  /// `stored`, as its get() keeps them.
  static std::unique_ptr<BlockReads> gather(const BaseState& fallback, std::span<const StateKey> keys,
                                            const MemoryLookup& in_memory, const BaseState& stored, int readers);

  std::optional<Value> get(const StateKey& key) const override;
  Status take_read_error() const override { return fallback_.take_read_error(); }

  /// The gathered value of `key` (an empty optional when it is absent), or nullptr when `key`
  /// was not gathered.
  const std::optional<Value>* find(const StateKey& key) const;

 private:
  BlockReads(const BaseState& fallback, std::span<const StateKey> keys);

  const BaseState& fallback_;
  std::vector<StateKey> keys_;
  std::vector<std::optional<Value>> values_;
  KeyIndex index_;  // into keys_
};

}  // namespace pel
