#include "state/base_state.hpp"

#include <algorithm>
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
  auto it = changes_.find(key);
  if (it != changes_.end()) return it->second;
  return base_.get(key);
}

void ChangedState::apply(const WriteSet& writes) {
  for (const Write& w : writes) changes_[w.key] = w.value;
}

void ChangedState::for_each_change(const std::function<void(const StateKey&, const std::optional<Value>&)>& fn) const {
  for (const auto& [key, value] : changes_) fn(key, value);
}

OverlayState::OverlayState(const BaseState& base, const WriteSet& writes) : base_(base) {
  overlay_.reserve(writes.size());
  for (const Write& w : writes) overlay_[w.key] = &w.value;
}

std::optional<Value> OverlayState::get(const StateKey& key) const {
  auto it = overlay_.find(key);
  if (it != overlay_.end()) return *it->second;
  return base_.get(key);
}

BlockReads::BlockReads(const BaseState& fallback, std::span<const StateKey> keys)
    : fallback_(fallback), keys_(keys.begin(), keys.end()), values_(keys.size()) {
  slots_.reserve(keys_.size());
  for (std::uint32_t slot = 0; slot < keys_.size(); ++slot) slots_.emplace(keys_[slot], slot);
}

const std::optional<Value>* BlockReads::find(const StateKey& key) const {
  auto it = slots_.find(key);
  return it == slots_.end() ? nullptr : &values_[it->second];
}

std::optional<Value> BlockReads::get(const StateKey& key) const {
  if (const std::optional<Value>* gathered = find(key)) return *gathered;
  return fallback_.get(key);
}

}  // namespace pel
