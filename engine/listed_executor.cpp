// ListedExecutor: a block executed from its access list. The list gives, for
// every read, the transaction whose write it sees (the highest lower one whose entry writes the
// key) and the adds made to the key since (the entries between them that add to it), so each
// transaction waits for exactly those, runs once, and reads their outputs; keys are versioned by
// transaction, so later writers never hold an earlier reader back, and adds to a key wait for
// nothing and hold back no other add: only a read waits for the adds below it.
//
// The adds a read needs are summed by gates: a gate sums the adds to one key since the previous
// gate on it (or since its last write), and waits for those adders and that previous gate. A
// read waits for the key's writer and its latest gate, so the dependencies stay linear in the
// list's size however many transactions add to a key that others read.
//
// Why the result is sequential execution's when the list is right: by induction on the block
// order, a transaction starts after every writer and gate its reads name has finished, and reads
// their outputs (the writer's value, or the base state's where no lower transaction writes the
// key, plus the sum of the adds since), which is the state sequential execution shows it; so its
// output is the sequential one. Why a wrong list cannot pass: every read outside the
// transaction's entry, every listed read not made, and every write or add outside or missing
// from the entry is reported. Let t be the lowest transaction reported: every transaction below
// t touched exactly its entry, so the argument above holds up to t, t saw the sequential state,
// and its mismatch (the one reported) is a property of the block, not of the schedule.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>

#include <boost/container/small_vector.hpp>
#include <oneapi/tbb/spin_mutex.h>

#include "crypto/parallel_for.hpp"
#include "engine/executor_common.hpp"
#include "engine/listed_executor.hpp"

namespace pel {
namespace {

constexpr TxnIndex kNoWriter = std::numeric_limits<TxnIndex>::max();
constexpr std::uint32_t kNoGate = std::numeric_limits<std::uint32_t>::max();
using Part = AccessList::Part;

/// The sum of the adds to one key since the previous gate on it, or since its last write.
struct Gate {
  std::uint32_t key;       // id
  std::uint32_t previous;  // the gate before it since the same write, or kNoGate
  std::uint32_t adds_begin, adds_end;  // into Plan::gate_adds
};

/// What the list tells before anything runs: where each read is served from, who waits for
/// whom, and what each key holds at the end. The dependency graph's nodes are the transactions
/// 0..n-1, then the gates that some read waits for, n..n+read_gates-1. The gates after those
/// sum a key's last adds, which nothing reads before the block ends: they are summed then, and
/// are no nodes (an airdrop's recipients would otherwise cost a hand-over per credit).
struct Plan {
  std::vector<TxnIndex> source;              // per list id position (reads only): the writer, or kNoWriter
  std::vector<std::uint32_t> source_gate;    // per list id position (reads only): the adds since, or kNoGate
  std::vector<Gate> gates;
  std::uint32_t read_gates = 0;             // gates 0..read_gates-1 are nodes; the rest are summed at the end
  std::vector<std::uint32_t> gate_adds;     // list id positions (adds only), grouped by gate
  std::vector<std::uint32_t> dependents_begin;  // per node, into dependents
  std::vector<std::uint32_t> dependents;        // nodes
  std::vector<std::uint32_t> dependencies;      // per node: distinct nodes it waits for
  std::vector<TxnIndex> last_writer;            // per key id
  std::vector<std::uint32_t> final_gate;        // per key id: the adds after its last write, or kNoGate
  std::uint64_t waits = 0;                      // edges into transactions
  std::uint64_t longest_chain = 0;              // in transactions
};

// The ids of the first key `keys` holds twice, if any. An open-addressing table of ids keyed
// by the key's hash, about 1 ns a key: a list names tens of thousands.
std::optional<std::pair<std::uint32_t, std::uint32_t>> first_key_named_twice(const std::vector<StateKey>& keys) {
  std::size_t capacity = 16;
  while (capacity < 2 * keys.size()) capacity *= 2;
  constexpr std::uint32_t kEmpty = std::numeric_limits<std::uint32_t>::max();
  std::vector<std::uint32_t> table(capacity, kEmpty);
  const StateKeyHash hash;
  for (std::uint32_t id = 0; id < keys.size(); ++id) {
    for (std::size_t slot = hash(keys[id]) & (capacity - 1);; slot = (slot + 1) & (capacity - 1)) {
      if (table[slot] == kEmpty) {
        table[slot] = id;
        break;
      }
      if (keys[table[slot]] == keys[id]) return std::make_pair(table[slot], id);
    }
  }
  return std::nullopt;
}

Status bad_list(const std::string& why) { return error(ErrorCode::kInvalidArgument, why); }

// The list's shape: one entry per transaction and one for finish_block, offsets in order, each key
// under one id (two ids for one key would hide a dependency; the decoder never makes such a
// list, an embedder's may).
Status check_list_shape(const AccessList& list, std::size_t num_txns) {
  if (list.offsets.size() % AccessList::kParts != 1 || list.entries() != num_txns + 1) {
    return bad_list(std::to_string(list.offsets.empty() ? 0 : list.entries()) + " entries for " +
                    std::to_string(num_txns) + " transactions");
  }
  if (list.offsets.front() != 0 || list.offsets.back() != list.ids.size() ||
      !std::is_sorted(list.offsets.begin(), list.offsets.end())) {
    return bad_list("entry offsets out of order");
  }
  if (const std::optional<std::pair<std::uint32_t, std::uint32_t>> twice = first_key_named_twice(list.keys)) {
    return bad_list("key " + list.keys[twice->first].hex() + " has two ids, " + std::to_string(twice->first) +
                    " and " + std::to_string(twice->second));
  }
  return Status::ok();
}

// Builds a block's Plan from its list, entry by entry. Errors say what is wrong with the list;
// the caller names the list and the block.
class PlanBuilder {
 public:
  PlanBuilder(const AccessList& list, std::size_t num_txns)
      : list_(list),
        num_txns_(num_txns),
        keys_(list.keys.size()),
        chain_(num_txns, 1),
        last_reader_(num_txns, kNoWriter),
        named_in_(keys_, 0),
        current_gate_(keys_, kNoGate),
        open_first_(keys_, kNone),
        open_last_(keys_, kNone) {
    plan_.source.assign(list.ids.size(), kNoWriter);
    plan_.source_gate.assign(list.ids.size(), kNoGate);
    plan_.last_writer.assign(keys_, kNoWriter);
    plan_.final_gate.assign(keys_, kNoGate);
    edges_.reserve(num_txns);
  }

