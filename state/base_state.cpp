#include "state/base_state.hpp"

#include <algorithm>

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

OverlayState::OverlayState(const BaseState& base, const WriteSet& writes) : base_(base) {
  overlay_.reserve(writes.size());
  for (const Write& w : writes) overlay_[w.key] = &w.value;
}

std::optional<Value> OverlayState::get(const StateKey& key) const {
  auto it = overlay_.find(key);
  if (it != overlay_.end()) return *it->second;
  return base_.get(key);
}

}  // namespace pel
