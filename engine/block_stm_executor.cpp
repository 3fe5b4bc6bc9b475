#include "engine/block_stm_executor.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <unordered_map>
#include <utility>

#include <boost/container/small_vector.hpp>
#include <oneapi/tbb/spin_mutex.h>

#include "crypto/parallel_for.hpp"
#include "engine/executor_common.hpp"
#include "engine/scheduler.hpp"

namespace pel {
namespace {

/// The reader of one execution: reads go to multi-version memory, and are recorded.
class MVReader final : public StateReader {
 public:
  MVReader(const Vm& vm, MVMemory& memory, const BaseState& base, TxnIndex txn)
      : vm_(vm), memory_(memory), base_(base), txn_(txn) {}

  std::optional<Value> read(const StateKey& key) override {
    if (aborted_) return std::nullopt;
    KeyCell* cell = memory_.cell(key);
    MVRead r = MVMemory::read(*cell, txn_);
    if (r.kind == MVRead::Kind::kDependency) {
      blocked_ = true;
      aborted_ = true;
      blocking_txn_ = r.blocking_txn;
      predicted_ = r.predicted;
      conflict_cell_ = cell;
      return std::nullopt;
    }
    const bool from_storage = r.kind == MVRead::Kind::kStorage;
    reads_.push_back({cell, from_storage, r.has_deltas, r.version, r.changes});
    std::optional<Value> value = from_storage ? base_.get(key) : std::move(r.value);
    if (!r.has_deltas) return value;
    // Recorded before applying: when the sum or its base changes, validation re-runs this
    // execution, whether or not the application failed.
    delta_reads_.push_back(r.deltas);
    Result<Value> applied = apply_delta(vm_, key, value, r.deltas);
    if (!applied) {
      if (!delta_failure_) delta_failure_ = applied.status().message();
      throw DeltaReadFailed{};
    }
    return std::move(applied).value();
  }

  // The reads are re-checked only here, on the VM's demand: a VM that found its view
  // inconsistent (or wants to stop early) asks, the engine never does. Each call checks the
  // reads made since the last one and kRecheckedPerCall earlier ones in turn, so a VM that asks
  // after every read stays linear in its reads, and a read overwritten after it was checked is
  // found within reads / kRecheckedPerCall calls. One not found yet costs nothing but time:
  // validation checks every read of the execution that counts.
  bool aborted() const override {
    if (aborted_) return true;
    for (; checked_.read < reads_.size(); checked_.advance(reads_)) {
      if (stale(checked_)) return true;
    }
    for (std::size_t k = 0; k < kRecheckedPerCall && !reads_.empty(); ++k, recheck_.advance(reads_)) {
      if (recheck_.read >= reads_.size()) recheck_ = {};
      if (stale(recheck_)) return true;
    }
    return false;
  }

  /// A read met an ESTIMATE of blocking_txn().
  bool blocked() const { return blocked_; }
  TxnIndex blocking_txn() const { return blocking_txn_; }
  /// The ESTIMATE met came from a declaration: a planned wait, not a conflict.
  bool predicted() const { return predicted_; }
  /// aborted() is or would have been true: the VM may have acted on it, so its output is void.
  bool doomed() const { return aborted_; }
  /// When blocked or doomed: the key that caused it.
  const KeyCell* conflict_cell() const { return conflict_cell_; }
  ReadSet take_reads() { return std::move(reads_); }
  DeltaReads take_delta_reads() { return std::move(delta_reads_); }
  /// A read whose deltas could not be applied (Vm::apply_delta): its error. If this execution
  /// stays final, the block cannot be made.
  const std::optional<std::string>& delta_failure() const { return delta_failure_; }

