// ParallelExecutor::execute_listed: a block executed from its access list. The list gives, for
// every read, the transaction whose write it sees (the highest lower one whose entry writes the
// key), so each transaction waits for exactly those, runs once, and reads their outputs; keys
// are versioned by transaction, so later writers never hold an earlier reader back.
//
// Why the result is sequential execution's when the list is right: by induction on the block
// order, a transaction starts after every writer its reads name has finished, and reads their
// outputs (or the base state where no lower transaction writes the key), which is the state
// sequential execution shows it; so its output is the sequential one. Why a wrong list cannot
// pass: every read outside the transaction's entry, every listed read not made, and every write
// outside or missing from the entry is reported. Let t be the lowest transaction reported: every
// transaction below t touched exactly its entry, so the argument above holds up to t, t saw the
// sequential state, and its mismatch (the one reported) is a property of the block, not of the
// schedule.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>

#include <oneapi/tbb/spin_mutex.h>

#include "crypto/parallel_for.hpp"
#include "engine/executor_common.hpp"
#include "engine/parallel_executor.hpp"

namespace pel {
namespace {

constexpr TxnIndex kNoWriter = std::numeric_limits<TxnIndex>::max();

/// What the list tells before anything runs: where each read is served from, who waits for
/// whom, and which transaction writes each key last.
struct Plan {
  std::vector<TxnIndex> source;               // per list id position (reads only): the writer, or kNoWriter
  std::vector<std::uint32_t> dependents_begin;  // per transaction, into dependents
  std::vector<TxnIndex> dependents;
  std::vector<std::uint32_t> dependencies;    // per transaction: distinct writers it reads from
  std::vector<TxnIndex> last_writer;          // per key id
  std::uint64_t longest_chain = 0;            // in transactions
};

Result<Plan> plan_block(const AccessList& list, std::size_t num_txns) {
  auto bad = [](const std::string& why) { return error(ErrorCode::kInvalidArgument, "access list: " + why); };
  if (list.offsets.size() % 2 == 0 || list.entries() != num_txns + 1) {
    return bad(std::to_string(list.offsets.empty() ? 0 : list.entries()) + " entries for " +
               std::to_string(num_txns) + " transactions");
  }
  if (list.offsets.front() != 0 || list.offsets.back() != list.ids.size() ||
      !std::is_sorted(list.offsets.begin(), list.offsets.end())) {
    return bad("entry offsets out of order");
  }
  Plan plan;
  plan.source.assign(list.ids.size(), kNoWriter);
  plan.last_writer.assign(list.keys.size(), kNoWriter);
  plan.dependencies.assign(num_txns, 0);
  std::vector<std::pair<TxnIndex, TxnIndex>> edges;  // (writer, reader), readers ascending
  edges.reserve(num_txns);
  std::vector<std::uint32_t> chain(num_txns, 1);  // the longest chain ending at each transaction
  // Per writer, the last reader an edge was made for: a writer named by several of one
  // transaction's reads gives one edge, found in O(1) (a hostile list may name many).
  std::vector<TxnIndex> last_reader(num_txns, kNoWriter);
  std::vector<std::uint64_t> named_in(list.keys.size(), 0);  // the entry half that last named each id
  for (std::size_t e = 0; e < list.entries(); ++e) {
    for (int half = 0; half < 2; ++half) {
      const std::uint64_t stamp = 2 * e + static_cast<std::uint64_t>(half) + 1;
      for (std::uint32_t p = list.offsets[2 * e + half]; p < list.offsets[2 * e + half + 1]; ++p) {
        const std::uint32_t id = list.ids[p];
        if (id >= list.keys.size()) return bad("key id " + std::to_string(id) + " out of range");
        if (named_in[id] == stamp) return bad(access_entry_name(e, num_txns) + " names key " + list.keys[id].hex() + " twice");
        named_in[id] = stamp;
      }
    }
    if (e == num_txns) break;  // finish_block runs after every transaction
    const auto txn = static_cast<TxnIndex>(e);
    const std::size_t first_edge = edges.size();
    for (std::uint32_t p = list.offsets[2 * e]; p < list.offsets[2 * e + 1]; ++p) {
      const TxnIndex writer = plan.last_writer[list.ids[p]];
      plan.source[p] = writer;
      if (writer == kNoWriter) continue;
      if (last_reader[writer] != txn) {
        last_reader[writer] = txn;
        edges.emplace_back(writer, txn);
      }
      chain[e] = std::max(chain[e], chain[writer] + 1);
    }
    plan.longest_chain = std::max<std::uint64_t>(plan.longest_chain, chain[e]);
    plan.dependencies[e] = static_cast<std::uint32_t>(edges.size() - first_edge);
    for (std::uint32_t id : list.writes(e)) plan.last_writer[id] = txn;
  }
  // Dependents by writer (compressed rows), each row ascending: lower readers first.
  plan.dependents_begin.assign(num_txns + 1, 0);
  for (const auto& [writer, reader] : edges) ++plan.dependents_begin[writer + 1];
  for (std::size_t t = 0; t < num_txns; ++t) plan.dependents_begin[t + 1] += plan.dependents_begin[t];
  plan.dependents.resize(edges.size());
  std::vector<std::uint32_t> fill(plan.dependents_begin.begin(), plan.dependents_begin.end() - 1);
  for (const auto& [writer, reader] : edges) plan.dependents[fill[writer]++] = reader;
  return plan;
}

/// What one delta of a transaction adds to, found when the transaction ran: its listed writer's
/// value (a pointer into that writer's output, which stays where it is until the block is done)
/// or the base state's, and the sum of the deltas since, its own included.
struct ListedDelta {
  const std::optional<Value>* base;  // null: the base state's value
  DeltaSum total;
};

/// The reader of one transaction: each read is looked up in the transaction's entry and served
/// from the writer the plan names. Reads the entry does not name, and listed reads never made,
/// are remembered for the check after the execution.
class ListedReader final : public StateReader {
 public:
  /// `deltas`: per list position, for a transaction's writes' positions, its outputs' deltas in
  /// order (ListedRun::deltas_).
  ListedReader(const Vm& vm, const AccessList& list, const Plan& plan, const std::vector<TxnOutput>& outputs,
               const ListedDelta* deltas, const BaseState& base, TxnIndex txn)
      : vm_(vm),
        list_(list),
        plan_(plan),
        outputs_(outputs),
        deltas_(deltas),
        base_(base),
        begin_(list.offsets[2 * static_cast<std::size_t>(txn)]),
        end_(list.offsets[2 * static_cast<std::size_t>(txn) + 1]) {
    if (end_ - begin_ > kInlineReads) used_beyond_.assign(end_ - begin_ - kInlineReads, 0);
  }