  Result<Plan> build() {
    for (std::size_t e = 0; e < list_.entries(); ++e) {
      PEL_TRY(check_entry_ids(e));
      if (e == num_txns_) break;  // finish_block runs after every transaction
      const auto txn = static_cast<TxnIndex>(e);
      link_reads(txn);
      for (std::uint32_t id : list_.writes(e)) {
        plan_.last_writer[id] = txn;
        current_gate_[id] = kNoGate;
        open_first_[id] = open_last_[id] = kNone;  // adds before a write no longer count
      }
      open_adds(txn);
    }
    plan_.read_gates = static_cast<std::uint32_t>(plan_.gates.size());
    for (std::uint32_t id = 0; id < keys_; ++id) {
      if (open_first_[id] != kNone) close_adds(id, true);
      plan_.final_gate[id] = current_gate_[id];
    }
    build_dependents();
    return std::move(plan_);
  }

 private:
  static constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();

  // Every id in range, and named once per entry except a key read and then written.
  Status check_entry_ids(std::size_t e) {
    for (std::size_t part = 0; part < AccessList::kParts; ++part) {
      const std::uint64_t stamp = AccessList::kParts * e + part + 1;
      for (std::uint32_t p = list_.offsets[AccessList::kParts * e + part]; p < list_.offsets[AccessList::kParts * e + part + 1]; ++p) {
        const std::uint32_t id = list_.ids[p];
        if (id >= keys_) return bad_list("key id " + std::to_string(id) + " out of range");
        if (named_in_[id] == stamp) {
          return bad_list(access_entry_name(e, num_txns_) + " names key " + list_.keys[id].hex() + " twice");
        }
        // Parts come in order, so a key the writes named last was written: one output per key.
        if (part == static_cast<std::size_t>(Part::kAdds) && named_in_[id] == stamp - 1) {
          return bad_list(access_entry_name(e, num_txns_) + " both writes and adds to key " + list_.keys[id].hex());
        }
        named_in_[id] = stamp;
      }
    }
    return Status::ok();
  }

  // Each read of `txn` waits for the key's last writer and for the adds made to it since (its
  // latest gate, closed here if adds are open).
  void link_reads(TxnIndex txn) {
    for (std::uint32_t p = list_.begin(txn, Part::kReads); p < list_.begin(txn, Part::kWrites); ++p) {
      const std::uint32_t id = list_.ids[p];
      const TxnIndex writer = plan_.last_writer[id];
      plan_.source[p] = writer;
      if (writer != kNoWriter) {
        wait_for(writer, last_reader_[writer], txn);
        chain_[txn] = std::max(chain_[txn], chain_[writer] + 1);
      }
      if (open_first_[id] != kNone) close_adds(id, false);
      const std::uint32_t gate = current_gate_[id];
      plan_.source_gate[p] = gate;
      if (gate != kNoGate) {
        wait_for(static_cast<std::uint32_t>(num_txns_) + gate, gate_last_reader_[gate], txn);
        chain_[txn] = std::max(chain_[txn], gate_chain_[gate] + 1);
      }
    }
    plan_.longest_chain = std::max<std::uint64_t>(plan_.longest_chain, chain_[txn]);
  }

