#include "engine/access_list.hpp"

#include <algorithm>
#include <limits>
#include <unordered_map>

namespace pel {
namespace {

constexpr std::uint8_t kEncodingVersion = 2;  // 2: entries name their adds

/// Gives each distinct key one id in `list.keys`.
class KeyInterner {
 public:
  explicit KeyInterner(AccessList& list) : list_(list) {}
  std::uint32_t id(const StateKey& key) {
    auto [it, inserted] = ids_.try_emplace(key, static_cast<std::uint32_t>(list_.keys.size()));
    if (inserted) list_.keys.push_back(key);
    return it->second;
  }

 private:
  AccessList& list_;
  std::unordered_map<StateKey, std::uint32_t, StateKeyHash> ids_;
};

/// Appends one entry's keys (each part sorted and distinct) to `list`.
void add_entry(AccessList& list, KeyInterner& interner, std::span<const StateKey> reads,
               std::span<const StateKey> writes, std::span<const StateKey> adds) {
  for (std::span<const StateKey> part : {reads, writes, adds}) {
    for (const StateKey& k : part) list.ids.push_back(interner.id(k));
    list.offsets.push_back(static_cast<std::uint32_t>(list.ids.size()));
  }
}

void sort_unique(std::vector<StateKey>& keys) {
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
}

std::vector<StateKey> keys_of(const AccessList& list, std::span<const std::uint32_t> ids) {
  std::vector<StateKey> keys;
  keys.reserve(ids.size());
  for (std::uint32_t id : ids) keys.push_back(list.keys[id]);
  std::sort(keys.begin(), keys.end());
  return keys;
}

std::string entry_name(std::size_t entry, std::size_t num_txns) { return access_entry_name(entry, num_txns); }

/// The first key in one of `listed` and `done` (both sorted) but not the other.
Status compare_keys(const std::vector<StateKey>& listed, const std::vector<StateKey>& done, const std::string& who,
                    const char* verb) {
  auto [l, d] = std::mismatch(listed.begin(), listed.end(), done.begin(), done.end());
  if (l == listed.end() && d == done.end()) return Status::ok();
  // Whichever side holds the smaller key at the first difference holds a key the other lacks.
  const bool extra_listed = d == done.end() || (l != listed.end() && *l < *d);
  return access_mismatch(who, verb, extra_listed ? *l : *d, extra_listed);
}

}  // namespace

std::string access_entry_name(std::size_t entry, std::size_t num_txns) {
  return entry == num_txns ? std::string("finish_block") : "transaction " + std::to_string(entry);
}

Status access_mismatch(const std::string& who, const char* verb, const StateKey& key, bool listed_only) {
  if (listed_only) {
    return error(ErrorCode::kVerification,
                 "the access list says " + who + " " + verb + " key " + key.hex() + ", execution did not");
  }
  return error(ErrorCode::kVerification, who + " " + verb + " key " + key.hex() + ", which the access list does not name");
}

Status AccessList::check_entry(std::size_t entry, const AccessList& done, std::size_t done_entry,
                               const std::string& who) const {
  PEL_TRY(compare_keys(keys_of(*this, reads(entry)), keys_of(done, done.reads(done_entry)), who, "read"));
  PEL_TRY(compare_keys(keys_of(*this, writes(entry)), keys_of(done, done.writes(done_entry)), who, "wrote"));
  return compare_keys(keys_of(*this, adds(entry)), keys_of(done, done.adds(done_entry)), who, "added to");
}

Status AccessList::check_matches(const AccessList& done) const {
  if (entries() != done.entries()) {
    return error(ErrorCode::kVerification, "the access list has " + std::to_string(entries()) +
                                               " entries, the block " + std::to_string(done.entries()));
  }
  for (std::size_t e = 0; e < entries(); ++e) PEL_TRY(check_entry(e, done, e, entry_name(e, entries() - 1)));
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// Recording

struct AccessRecorder::Slots {
  explicit Slots(std::size_t n) : reads(n) {}
  std::vector<std::vector<StateKey>> reads;  // per transaction: its last execution's, sorted
  std::vector<StateKey> finish_reads;
  std::vector<StateKey> finish_writes;
};

namespace {

class RecordingReader final : public StateReader {
 public:
  RecordingReader(StateReader& inner, std::vector<StateKey>& keys) : inner_(inner), keys_(keys) {}
  std::optional<Value> read(const StateKey& key) override {
    keys_.push_back(key);
    return inner_.read(key);
  }
  bool aborted() const override { return inner_.aborted(); }

 private:
  StateReader& inner_;
  std::vector<StateKey>& keys_;
};

}  // namespace

AccessRecorder::AccessRecorder(const Vm& inner, std::size_t num_txns)
    : inner_(inner), slots_(std::make_unique<Slots>(num_txns)) {}

AccessRecorder::~AccessRecorder() = default;

TxnOutput AccessRecorder::execute(TxnIndex txn, StateReader& reader) const {
  // Each execution starts afresh: the last one a transaction gets is the one that counts. Its
  // executions never overlap (the executor runs an incarnation only after the previous ended).
  std::vector<StateKey>& keys = slots_->reads[txn];
  keys.clear();
  RecordingReader recording(reader, keys);
  struct SortOnExit {
    std::vector<StateKey>& keys;
    ~SortOnExit() { sort_unique(keys); }  // also when the VM throws: those reads count too
  } sort_on_exit{keys};
  return inner_.execute(txn, recording);
}

void AccessRecorder::declare_writes(TxnIndex txn, DeclaredWrites& out) const { inner_.declare_writes(txn, out); }
void AccessRecorder::declare_adds(TxnIndex txn, DeclaredWrites& out) const { inner_.declare_adds(txn, out); }

Value AccessRecorder::apply_delta(const StateKey& key, const std::optional<Value>& base, DeltaSum total) const {
  return inner_.apply_delta(key, base, total);
}

WriteSet AccessRecorder::finish_block(std::span<const TxnOutput> outputs, StateReader& state) const {
  slots_->finish_reads.clear();
  slots_->finish_writes.clear();
  RecordingReader recording(state, slots_->finish_reads);
  WriteSet writes;
  try {
    writes = inner_.finish_block(outputs, recording);
  } catch (...) {
    sort_unique(slots_->finish_reads);
    throw;
  }
  sort_unique(slots_->finish_reads);
  for (const Write& w : writes) slots_->finish_writes.push_back(w.key);
  sort_unique(slots_->finish_writes);
  return writes;
}

AccessList AccessRecorder::take(std::span<const TxnOutput> outputs) {
  AccessList list;
  KeyInterner interner(list);
  std::vector<StateKey> written;
  std::vector<StateKey> added;
  for (std::size_t t = 0; t < slots_->reads.size(); ++t) {
    written.clear();
    added.clear();
    if (t < outputs.size()) {
      for (const Write& w : outputs[t].writes) written.push_back(w.key);
      for (const Delta& d : outputs[t].deltas) added.push_back(d.key);
    }
    sort_unique(written);
    sort_unique(added);
    add_entry(list, interner, slots_->reads[t], written, added);
  }
  add_entry(list, interner, slots_->finish_reads, slots_->finish_writes, {});
  return list;
}

// ---------------------------------------------------------------------------------------------
// Encoding

namespace {

// What entry `e`'s references may name, in the same order for encoding and decoding: the
// transaction's declared writes, then its declared adds; none for finish_block.
std::span<const StateKey> declared_keys(const BlockDeclarations& declarations, std::size_t e) {
  if (e >= declarations.transactions()) return {};
  return declarations.keys(static_cast<TxnIndex>(e));
}

}  // namespace

namespace {

// How the encoder writes `key` after `previous`: bytes shared with it, bytes spelt out.
std::pair<std::size_t, std::size_t> front_coding(const StateKey& previous, const StateKey& key) {
  std::size_t significant = StateKey::kSize;
  while (significant > 0 && key.bytes[significant - 1] == 0) --significant;
  std::size_t shared = 0;
  while (shared < significant && key.bytes[shared] == previous.bytes[shared]) ++shared;
  return {shared, significant - shared};
}

// One entry's declared keys, for the decoder's canonical checks: the first position of each key
// (a declared key is referred to there only), and whether a key is declared at all (then it is
// never spelt as a literal). Sorted once per entry: O(d log d).
class DeclaredIndex {
 public:
  void reset(std::span<const StateKey> declared) {
    sorted_.clear();
    for (std::uint32_t i = 0; i < declared.size(); ++i) sorted_.emplace_back(declared[i], i);
    std::sort(sorted_.begin(), sorted_.end());
  }
  bool contains(const StateKey& key) const {
    auto it = std::lower_bound(sorted_.begin(), sorted_.end(), std::make_pair(key, std::uint32_t{0}));
    return it != sorted_.end() && it->first == key;
  }
  /// The first position `key` is declared at (it is declared).
  std::uint32_t first(const StateKey& key) const {
    return std::lower_bound(sorted_.begin(), sorted_.end(), std::make_pair(key, std::uint32_t{0}))->second;
  }

 private:
  std::vector<std::pair<StateKey, std::uint32_t>> sorted_;
};

}  // namespace

Result<Bytes> encode_access_list(const AccessList& list, const Vm& vm, std::size_t num_txns) {
  return encode_access_list(list, BlockDeclarations::of(vm, num_txns));
}

Result<Bytes> encode_access_list(const AccessList& list, const BlockDeclarations& declarations) {
  const std::size_t num_txns = declarations.transactions();
  // Per entry, what each of its keys is written as: a declared position or a literal, numbered
  // once the literals are known and sorted.
  constexpr std::uint32_t kLiteral = std::numeric_limits<std::uint32_t>::max();
  std::vector<std::uint32_t> refs(list.ids.size());
  std::unordered_map<StateKey, std::uint32_t, StateKeyHash> literal_index;
  std::vector<StateKey> literals;
  std::vector<std::uint32_t> declared_count(list.entries(), 0);
  DeclaredIndex declared_index;
  for (std::size_t e = 0; e < list.entries(); ++e) {
    const std::span<const StateKey> declared = declared_keys(declarations, e);
    declared_index.reset(declared);
    declared_count[e] = static_cast<std::uint32_t>(declared.size());
    std::size_t literal_refs = 0;
    for (std::uint32_t i = list.offsets[AccessList::kParts * e]; i < list.offsets[AccessList::kParts * (e + 1)]; ++i) {
      const StateKey& key = list.keys[list.ids[i]];
      if (declared_index.contains(key)) {
        refs[i] = declared_index.first(key);
        continue;
      }
      if (++literal_refs > kMaxLiteralRefsPerEntry) {
        return error(ErrorCode::kInvalidArgument,
                     "access list: " + entry_name(e, num_txns) + " touches more than " +
                         std::to_string(kMaxLiteralRefsPerEntry) + " keys it did not declare (Vm::declare_writes, declare_adds)");
      }
      if (literal_index.try_emplace(key, 0).second) literals.push_back(key);
      refs[i] = kLiteral;
    }
  }
  std::sort(literals.begin(), literals.end());
  for (std::uint32_t l = 0; l < literals.size(); ++l) literal_index[literals[l]] = l;
  for (std::size_t e = 0; e < list.entries(); ++e) {
    for (std::uint32_t i = list.offsets[AccessList::kParts * e]; i < list.offsets[AccessList::kParts * (e + 1)]; ++i) {
      if (refs[i] == kLiteral) refs[i] = declared_count[e] + literal_index.at(list.keys[list.ids[i]]);
    }
  }
  Writer w;
  w.u8(kEncodingVersion);
  w.varint(literals.size());
  // Front-coded: keys are sorted, so neighbours share a prefix (a tag, a token id); and a key's
  // zero tail (ids shorter than the 31 bytes a key holds) is left out.
  StateKey previous;
  for (const StateKey& k : literals) {
    const auto [shared, spelt] = front_coding(previous, k);
    w.varint(shared);
    w.varint(spelt);
    w.raw(ByteView(k.bytes).subspan(shared, spelt));
    previous = k;
  }
  for (std::size_t e = 0; e < list.entries(); ++e) {
    // Refs in key order within each part, so the bytes do not depend on how the list was built.
    for (std::size_t part = 0; part < AccessList::kParts; ++part) {
      const std::uint32_t begin = list.offsets[AccessList::kParts * e + part];
      const std::uint32_t end = list.offsets[AccessList::kParts * e + part + 1];
      std::vector<std::pair<StateKey, std::uint32_t>> sorted;
      sorted.reserve(end - begin);
      for (std::uint32_t i = begin; i < end; ++i) sorted.emplace_back(list.keys[list.ids[i]], refs[i]);
      std::sort(sorted.begin(), sorted.end());
      w.varint(sorted.size());
      for (const auto& [key, ref] : sorted) w.varint(ref);
    }
  }
  return w.take();
}

namespace {

Status bad_encoding(const std::string& why) { return error(ErrorCode::kInvalidArgument, "access list: " + why); }

// Decodes one list, refusing all but the encoder's canonical bytes, and allocating no more than
// the block's transactions allow.
class ListDecoder {
 public:
  ListDecoder(ByteView bytes, const BlockDeclarations& declarations)
      : r_(bytes), declarations_(declarations), num_txns_(declarations.transactions()) {}

  Result<AccessList> decode() {
    PEL_TRY(read_literals());
    for (std::size_t e = 0; e <= num_txns_; ++e) {
      declared_ = declared_keys(declarations_, e);
      declared_index_.reset(declared_);
      std::uint64_t literal_refs = 0;
      for (std::size_t part = 0; part < AccessList::kParts; ++part) PEL_TRY(read_part(e, literal_refs));
    }
    if (r_.failed()) return bad_encoding("truncated");
    if (!r_.at_end()) return bad_encoding(std::to_string(r_.remaining()) + " trailing bytes");
    if (auto unused = std::find(literal_used_.begin(), literal_used_.end(), false); unused != literal_used_.end()) {
      return bad_encoding("literal key " +
                          list_.keys[literal_ids_[static_cast<std::size_t>(unused - literal_used_.begin())]].hex() +
                          " is named by no entry");
    }
    return std::move(list_);
  }

 private:
  // The version, then the literal keys: strictly ascending, front-coded as the encoder writes
  // them, and no more than the block's entries may name.
  Status read_literals() {
    std::uint8_t version = 0;
    std::uint64_t literal_count = 0;
    if (!r_.u8(version)) return bad_encoding("empty");
    if (version != kEncodingVersion) {
      return bad_encoding("encoding version " + std::to_string(version) + ", expected " +
                          std::to_string(kEncodingVersion));
    }
    // What decoding allocates is bounded by the block's transactions, not by the bytes: every
    // literal is named by some entry, and an entry names at most kMaxLiteralRefsPerEntry of them.
    const std::uint64_t literal_bound = kMaxLiteralRefsPerEntry * (static_cast<std::uint64_t>(num_txns_) + 1);
    if (!r_.varint(literal_count)) return bad_encoding("truncated");
    if (literal_count > literal_bound) {
      return bad_encoding(std::to_string(literal_count) + " literal keys, more than " + std::to_string(num_txns_) +
                          " transactions may name (" + std::to_string(kMaxLiteralRefsPerEntry) + " each)");
    }
    // A literal takes at least its two lengths.
    if (literal_count > r_.remaining() / 2) return bad_encoding("literal key count beyond the bytes left");
    literal_ids_.resize(literal_count);
    literal_used_.assign(literal_count, false);
    StateKey previous;
    for (std::uint32_t& id : literal_ids_) {
      std::uint64_t shared = 0, suffix = 0;
      ByteView bytes_after;
      if (!r_.varint(shared) || !r_.varint(suffix)) return bad_encoding("truncated literal key");
      if (shared > StateKey::kSize || suffix > StateKey::kSize - shared) return bad_encoding("literal key longer than a key");
      if (!r_.raw(suffix, bytes_after)) return bad_encoding("truncated literal key");
      StateKey k;
      std::copy_n(previous.bytes.begin(), shared, k.bytes.begin());
      std::copy(bytes_after.begin(), bytes_after.end(), k.bytes.begin() + static_cast<std::ptrdiff_t>(shared));
      // Strictly ascending, as encoded: each literal is a new key, so a few bytes cannot name the
      // same key again and again.
      if (&id != literal_ids_.data() && !(previous < k)) return bad_encoding("literal keys out of order");
      if (front_coding(previous, k) != std::pair<std::size_t, std::size_t>(shared, suffix)) {
        return bad_encoding("literal key " + k.hex() + " not front-coded as the encoder writes it");
      }
      id = interner_.id(k);
      previous = k;
    }
    return Status::ok();
  }

  // One part of entry `e`: its count, then its references in strictly ascending key order.
  Status read_part(std::size_t e, std::uint64_t& literal_refs) {
    std::uint64_t count = 0;
    if (!r_.varint(count) || count > r_.remaining()) {
      return bad_encoding(entry_name(e, num_txns_) + ": key count beyond the bytes left");
    }
    if (count > declared_.size() + kMaxLiteralRefsPerEntry) {
      return bad_encoding(entry_name(e, num_txns_) + ": " + std::to_string(count) + " keys in one part, more than its " +
                          std::to_string(declared_.size()) + " declared and " +
                          std::to_string(kMaxLiteralRefsPerEntry) + " others");
    }
    StateKey last;  // the part's keys are strictly ascending, as encoded
    for (std::uint64_t i = 0; i < count; ++i) {
      std::uint32_t id = 0;
      PEL_TRY(read_ref(e, literal_refs, id));
      const StateKey& key = list_.keys[id];
      if (i > 0 && !(last < key)) {
        return bad_encoding(entry_name(e, num_txns_) + (last == key ? " names key " + key.hex() + " twice"
                                                                    : ": keys out of order at " + key.hex()));
      }
      last = key;
      list_.ids.push_back(id);
    }
    list_.offsets.push_back(static_cast<std::uint32_t>(list_.ids.size()));
    return Status::ok();
  }

  // One reference of entry `e`: a declared key at its first position, or a literal the entry
  // did not declare (at most kMaxLiteralRefsPerEntry of them).
  Status read_ref(std::size_t e, std::uint64_t& literal_refs, std::uint32_t& id) {
    std::uint64_t ref = 0;
    if (!r_.varint(ref)) return bad_encoding(entry_name(e, num_txns_) + ": truncated");
    if (ref < declared_.size()) {
      if (declared_index_.first(declared_[ref]) != ref) {
        return bad_encoding(entry_name(e, num_txns_) + " refers to declared key " + declared_[ref].hex() +
                            " by a later position than its first");
      }
      id = interner_.id(declared_[ref]);
      return Status::ok();
    }
    if (ref - declared_.size() >= literal_ids_.size()) {
      return bad_encoding(entry_name(e, num_txns_) + ": key reference " + std::to_string(ref) + " out of range");
    }
    const std::uint64_t literal = ref - declared_.size();
    id = literal_ids_[literal];
    if (declared_index_.contains(list_.keys[id])) {
      return bad_encoding(entry_name(e, num_txns_) + " spells declared key " + list_.keys[id].hex() + " as a literal");
    }
    if (++literal_refs > kMaxLiteralRefsPerEntry) {
      return bad_encoding(entry_name(e, num_txns_) + " names more than " + std::to_string(kMaxLiteralRefsPerEntry) +
                          " keys it did not declare");
    }
    literal_used_[literal] = true;
    return Status::ok();
  }

  Reader r_;
  const BlockDeclarations& declarations_;
  const std::size_t num_txns_;
  AccessList list_;
  KeyInterner interner_{list_};
  std::vector<std::uint32_t> literal_ids_;
  std::vector<bool> literal_used_;
  std::span<const StateKey> declared_;  // the current entry's
  DeclaredIndex declared_index_;
};

}  // namespace

Result<AccessList> decode_access_list(ByteView bytes, const Vm& vm, std::size_t num_txns) {
  return decode_access_list(bytes, BlockDeclarations::of(vm, num_txns));
}

Result<AccessList> decode_access_list(ByteView bytes, const BlockDeclarations& declarations) {
  return ListDecoder(bytes, declarations).decode();
}

}  // namespace pel