  std::optional<Value> read(const StateKey& key) override {
    const std::optional<std::uint32_t> p = listed_read(key);
    if (!p) return std::nullopt;
    const TxnIndex writer = plan_.source[*p];
    if (writer == kNoWriter) return base_.get(key);
    if (const Write* w = written_by(writer, key)) return w->value;
    if (const ListedDelta* d = delta_of(list_, outputs_, deltas_, writer, key)) {
      Result<Value> applied = apply_delta(vm_, key, d->base != nullptr ? *d->base : base_.get(key), d->total);
      if (applied) return std::move(applied).value();
      if (!delta_failure_) delta_failure_ = applied.status().message();
      throw DeltaReadFailed{};
    }
    return std::nullopt;  // the writer did not write it after all: its own check reports that
  }

  /// What this transaction's delta to `key` adds to: the listed writer's value or deltas, or
  /// the base state's value, the delta's amount added to their sum. The entry must list the
  /// key as read (AccessRecorder does), which this counts as made.
  ListedDelta accumulate(const Delta& delta) {
    ListedDelta out{nullptr, delta.amount};
    const std::optional<std::uint32_t> p = listed_read(delta.key);
    const TxnIndex writer = p ? plan_.source[*p] : kNoWriter;
    if (writer == kNoWriter) return out;
    if (const Write* w = written_by(outputs_[writer], delta.key)) {
      out.base = &w->value;
    } else if (const ListedDelta* d = delta_of(list_, outputs_, deltas_, writer, delta.key)) {
      out.base = d->base;
      out.total += d->total;
    }
    return out;
  }