  // `txn` waits for `node`; `last` is the node's last reader an edge was made for, so a writer
  // named by several of one transaction's reads gives one edge, found in O(1).
  void wait_for(std::uint32_t node, TxnIndex& last, TxnIndex txn) {
    if (last == txn) return;
    last = txn;
    edges_.emplace_back(node, txn);
    ++plan_.waits;
  }

  // The adds of `txn` join their keys' open adds.
  void open_adds(TxnIndex txn) {
    for (std::uint32_t p = list_.begin(txn, Part::kAdds); p < list_.offsets[AccessList::kParts * (txn + 1)]; ++p) {
      const std::uint32_t id = list_.ids[p];
      const auto at = static_cast<std::uint32_t>(open_.size());
      open_.push_back({txn, p, kNone});
      if (open_last_[id] == kNone) {
        open_first_[id] = at;
      } else {
        open_[open_last_[id]].next = at;
      }
      open_last_[id] = at;
    }
  }

  // Closes the adds open on `id` into a new gate after its current one; a node unless `at_end`.
  void close_adds(std::uint32_t id, bool at_end) {
    const auto gate = static_cast<std::uint32_t>(plan_.gates.size());
    const auto n = static_cast<std::uint32_t>(num_txns_);
    Gate g{id, current_gate_[id], static_cast<std::uint32_t>(plan_.gate_adds.size()), 0};
    std::uint32_t longest = g.previous == kNoGate ? 0 : gate_chain_[g.previous];
    for (std::uint32_t at = open_first_[id]; at != kNone; at = open_[at].next) {
      plan_.gate_adds.push_back(open_[at].position);
      if (!at_end) edges_.emplace_back(open_[at].adder, n + gate);
      longest = std::max(longest, chain_[open_[at].adder]);
    }
    g.adds_end = static_cast<std::uint32_t>(plan_.gate_adds.size());
    if (g.previous != kNoGate && !at_end) edges_.emplace_back(n + g.previous, n + gate);
    plan_.gates.push_back(g);
    gate_chain_.push_back(longest);
    gate_last_reader_.push_back(kNoWriter);
    open_first_[id] = open_last_[id] = kNone;
    current_gate_[id] = gate;
  }

  // Dependents by node (compressed rows), each row in the order the edges were made.
  void build_dependents() {
    const std::size_t nodes = num_txns_ + plan_.read_gates;
    plan_.dependencies.assign(nodes, 0);
    plan_.dependents_begin.assign(nodes + 1, 0);
    for (const auto& [from, to] : edges_) {
      ++plan_.dependents_begin[from + 1];
      ++plan_.dependencies[to];
    }
    for (std::size_t node = 0; node < nodes; ++node) plan_.dependents_begin[node + 1] += plan_.dependents_begin[node];
    plan_.dependents.resize(edges_.size());
    std::vector<std::uint32_t> fill(plan_.dependents_begin.begin(), plan_.dependents_begin.end() - 1);
    for (const auto& [from, to] : edges_) plan_.dependents[fill[from]++] = to;
  }

  const AccessList& list_;
  const std::size_t num_txns_;
  const std::size_t keys_;
  Plan plan_;
  std::vector<std::pair<std::uint32_t, std::uint32_t>> edges_;  // (from, to) nodes, in reader order
  std::vector<std::uint32_t> chain_;       // the longest chain ending at each transaction
  std::vector<std::uint32_t> gate_chain_;  // the longest chain of adds a gate waits for
  std::vector<TxnIndex> last_reader_;      // per transaction (see wait_for)
  std::vector<TxnIndex> gate_last_reader_;  // per gate (see wait_for)
  std::vector<std::uint64_t> named_in_;    // the entry part that last named each id
  // Per key: its latest gate since its last write, and the adds since that gate, a list through
  // open_ from open_first_ to open_last_.
  std::vector<std::uint32_t> current_gate_;
  struct OpenAdd {
    TxnIndex adder;
    std::uint32_t position;  // in the list
    std::uint32_t next;      // in open_, or kNone
  };
  std::vector<OpenAdd> open_;
  std::vector<std::uint32_t> open_first_, open_last_;
};

Result<Plan> plan_block(const AccessList& list, std::size_t num_txns) {
  PEL_TRY(check_list_shape(list, num_txns));
  return PlanBuilder(list, num_txns).build();
}

/// The reader of one transaction: each read is looked up in the transaction's entry and served
/// from the writer and the gate the plan names. Reads the entry does not name, and listed reads
/// never made, are remembered for the check after the execution.
class ListedReader final : public StateReader {
 public:
  /// `gate_totals`: per gate, the sum of the adds it covers and of those before it since the
  /// key's last write (ListedRun::gate_totals_).
  ListedReader(const Vm& vm, const AccessList& list, const Plan& plan, const std::vector<TxnOutput>& outputs,
               const DeltaSum* gate_totals, const BaseState& base, TxnIndex txn)
      : vm_(vm),
        list_(list),
        plan_(plan),
        outputs_(outputs),
        gate_totals_(gate_totals),
        base_(base),
        begin_(list.begin(txn, Part::kReads)),
        end_(list.begin(txn, Part::kWrites)) {
    if (end_ - begin_ > kInlineReads) used_beyond_.assign(end_ - begin_ - kInlineReads, 0);
  }