 private:
  const Vm& vm_;
  MVMemory& memory_;
  const BaseState& base_;
  const TxnIndex txn_;
  bool blocked_ = false;
  mutable bool aborted_ = false;  // latched by a blocked read or by aborted() finding a stale read
  TxnIndex blocking_txn_ = 0;
  bool predicted_ = false;
  mutable const KeyCell* conflict_cell_ = nullptr;
  ReadSet reads_;
  DeltaReads delta_reads_;
  // A position in reads_, with the index of its delta sum in delta_reads_.
  struct ReadCursor {
    std::size_t read = 0;
    std::size_t delta_read = 0;
    void advance(const ReadSet& reads) { delta_read += reads[read++].with_deltas ? 1 : 0; }
  };
  static constexpr std::size_t kRecheckedPerCall = 4;
  mutable ReadCursor checked_;  // reads before it were checked once
  mutable ReadCursor recheck_;  // the next earlier read to check again
  // Whether the read at `at` was overwritten since; latches aborted_ when it was.
  bool stale(const ReadCursor& at) const {
    const ReadDescriptor& r = reads_[at.read];
    if (MVMemory::read_is_current(r, txn_, r.with_deltas ? delta_reads_[at.delta_read] : 0)) return false;
    aborted_ = true;
    conflict_cell_ = r.cell;
    return true;
  }
  std::optional<std::string> delta_failure_;
};

/// Counters one worker keeps on its own cache line and adds up at the end. Only the owner
/// writes them (relaxed load + store, no locked instruction); the contention fallback reads the
/// others' execution counts, hence atomics.
class alignas(64) WorkerCounters {
 public:
  void bump(std::atomic<std::uint64_t>& c, std::uint64_t by = 1) {
    c.store(c.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
  }
  static std::uint64_t get(const std::atomic<std::uint64_t>& c) { return c.load(std::memory_order_relaxed); }

  /// A conflict on `cell`; `wait`: an execution parked on a pending write there, else an abort.
  void conflict(const KeyCell* cell, bool wait) {
    if (cell == nullptr) return;
    std::pair<std::uint64_t, std::uint64_t>& c = conflict_keys[cell];
    ++(wait ? c.second : c.first);
  }

  std::atomic<std::uint64_t> executions{0};
  std::atomic<std::uint64_t> wasted{0};  // executions whose output was discarded or aborted
  std::atomic<std::uint64_t> validations{0};
  std::atomic<std::uint64_t> aborts{0};
  std::atomic<std::uint64_t> suspensions{0};
  std::atomic<std::uint64_t> predicted_waits{0};
  /// Per key: (aborts, waits). Touched only on a conflict, by the owner alone.
  std::unordered_map<const KeyCell*, std::pair<std::uint64_t, std::uint64_t>> conflict_keys;
};


/// One block's parallel run: the state every worker shares.
class BlockRun {
 public:
  /// `loop_prefix`: transactions the plain loop ran before (see record_loop_prefix); `judge`
  /// stops the run where it loses to the loop (only with more than one worker and a prefix).
  BlockRun(const Vm& vm, std::size_t num_txns, const BaseState& base, int threads, FallbackJudge judge,
           std::size_t loop_prefix)
      : vm_(vm),
        base_(base),
        memory_(num_txns),
        scheduler_(num_txns, loop_prefix, static_cast<std::size_t>(threads)),
        outputs_(num_txns),
        failed_(num_txns),
        counters_(static_cast<std::size_t>(threads)),
        loop_prefix_(loop_prefix),
        judge_(threads > 1 && loop_prefix > 0 ? judge : FallbackJudge{}) {
    // One per worker: a worker's failure ends its loop, so it keeps at most one.
    kept_after_failure_.reserve(static_cast<std::size_t>(threads));
  }

  /// Before the workers start (after declare): the outputs of the transactions the plain loop
  /// ran first, in order, as many as the constructor was told. Their writes and deltas are
  /// recorded with no reads: what the loop showed them was the block's true state, so they are
  /// final and nothing validates them.
  void record_loop_prefix(std::vector<TxnOutput> prefix) {
    PEL_ASSERT(prefix.size() == loop_prefix_, "the loop's prefix is not the one the scheduler expects");
    for (std::size_t txn = 0; txn < prefix.size(); ++txn) {
      outputs_[txn] = std::move(prefix[txn]);
      memory_.record(Version{static_cast<TxnIndex>(txn), 0}, {}, outputs_[txn].writes, outputs_[txn].deltas);
    }
  }

  /// Call just before the workers start: the fallback judges progress from here.
  void start_clock() { start_ = std::chrono::steady_clock::now(); }