  /// A read whose deltas could not be applied (Vm::apply_delta): its error. The block cannot be
  /// made if the list is right.
  const std::optional<std::string>& delta_failure() const { return delta_failure_; }

  /// `output`'s write of `key`, if any.
  static const Write* written_by(const TxnOutput& output, const StateKey& key) {
    for (const Write& w : output.writes) {
      if (w.key == key) return &w;
    }
    return nullptr;
  }
  /// What `writer`'s delta to `key` adds to, if it added to it (and the list had room: a wrong
  /// list may not, and is reported).
  static const ListedDelta* delta_of(const AccessList& list, const std::vector<TxnOutput>& outputs,
                                     const ListedDelta* deltas, TxnIndex writer, const StateKey& key) {
    const DeltaSet& written = outputs[writer].deltas;
    auto it = std::lower_bound(written.begin(), written.end(), key,
                               [](const Delta& d, const StateKey& k) { return d.key < k; });
    if (it == written.end() || it->key != key) return nullptr;
    const std::size_t index = static_cast<std::size_t>(it - written.begin());
    if (index >= list.writes(writer).size()) return nullptr;
    return &deltas[list.offsets[2 * static_cast<std::size_t>(writer) + 1] + index];
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
      // A long entry (an airdrop lists each recipient's balance): searched by key, sorted once.
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
  const Write* written_by(TxnIndex writer, const StateKey& key) const { return written_by(outputs_[writer], key); }

  const Vm& vm_;
  const AccessList& list_;
  const Plan& plan_;
  const std::vector<TxnOutput>& outputs_;
  const ListedDelta* deltas_;
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
        // Not initialised: a slot is read only after its transaction wrote it (see delta_of).
        deltas_(std::make_unique_for_overwrite<ListedDelta[]>(list.ids.size())),
        pending_(num_txns) {
    // One more than the dependencies: the sweep's token, so that exactly one of the sweep and
    // the last finishing dependency takes the transaction.
    for (std::size_t t = 0; t < num_txns; ++t) pending_[t].store(plan_.dependencies[t] + 1, std::memory_order_relaxed);
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
  /// After the workers stopped: the lowest transaction's read that met deltas it could not
  /// apply, or empty.
  const std::string& delta_failure() const { return delta_failure_; }
  std::vector<TxnOutput> take_outputs() { return std::move(outputs_); }
  /// What each transaction's deltas add to (see deltas_).
  const ListedDelta* deltas() const { return deltas_.get(); }
  const Plan& plan() const { return plan_; }
  /// Per key id: the transaction that writes it last, or kNoWriter.
  const std::vector<TxnIndex>& last_writer() const { return plan_.last_writer; }

 private:
  // The sweep hands out chunks of kChunk transactions, so that the shared index, the chunk's
  // pending_ counters (one cache line) and its outputs move between cores once per chunk, not
  // once per transaction; transactions nothing waits on run without touching a shared line.
  static constexpr TxnIndex kChunk = 16;

  void run_in_order() {
    for (TxnIndex txn = 0; txn < num_txns_; ++txn) run_one(txn);
  }

  // Executes `txn` from its entry, checks it against the entry, and keeps its output and what
  // its deltas add to. Its dependencies have finished.
  void run_one(TxnIndex txn) {
    ListedReader reader(vm_, list_, plan_, outputs_, deltas_.get(), base_, txn);
    TxnOutput output = call_vm(vm_, txn, reader);
    // Room for as many as the entry lists writes: more is a wrong list, which check() reports;
    // the first ones are still kept, since delta_of reads any slot within the room.
    const std::size_t kept = std::min(output.deltas.size(), list_.writes(txn).size());
    const std::size_t first = list_.offsets[2 * static_cast<std::size_t>(txn) + 1];
    for (std::size_t i = 0; i < kept; ++i) deltas_[first + i] = reader.accumulate(output.deltas[i]);
    check(txn, reader, output);
    if (reader.delta_failure()) note_failure(txn, delta_failure_txn_, delta_failure_, *reader.delta_failure());
    outputs_[txn] = std::move(output);
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

  /// Drops one token of `txn`; true when that was the last (its dependencies all finished). A
  /// transaction without dependencies has only the sweep's token and is run without this.
  /// acq_rel: each finishing dependency releases its output, and the last decrement (an RMW
  /// in the same release sequence) acquires all of them.
  bool take(TxnIndex txn) { return pending_[txn].fetch_sub(1, std::memory_order_acq_rel) == 1; }

  /// Runs `txn`, then hands on the dependents it made ready: the first is returned, the rest go
  /// to the pool.
  std::optional<TxnIndex> execute(TxnIndex txn) {
    run_one(txn);
    std::optional<TxnIndex> next;
    for (std::uint32_t d = plan_.dependents_begin[txn]; d < plan_.dependents_begin[txn + 1]; ++d) {
      const TxnIndex dependent = plan_.dependents[d];
      if (!take(dependent)) continue;
      if (!next) {
        next = dependent;
      } else {
        push_ready(dependent);
      }
    }
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
    for (std::size_t i = 0; status.is_ok() && i < output.deltas.size(); ++i) {
      if (!is_listed(output.deltas[i].key)) status = access_mismatch(who(), "wrote", output.deltas[i].key, false);
    }
    // Every write and delta is listed and the output names a key once (call_vm), so equal counts
    // mean equal sets; otherwise a listed key was not written.
    if (status.is_ok() && output.writes.size() + output.deltas.size() != listed.size()) {
      for (std::uint32_t id : listed) {
        const StateKey& key = list_.keys[id];
        if (ListedReader::written_by(output, key) == nullptr &&
            std::none_of(output.deltas.begin(), output.deltas.end(), [&](const Delta& d) { return d.key == key; })) {
          status = access_mismatch(who(), "wrote", key, true);
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
  // What each transaction's deltas add to, in its output's order, at the list positions of its
  // writes (as many as it may have): one array for the block, written with the output.
  std::unique_ptr<ListedDelta[]> deltas_;
  std::vector<std::atomic<std::uint32_t>> pending_;  // per transaction: unfinished dependencies + 1
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

}  // namespace

Result<BlockResult> ParallelExecutor::execute_listed(const Vm& vm, std::size_t num_txns, const BaseState& base,
                                                     const AccessList& list) {
  auto start = std::chrono::steady_clock::now();
  auto plan = plan_block(list, num_txns);
  if (!plan.is_ok()) return plan.status();
  // No more workers than the block's parallelism (transactions per transaction of its longest
  // chain): a worker beyond it would only wait, taking a core that an import or replay pipeline
  // uses meanwhile to check the next block's signatures.
  const auto parallelism = static_cast<double>(num_txns) / static_cast<double>(std::max<std::uint64_t>(plan->longest_chain, 1));
  const int workers = static_cast<int>(std::min<double>(options_.threads, std::max(1.0, std::floor(parallelism))));
  auto run = std::make_unique<ListedRun>(vm, base, list, std::move(plan).value(), num_txns);
  run_workers(workers, [&run, workers](int) { run->work(workers == 1); });
  if (std::exception_ptr failure = run->failure()) std::rethrow_exception(failure);
  PEL_TRY(run->mismatch());

  BlockResult result;
  result.stats.execute_ns = elapsed_ns(start);
  auto finalize_start = std::chrono::steady_clock::now();
  result.outputs = run->take_outputs();
  // The block's writes: each key's last writer's value, which the plan already knows, and which
  // is there (every transaction wrote exactly its listed keys). The written keys are sorted as
  // (key prefix, id) pairs, which mostly compare as one integer, then the values are copied in
  // that order, and what the keys whose last writer added a delta add to is noted, both
  // data-parallel; only those keys are then visited one by one.
  const std::vector<TxnIndex>& last_writer = run->last_writer();
  const std::uint64_t plan_dependencies = run->plan().dependents.size();
  const std::uint64_t plan_longest_chain = run->plan().longest_chain;
  std::vector<std::pair<std::uint64_t, std::uint32_t>> written;  // (key prefix, id)
  written.reserve(list.keys.size());
  for (std::uint32_t id = 0; id < list.keys.size(); ++id) {
    if (last_writer[id] != kNoWriter) written.emplace_back(list.keys[id].prefix(), id);
  }
  FinalWrites state;
  std::vector<const ListedDelta*> pending(written.size(), nullptr);
  std::atomic<std::size_t> pending_count{0};
  arena_->execute([&] {
    parallel_sort(written.begin(), written.end(), [&](const auto& a, const auto& b) {
      return a.first != b.first ? a.first < b.first : list.keys[a.second] < list.keys[b.second];
    });
    state.writes.resize(written.size());
    parallel_ranges(written.size(), 256, [&](std::size_t begin, std::size_t end) {
      std::size_t here = 0;
      for (std::size_t i = begin; i != end; ++i) {
        const std::uint32_t id = written[i].second;
        const StateKey& key = list.keys[id];
        const TxnOutput& writer = result.outputs[last_writer[id]];
        state.writes[i].key = key;
        if (const Write* w = ListedReader::written_by(writer, key)) {
          state.writes[i].value = w->value;
        } else if ((pending[i] = ListedReader::delta_of(list, result.outputs, run->deltas(), last_writer[id], key))) {
          ++here;
        }
      }
      // relaxed: read after parallel_ranges returned, which synchronises with every range.
      if (here != 0) pending_count.fetch_add(here, std::memory_order_relaxed);
    });
  });
  const std::size_t pending_deltas = pending_count.load(std::memory_order_relaxed);
  state.deltas.reserve(pending_deltas);
  for (std::size_t i = 0; i < pending.size() && state.deltas.size() < pending_deltas; ++i) {
    if (const ListedDelta* d = pending[i]) {
      state.deltas.push_back({i, {state.writes[i].key, d->base == nullptr, d->base != nullptr ? *d->base : std::nullopt, d->total}});
    }
  }
  if (!run->delta_failure().empty()) {
    result.finish_error = run->delta_failure();
  } else {
    arena_->execute([&] {
      const Status applied = apply_final_deltas(vm, base, state, true);
      if (applied.is_ok()) {
        result.writes = std::move(state.writes);
      } else {
        result.finish_error = applied.message();
      }
    });
  }
  run.reset();
  AccessRecorder finish(vm, 0);
  finish_block(finish, base, result);
  // A block whose finish_block threw cannot be made whatever its list says, and one whose base
  // state failed to read may have read anything: the caller reports those errors instead.
  if (result.finish_error.empty() && result.read_error.is_ok()) {
    PEL_TRY(list.check_entry(num_txns, finish.take({}), 0, access_entry_name(num_txns, num_txns)));
  }
  result.stats.finalize_ns = elapsed_ns(finalize_start);
  result.stats.transactions = num_txns;
  result.stats.executions = num_txns;
  result.stats.listed_dependencies = plan_dependencies;
  result.stats.longest_chain = plan_longest_chain;
  result.stats.threads = options_.threads;
  return result;
}

}  // namespace pel