  std::optional<Value> read(const StateKey& key) override {
    const std::optional<std::uint32_t> p = listed_read(key);
    if (!p) return std::nullopt;
    const TxnIndex writer = plan_.source[*p];
    std::optional<Value> value;
    if (writer == kNoWriter) {
      value = base_.get(key);
    } else if (const Write* w = written_by(outputs_[writer], key)) {
      value = w->value;
    } else {
      return std::nullopt;  // the writer did not write it after all: its own check reports that
    }
    const std::uint32_t gate = plan_.source_gate[*p];
    if (gate == kNoGate) return value;
    Result<Value> applied = apply_delta(vm_, key, value, gate_totals_[gate]);
    if (applied) return std::move(applied).value();
    if (!delta_failure_) delta_failure_ = applied.status().message();
    throw DeltaReadFailed{};
  }

  /// A read whose adds could not be applied (Vm::apply_delta): its error. The block cannot be
  /// made if the list is right.
  const std::optional<std::string>& delta_failure() const { return delta_failure_; }

  /// `output`'s write of `key`, if any.
  static const Write* written_by(const TxnOutput& output, const StateKey& key) {
    for (const Write& w : output.writes) {
      if (w.key == key) return &w;
    }
    return nullptr;
  }
  /// `output`'s delta to `key`, if any (deltas are sorted by key: call_vm).
  static const Delta* adds_to(const TxnOutput& output, const StateKey& key) {
    auto it = std::lower_bound(output.deltas.begin(), output.deltas.end(), key,
                               [](const Delta& d, const StateKey& k) { return d.key < k; });
    return it != output.deltas.end() && it->key == key ? &*it : nullptr;
  }

  /// OK, or the first way this execution's reads differ from the entry, for the entry `who`
  /// names (called only then: most checks build no message).
  Status check_reads(const std::function<std::string()>& who) const {
    if (unlisted_) return access_mismatch(who(), "read", *unlisted_, false);
    for (std::uint32_t p = begin_; p < end_; ++p) {
      if (!used(p - begin_)) return access_mismatch(who(), "read", list_.keys[list_.ids[p]], true);
    }
    return Status::ok();
  }

 private:
  // The position of `key` in this transaction's listed reads, marked as made; or none, and the
  // key is remembered as read outside the list.
  std::optional<std::uint32_t> listed_read(const StateKey& key) {
    std::optional<std::uint32_t> found;
    if (end_ - begin_ <= kScannedReads) {
      for (std::uint32_t p = begin_; p < end_; ++p) {
        if (list_.keys[list_.ids[p]] == key) {
          found = p;
          break;
        }
      }
    } else {
      // A long entry (a transaction reading many keys): searched by key, sorted once.
      if (by_key_.empty()) {
        by_key_.reserve(end_ - begin_);
        for (std::uint32_t p = begin_; p < end_; ++p) by_key_.push_back(p);
        std::sort(by_key_.begin(), by_key_.end(),
                  [this](std::uint32_t a, std::uint32_t b) { return list_.keys[list_.ids[a]] < list_.keys[list_.ids[b]]; });
      }
      auto it = std::lower_bound(by_key_.begin(), by_key_.end(), key,
                                 [this](std::uint32_t p, const StateKey& k) { return list_.keys[list_.ids[p]] < k; });
      if (it != by_key_.end() && list_.keys[list_.ids[*it]] == key) found = *it;
    }
    if (found) {
      mark_used(*found - begin_);
    } else if (!unlisted_) {
      unlisted_ = key;
    }
    return found;
  }

