#include "state/state_store.hpp"

#include <algorithm>
#include <map>
#include <thread>

#include "crypto/parallel_for.hpp"

namespace pel {

Bytes commitment_element(const StateKey& key, const Value& value) {
  Bytes out(key.bytes.begin(), key.bytes.end());
  out.insert(out.end(), value.begin(), value.end());
  return out;
}

LatticeHash commitment_delta(const WriteSet& writes, const BaseState& before) {
  auto add_range = [&](std::size_t begin, std::size_t end, LatticeHash acc) {
    for (std::size_t i = begin; i != end; ++i) {
      const Write& w = writes[i];
      std::optional<Value> old = before.get(w.key);
      if (old == w.value) continue;  // rewritten unchanged: removing and adding would cancel
      if (old) acc.remove(commitment_element(w.key, *old));
      if (w.value) acc.add(commitment_element(w.key, *w.value));
    }
    return acc;
  };
  return parallel_reduce_ranges(writes.size(), 64, LatticeHash(), add_range, [](LatticeHash a, const LatticeHash& b) {
    a.combine(b);
    return a;
  });
}

LatticeHash commitment_of(const WriteSet& entries) {
  MemoryState empty;
  return commitment_delta(entries, empty);
}

std::array<std::uint8_t, StateKey::kSize + 8> history_key(const StateKey& key, std::uint64_t height) {
  std::array<std::uint8_t, StateKey::kSize + 8> out{};
  std::copy(key.bytes.begin(), key.bytes.end(), out.begin());
  const auto h = height_key(height);
  std::copy(h.begin(), h.end(), out.begin() + StateKey::kSize);
  return out;
}

namespace {

std::uint64_t read_height(ByteView big_endian) {
  std::uint64_t h = 0;
  for (std::uint8_t b : big_endian) h = h << 8 | b;
  return h;
}

std::string height_context(const Database& db, std::uint64_t height) {
  return db.options().path + ": height " + std::to_string(height);
}

// Every pair of the current state space, in key order.
Result<WriteSet> scan_state(const Database& db) {
  WriteSet out;
  bool bad_key = false;
  PEL_TRY(db.iterate(StateStore::kStateSpace, [&](ByteView key, ByteView value) {
    if (key.size() != StateKey::kSize) {
      bad_key = true;
      return false;
    }
    Write w;
    std::copy(key.begin(), key.end(), w.key.bytes.begin());
    w.value = Value(value.begin(), value.end());
    out.push_back(std::move(w));
    return true;
  }));
  if (bad_key) return error(ErrorCode::kCorruption, db.options().path + ": a state key of the wrong length");
  return out;
}

}  // namespace

Bytes StateStore::encode_history_value(const std::optional<Value>& value) {
  Bytes out;
  out.reserve(1 + (value ? value->size() : 0));
  out.push_back(value ? 1 : 0);
  if (value) out.insert(out.end(), value->begin(), value->end());
  return out;
}

Result<std::optional<Value>> StateStore::decode_history_value(ByteView stored) {
  if (stored.empty() || stored[0] > 1 || (stored[0] == 0 && stored.size() != 1)) {
    return error(ErrorCode::kCorruption, "history value: not 0, or 1 followed by a value");
  }
  if (stored[0] == 0) return std::optional<Value>();
  return std::optional<Value>(Value(stored.begin() + 1, stored.end()));
}

Result<std::vector<StateKey>> StateStore::decode_changed_keys(ByteView record) {
  Reader r(record);
  std::uint64_t count = 0;
  r.varint(count);
  if (count > record.size() / StateKey::kSize) return error(ErrorCode::kCorruption, "changed keys: impossible count");
  std::vector<StateKey> keys(count);
  for (StateKey& key : keys) r.array(key.bytes);
  Status s = r.finish("changed keys");
  if (!s.is_ok()) return error(ErrorCode::kCorruption, s.message());
  if (!std::is_sorted(keys.begin(), keys.end())) return error(ErrorCode::kCorruption, "changed keys: out of order");
  return keys;
}

HistoricalState::HistoricalState(const Database& db, const std::atomic<std::uint64_t>& pruning_below,
                                 std::uint64_t height, std::size_t cache_entries)
    : db_(db), pruning_below_(pruning_below), height_(height), cache_(cache_entries) {}

Result<std::optional<Value>> HistoricalState::read(const StateKey& key) const {
  if (auto cached = cache_.find(key)) return *cached;
  // The current value first, then the history: a block committed between the two reads moved
  // the value it overwrote into the history, where the second read finds it. So the pair is
  // right whatever commits beside it, without a database snapshot.
  auto current = db_.get(StateStore::kStateSpace, key.view());
  if (!current.is_ok()) return current.status().with_context("state key " + key.hex());
  // The first history entry of `key` after this height holds its value here; without one, no
  // later block wrote it and its current value is its value here.
  auto later = db_.seek(StateStore::kHistorySpace, history_key(key, height_ + 1));
  if (!later.is_ok()) return later.status().with_context("state key " + key.hex());
  // Acquire: pairs with the release in stage(), made before a batch that removes history.
  if (pruning_below_.load(std::memory_order_acquire) > height_) {
    return error(ErrorCode::kNotFound, height_context(db_, height_) +
                                           ": its state history was removed while it was read (the kept window moved past it)");
  }
  std::optional<Value> value;
  if (*later && (*later)->key.size() == StateKey::kSize + 8 &&
      std::equal(key.bytes.begin(), key.bytes.end(), (*later)->key.begin())) {
    auto decoded = StateStore::decode_history_value((*later)->value);
    if (!decoded.is_ok()) {
      const std::uint64_t written_at = read_height(ByteView((*later)->key).subspan(StateKey::kSize));
      return decoded.status().with_context(height_context(db_, written_at) + ": state key " + key.hex());
    }
    value = std::move(decoded).value();
  } else if (current->has_value()) {
    value = Value((*current)->begin(), (*current)->end());
  }
  cache_.insert(key, value);
  return value;
}

std::optional<Value> HistoricalState::get(const StateKey& key) const { return read_error_.value_or_keep(read(key)); }

Status HistoricalState::for_each_entry(const std::function<Status(const Write&)>& fn) const {
  // The value here of every key written since: its first history entry after this height.
  std::map<StateKey, std::optional<Value>> changed;
  Status bad;
  PEL_TRY(db_.iterate(StateStore::kHistorySpace, [&](ByteView k, ByteView v) {
    if (k.size() != StateKey::kSize + 8) {
      bad = error(ErrorCode::kCorruption, db_.options().path + ": a history key of the wrong length");
      return false;
    }
    const std::uint64_t written_at = read_height(k.subspan(StateKey::kSize));
    if (written_at <= height_) return true;
    StateKey key;
    std::copy(k.begin(), k.begin() + StateKey::kSize, key.bytes.begin());
    if (changed.contains(key)) return true;
    auto decoded = StateStore::decode_history_value(v);
    if (!decoded.is_ok()) {
      bad = decoded.status().with_context(height_context(db_, written_at) + ": state key " + key.hex());
      return false;
    }
    changed.emplace(key, std::move(decoded).value());
    return true;
  }));
  PEL_TRY(bad);
  // The current state merged with the changed keys' values here, in key order.
  auto next_changed = changed.begin();
  auto emit_changed_before = [&](const StateKey* limit) -> Status {
    for (; next_changed != changed.end() && (limit == nullptr || next_changed->first < *limit); ++next_changed) {
      if (next_changed->second) PEL_TRY(fn(Write{next_changed->first, next_changed->second}));
    }
    return Status::ok();
  };
  PEL_TRY(db_.iterate(StateStore::kStateSpace, [&](ByteView k, ByteView v) {
    if (k.size() != StateKey::kSize) {
      bad = error(ErrorCode::kCorruption, db_.options().path + ": a state key of the wrong length");
      return false;
    }
    Write w;
    std::copy(k.begin(), k.end(), w.key.bytes.begin());
    bad = emit_changed_before(&w.key);
    if (!bad.is_ok()) return false;
    if (next_changed != changed.end() && next_changed->first == w.key) return true;  // emitted by the next call
    w.value = Value(v.begin(), v.end());
    bad = fn(w);
    return bad.is_ok();
  }));
  PEL_TRY(bad);
  return emit_changed_before(nullptr);
}

Result<WriteSet> HistoricalState::entries() const {
  WriteSet out;
  PEL_TRY(for_each_entry([&](const Write& w) {
    out.push_back(w);
    return Status::ok();
  }));
  return out;
}

StateStore::StateStore(Database& db, std::optional<std::uint64_t> keep_history_blocks, std::size_t cache_entries)
    : db_(db), keep_history_blocks_(keep_history_blocks), cache_(cache_entries) {}

Result<std::unique_ptr<StateStore>> StateStore::open(Database& db, std::optional<std::uint64_t> keep_history_blocks,
                                                     std::size_t cache_entries) {
  std::unique_ptr<StateStore> store(new StateStore(db, keep_history_blocks, cache_entries));
  auto stored = db.get(kCommitmentSpace, {});
  if (!stored.is_ok()) return stored.status();
  if (stored->has_value()) {
    auto acc = LatticeHash::from_bytes(**stored);
    if (!acc.is_ok()) {
      return error(ErrorCode::kCorruption,
                   db.options().path + ": stored state accumulator: " + acc.status().message());
    }
    store->accumulator_ = *acc;
  }
  auto oldest = db.get(kOldestSpace, {});
  if (!oldest.is_ok()) return oldest.status();
  if (oldest->has_value()) {
    if ((*oldest)->size() != 8) return error(ErrorCode::kCorruption, db.options().path + ": oldest kept height: not 8 bytes");
    store->oldest_height_ = read_height(**oldest);
  }
  store->pruning_below_.store(store->oldest_height_, std::memory_order_relaxed);  // before any reader
  return store;
}

Result<std::optional<Value>> StateStore::read(const StateKey& key) const {
  if (auto cached = cache_.find(key)) return *cached;
  return read_stored(key);
}

Result<std::optional<Value>> StateStore::read_stored(const StateKey& key) const {
  auto stored = db_.get(kStateSpace, key.view());
  if (!stored.is_ok()) return stored.status().with_context("state key " + key.hex());
  std::optional<Value> v;
  if (stored->has_value()) v = Value((*stored)->begin(), (*stored)->end());
  cache_.insert(key, v);
  return v;
}

std::optional<Value> StateStore::get(const StateKey& key) const { return read_error_.value_or_keep(read(key)); }

// The store's keys that gather() found in no memory: read from the database without looking
// in the cache a second time.
class StateStore::PastTheCache final : public BaseState {
 public:
  explicit PastTheCache(const StateStore& store) : store_(store) {}
  std::optional<Value> get(const StateKey& key) const override {
    return store_.read_error_.value_or_keep(store_.read_stored(key));
  }

