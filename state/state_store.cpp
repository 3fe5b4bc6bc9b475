#include "state/state_store.hpp"

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

StateStore::StateStore(Database& db)
    : db_(db),
      shard_capacity_(std::max<std::size_t>(1, db.options().state_cache_entries / kShards)),
      cache_(kShards) {}

Result<std::unique_ptr<StateStore>> StateStore::open(Database& db) {
  std::unique_ptr<StateStore> store(new StateStore(db));
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
  return store;
}

Result<std::optional<Value>> StateStore::read(const StateKey& key) const {
  CacheShard& shard = cache_[StateKeyHash{}(key) % kShards];
  {
    tbb::spin_mutex::scoped_lock lock(shard.mutex);
    auto it = shard.entries.find(key);
    if (it != shard.entries.end()) return it->second;
  }
  auto stored = db_.get(kStateSpace, key.view());
  if (!stored.is_ok()) return stored.status().with_context("state key " + key.hex());
  std::optional<Value> v;
  if (stored->has_value()) v = Value((*stored)->begin(), (*stored)->end());
  tbb::spin_mutex::scoped_lock lock(shard.mutex);
  // A full shard is simply emptied: bounded memory, no LRU bookkeeping on the read path.
  if (shard.entries.size() >= shard_capacity_) shard.entries.clear();
  shard.entries.emplace(key, v);
  return v;
}

std::optional<Value> StateStore::get(const StateKey& key) const {
  auto r = read(key);
  if (r.is_ok()) return std::move(r).value();
  std::lock_guard lock(error_mutex_);
  if (read_error_.is_ok()) read_error_ = r.status();
  has_read_error_.store(true, std::memory_order_release);
  return std::nullopt;
}

Status StateStore::take_read_error() const {
  if (!has_read_error_.load(std::memory_order_acquire)) return Status::ok();
  std::lock_guard lock(error_mutex_);
  Status s = read_error_;
  read_error_ = Status::ok();
  has_read_error_.store(false, std::memory_order_release);
  return s;
}

LatticeHash StateStore::accumulator_after(const WriteSet& writes) const {
  LatticeHash acc = accumulator_;
  acc.combine(commitment_delta(writes, *this));
  return acc;
}

Status StateStore::stage(const WriteSet& writes, std::uint64_t height, const LatticeHash& accumulator,
                         WriteBatch& batch) {
  Writer undo;
  undo.varint(writes.size());
  for (const Write& w : writes) {
    auto old_or = read(w.key);
    if (!old_or.is_ok()) return old_or.status().with_context("staging block " + std::to_string(height));
    const std::optional<Value>& old = *old_or;
    undo.array(w.key.bytes);
    undo.u8(old ? 1 : 0);
    if (old) undo.bytes(as_bytes(*old));
    if (w.value) {
      batch.put(kStateSpace, w.key.view(), as_bytes(*w.value));
    } else {
      batch.erase(kStateSpace, w.key.view());
    }
  }
  // Genesis has no undo record: nothing rolls back to before it, and for a large genesis it
  // would be one value of tens of megabytes that LevelDB decompresses whole whenever a lookup of
  // a missing state key past the last stored one lands in its table block.
  if (height > 0) batch.put(kUndoSpace, height_key(height), undo.data());
  batch.put(kCommitmentSpace, {}, accumulator.to_bytes());
  return Status::ok();
}

void StateStore::stage_genesis_part(const WriteSet& part, WriteBatch& batch) {
  for (const Write& w : part) {
    if (w.value) batch.put(kStateSpace, w.key.view(), as_bytes(*w.value));
  }
}

void StateStore::publish(const WriteSet& writes, const LatticeHash& accumulator) {
  for (const Write& w : writes) {
    CacheShard& shard = cache_[StateKeyHash{}(w.key) % kShards];
    tbb::spin_mutex::scoped_lock lock(shard.mutex);
    auto it = shard.entries.find(w.key);
    if (it != shard.entries.end()) it->second = w.value;
  }
  accumulator_ = accumulator;
}

Result<WriteSet> StateStore::entries() const {
  WriteSet out;
  bool bad_key = false;
  Status s = db_.iterate(kStateSpace, [&](ByteView key, ByteView value) {
    Write w;
    if (key.size() != StateKey::kSize) {
      bad_key = true;
      return false;
    }
    std::copy(key.begin(), key.end(), w.key.bytes.begin());
    w.value = Value(value.begin(), value.end());
    out.push_back(std::move(w));
    return true;
  });
  if (!s.is_ok()) return s;
  if (bad_key) return error(ErrorCode::kCorruption, db_.options().path + ": a state key of the wrong length");
  return out;
}

Result<LatticeHash> StateStore::recompute_accumulator() const {
  auto all = entries();
  if (!all.is_ok()) return all.status();
  return commitment_of(*all);
}

Result<MemoryState> StateStore::state_at(std::uint64_t height, std::uint64_t head) const {
  auto all = entries();
  if (!all.is_ok()) return all.status();
  MemoryState state;
  state.apply(*all);
  for (std::uint64_t h = head; h > height; --h) {
    const std::string where = db_.options().path + ": height " + std::to_string(h);
    auto undo = db_.get(kUndoSpace, height_key(h));
    if (!undo.is_ok()) return undo.status();
    if (!undo->has_value()) return error(ErrorCode::kCorruption, where + ": undo record missing");
    auto writes = decode_undo(**undo);
    if (!writes.is_ok()) return writes.status().with_context(where);
    state.apply(*writes);
  }
  return state;
}

Result<WriteSet> StateStore::decode_undo(ByteView undo) {
  Reader r(undo);
  std::uint64_t count = 0;
  r.varint(count);
  if (count > undo.size() / (StateKey::kSize + 1)) return error(ErrorCode::kCorruption, "undo record: impossible count");
  WriteSet out;
  out.reserve(count);
  for (std::uint64_t i = 0; i < count && !r.failed(); ++i) {
    Write w;
    std::uint8_t present = 0;
    r.array(w.key.bytes);
    r.u8(present);
    if (present) {
      ByteView v;
      r.bytes(v, undo.size());
      w.value = Value(v.begin(), v.end());
    }
    out.push_back(std::move(w));
  }
  Status s = r.finish("undo record");
  if (!s.is_ok()) return error(ErrorCode::kCorruption, s.message());
  return out;
}

}  // namespace pel