  const Vm& vm_;
  const AccessList& list_;
  const Plan& plan_;
  const std::vector<TxnOutput>& outputs_;
  const DeltaSum* gate_totals_;
  const BaseState& base_;
  const std::uint32_t begin_;
  const std::uint32_t end_;
  // Which listed reads were made: a bit each for the first kInlineReads (a transaction reads a
  // handful of keys), bytes beyond, so the common case allocates nothing.
  static constexpr std::uint32_t kInlineReads = 64;
  void mark_used(std::uint32_t i) {
    if (i < kInlineReads) {
      used_inline_ |= std::uint64_t{1} << i;
    } else {
      used_beyond_[i - kInlineReads] = 1;
    }
  }
  bool used(std::uint32_t i) const {
    return i < kInlineReads ? (used_inline_ >> i & 1) != 0 : used_beyond_[i - kInlineReads] != 0;
  }
  std::uint64_t used_inline_ = 0;
  std::vector<std::uint8_t> used_beyond_;
  static constexpr std::uint32_t kScannedReads = 16;
  std::vector<std::uint32_t> by_key_;  // the entry's read positions by key, when it has many
  std::optional<StateKey> unlisted_;
  std::optional<std::string> delta_failure_;
};

/// One block's run from its list: the state every worker shares.
class ListedRun {
 public:
  ListedRun(const Vm& vm, const BaseState& base, const AccessList& list, Plan plan, std::size_t num_txns)
      : vm_(vm),
        base_(base),
        list_(list),
        plan_(std::move(plan)),
        num_txns_(static_cast<TxnIndex>(num_txns)),
        outputs_(num_txns),
        // Not initialised: a gate's total is read only after the gate fired (it is a dependency),
        // an add's amount only after its transaction ran.
        gate_totals_(std::make_unique_for_overwrite<DeltaSum[]>(plan_.gates.size())),
        add_amounts_(std::make_unique_for_overwrite<std::uint64_t[]>(list.ids.size())),
        pending_(num_txns + plan_.read_gates) {
    // A transaction: one more than its dependencies, the sweep's token, so that exactly one of
    // the sweep and the last finishing dependency takes it. A gate: its dependencies (at least
    // one adder), the last of which fires it.
    for (std::size_t n = 0; n < pending_.size(); ++n) {
      pending_[n].store(plan_.dependencies[n] + (n < num_txns ? 1 : 0), std::memory_order_relaxed);
    }
  }

  /// `alone`: the only worker, which runs the block in order (every dependency is lower, so
  /// it has run) without the counters that hand transactions between workers.
  void work(bool alone) {
    try {
      if (alone) {
        run_in_order();
      } else {
        run_tasks();
      }
    } catch (...) {
      // Only the engine's own failures reach here (out of memory): stop every worker, rethrow
      // after they joined.
      failure_.capture();
      stop_.store(true, std::memory_order_relaxed);
    }
  }

  std::exception_ptr failure() { return failure_.get(); }
  /// After the workers stopped: the lowest transaction's mismatch, or OK.
  Status mismatch() const { return mismatch_; }
  /// After the workers stopped: the lowest transaction's read that met adds it could not
  /// apply, or empty.
  const std::string& delta_failure() const { return delta_failure_; }
  std::vector<TxnOutput> take_outputs() { return std::move(outputs_); }
  /// After the workers stopped: the sum of the adds to gate `g`'s key since its last write. The
  /// gates nothing read are summed here, each after the one before it.
  DeltaSum final_total(std::uint32_t g) {
    if (g >= plan_.read_gates) sum(g);
    return gate_totals_[g];
  }
  const Plan& plan() const { return plan_; }

 private:
  // The sweep hands out chunks of kChunk transactions, so that the shared index, the chunk's
  // pending_ counters (one cache line) and its outputs move between cores once per chunk, not
  // once per transaction; transactions nothing waits on run without touching a shared line.
  static constexpr TxnIndex kChunk = 16;

  void run_in_order() {
    for (TxnIndex txn = 0; txn < num_txns_; ++txn) {
      run_one(txn);
      // Transactions run in order here; only the gates need their counts.
      std::optional<TxnIndex> none;
      hand_on(txn, none, false);
    }
  }

  // Executes `txn` from its entry, checks it against the entry, and keeps its output and the
  // amount of each add its entry lists. Its dependencies have finished.
  void run_one(TxnIndex txn) {
    ListedReader reader(vm_, list_, plan_, outputs_, gate_totals_.get(), base_, txn);
    TxnOutput output = call_vm(vm_, txn, reader);
    check(txn, reader, output);
    // Deltas are sorted by key (call_vm), and so are a list's adds as recorded or decoded: each
    // is found at its own index unless the list is built otherwise. An add the output lacks
    // counts 0 (a wrong list, which check() reported).
    const std::uint32_t first = list_.begin(txn, Part::kAdds);
    const std::uint32_t end = list_.offsets[AccessList::kParts * (static_cast<std::size_t>(txn) + 1)];
    for (std::uint32_t p = first; p < end; ++p) {
      const StateKey& key = list_.keys[list_.ids[p]];
      const std::size_t i = p - first;
      const Delta* d = i < output.deltas.size() && output.deltas[i].key == key ? &output.deltas[i]
                                                                                : ListedReader::adds_to(output, key);
      add_amounts_[p] = d != nullptr ? d->amount : 0;
    }
    if (reader.delta_failure()) note_failure(txn, delta_failure_txn_, delta_failure_, *reader.delta_failure());
    outputs_[txn] = std::move(output);
  }