  void work(int worker) {
    try {
      run_tasks(worker, counters_[static_cast<std::size_t>(worker)]);
    } catch (...) {
      // Only the engine's own failures reach here (the VM's exceptions become outputs): out of
      // memory, a broken invariant. Stop every worker instead of leaving them waiting on a task
      // that will never finish, and rethrow after they joined.
      failure_.capture();
      abandoned_.store(true, std::memory_order_relaxed);
    }
  }

  /// The first exception a worker hit, after the workers stopped; null when none did.
  std::exception_ptr failure() { return failure_.get(); }

  std::vector<TxnOutput> take_outputs() { return std::move(outputs_); }

  /// Call after the workers stopped early: how many transactions, from the first, already have
  /// their sequential outputs. Each one has executed (its latest incarnation recorded, not
  /// aborted since), threw no bad_alloc, met no delta it could not apply (the plain loop then
  /// meets it again and reports it), and every value it read is still what the recorded
  /// writes of the transactions before it give. By induction from transaction 0, which reads
  /// only the base state, each then read exactly what sequential execution would have shown
  /// it, so its output (a function of its reads) is the sequential one.
  std::size_t final_prefix() const {
    std::size_t kept = 0;
    while (kept < outputs_.size() && scheduler_.executed(static_cast<TxnIndex>(kept)) && failed_[kept] == 0 &&
           memory_.first_stale_read(static_cast<TxnIndex>(kept)) == nullptr) {
      ++kept;
    }
    return kept;
  }
  /// The writes of the first `txns` transactions (see final_prefix), one per key, sorted. Call
  /// before take_outputs: the memory's values live in the outputs.
  FinalWrites final_writes_below(std::size_t txns) const { return memory_.final_writes_below(txns); }
  /// Call after the workers stopped: whether a final execution threw std::bad_alloc.
  bool out_of_memory() const {
    return std::any_of(failed_.begin(), failed_.end(), [](std::uint8_t f) { return (f & kOutOfMemory) != 0; });
  }
  /// Call after the block finished: the error of the lowest transaction whose final execution
  /// met deltas it could not apply, which sequential execution meets first too; or nothing.
  std::optional<std::string> delta_failure() const {
    auto it = std::find_if(failed_.begin(), failed_.end(), [](std::uint8_t f) { return (f & kDeltaFailed) != 0; });
    if (it == failed_.end()) return std::nullopt;
    return delta_failures_.at(static_cast<TxnIndex>(it - failed_.begin()));
  }
  bool abandoned() const { return abandoned_.load(std::memory_order_relaxed); }
  /// Call after the workers stopped: every transaction executed and validated.
  bool finished() const { return scheduler_.done(); }

  /// Call after the workers stopped. `conflicted`, when given, receives every key that caused
  /// a conflict or a wait, not only the top few the statistics keep.
  ExecutionStats counts(std::vector<KeyConflicts>* conflicted = nullptr) const {
    ExecutionStats stats;
    stats.executions = loop_prefix_;
    stats.loop_prefix = loop_prefix_;
    std::unordered_map<const KeyCell*, KeyConflicts> by_cell;
    for (const WorkerCounters& c : counters_) {
      stats.executions += WorkerCounters::get(c.executions);
      stats.validations += WorkerCounters::get(c.validations);
      stats.aborts += WorkerCounters::get(c.aborts);
      stats.suspensions += WorkerCounters::get(c.suspensions);
      stats.predicted_waits += WorkerCounters::get(c.predicted_waits);
      for (const auto& [cell, counts] : c.conflict_keys) {
        KeyConflicts& k = by_cell.try_emplace(cell, KeyConflicts{.key = cell->key}).first->second;
        k.aborts += counts.first;
        k.waits += counts.second;
      }
    }
    for (const auto& entry : by_cell) stats.hot_keys.push_back(entry.second);
    if (conflicted) *conflicted = stats.hot_keys;
    keep_hottest(stats.hot_keys);
    return stats;
  }

