// The state as of a block's start, as the executors read it, and an in-memory implementation.
#pragma once

#include <functional>
#include <optional>
#include <unordered_map>

#include "crypto/result.hpp"
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

/// A read-only overlay of a write set on a base state: the state after a block (or a prefix of
/// it) without copying the base. Thread-safe for concurrent reads.
class OverlayState final : public BaseState {
 public:
  OverlayState(const BaseState& base, const WriteSet& writes);
  std::optional<Value> get(const StateKey& key) const override;
  Status take_read_error() const override { return base_.take_read_error(); }

 private:
  const BaseState& base_;
  std::unordered_map<StateKey, const std::optional<Value>*, StateKeyHash> overlay_;
};

}  // namespace pel