  /// `node` finished: takes one token from each dependent. A gate whose last token this was
  /// is summed at once and hands on in turn. A transaction made ready
  /// becomes `next` when that is empty, else goes to the pool; with `transactions` false (the
  /// lone worker, which runs them in order anyway) only gates are counted.
  void hand_on(std::uint32_t node, std::optional<TxnIndex>& next, bool transactions) {
    boost::container::small_vector<std::uint32_t, 4> fired;
    for (;;) {
      for (std::uint32_t d = plan_.dependents_begin[node]; d < plan_.dependents_begin[node + 1]; ++d) {
        const std::uint32_t dependent = plan_.dependents[d];
        const bool is_gate = dependent >= num_txns_;
        if (!is_gate && !transactions) continue;
        if (!take(dependent)) continue;
        if (is_gate) {
          sum(dependent - num_txns_);
          fired.push_back(dependent);
        } else if (!next) {
          next = dependent;
        } else {
          push_ready(dependent);
        }
      }
      if (fired.empty()) return;
      node = fired.back();
      fired.pop_back();
    }
  }

  /// Gate `g`'s total: the previous gate's, plus its adds' amounts. A read gate is summed when
  /// its last dependency finished (take()'s acquire makes its adds and the previous gate's total
  /// visible), and its dependents see the total through their own take().
  void sum(std::uint32_t g) {
    const Gate& gate = plan_.gates[g];
    DeltaSum total = gate.previous == kNoGate ? 0 : gate_totals_[gate.previous];
    for (std::uint32_t a = gate.adds_begin; a < gate.adds_end; ++a) total += add_amounts_[plan_.gate_adds[a]];
    gate_totals_[g] = total;
  }

  void run_tasks() {
    Backoff backoff;
    std::uint32_t finished_here = 0;  // added to finished_ when this worker runs out of work
    while (!stop_.load(std::memory_order_relaxed)) {
      TxnIndex txn = 0;
      if (pop_ready(txn)) {
        run_from(txn, finished_here, true);
      } else if (sweep_.load(std::memory_order_relaxed) < num_txns_) {
        // Relaxed: the sweep index only hands out distinct chunks; what a transaction needs
        // from its dependencies comes through pending_.
        const TxnIndex begin = sweep_.fetch_add(kChunk, std::memory_order_relaxed);
        const TxnIndex end = std::min<TxnIndex>(num_txns_, begin + kChunk);
        for (TxnIndex t = begin; t < end && begin < num_txns_; ++t) {
          if (plan_.dependencies[t] != 0 && !take(t)) continue;
          // While the chunk has transactions left to visit, a dependent made ready goes to the
          // pool, where an idle worker finds it; the chunk's last transaction goes on with its
          // chain here.
          run_from(t, finished_here, t + 1 == end);
        }
      } else {
        if (finished_here != 0) {
          // Release: this worker's outputs happen before whoever sees the count complete.
          finished_.fetch_add(finished_here, std::memory_order_release);
          finished_here = 0;
        }
        // Acquire pairs with the release above: a worker that sees every transaction finished
        // may leave, and the caller joins the workers before reading the outputs anyway.
        if (finished_.load(std::memory_order_acquire) == num_txns_) return;
        backoff.pause();
        continue;
      }
      backoff.reset();
    }
  }

  /// Runs `txn`; with `chain`, then the dependents it makes ready one after another (a chain
  /// stays here, its keys in this core's cache). A dependent not run here goes to the pool.
  void run_from(TxnIndex txn, std::uint32_t& finished_here, bool chain) {
    std::optional<TxnIndex> next = txn;
    while (next && !stop_.load(std::memory_order_relaxed)) {
      next = execute(*next);
      ++finished_here;
      if (next && !chain) {
        push_ready(*next);
        return;
      }
    }
  }

  // The ready pool: transactions made ready while their finisher had one to run already. Rare
  // (a finisher usually makes at most one dependent ready), so a lock, skipped while the pool is
  // empty; the lowest transaction first, since it unblocks the most.
  void push_ready(TxnIndex txn) {
    std::lock_guard lock(ready_mutex_);
    ready_.push_back(txn);
    std::push_heap(ready_.begin(), ready_.end(), std::greater<>());
    // Relaxed: only a hint that the pool may hold work; the pool itself is read under the lock.
    ready_count_.store(ready_.size(), std::memory_order_relaxed);
  }
  bool pop_ready(TxnIndex& txn) {
    if (ready_count_.load(std::memory_order_relaxed) == 0) return false;
    std::lock_guard lock(ready_mutex_);
    if (ready_.empty()) return false;
    std::pop_heap(ready_.begin(), ready_.end(), std::greater<>());
    txn = ready_.back();
    ready_.pop_back();
    ready_count_.store(ready_.size(), std::memory_order_relaxed);
    return true;
  }