  /// Before the workers start: the block's declared writes become ESTIMATE markers, all of them
  /// or (when `only` is given, sorted) those to keys in `only`. Their cells are found in
  /// parallel; the markers go in by one thread in transaction order, appends at the end of each
  /// key's entries. Returns the longest chain of transactions linked by declared keys (each one
  /// declares a key the previous one declared): no schedule that honours the declarations runs
  /// the block in fewer steps.
  std::size_t declare(const BlockDeclarations& declared, const std::vector<StateKey>* only) {
    const std::size_t num_txns = declared.transactions();
    std::vector<boost::container::small_vector<KeyCell*, 2>> cells(num_txns);
    parallel_ranges(num_txns, 256, [&](std::size_t begin, std::size_t end) {
      for (std::size_t txn = begin; txn < end; ++txn) {
        for (const StateKey& key : declared.writes(static_cast<TxnIndex>(txn))) {
          if (only && !std::binary_search(only->begin(), only->end(), key)) continue;
          cells[txn].push_back(memory_.cell(key));
        }
      }
    });
    // chain[t]: the longest declared chain ending at t. A cell's last entry, before t's own
    // goes in, is the highest lower transaction that declared it (only declarations are there).
    std::vector<std::uint32_t> chain(num_txns, 1);
    std::uint32_t longest = num_txns > 0 ? 1 : 0;
    predicted_blocker_.assign(num_txns, kNoBlocker);
    predicted_cell_.assign(num_txns, nullptr);
    for (std::size_t txn = 0; txn < num_txns; ++txn) {
      for (KeyCell* cell : cells[txn]) {
        if (!cell->entries.empty() && cell->entries.back().txn < txn) {
          const TxnIndex writer = cell->entries.back().txn;
          chain[txn] = std::max(chain[txn], chain[writer] + 1);
          if (predicted_blocker_[txn] == kNoBlocker || writer > predicted_blocker_[txn]) {
            predicted_blocker_[txn] = writer;
            predicted_cell_[txn] = cell;
          }
          declared_links_.push_back(cell);
        }
        memory_.declare_write(static_cast<TxnIndex>(txn), cell);
      }
      longest = std::max(longest, chain[txn]);
      declared_dependencies_ += predicted_blocker_[txn] != kNoBlocker;
    }
    return longest;
  }

  /// Transactions that a declaration linked to a lower one (see declare()).
  std::uint64_t declared_dependencies() const { return declared_dependencies_; }
  /// The declared keys that linked at least `min` transactions to a lower one: still contended,
  /// whether or not this run's schedule made anyone wait on them.
  std::vector<StateKey> contended_declared_keys(std::uint64_t min) {
    std::sort(declared_links_.begin(), declared_links_.end());
    std::vector<StateKey> out;
    for (auto it = declared_links_.begin(); it != declared_links_.end();) {
      const auto run_end = std::upper_bound(it, declared_links_.end(), *it);
      if (static_cast<std::uint64_t>(run_end - it) >= min) out.push_back((*it)->key);
      it = run_end;
    }
    return out;
  }
  /// The block's writes, one per key, sorted, deltas not yet applied. Call before take_outputs.
  FinalWrites final_writes() const { return memory_.final_writes(); }

 private:
  void run_tasks(int worker, WorkerCounters& counters) {
    Backoff backoff;
    std::optional<SchedulerTask> task;
    Scheduler::WorkerClaims claims;
    claims.worker = static_cast<std::uint8_t>(worker);  // modulo 256: a preference only
    // relaxed: abandoning only makes workers stop early; the caller joins them before reading it.
    while (!scheduler_.done() && !abandoned_.load(std::memory_order_relaxed)) {
      if (task && task->kind == SchedulerTask::Kind::kExecution) {
        task = try_execute(task->version, claims.worker, counters);
      } else if (task) {
        task = validate(task->version, counters);
      }
      if (!task) {
        task = scheduler_.next_task(claims);
        if (task) {
          backoff.reset();
        } else {
          backoff.pause();
        }
      }
    }
  }

