#include "state/base_state.hpp"

#include <algorithm>
#include <thread>
#include <utility>

namespace pel {

std::optional<Value> MemoryState::get(const StateKey& key) const {
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

void MemoryState::apply(const WriteSet& writes) {
  for (const Write& w : writes) {
    if (w.value) {
      entries_[w.key] = *w.value;
    } else {
      entries_.erase(w.key);
    }
  }
}

WriteSet MemoryState::sorted_entries() const {
  WriteSet out;
  out.reserve(entries_.size());
  for (const auto& [key, value] : entries_) out.push_back({key, value});
  std::sort(out.begin(), out.end(), [](const Write& a, const Write& b) { return a.key < b.key; });
  return out;
}

void FirstReadError::keep(const Status& error) {
  std::lock_guard lock(mutex_);
  if (error_.is_ok()) error_ = error;
  // Release: a take() that sees the flag sees the error stored before it (it locks anyway).
  has_error_.store(true, std::memory_order_release);
}

Status FirstReadError::take() {
  if (!has_error_.load(std::memory_order_acquire)) return Status::ok();
  std::lock_guard lock(mutex_);
  Status s = std::exchange(error_, Status::ok());
  has_error_.store(false, std::memory_order_relaxed);  // under the lock keep() also takes
  return s;
}

std::optional<Value> FirstReadError::value_or_keep(Result<std::optional<Value>> read) {
  if (read.is_ok()) return std::move(read).value();
  keep(read.status());
  return std::nullopt;
}

std::optional<Value> ChangedState::get(const StateKey& key) const {
  if (const std::optional<Value>* changed = find_change(key)) return *changed;
  return base_.get(key);
}

const std::optional<Value>* ChangedState::find_change(const StateKey& key) const {
  auto it = changes_.find(key);
  return it == changes_.end() ? nullptr : &it->second;
}

void ChangedState::apply(const WriteSet& writes) {
  for (const Write& w : writes) changes_[w.key] = w.value;
}

void ChangedState::for_each_change(const std::function<void(const StateKey&, const std::optional<Value>&)>& fn) const {
  for (const auto& [key, value] : changes_) fn(key, value);
}

OverlayState::OverlayState(const BaseState& base, const WriteSet& writes)
    : base_(base), writes_(writes), index_(writes.size(), [&writes](std::size_t i) -> const StateKey& {
        return writes[i].key;
      }) {}

const std::optional<Value>* OverlayState::find(const StateKey& key) const {
  const std::size_t at = index_.find(key, [this](std::size_t i) -> const StateKey& { return writes_[i].key; });
  return at == KeyIndex::kNotFound ? nullptr : &writes_[at].value;
}

std::optional<Value> OverlayState::get(const StateKey& key) const {
  if (const std::optional<Value>* written = find(key)) return *written;
  return base_.get(key);
}

BlockReads::BlockReads(const BaseState& fallback, std::span<const StateKey> keys)
    : fallback_(fallback),
      keys_(keys.begin(), keys.end()),
      values_(keys.size()),
      index_(keys_.size(), [this](std::size_t i) -> const StateKey& { return keys_[i]; }) {}

std::unique_ptr<BlockReads> BlockReads::gather(const BaseState& fallback, std::span<const StateKey> keys,
                                               const MemoryLookup& in_memory, const BaseState& stored, int readers) {
  std::unique_ptr<BlockReads> reads(new BlockReads(fallback, keys));
  std::vector<std::uint32_t> missing;
  for (std::uint32_t slot = 0; slot < keys.size(); ++slot) {
    if (auto held = in_memory(keys[slot])) {
      reads->values_[slot] = std::move(*held);
    } else {
      missing.push_back(slot);
    }
  }
  std::atomic<std::size_t> next{0};
  auto read_some = [&] {
    // Relaxed: the counter only hands out slots; the threads are joined before returning.
    for (std::size_t i = next.fetch_add(1, std::memory_order_relaxed); i < missing.size();
         i = next.fetch_add(1, std::memory_order_relaxed)) {
      reads->values_[missing[i]] = stored.get(keys[missing[i]]);  // each slot written by one thread
    }
  };
  constexpr std::size_t kKeysPerReader = 64;  // fewer keys do not pay for a thread
  const auto threads =
      std::min<std::size_t>(static_cast<std::size_t>(std::max(readers, 1)) - 1, missing.size() / kKeysPerReader);
  std::vector<std::thread> pool;
  pool.reserve(threads);
  for (std::size_t t = 0; t < threads; ++t) pool.emplace_back(read_some);
  read_some();
  for (std::thread& t : pool) t.join();
  return reads;
}

const std::optional<Value>* BlockReads::find(const StateKey& key) const {
  const std::size_t at = index_.find(key, [this](std::size_t i) -> const StateKey& { return keys_[i]; });
  return at == KeyIndex::kNotFound ? nullptr : &values_[at];
}

std::optional<Value> BlockReads::get(const StateKey& key) const {
  if (const std::optional<Value>* gathered = find(key)) return *gathered;
  return fallback_.get(key);
}

}  // namespace pel