  /// Drops one token of `node`; true when that was the last (its dependencies all finished). A
  /// transaction without dependencies has only the sweep's token and is run without this.
  /// acq_rel: each finishing dependency releases its output (or gate total), and the last
  /// decrement (an RMW in the same release sequence) acquires all of them.
  bool take(std::uint32_t node) { return pending_[node].fetch_sub(1, std::memory_order_acq_rel) == 1; }

  /// Runs `txn`, then hands on the dependents it made ready: the first is returned, the rest go
  /// to the pool.
  std::optional<TxnIndex> execute(TxnIndex txn) {
    run_one(txn);
    std::optional<TxnIndex> next;
    hand_on(txn, next, true);
    return next;
  }

  void check(TxnIndex txn, const ListedReader& reader, const TxnOutput& output) {
    const std::function<std::string()> who = [&] { return access_entry_name(txn, num_txns_); };
    Status status = reader.check_reads(who);
    const std::span<const std::uint32_t> listed = list_.writes(txn);
    auto is_listed = [&](const StateKey& key) {
      return std::any_of(listed.begin(), listed.end(), [&](std::uint32_t id) { return list_.keys[id] == key; });
    };
    for (std::size_t i = 0; status.is_ok() && i < output.writes.size(); ++i) {
      if (!is_listed(output.writes[i].key)) status = access_mismatch(who(), "wrote", output.writes[i].key, false);
    }
    // Every write is listed and the output names a key once (call_vm), so equal counts mean
    // equal sets; otherwise a listed key was not written.
    if (status.is_ok() && output.writes.size() != listed.size()) {
      for (std::uint32_t id : listed) {
        if (ListedReader::written_by(output, list_.keys[id]) == nullptr) {
          status = access_mismatch(who(), "wrote", list_.keys[id], true);
          break;
        }
      }
    }
    // Adds: the output's deltas are sorted by key (call_vm), so each listed add is searched
    // for; with every listed add there and as many deltas as listed adds, the sets are equal.
    const std::span<const std::uint32_t> added = list_.adds(txn);
    for (std::size_t i = 0; status.is_ok() && i < added.size(); ++i) {
      if (!ListedReader::adds_to(output, list_.keys[added[i]])) status = access_mismatch(who(), "added to", list_.keys[added[i]], true);
    }
    if (status.is_ok() && output.deltas.size() != added.size()) {
      std::vector<StateKey> listed_adds;  // only on a wrong list
      for (std::uint32_t id : added) listed_adds.push_back(list_.keys[id]);
      std::sort(listed_adds.begin(), listed_adds.end());
      for (const Delta& d : output.deltas) {
        if (!std::binary_search(listed_adds.begin(), listed_adds.end(), d.key)) {
          status = access_mismatch(who(), "added to", d.key, false);
          break;
        }
      }
    }
    if (!status.is_ok()) note_failure(txn, mismatch_txn_, mismatch_, std::move(status));
  }

  // Keeps `what` in `kept` when `txn` is lower than the transaction `kept_txn` names.
  template <typename T>
  void note_failure(TxnIndex txn, TxnIndex& kept_txn, T& kept, T what) {
    std::lock_guard lock(failure_mutex_);  // only on a bad list or a delta that cannot be applied
    if (txn < kept_txn) {
      kept_txn = txn;
      kept = std::move(what);
    }
  }

