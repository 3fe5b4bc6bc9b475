#include "engine/parallel_executor.hpp"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <new>
#include <thread>
#include <unordered_map>
#include <utility>

#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/info.h>
#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_group.h>

#include "engine/executor_common.hpp"
#include "engine/scheduler.hpp"
#include "engine/sequential_executor.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace pel {
namespace {

/// Exponential backoff for a worker that found no task: pause a while, then yield the core.
class Backoff {
 public:
  void pause() {
    if (count_ < kSpinLimit) {
      for (int i = 0; i < (1 << count_); ++i) cpu_relax();
      ++count_;
    } else {
      std::this_thread::yield();
    }
  }
  void reset() { count_ = 0; }

 private:
  static constexpr int kSpinLimit = 6;
  static void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#endif
  }
  int count_ = 0;
};

/// The reader of one execution: reads go to multi-version memory, and are recorded.
class MVReader final : public StateReader {
 public:
  MVReader(MVMemory& memory, const BaseState& base, TxnIndex txn)
      : memory_(memory), base_(base), txn_(txn) {}

  std::optional<Value> read(const StateKey& key) override {
    if (aborted_) return std::nullopt;
    KeyCell* cell = memory_.cell(key);
    MVRead r = MVMemory::read(*cell, txn_);
    switch (r.kind) {
      case MVRead::Kind::kDependency:
        blocked_ = true;
        aborted_ = true;
        blocking_txn_ = r.blocking_txn;
        conflict_cell_ = cell;
        return std::nullopt;
      case MVRead::Kind::kStorage:
        reads_.push_back({cell, true, {}, r.changes});
        return base_.get(key);
      case MVRead::Kind::kValue:
        reads_.push_back({cell, false, r.version, r.changes});
        return std::move(r.value);
    }
    return std::nullopt;
  }

  // The reads so far are re-checked only here, on the VM's demand: a VM that found its view
  // inconsistent (or wants to stop early) asks, the engine never does.
  bool aborted() const override {
    if (!aborted_) {
      auto stale = std::find_if(reads_.begin(), reads_.end(),
                                [this](const ReadDescriptor& r) { return !MVMemory::read_is_current(r, txn_); });
      if (stale != reads_.end()) {
        aborted_ = true;
        conflict_cell_ = stale->cell;
      }
    }
    return aborted_;
  }

  /// A read met an ESTIMATE of blocking_txn().
  bool blocked() const { return blocked_; }
  TxnIndex blocking_txn() const { return blocking_txn_; }
  /// aborted() is or would have been true: the VM may have acted on it, so its output is void.
  bool doomed() const { return aborted_; }
  /// When blocked or doomed: the key that caused it.
  const KeyCell* conflict_cell() const { return conflict_cell_; }
  std::vector<ReadDescriptor> take_reads() { return std::move(reads_); }

 private:
  MVMemory& memory_;
  const BaseState& base_;
  const TxnIndex txn_;
  bool blocked_ = false;
  mutable bool aborted_ = false;  // latched by a blocked read or by aborted() finding a stale read
  TxnIndex blocking_txn_ = 0;
  mutable const KeyCell* conflict_cell_ = nullptr;
  std::vector<ReadDescriptor> reads_;
};

/// Counters one worker keeps on its own cache line and adds up at the end. Only the owner
/// writes them (relaxed load + store, no locked instruction); the contention fallback reads the
/// others' execution counts, hence atomics.
class alignas(64) WorkerCounters {
 public:
  void bump(std::atomic<std::uint64_t>& c) { c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed); }
  static std::uint64_t get(const std::atomic<std::uint64_t>& c) { return c.load(std::memory_order_relaxed); }

  /// A conflict on `cell`; `wait`: an execution parked on a pending write there, else an abort.
  void conflict(const KeyCell* cell, bool wait) {
    if (cell == nullptr) return;
    std::pair<std::uint64_t, std::uint64_t>& c = conflict_keys[cell];
    ++(wait ? c.second : c.first);
  }

  std::atomic<std::uint64_t> executions{0};
  std::atomic<std::uint64_t> validations{0};
  std::atomic<std::uint64_t> aborts{0};
  std::atomic<std::uint64_t> suspensions{0};
  /// Per key: (aborts, waits). Touched only on a conflict, by the owner alone.
  std::unordered_map<const KeyCell*, std::pair<std::uint64_t, std::uint64_t>> conflict_keys;
};

