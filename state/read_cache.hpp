// A bounded cache of state reads (value or known absence), sharded so that many threads read
// it at once without one lock.
// Thread-safety: every member may be called from any number of threads at once.
#pragma once

#include <algorithm>
#include <cstddef>
#include <optional>
#include <unordered_map>
#include <vector>

#include <oneapi/tbb/spin_mutex.h>

#include "state/types.hpp"

namespace pel {

class ReadCache {
 public:
  /// Holds about `capacity` entries at most.
  explicit ReadCache(std::size_t capacity)
      : shard_capacity_(std::max<std::size_t>(1, capacity / kShards)), shards_(kShards) {}

  /// The cached read of `key`: unset when not cached; a cached absence is an empty value.
  std::optional<std::optional<Value>> find(const StateKey& key) const {
    Shard& shard = shard_of(key);
    tbb::spin_mutex::scoped_lock lock(shard.mutex);
    auto it = shard.entries.find(key);
    if (it == shard.entries.end()) return std::nullopt;
    return it->second;
  }
  /// Whether `key`'s read is cached (without copying it).
  bool contains(const StateKey& key) const {
    Shard& shard = shard_of(key);
    tbb::spin_mutex::scoped_lock lock(shard.mutex);
    return shard.entries.contains(key);
  }
  /// Caches a read. A full shard is simply emptied: bounded memory, no LRU bookkeeping on the
  /// read path.
  void insert(const StateKey& key, const std::optional<Value>& value) const {
    Shard& shard = shard_of(key);
    tbb::spin_mutex::scoped_lock lock(shard.mutex);
    if (shard.entries.size() >= shard_capacity_) shard.entries.clear();
    shard.entries.emplace(key, value);
  }
  /// Replaces the cached read of `key`, if there is one, with a value written since.
  void update(const StateKey& key, const std::optional<Value>& value) const {
    Shard& shard = shard_of(key);
    tbb::spin_mutex::scoped_lock lock(shard.mutex);
    auto it = shard.entries.find(key);
    if (it != shard.entries.end()) it->second = value;
  }

 private:
  struct alignas(64) Shard {
    mutable tbb::spin_mutex mutex;
    std::unordered_map<StateKey, std::optional<Value>, StateKeyHash> entries;
  };
  static constexpr std::size_t kShards = 64;
  Shard& shard_of(const StateKey& key) const { return shards_[StateKeyHash{}(key) % kShards]; }

  std::size_t shard_capacity_;
  mutable std::vector<Shard> shards_;
};

}  // namespace pel