  const Vm& vm_;
  const BaseState& base_;
  const AccessList& list_;
  const Plan plan_;
  const TxnIndex num_txns_;
  std::vector<TxnOutput> outputs_;
  std::unique_ptr<DeltaSum[]> gate_totals_;    // per gate, written once as it is summed
  std::unique_ptr<std::uint64_t[]> add_amounts_;  // per list position of an add: its amount
  // Per node: a transaction's unfinished dependencies + 1, a gate's unfinished dependencies.
  std::vector<std::atomic<std::uint32_t>> pending_;
  tbb::spin_mutex ready_mutex_;
  std::vector<TxnIndex> ready_;                       // a min-heap, guarded by ready_mutex_
  std::atomic<std::size_t> ready_count_{0};           // ready_.size(), readable without the lock
  alignas(64) std::atomic<TxnIndex> sweep_{0};        // the next transaction the sweep offers
  alignas(64) std::atomic<TxnIndex> finished_{0};
  std::atomic<bool> stop_{false};  // a worker failed
  FirstFailure failure_;
  std::mutex failure_mutex_;  // guards the four below
  TxnIndex mismatch_txn_ = kNoWriter;
  Status mismatch_;
  TxnIndex delta_failure_txn_ = kNoWriter;
  std::string delta_failure_;
};

// The block's final state from its list: each key's last writer's value, which the plan already
// knows and which is there (every transaction wrote exactly its listed keys), or, for a key added
// to since, that value (or the base state's) and the sum of those adds, its last gate's total.
// The written keys are sorted as (key prefix, id) pairs, which mostly compare as one integer,
// then the values are copied in that order, both data-parallel on `pool`; only the keys with
// adds pending are then visited one by one.
FinalWrites listed_final_state(const AccessList& list, ListedRun& run, const std::vector<TxnOutput>& outputs,
                               WorkerPool& pool) {
  const Plan& planned = run.plan();
  std::vector<std::pair<std::uint64_t, std::uint32_t>> written;  // (key prefix, id)
  written.reserve(list.keys.size());
  for (std::uint32_t id = 0; id < list.keys.size(); ++id) {
    if (planned.last_writer[id] != kNoWriter || planned.final_gate[id] != kNoGate) {
      written.emplace_back(list.keys[id].prefix(), id);
    }
  }
  FinalWrites state;
  std::atomic<std::size_t> pending_count{0};
  pool.in_arena([&] {
    parallel_sort(written.begin(), written.end(), [&](const auto& a, const auto& b) {
      return a.first != b.first ? a.first < b.first : list.keys[a.second] < list.keys[b.second];
    });
    state.writes.resize(written.size());
    parallel_ranges(written.size(), 256, [&](std::size_t begin, std::size_t end) {
      std::size_t here = 0;
      for (std::size_t i = begin; i != end; ++i) {
        const std::uint32_t id = written[i].second;
        const StateKey& key = list.keys[id];
        state.writes[i].key = key;
        if (planned.final_gate[id] != kNoGate) {
          ++here;
        } else {
          state.writes[i].value = ListedReader::written_by(outputs[planned.last_writer[id]], key)->value;
        }
      }
      // relaxed: read after parallel_ranges returned, which synchronises with every range.
      if (here != 0) pending_count.fetch_add(here, std::memory_order_relaxed);
    });
  });
  const std::size_t pending_deltas = pending_count.load(std::memory_order_relaxed);
  state.deltas.reserve(pending_deltas);
  for (std::size_t i = 0; i < written.size() && state.deltas.size() < pending_deltas; ++i) {
    const std::uint32_t id = written[i].second;
    const std::uint32_t gate = planned.final_gate[id];
    if (gate == kNoGate) continue;
    const TxnIndex writer = planned.last_writer[id];
    PendingDeltas d{list.keys[id], writer == kNoWriter, std::nullopt, run.final_total(gate)};
    if (writer != kNoWriter) d.base = ListedReader::written_by(outputs[writer], list.keys[id])->value;
    state.deltas.push_back({i, std::move(d)});
  }
  return state;
}

}  // namespace

Result<BlockResult> ListedExecutor::execute(const Vm& vm, std::size_t num_txns, const BaseState& base,
                                            const AccessList& list) {
  auto start = std::chrono::steady_clock::now();
  auto plan = plan_block(list, num_txns);
  if (!plan.is_ok()) return plan.status();
  // No more workers than the block's parallelism (transactions per transaction of its longest
  // chain): a worker beyond it would only wait, taking a core that an import or replay pipeline
  // uses meanwhile to check the next block's signatures.
  const auto parallelism = static_cast<double>(num_txns) / static_cast<double>(std::max<std::uint64_t>(plan->longest_chain, 1));
  const int workers = static_cast<int>(std::min<double>(pool_.threads(), std::max(1.0, std::floor(parallelism))));
  auto run = std::make_unique<ListedRun>(vm, base, list, std::move(plan).value(), num_txns);
  pool_.run(workers, [&run, workers](int) { run->work(workers == 1); });
  if (std::exception_ptr failure = run->failure()) std::rethrow_exception(failure);
  PEL_TRY(run->mismatch());

  BlockResult result;
  result.stats.execute_ns = elapsed_ns(start);
  auto finalize_start = std::chrono::steady_clock::now();
  result.outputs = run->take_outputs();
  result.stats.listed_dependencies = run->plan().waits;
  result.stats.longest_chain = run->plan().longest_chain;
  std::optional<std::string> read_delta_failure;
  FinalWrites state;
  if (run->delta_failure().empty()) {
    state = listed_final_state(list, *run, result.outputs, pool_);
  } else {
    read_delta_failure = run->delta_failure();
  }
  run.reset();
  AccessRecorder finish(vm, 0);
  end_block(finish, base, read_delta_failure, std::move(state), &pool_, result);
  // The finish entry is checked against what finish_block did, also when it threw (its reads up
  // to there) or never ran (deltas that failed: nothing), as the Block-STM path checks it. Only
  // a base state that failed to read may have read anything: the caller reports that instead.
  if (result.read_error.is_ok()) {
    PEL_TRY(list.check_entry(num_txns, finish.take({}), 0, access_entry_name(num_txns, num_txns)));
  }
  result.stats.finalize_ns = elapsed_ns(finalize_start);
  result.stats.transactions = num_txns;
  result.stats.executions = num_txns;
  result.stats.threads = pool_.threads();
  result.stats.path = ExecutionPath::kListed;
  return result;
}

}  // namespace pel