  std::optional<SchedulerTask> try_execute(Version version, std::uint8_t worker, WorkerCounters& counters) {
    // The highest lower transaction that declared a key this one declares has not executed yet:
    // wait for it before running at all (the execution would stop at that key's ESTIMATE, with
    // its work up to there wasted). Resumed, the check passes unless that one was aborted again.
    if (!predicted_blocker_.empty() && predicted_blocker_[version.txn] != kNoBlocker &&
        scheduler_.add_dependency(version.txn, predicted_blocker_[version.txn], true)) {
      counters.bump(counters.suspensions);
      counters.bump(counters.predicted_waits);
      // Counted on its key, so a declared key that keeps its readers waiting stays hot.
      counters.conflict(predicted_cell_[version.txn], true);
      return std::nullopt;
    }
    for (;;) {
      const std::uint64_t executed = WorkerCounters::get(counters.executions);
      MVReader reader(vm_, memory_, base_, version.txn);
      TxnOutput output;
      bool out_of_memory = false;
      try {
        output = call_vm(vm_, version.txn, reader);
      } catch (const std::bad_alloc&) {
        // Maybe this node is out of memory, maybe the VM sized an allocation from an inconsistent
        // view. Record what it read and no writes, and let validation tell: an execution on an
        // inconsistent view is aborted and runs again; one that stays final saw the block's
        // true state, and BlockStmExecutor::execute then fails the block.
        out_of_memory = true;
      }
      counters.bump(counters.executions);
      if ((executed + 1) % kJudgeEvery == 0) check_fallback();
      if (reader.blocked()) {
        counters.bump(counters.wasted);
        if (scheduler_.add_dependency(version.txn, reader.blocking_txn(), reader.predicted())) {
          counters.bump(counters.suspensions);
          counters.conflict(reader.conflict_cell(), true);
          if (reader.predicted()) counters.bump(counters.predicted_waits);
          return std::nullopt;
        }
        continue;  // the dependency resolved meanwhile: run the same incarnation again
      }
      if (reader.doomed()) {
        // aborted() told the VM that a value it read was overwritten. Recording the output and
        // leaving it to validation would be wrong: the output is no longer a function of the
        // reads (the VM may have stopped early, and reads after that returned nothing), yet the
        // reads can become valid again (the overwriting lower transaction re-executes and no
        // longer writes the key), and validation, which checks only the reads, would then
        // accept it. So discard it and run the same incarnation again, as when a dependency
        // resolved meanwhile; nothing of this attempt was published. Each such rerun follows a
        // lower transaction's write, and those end, so the reruns do too.
        counters.bump(counters.aborts);
        counters.bump(counters.wasted);
        counters.conflict(reader.conflict_cell(), false);
        scheduler_.note_conflict();
        continue;
      }
      // The memory keeps pointers to the values in output.writes: moving the output into
      // outputs_[txn] keeps them where they are, and the previous incarnation's output, freed
      // here, is no longer referred to once record() has returned.
      bool wrote_new_path = false;
      try {
        wrote_new_path = memory_.record(version, reader.take_reads(), output.writes, output.deltas,
                                        reader.take_delta_reads());
      } catch (...) {
        // Out of memory part way: some entries may already point into `output`, and other
        // workers may read them until they all stop. Keep it alive as long as the memory.
        keep_after_failure(std::move(output));
        throw;
      }
      // Only this worker touches outputs_[txn] and failed_[txn] until the block is done
      // (status kExecuting); a re-execution overwrites both.
      outputs_[version.txn] = std::move(output);
      failed_[version.txn] = static_cast<std::uint8_t>((out_of_memory ? kOutOfMemory : 0) |
                                                       (reader.delta_failure() ? kDeltaFailed : 0));
      if (reader.delta_failure()) {
        tbb::spin_mutex::scoped_lock lock(delta_failures_mutex_);
        delta_failures_[version.txn] = *reader.delta_failure();
      }
      return scheduler_.finish_execution(version, wrote_new_path, worker);
    }
  }

  std::optional<SchedulerTask> validate(Version version, WorkerCounters& counters) {
    counters.bump(counters.validations);
    const KeyCell* stale = memory_.first_stale_read(version.txn);
    bool aborted = stale != nullptr && scheduler_.try_validation_abort(version);
    if (aborted) {
      counters.bump(counters.aborts);
      counters.bump(counters.wasted);
      counters.conflict(stale, false);
      memory_.convert_writes_to_estimates(version.txn);
    }
    return scheduler_.finish_validation(version.txn, aborted);
  }