 private:
  const StateStore& store_;
};

std::unique_ptr<BlockReads> StateStore::gather(std::span<const StateKey> keys, const OverlayState* pending,
                                               int readers) const {
  auto in_memory = [this, pending](const StateKey& key) -> std::optional<std::optional<Value>> {
    if (pending != nullptr) {
      if (const std::optional<Value>* written = pending->find(key)) return *written;
    }
    return cache_.find(key);
  };
  const BaseState& fallback = pending != nullptr ? static_cast<const BaseState&>(*pending) : *this;
  return BlockReads::gather(fallback, keys, in_memory, PastTheCache(*this), readers);
}

LatticeHash StateStore::accumulator_after(const WriteSet& writes) const {
  LatticeHash acc = accumulator_;
  acc.combine(commitment_delta(writes, *this));
  return acc;
}

Status StateStore::stage(const WriteSet& writes, std::uint64_t height, const LatticeHash& accumulator,
                         WriteBatch& batch, const BlockReads* gathered) {
  // The oldest height kept once this block is written: the window moves up a bounded step.
  std::uint64_t new_oldest = oldest_height_;
  if (keep_history_blocks_ && height > *keep_history_blocks_) {
    new_oldest = std::max(oldest_height_, std::min(height - *keep_history_blocks_, oldest_height_ + kMaxBlocksPrunedPerCommit));
  }
  // Genesis has no history: nothing is read before it. Nor does a block that is the oldest
  // height kept once written (a window of no blocks): nothing below it is read.
  const bool keeps_history = height > 0 && new_oldest < height;
  Writer changed_keys;
  changed_keys.varint(writes.size());
  for (const Write& w : writes) {
    if (keeps_history) {
      const std::optional<Value>* before = gathered != nullptr ? gathered->find(w.key) : nullptr;
      std::optional<Value> read_before;
      if (before == nullptr) {
        auto old = read(w.key);
        if (!old.is_ok()) return old.status().with_context("staging block " + std::to_string(height));
        read_before = std::move(old).value();
        before = &read_before;
      }
      batch.put(kHistorySpace, history_key(w.key, height), encode_history_value(*before));
      changed_keys.array(w.key.bytes);
    }
    if (w.value) {
      batch.put(kStateSpace, w.key.view(), as_bytes(*w.value));
    } else {
      batch.erase(kStateSpace, w.key.view());
    }
  }
  if (keeps_history) batch.put(kChangedKeysSpace, height_key(height), changed_keys.data());
  const auto acc_bytes = accumulator.to_bytes();
  batch.put(kCommitmentSpace, {}, acc_bytes);
  batch.put(kCommitmentSpace, height_key(height), acc_bytes);
  if (new_oldest > oldest_height_) PEL_TRY(stage_pruning(new_oldest, height, batch));
  return Status::ok();
}

Status StateStore::stage_pruning(std::uint64_t new_oldest, std::uint64_t staged_height, WriteBatch& batch) {
  // The block being staged wrote no history if it is the new oldest height.
  for (std::uint64_t h = oldest_height_ + 1; h <= std::min(new_oldest, staged_height - 1); ++h) {
    auto record = db_.get(kChangedKeysSpace, height_key(h));
    if (!record.is_ok()) return record.status().with_context("pruning history");
    if (!record->has_value()) {
      return error(ErrorCode::kCorruption, height_context(db_, h) + ": the record of the keys the block wrote is missing");
    }
    auto keys = decode_changed_keys(**record);
    if (!keys.is_ok()) return keys.status().with_context(height_context(db_, h));
    for (const StateKey& key : *keys) batch.erase(kHistorySpace, history_key(key, h));
    batch.erase(kChangedKeysSpace, height_key(h));
  }
  for (std::uint64_t h = oldest_height_; h < new_oldest; ++h) batch.erase(kCommitmentSpace, height_key(h));
  batch.put(kOldestSpace, {}, height_key(new_oldest));
  // Release: a view that reads after this batch is written sees it (the write follows).
  pruning_below_.store(new_oldest, std::memory_order_release);
  return Status::ok();
}

void StateStore::stage_snapshot_base(std::uint64_t height, const LatticeHash& accumulator, WriteBatch& batch) {
  const auto acc_bytes = accumulator.to_bytes();
  batch.put(kCommitmentSpace, {}, acc_bytes);
  batch.put(kCommitmentSpace, height_key(height), acc_bytes);
  batch.put(kOldestSpace, {}, height_key(height));
}

void StateStore::stage_genesis_part(const WriteSet& part, WriteBatch& batch) {
  for (const Write& w : part) {
    if (w.value) batch.put(kStateSpace, w.key.view(), as_bytes(*w.value));
  }
}

void StateStore::publish(const WriteSet& writes, const LatticeHash& accumulator) {
  for (const Write& w : writes) cache_.update(w.key, w.value);
  accumulator_ = accumulator;
  oldest_height_ = pruning_below_.load(std::memory_order_relaxed);  // this thread's own store
}

Result<WriteSet> StateStore::entries() const { return scan_state(db_); }

Result<LatticeHash> StateStore::recompute_accumulator() const {
  auto all = entries();
  if (!all.is_ok()) return all.status();
  return commitment_of(*all);
}

Status StateStore::check_kept(std::uint64_t height) const {
  if (height >= oldest_height_) return Status::ok();
  std::string window = "this chain keeps the state of heights " + std::to_string(oldest_height_) + " and above";
  if (keep_history_blocks_) window += " (" + std::to_string(*keep_history_blocks_) + " blocks of history)";
  return error(ErrorCode::kNotFound, height_context(db_, height) + ": outside the kept state history: " + window);
}

Result<std::unique_ptr<HistoricalState>> StateStore::state_at(std::uint64_t height) const {
  PEL_TRY(check_kept(height));
  // A small cache: a view serves one replay or one lookup, and most of its reads go to keys
  // whose values the caller keeps itself once it has them.
  constexpr std::size_t kViewCacheEntries = 1u << 16;
  return std::unique_ptr<HistoricalState>(new HistoricalState(db_, pruning_below_, height, kViewCacheEntries));
}

Result<LatticeHash> StateStore::accumulator_at(std::uint64_t height) const {
  PEL_TRY(check_kept(height));
  auto stored = db_.get(kCommitmentSpace, height_key(height));
  if (!stored.is_ok()) return stored.status();
  if (!stored->has_value()) return error(ErrorCode::kCorruption, height_context(db_, height) + ": state commitment missing");
  auto acc = LatticeHash::from_bytes(**stored);
  if (!acc.is_ok()) return acc.status().with_context(height_context(db_, height) + ": state commitment");
  return acc;
}

}  // namespace pel
