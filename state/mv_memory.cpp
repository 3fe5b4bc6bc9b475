#include "state/mv_memory.hpp"

#include <algorithm>
#include <functional>
#include <iterator>

#include "crypto/parallel_for.hpp"

namespace pel {
namespace {

using Entry = KeyCell::Entry;

// First entry with txn >= `txn` (entries are sorted by txn).
template <typename Entries>
auto lower_bound_txn(Entries& entries, TxnIndex txn) {
  return std::lower_bound(entries.begin(), entries.end(), txn,
                          [](const Entry& e, TxnIndex t) { return e.txn < t; });
}

// The cell of `key` when the execution read it, else null. Only short read sets are searched:
// a key comparison is cheaper than a hash probe only while there are few.
KeyCell* read_cell(const ReadSet& reads, const StateKey& key) {
  constexpr std::size_t kSearched = 16;
  if (reads.size() > kSearched) return nullptr;
  for (const ReadDescriptor& r : reads) {
    if (r.cell->key == key) return const_cast<KeyCell*>(r.cell);  // the memory owns its cells
  }
  return nullptr;
}

// REQUIRES: cell.mutex held. Every writer holds it, so a plain load and store suffice; relaxed,
// because readers without the lock use the count only as a hint (see read_is_current).
void note_change(KeyCell& cell) {
  cell.changes.store(cell.changes.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

// What `txn` sees under a cell: the entry below it, and below a run of delta entries the value
// they add to. REQUIRES: the cell's mutex held.
struct Resolution {
  const Entry* base = nullptr;     // the value's entry; null: the base state's value
  const Entry* blocker = nullptr;  // an ESTIMATE met on the way down: nothing else is set
  bool has_deltas = false;
  DeltaSum deltas = 0;
};

template <typename Entries>
Resolution resolve(const Entries& entries, TxnIndex txn) {
  Resolution r;
  for (auto it = lower_bound_txn(entries, txn); it != entries.begin();) {
    --it;
    if (it->estimate) {
      r.blocker = &*it;
      return r;
    }
    if (!it->is_delta) {
      r.base = &*it;
      return r;
    }
    r.has_deltas = true;
    r.deltas += it->delta;
  }
  return r;
}

Entry value_entry(Version v, const std::optional<Value>* value) {
  Entry e{v.txn, v.incarnation, false, false, false, {}};
  e.value = value;
  return e;
}

Entry delta_entry(Version v, std::uint64_t amount) {
  Entry e{v.txn, v.incarnation, false, false, true, {}};
  e.delta = amount;
  return e;
}

}  // namespace

MVMemory::MVMemory(std::size_t block_size) : slots_(block_size) {
  // About 8 slots per transaction: ledger transactions touch 2-6 keys, so probes stay short.
  std::size_t capacity = 1024;
  while (capacity < block_size * 8) capacity *= 2;
  mask_ = capacity - 1;
  table_ = std::make_unique<std::atomic<KeyCell*>[]>(capacity);  // value-initialised: all null
}

MVMemory::~MVMemory() {
  parallel_ranges(mask_ + 1, 4096, [this](std::size_t begin, std::size_t end) {
    for (std::size_t i = begin; i < end; ++i) delete table_[i].load(std::memory_order_relaxed);
  });
}

KeyCell* MVMemory::cell(const StateKey& key) {
  const std::size_t hash = StateKeyHash{}(key);
  KeyCell* fresh = nullptr;
  for (std::size_t probe = 0; probe < kMaxProbe; ++probe) {
    std::atomic<KeyCell*>& slot = table_[(hash + probe) & mask_];
    // acquire: pairs with the release of the compare-exchange that published the cell, so its
    // key is visible before we compare it.
    KeyCell* c = slot.load(std::memory_order_acquire);
    if (c == nullptr) {
      if (fresh == nullptr) fresh = new KeyCell(key);
      if (slot.compare_exchange_strong(c, fresh, std::memory_order_acq_rel, std::memory_order_acquire)) {
        return fresh;
      }
      // Lost the race for this slot: `c` now holds the winner, which may be our key.
    }
    if (c->key == key) {
      delete fresh;
      return c;
    }
  }
  delete fresh;
  return overflow_cell(key);
}

KeyCell* MVMemory::overflow_cell(const StateKey& key) {
  tbb::spin_mutex::scoped_lock lock(overflow_mutex_);
  auto& c = overflow_[key];
  if (!c) c = std::make_unique<KeyCell>(key);
  return c.get();
}

MVRead MVMemory::read(const KeyCell& cell, TxnIndex txn) {
  MVRead out;
  tbb::spin_mutex::scoped_lock lock(cell.mutex);
  out.changes = cell.changes.load(std::memory_order_relaxed);  // exact: writers hold the lock
  const Resolution r = resolve(cell.entries, txn);
  if (r.blocker != nullptr) {
    out.kind = MVRead::Kind::kDependency;
    out.blocking_txn = r.blocker->txn;
    out.predicted = r.blocker->declared;
    return out;
  }
  out.has_deltas = r.has_deltas;
  out.deltas = r.deltas;
  if (r.base == nullptr) return out;  // storage
  out.kind = MVRead::Kind::kValue;
  out.version = {r.base->txn, r.base->incarnation};
  out.value = *r.base->value;
  return out;
}

bool MVMemory::record(Version version, ReadSet reads, const WriteSet& writes, const DeltaSet& deltas,
                      DeltaReads delta_reads) {
  TxnSlot& slot = slots_[version.txn];
  WrittenCells written;
  written.reserve(writes.size() + deltas.size());
  auto publish = [&](const StateKey& key, const Entry& entry) {
    KeyCell* c = read_cell(reads, key);
    if (c == nullptr) c = cell(key);
    {
      tbb::spin_mutex::scoped_lock lock(c->mutex);
      auto it = lower_bound_txn(c->entries, version.txn);
      if (it != c->entries.end() && it->txn == version.txn) {
        *it = entry;
      } else {
        c->entries.insert(it, entry);
      }
      note_change(*c);
    }
    written.push_back(c);
  };
  for (const Write& w : writes) publish(w.key, value_entry(version, &w.value));
  for (const Delta& d : deltas) publish(d.key, delta_entry(version, d.amount));

  // Both cell lists as sorted sets (a key written and added to is one cell), so comparing them
  // costs O(k log k) for an execution of k writes, not O(k^2).
  const std::less<KeyCell*> order;  // a total order on pointers
  std::sort(written.begin(), written.end(), order);
  written.erase(std::unique(written.begin(), written.end()), written.end());
  if (!std::is_sorted(slot.written.begin(), slot.written.end(), order)) {
    std::sort(slot.written.begin(), slot.written.end(), order);
  }
  const bool wrote_new_path =
      !std::includes(slot.written.begin(), slot.written.end(), written.begin(), written.end(), order);
  // Keys the previous incarnation wrote and this one did not: remove the stale entries.
  auto now = written.begin();
  for (KeyCell* c : slot.written) {
    while (now != written.end() && order(*now, c)) ++now;
    if (now != written.end() && *now == c) continue;
    tbb::spin_mutex::scoped_lock lock(c->mutex);
    auto it = lower_bound_txn(c->entries, version.txn);
    if (it != c->entries.end() && it->txn == version.txn) {
      c->entries.erase(it);
      note_change(*c);
    }
  }
  slot.written = std::move(written);
  {
    tbb::spin_mutex::scoped_lock lock(slot.read_mutex);
    slot.reads.swap(reads);
    slot.delta_reads.swap(delta_reads);
  }
  return wrote_new_path;  // `reads` now holds the old read set and is freed outside the lock
}

bool MVMemory::read_holds(const ReadDescriptor& read, TxnIndex txn, DeltaSum delta_sum) {
  const Resolution r = resolve(read.cell->entries, txn);
  if (r.blocker != nullptr || r.has_deltas != read.with_deltas || (r.has_deltas && r.deltas != delta_sum)) {
    return false;
  }
  if (r.base == nullptr) return read.from_storage;
  return !read.from_storage && r.base->txn == read.version.txn && r.base->incarnation == read.version.incarnation;
}

const KeyCell* MVMemory::first_stale_read(TxnIndex txn) const {
  const TxnSlot& slot = slots_[txn];
  tbb::spin_mutex::scoped_lock slot_lock(slot.read_mutex);
  std::size_t delta_read = 0;
  for (const ReadDescriptor& r : slot.reads) {
    const DeltaSum sum = r.with_deltas ? slot.delta_reads[delta_read++] : 0;
    tbb::spin_mutex::scoped_lock lock(r.cell->mutex);
    if (!read_holds(r, txn, sum)) return r.cell;
  }
  return nullptr;
}

bool MVMemory::read_is_current(const ReadDescriptor& read, TxnIndex txn, DeltaSum delta_sum) {
  // relaxed: an unchanged count means the entries are those the read saw (every change bumps it
  // under the lock the read held); a stale count only delays the answer, and a moved one sends
  // us to the exact check under the lock.
  if (read.cell->changes.load(std::memory_order_relaxed) == read.changes) return true;
  tbb::spin_mutex::scoped_lock lock(read.cell->mutex);
  return read_holds(read, txn, delta_sum);
}

void MVMemory::convert_writes_to_estimates(TxnIndex txn) {
  for (KeyCell* c : slots_[txn].written) {
    tbb::spin_mutex::scoped_lock lock(c->mutex);
    auto it = lower_bound_txn(c->entries, txn);
    if (it != c->entries.end() && it->txn == txn) {
      it->estimate = true;
      note_change(*c);
    }
  }
}

void MVMemory::declare_write(TxnIndex txn, KeyCell* cell) {
  {
    tbb::spin_mutex::scoped_lock lock(cell->mutex);
    // Declarations come in ascending order, before any execution: a key this transaction
    // declared already holds its marker last (O(1), however many keys it declares).
    if (!cell->entries.empty() && cell->entries.back().txn == txn) return;
    PEL_ASSERT(cell->entries.empty() || cell->entries.back().txn < txn, "declarations come in ascending order");
    Entry marker = value_entry(Version{txn, 0}, nullptr);
    marker.estimate = true;
    marker.declared = true;
    cell->entries.push_back(marker);
    note_change(*cell);
  }
  // As if an incarnation before the first had written the key: the first execution's record()
  // replaces the marker, or removes it when the transaction does not write the key.
  slots_[txn].written.push_back(cell);
}

FinalWrites MVMemory::final_writes_below(std::size_t txns) const {
  // Each key is emitted by its last writer below `txns`, found from the transactions' written
  // cells (no scan of cells that were only read). Chunks collect their own parts; the parts are
  // sorted as (key prefix, entry) pairs, 24 bytes that mostly compare as one integer, and the
  // values are then copied in key order, all data-parallel.
  struct Top {
    std::uint64_t prefix;
    const KeyCell* cell;
    const Entry* entry;
  };
  constexpr std::size_t kChunk = 256;
  const std::size_t chunks = (txns + kChunk - 1) / kChunk;
  const bool whole_block = txns == slots_.size();
  std::vector<std::vector<Top>> parts(chunks);
  parallel_ranges(chunks, 1, [&](std::size_t begin, std::size_t end) {
    for (std::size_t chunk = begin; chunk < end; ++chunk) {
      const std::size_t last = std::min(txns, (chunk + 1) * kChunk);
      for (std::size_t txn = chunk * kChunk; txn < last; ++txn) {
        for (const KeyCell* c : slots_[txn].written) {
          const Entry& top = whole_block ? c->entries.back()
                                   : *std::prev(lower_bound_txn(c->entries, static_cast<TxnIndex>(txns)));
          if (top.txn != txn) continue;
          PEL_ASSERT(!top.estimate, "an ESTIMATE survived a completed block");
          parts[chunk].push_back({c->key.prefix(), c, &top});
        }
      }
    }
  });
  std::size_t total = 0;
  for (const std::vector<Top>& p : parts) total += p.size();
  std::vector<Top> tops;
  tops.reserve(total);
  for (const std::vector<Top>& p : parts) tops.insert(tops.end(), p.begin(), p.end());
  parallel_sort(tops.begin(), tops.end(), [](const Top& a, const Top& b) {
    return a.prefix != b.prefix ? a.prefix < b.prefix : a.cell->key < b.cell->key;
  });
  // Keys whose last entries are deltas (few: most blocks write none) are also named in `deltas`.
  FinalWrites out;
  out.writes.resize(total);
  std::atomic<std::size_t> delta_tops{0};
  parallel_ranges(total, 1024, [&](std::size_t begin, std::size_t end) {
    std::size_t here = 0;
    for (std::size_t i = begin; i < end; ++i) {
      out.writes[i].key = tops[i].cell->key;
      if (tops[i].entry->is_delta) {
        ++here;
      } else {
        out.writes[i].value = *tops[i].entry->value;
      }
    }
    // relaxed: read after parallel_ranges returned, which synchronises with every chunk.
    if (here != 0) delta_tops.fetch_add(here, std::memory_order_relaxed);
  });
  if (delta_tops.load(std::memory_order_relaxed) == 0) return out;
  out.deltas.reserve(delta_tops.load(std::memory_order_relaxed));
  for (std::size_t i = 0; i < total; ++i) {
    if (!tops[i].entry->is_delta) continue;
    const Resolution r = resolve(tops[i].cell->entries, tops[i].entry->txn + 1);
    PEL_ASSERT(r.blocker == nullptr && r.has_deltas, "final deltas resolve");
    PendingDeltas d{tops[i].cell->key, r.base == nullptr, std::nullopt, r.deltas};
    if (r.base != nullptr) d.base = *r.base->value;
    out.deltas.push_back({i, std::move(d)});
  }
  return out;
}

}  // namespace pel