  // Moves `output` where the memory's pointers into it stay valid until the run is destroyed.
  // Allocates nothing (the room is reserved) and cannot throw: it runs on an out-of-memory path.
  void keep_after_failure(TxnOutput output) noexcept {
    tbb::spin_mutex::scoped_lock lock(kept_after_failure_mutex_);
    kept_after_failure_.push_back(std::move(output));
  }

  // The contention fallback, judged by progress (FallbackJudge): every kJudgeEvery executions of
  // a worker, the executions still standing, each worth what the plain loop would have spent on
  // that transaction, against the wall time the run has taken.
  void check_fallback() {
    if (judge_.speedup <= 0) return;
    std::uint64_t executions = 0, wasted = 0;
    for (const WorkerCounters& c : counters_) {
      executions += WorkerCounters::get(c.executions);
      wasted += WorkerCounters::get(c.wasted);
    }
    if (judge_.should_stop(executions, wasted, outputs_.size(), elapsed_ns(start_))) {
      abandoned_.store(true, std::memory_order_relaxed);
    }
  }

  static constexpr std::uint64_t kJudgeEvery = 64;  // per worker: a clock read and a sum of counters
  const Vm& vm_;
  const BaseState& base_;
  MVMemory memory_;
  Scheduler scheduler_;
  std::vector<TxnOutput> outputs_;
  // Per transaction, how its recorded execution failed: threw std::bad_alloc, met deltas it could
  // not apply (the error in delta_failures_). Bytes: workers write neighbours' flags concurrently.
  static constexpr std::uint8_t kOutOfMemory = 1;
  static constexpr std::uint8_t kDeltaFailed = 2;
  std::vector<std::uint8_t> failed_;
  tbb::spin_mutex delta_failures_mutex_;  // taken only where a delta fails
  std::unordered_map<TxnIndex, std::string> delta_failures_;