/// Sorts by conflicts, most first (ties by key, so the order is reproducible), and keeps the top.
void keep_hottest(std::vector<KeyConflicts>& keys) {
  std::sort(keys.begin(), keys.end(), [](const KeyConflicts& a, const KeyConflicts& b) {
    return a.total() != b.total() ? a.total() > b.total() : a.key < b.key;
  });
  if (keys.size() > ExecutionStats::kHotKeys) keys.resize(ExecutionStats::kHotKeys);
}

/// One block's parallel run: the state every worker shares.
class BlockRun {
 public:
  BlockRun(const Vm& vm, std::size_t num_txns, const BaseState& base, int threads, double fallback_conflict_ratio)
      : vm_(vm),
        base_(base),
        memory_(num_txns),
        scheduler_(num_txns),
        outputs_(num_txns),
        out_of_memory_(num_txns),
        counters_(static_cast<std::size_t>(threads)),
        fallback_conflict_ratio_(fallback_conflict_ratio) {}

  void work(int worker) {
    try {
      run_tasks(counters_[static_cast<std::size_t>(worker)]);
    } catch (...) {
      // Only the engine's own failures reach here (the VM's exceptions become outputs): out of
      // memory, a broken invariant. Stop every worker instead of leaving them waiting on a task
      // that will never finish, and rethrow after they joined.
      std::lock_guard lock(failure_mutex_);
      if (!failure_) failure_ = std::current_exception();
      abandoned_.store(true, std::memory_order_relaxed);
    }
  }

  /// The first exception a worker hit, after the workers stopped; null when none did.
  std::exception_ptr failure() {
    std::lock_guard lock(failure_mutex_);
    return failure_;
  }

  std::vector<TxnOutput> take_outputs() { return std::move(outputs_); }
  /// Call after the workers stopped: whether a final execution threw std::bad_alloc.
  bool out_of_memory() const {
    return std::any_of(out_of_memory_.begin(), out_of_memory_.end(), [](std::uint8_t f) { return f != 0; });
  }
  bool abandoned() const { return abandoned_.load(std::memory_order_relaxed); }

  /// Call after the workers stopped.
  ExecutionStats counts() const {
    ExecutionStats stats;
    std::unordered_map<const KeyCell*, KeyConflicts> by_cell;
    for (const WorkerCounters& c : counters_) {
      stats.executions += WorkerCounters::get(c.executions);
      stats.validations += WorkerCounters::get(c.validations);
      stats.aborts += WorkerCounters::get(c.aborts);
      stats.suspensions += WorkerCounters::get(c.suspensions);
      for (const auto& [cell, counts] : c.conflict_keys) {
        KeyConflicts& k = by_cell.try_emplace(cell, KeyConflicts{.key = cell->key}).first->second;
        k.aborts += counts.first;
        k.waits += counts.second;
      }
    }
    for (const auto& entry : by_cell) stats.hot_keys.push_back(entry.second);
    keep_hottest(stats.hot_keys);
    return stats;
  }
  WriteSet snapshot() const { return memory_.snapshot(); }

