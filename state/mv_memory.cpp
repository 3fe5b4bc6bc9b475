#include "state/mv_memory.hpp"

#include <algorithm>

namespace pel {
namespace {

using Entry = KeyCell::Entry;

// First entry with txn >= `txn` (entries are sorted by txn).
std::vector<Entry>::const_iterator lower_bound_txn(const std::vector<Entry>& entries, TxnIndex txn) {
  return std::lower_bound(entries.begin(), entries.end(), txn,
                          [](const Entry& e, TxnIndex t) { return e.txn < t; });
}

std::vector<Entry>::iterator lower_bound_txn(std::vector<Entry>& entries, TxnIndex txn) {
  return std::lower_bound(entries.begin(), entries.end(), txn,
                          [](const Entry& e, TxnIndex t) { return e.txn < t; });
}

bool contains(const std::vector<KeyCell*>& cells, const KeyCell* cell) {
  return std::find(cells.begin(), cells.end(), cell) != cells.end();
}

}  // namespace

MVMemory::MVMemory(std::size_t block_size) : slots_(block_size) {
  cells_.rehash(block_size * 4 + 16);
}

KeyCell* MVMemory::cell(const StateKey& key) {
  auto it = cells_.find(key);
  if (it != cells_.end()) return it->second.get();
  // Two threads may race to create the cell; emplace keeps exactly one.
  return cells_.emplace(key, std::make_unique<KeyCell>(key)).first->second.get();
}

MVRead MVMemory::read(const KeyCell& cell, TxnIndex txn) {
  MVRead out;
  tbb::spin_mutex::scoped_lock lock(cell.mutex);
  auto it = lower_bound_txn(cell.entries, txn);
  if (it == cell.entries.begin()) return out;  // storage
  --it;
  if (it->estimate) {
    out.kind = MVRead::Kind::kDependency;
    out.blocking_txn = it->txn;
    return out;
  }
  out.kind = MVRead::Kind::kValue;
  out.version = {it->txn, it->incarnation};
  out.value = it->value;
  return out;
}

bool MVMemory::record(Version version, std::vector<ReadDescriptor> reads, const WriteSet& writes) {
  TxnSlot& slot = slots_[version.txn];
  std::vector<KeyCell*> written;
  written.reserve(writes.size());
  for (const Write& w : writes) {
    KeyCell* c = cell(w.key);
    {
      tbb::spin_mutex::scoped_lock lock(c->mutex);
      auto it = lower_bound_txn(c->entries, version.txn);
      if (it != c->entries.end() && it->txn == version.txn) {
        it->incarnation = version.incarnation;
        it->estimate = false;
        it->value = w.value;
      } else {
        c->entries.insert(it, Entry{version.txn, version.incarnation, false, w.value});
      }
    }
    if (!contains(written, c)) written.push_back(c);
  }

  bool wrote_new_path = false;
  for (KeyCell* c : written) {
    if (!contains(slot.written, c)) {
      wrote_new_path = true;
      break;
    }
  }
  // Keys the previous incarnation wrote and this one did not: remove the stale entries.
  for (KeyCell* c : slot.written) {
    if (contains(written, c)) continue;
    tbb::spin_mutex::scoped_lock lock(c->mutex);
    auto it = lower_bound_txn(c->entries, version.txn);
    if (it != c->entries.end() && it->txn == version.txn) c->entries.erase(it);
  }
  slot.written = std::move(written);
  {
    tbb::spin_mutex::scoped_lock lock(slot.read_mutex);
    slot.reads.swap(reads);
  }
  return wrote_new_path;  // `reads` now holds the old read set and is freed outside the lock
}

bool MVMemory::validate_read_set(TxnIndex txn) const {
  const TxnSlot& slot = slots_[txn];
  tbb::spin_mutex::scoped_lock slot_lock(slot.read_mutex);
  for (const ReadDescriptor& r : slot.reads) {
    tbb::spin_mutex::scoped_lock lock(r.cell->mutex);
    auto it = lower_bound_txn(r.cell->entries, txn);
    if (it == r.cell->entries.begin()) {
      if (!r.from_storage) return false;
      continue;
    }
    --it;
    if (it->estimate || r.from_storage) return false;
    if (it->txn != r.version.txn || it->incarnation != r.version.incarnation) return false;
  }
  return true;
}

void MVMemory::convert_writes_to_estimates(TxnIndex txn) {
  for (KeyCell* c : slots_[txn].written) {
    tbb::spin_mutex::scoped_lock lock(c->mutex);
    auto it = lower_bound_txn(c->entries, txn);
    if (it != c->entries.end() && it->txn == txn) it->estimate = true;
  }
}

WriteSet MVMemory::snapshot() const {
  WriteSet out;
  out.reserve(cells_.size());
  for (const auto& [key, cell] : cells_) {
    if (cell->entries.empty()) continue;  // only read, or only written by aborted incarnations
    const Entry& last = cell->entries.back();
    PEL_ASSERT(!last.estimate, "an ESTIMATE survived a completed block");
    out.push_back({key, last.value});
  }
  std::sort(out.begin(), out.end(), [](const Write& a, const Write& b) { return a.key < b.key; });
  return out;
}

}  // namespace pel