  std::vector<WorkerCounters> counters_;
  tbb::spin_mutex kept_after_failure_mutex_;
  std::vector<TxnOutput> kept_after_failure_;  // see keep_after_failure
  // Per transaction: the highest lower transaction declaring one of its declared keys, or
  // kNoBlocker; empty when nothing was declared. Written before the workers start.
  static constexpr TxnIndex kNoBlocker = std::numeric_limits<TxnIndex>::max();
  std::vector<TxnIndex> predicted_blocker_;
  std::vector<const KeyCell*> predicted_cell_;  // the declared key that names the blocker
  std::vector<const KeyCell*> declared_links_;  // one entry per declared dependency, by key
  std::uint64_t declared_dependencies_ = 0;
  const std::size_t loop_prefix_;
  const FallbackJudge judge_;  // never stops with one worker (it can only be slower than the loop),
                               // or with no loop prefix to judge by
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::atomic<bool> abandoned_{false};  // stop: slower than the plain loop, or a worker failed
  FirstFailure failure_;
};

}  // namespace

BlockStmExecutor::Outcome BlockStmExecutor::execute(const Vm& vm, std::size_t num_txns, const BaseState& base,
                                                    Start start) {
  const auto started = std::chrono::steady_clock::now();
  const int threads = pool_.threads();
  auto run = std::make_unique<BlockRun>(vm, num_txns, base, threads, start.judge, start.loop ? start.loop->next() : 0);
  // The multi-version memory frees its cells data-parallel: inside the pool's arena.
  auto release = [&] { pool_.in_arena([&] { run.reset(); }); };
  if (declarations_ == DeclarationMode::kAll || (declarations_ == DeclarationMode::kHotKeys && !hot_keys_.empty())) {
    std::size_t longest_chain = 0;
    pool_.in_arena([&] {
      // The block's declarations, asked of the VM here unless the caller has them already.
      std::optional<BlockDeclarations> asked;
      const BlockDeclarations* declared = start.declarations;
      if (declared == nullptr || declared->transactions() != num_txns) {
        declared = &asked.emplace(BlockDeclarations::of(vm, num_txns));
      }
      longest_chain = run->declare(*declared, declarations_ == DeclarationMode::kAll ? nullptr : &hot_keys_);
    });
    // Judged before any execution: the declared chain leaves too little parallelism for
    // Block-STM to repay its overhead. The hot keys are kept for when Block-STM runs again.
    if (start.max_declared_chain > 0 && longest_chain > start.max_declared_chain) {
      Outcome too_serial{.kind = Outcome::Kind::kTooSerial, .result = {}};
      too_serial.result.stats.declared_dependencies = run->declared_dependencies();
      release();
      return too_serial;
    }
  }
  if (start.loop) run->record_loop_prefix(start.loop->take_outputs());
  run->start_clock();
  pool_.run(threads, [&run](int w) { run->work(w); });

  if (std::exception_ptr failure = run->failure()) {
    release();
    std::rethrow_exception(failure);
  }
  std::vector<KeyConflicts> conflicted;
  ExecutionStats stats = run->counts(&conflicted);
  stats.declared_dependencies = run->declared_dependencies();
  stats.threads = threads;
  learn_hot_keys(conflicted, run->contended_declared_keys(kHotKeyConflicts));
  // A stop judged as the last task finished finds the block done: nothing to redo.
  if (run->abandoned() && !run->finished()) {
    // The plain loop finishes the block from the first transaction the run had not made final;
    // the prefix it had is kept, not executed again.
    const std::size_t kept = run->final_prefix();
    FinalWrites kept_state;
    pool_.in_arena([&] { kept_state = run->final_writes_below(kept); });
    std::vector<TxnOutput> kept_outputs = run->take_outputs();
    kept_outputs.resize(kept);
    release();
    Outcome stopped{.kind = Outcome::Kind::kStopped,
                    .result = continue_sequential(vm, num_txns, base, std::move(kept_outputs), kept_state)};
    ExecutionStats& s = stopped.result.stats;
    stats.executions += s.executions;  // the abandoned work counts too
    stats.transactions = s.transactions;
    stats.finalize_ns = s.finalize_ns;
    stats.kept_on_fallback = kept;
    stats.execute_ns = elapsed_ns(started);
    stats.path = ExecutionPath::kFellBack;
    s = std::move(stats);  // what made the block fall back: the parallel run's counts and hot keys
    return stopped;
  }
  if (run->out_of_memory()) {
    // A final execution threw std::bad_alloc on the block's true state: this node's failure.
    release();
    throw std::bad_alloc();
  }

  Outcome finished{.kind = Outcome::Kind::kFinished, .result = {}};
  BlockResult& result = finished.result;
  result.stats = std::move(stats);
  result.stats.execute_ns = elapsed_ns(started);
  const auto finalize_start = std::chrono::steady_clock::now();
  // A final read that met deltas it could not apply comes first (the lowest transaction's, as in
  // the plain loop); else the block's writes, collected data-parallel.
  const std::optional<std::string> read_delta_failure = run->delta_failure();
  FinalWrites state;
  if (!read_delta_failure) pool_.in_arena([&] { state = run->final_writes(); });
  result.outputs = run->take_outputs();
  release();
  end_block(vm, base, read_delta_failure, std::move(state), &pool_, result);
  result.stats.finalize_ns = elapsed_ns(finalize_start);
  result.stats.transactions = num_txns;
  result.stats.path = ExecutionPath::kBlockStm;
  return finished;
}

void BlockStmExecutor::learn_hot_keys(const std::vector<KeyConflicts>& conflicted,
                                      std::vector<StateKey> contended_declared) {
  // A key that one unlucky overlap touched once is noise; one that conflicted a few times in a
  // block is a hot spot. A declared key that linked several transactions stays hot whether or
  // not the schedule made anyone wait, so a block that went well keeps the declarations that
  // made it go well.
  hot_keys_ = std::move(contended_declared);
  for (const KeyConflicts& k : conflicted) {
    if (k.total() >= kHotKeyConflicts) hot_keys_.push_back(k.key);
  }
  std::sort(hot_keys_.begin(), hot_keys_.end());
  hot_keys_.erase(std::unique(hot_keys_.begin(), hot_keys_.end()), hot_keys_.end());
}

}  // namespace pel