 private:
  void run_tasks(WorkerCounters& counters) {
    Backoff backoff;
    std::optional<SchedulerTask> task;
    Scheduler::WorkerClaims claims;
    // relaxed: abandoning only makes workers stop early; the caller joins them before reading it.
    while (!scheduler_.done() && !abandoned_.load(std::memory_order_relaxed)) {
      if (task && task->kind == SchedulerTask::Kind::kExecution) {
        task = try_execute(task->version, counters);
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

  std::optional<SchedulerTask> try_execute(Version version, WorkerCounters& counters) {
    for (;;) {
      MVReader reader(memory_, base_, version.txn);
      TxnOutput output;
      bool out_of_memory = false;
      try {
        output = call_vm(vm_, version.txn, reader);
      } catch (const std::bad_alloc&) {
        // Maybe this node is out of memory, maybe the VM sized an allocation from an inconsistent
        // view. Record what it read and no writes, and let validation tell: an execution on an
        // inconsistent view is aborted and runs again; one that stays final saw the block's
        // true state, and execute() then fails the block.
        out_of_memory = true;
      }
      counters.bump(counters.executions);
      if (reader.blocked()) {
        if (scheduler_.add_dependency(version.txn, reader.blocking_txn())) {
          counters.bump(counters.suspensions);
          counters.conflict(reader.conflict_cell(), true);
          check_fallback();
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
        counters.conflict(reader.conflict_cell(), false);
        scheduler_.note_conflict();
        check_fallback();
        continue;
      }
      bool wrote_new_path = memory_.record(version, reader.take_reads(), output.writes);
      // Only this worker touches outputs_[txn] and out_of_memory_[txn] until the block is done
      // (status kExecuting); a re-execution overwrites both.
      outputs_[version.txn] = std::move(output);
      out_of_memory_[version.txn] = out_of_memory;
      return scheduler_.finish_execution(version, wrote_new_path);
    }
  }

  std::optional<SchedulerTask> validate(Version version, WorkerCounters& counters) {
    counters.bump(counters.validations);
    const KeyCell* stale = memory_.first_stale_read(version.txn);
    bool aborted = stale != nullptr && scheduler_.try_validation_abort(version);
    if (aborted) {
      counters.bump(counters.aborts);
      counters.conflict(stale, false);
      memory_.convert_writes_to_estimates(version.txn);
      check_fallback();
    }
    return scheduler_.finish_validation(version.txn, aborted);
  }

  // The contention fallback: a block where most executions end in an abort or a wait on a
  // dependency is effectively serial, and Block-STM on it costs more than a plain loop. Checked
  // after each conflict (the scheduler counts them), and only then are the workers' execution
  // counts summed.
  void check_fallback() {
    if (fallback_conflict_ratio_ <= 0) return;
    const std::size_t conflicts = scheduler_.conflicts();
    std::uint64_t executions = 0;
    for (const WorkerCounters& c : counters_) executions += WorkerCounters::get(c.executions);
    if (executions >= kMinExecutionsBeforeFallback &&
        static_cast<double>(conflicts) > fallback_conflict_ratio_ * static_cast<double>(executions)) {
      abandoned_.store(true, std::memory_order_relaxed);
    }
  }

  // Judge only after this many executions: the first few dozen of a block with a handful of hot
  // keys conflict more than the block as a whole does.
  static constexpr std::uint64_t kMinExecutionsBeforeFallback = 256;
  const Vm& vm_;
  const BaseState& base_;
  MVMemory memory_;
  Scheduler scheduler_;
  std::vector<TxnOutput> outputs_;
  // Per transaction: its recorded execution threw std::bad_alloc. Bytes, not vector<bool>:
  // workers write neighbouring transactions' flags concurrently.
  std::vector<std::uint8_t> out_of_memory_;
  std::vector<WorkerCounters> counters_;
  const double fallback_conflict_ratio_;
  std::atomic<bool> abandoned_{false};  // stop: too many conflicts, or a worker failed
  std::mutex failure_mutex_;
  std::exception_ptr failure_;
};

/// oneTBB's thread limit for every live executor together. max_allowed_parallelism is
/// process-wide, and with several global_control objects alive the smallest wins: an executor of
/// 8 threads beside one of 3 would run its blocks on 3. So one global_control, owned here, is
/// set to the sum of the threads the live executors asked for, when that exceeds what oneTBB
/// allows by default (more workers than cores is allowed on purpose: tests shuffle schedules
/// that way). A mutex, not atomics: it is taken only when an executor is created or destroyed,
/// and the sum and the control that follows from it change together.
class ThreadBudget {
 public:
  static ThreadBudget& instance() {
    // First built inside an executor's constructor, so destroyed after every static executor.
    static ThreadBudget budget;
    return budget;
  }

  void reserve(int threads) {
    std::lock_guard lock(mutex_);
    set_limit(requested_ + static_cast<std::size_t>(threads));
  }

  void release(int threads) noexcept {
    std::lock_guard lock(mutex_);
    try {
      set_limit(requested_ - static_cast<std::size_t>(threads));
    } catch (const std::bad_alloc&) {
      // No memory for the smaller control: keep the larger limit, which only permits threads.
      requested_ -= static_cast<std::size_t>(threads);
    }
  }

 private:
  // REQUIRES: mutex_ held. Strong guarantee: on a throw nothing changed.
  void set_limit(std::size_t requested) {
    const std::size_t limit = std::max(requested, static_cast<std::size_t>(tbb::info::default_concurrency()));
    if (limit != limit_) {
      std::unique_ptr<tbb::global_control> next;
      if (limit > static_cast<std::size_t>(tbb::info::default_concurrency())) {
        next = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism, limit);
      }
      control_ = std::move(next);  // the old limit ends here; both applied only for this instant
      limit_ = limit;
    }
    requested_ = requested;
  }

  std::mutex mutex_;
  std::size_t requested_ = 0;  // threads asked for by the live executors
  std::size_t limit_ = 0;
  std::unique_ptr<tbb::global_control> control_;  // null while the default limit suffices
};

}  // namespace

ParallelExecutor::ParallelExecutor(ParallelOptions options) : options_(options) {
  if (options_.threads < 1) options_.threads = 1;
  arena_ = std::make_unique<tbb::task_arena>(options_.threads);
  ThreadBudget::instance().reserve(options_.threads);
}

ParallelExecutor::~ParallelExecutor() { ThreadBudget::instance().release(options_.threads); }

BlockResult ParallelExecutor::execute(const Vm& vm, std::size_t num_txns, const BaseState& base) {
  const int threads = options_.threads;
  if (!options_.always_block_stm && (threads == 1 || num_txns < options_.min_parallel_txns ||
                                     num_txns < static_cast<std::size_t>(threads))) {
    BlockResult result = execute_sequential(vm, num_txns, base);
    result.stats.threads = threads;
    return result;
  }

  auto start = std::chrono::steady_clock::now();
  auto run = std::make_unique<BlockRun>(vm, num_txns, base, threads, options_.fallback_conflict_ratio);
#if defined(__SANITIZE_THREAD__)
  // Debian's libtbb is not built with ThreadSanitizer, so the hand-over of a task to a TBB worker
  // is invisible to it and reported as a race. Under TSan the same workers run on plain threads,
  // so what TSan checks is pel's own synchronisation: the scheduler and the multi-version memory.
  std::vector<std::thread> workers;
  for (int w = 1; w < threads; ++w) {
    workers.emplace_back([&run, w] { run->work(w); });
  }
  run->work(0);
  for (std::thread& t : workers) t.join();
#else
  arena_->execute([&] {
    tbb::task_group group;
    for (int w = 0; w < threads; ++w) {
      // Isolated: a worker waiting inside a VM's own oneTBB algorithm may take only that
      // algorithm's tasks. Were it to pick up another worker's loop, that loop would wait
      // forever for the transaction suspended beneath it on the same stack.
      group.run([&run, w] { tbb::this_task_arena::isolate([&run, w] { run->work(w); }); });
    }
    group.wait();
  });
#endif

  if (std::exception_ptr failure = run->failure()) {
    arena_->execute([&] { run.reset(); });
    std::rethrow_exception(failure);
  }
  const ExecutionStats parallel_stats = run->counts();
  if (run->abandoned()) {
    arena_->execute([&] { run.reset(); });
    BlockResult result = execute_sequential(vm, num_txns, base);
    result.stats.executions += parallel_stats.executions;  // the abandoned work counts too
    result.stats.validations = parallel_stats.validations;
    result.stats.aborts = parallel_stats.aborts;
    result.stats.suspensions = parallel_stats.suspensions;
    result.stats.hot_keys = parallel_stats.hot_keys;  // what made the block fall back
    result.stats.execute_ns = elapsed_ns(start);
    result.stats.threads = threads;
    result.stats.fell_back = true;
    return result;
  }

  if (run->out_of_memory()) {
    // A final execution threw std::bad_alloc on the block's true state: this node's failure.
    arena_->execute([&] { run.reset(); });
    throw std::bad_alloc();
  }

  BlockResult result;
  result.stats = parallel_stats;
  result.stats.execute_ns = elapsed_ns(start);
  auto finalize_start = std::chrono::steady_clock::now();
  result.outputs = run->take_outputs();
  // Collecting the write set and freeing the multi-version memory are data-parallel too.
  arena_->execute([&] {
    result.writes = run->snapshot();
    run.reset();
  });
  finish_block(vm, base, result);
  result.stats.finalize_ns = elapsed_ns(finalize_start);

  result.stats.transactions = num_txns;
  result.stats.threads = threads;
  return result;
}

ExecutionStats& ExecutionStats::operator+=(const ExecutionStats& o) {
  transactions += o.transactions;
  executions += o.executions;
  validations += o.validations;
  aborts += o.aborts;
  suspensions += o.suspensions;
  execute_ns += o.execute_ns;
  finalize_ns += o.finalize_ns;
  for (const KeyConflicts& theirs : o.hot_keys) {
    auto mine = std::find_if(hot_keys.begin(), hot_keys.end(), [&](const KeyConflicts& k) { return k.key == theirs.key; });
    if (mine == hot_keys.end()) {
      hot_keys.push_back(theirs);
    } else {
      mine->aborts += theirs.aborts;
      mine->waits += theirs.waits;
    }
  }
  keep_hottest(hot_keys);
  return *this;
}

}  // namespace pel
