#include "engine/parallel_executor.hpp"

#include <atomic>
#include <exception>
#include <mutex>
#include <thread>

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
    if (blocked_) return std::nullopt;
    KeyCell* cell = memory_.cell(key);
    MVRead r = MVMemory::read(*cell, txn_);
    switch (r.kind) {
      case MVRead::Kind::kDependency:
        blocked_ = true;
        blocking_txn_ = r.blocking_txn;
        return std::nullopt;
      case MVRead::Kind::kStorage:
        reads_.push_back({cell, true, {}});
        return base_.get(key);
      case MVRead::Kind::kValue:
        reads_.push_back({cell, false, r.version});
        return std::move(r.value);
    }
    return std::nullopt;
  }
  bool aborted() const override { return blocked_; }

  bool blocked() const { return blocked_; }
  TxnIndex blocking_txn() const { return blocking_txn_; }
  std::vector<ReadDescriptor> take_reads() { return std::move(reads_); }

 private:
  MVMemory& memory_;
  const BaseState& base_;
  const TxnIndex txn_;
  bool blocked_ = false;
  TxnIndex blocking_txn_ = 0;
  std::vector<ReadDescriptor> reads_;
};

/// Counters one worker keeps on its own cache line and adds up at the end. Only the owner
/// writes them (relaxed load + store, no locked instruction); the contention fallback reads the
/// others' execution counts, hence atomics.
class alignas(64) WorkerCounters {
 public:
  void bump(std::atomic<std::uint64_t>& c) { c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed); }
  static std::uint64_t get(const std::atomic<std::uint64_t>& c) { return c.load(std::memory_order_relaxed); }

  std::atomic<std::uint64_t> executions{0};
  std::atomic<std::uint64_t> validations{0};
  std::atomic<std::uint64_t> aborts{0};
  std::atomic<std::uint64_t> suspensions{0};
};

/// One block's parallel run: the state every worker shares.
class BlockRun {
 public:
  BlockRun(const Vm& vm, std::size_t num_txns, const BaseState& base, int threads, double fallback_conflict_ratio)
      : vm_(vm),
        base_(base),
        memory_(num_txns),
        scheduler_(num_txns),
        outputs_(num_txns),
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
  bool abandoned() const { return abandoned_.load(std::memory_order_relaxed); }

  /// Call after the workers stopped.
  ExecutionStats counts() const {
    ExecutionStats stats;
    for (const WorkerCounters& c : counters_) {
      stats.executions += WorkerCounters::get(c.executions);
      stats.validations += WorkerCounters::get(c.validations);
      stats.aborts += WorkerCounters::get(c.aborts);
      stats.suspensions += WorkerCounters::get(c.suspensions);
    }
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
      TxnOutput output = call_vm(vm_, version.txn, reader);
      counters.bump(counters.executions);
      if (reader.blocked()) {
        if (scheduler_.add_dependency(version.txn, reader.blocking_txn())) {
          counters.bump(counters.suspensions);
          note_conflict();
          return std::nullopt;
        }
        continue;  // the dependency resolved meanwhile: run the same incarnation again
      }
      bool wrote_new_path = memory_.record(version, reader.take_reads(), output.writes);
      // Only this worker touches outputs_[txn] until the block is done (status kExecuting).
      outputs_[version.txn] = std::move(output);
      return scheduler_.finish_execution(version, wrote_new_path);
    }
  }

  std::optional<SchedulerTask> validate(Version version, WorkerCounters& counters) {
    counters.bump(counters.validations);
    bool valid = memory_.validate_read_set(version.txn);
    bool aborted = !valid && scheduler_.try_validation_abort(version);
    if (aborted) {
      counters.bump(counters.aborts);
      memory_.convert_writes_to_estimates(version.txn);
      note_conflict();
    }
    return scheduler_.finish_validation(version.txn, aborted);
  }

  // The contention fallback: a block where most executions end in an abort or a wait on a
  // dependency is effectively serial, and Block-STM on it costs more than a plain loop. Only
  // conflicts touch the shared counter, and only they sum the workers' execution counts.
  void note_conflict() {
    if (fallback_conflict_ratio_ <= 0) return;
    const std::size_t conflicts = conflicts_.fetch_add(1, std::memory_order_relaxed) + 1;
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
  std::vector<WorkerCounters> counters_;
  const double fallback_conflict_ratio_;
  alignas(64) std::atomic<std::size_t> conflicts_{0};
  std::atomic<bool> abandoned_{false};  // stop: too many conflicts, or a worker failed
  std::mutex failure_mutex_;
  std::exception_ptr failure_;
};

}  // namespace

ParallelExecutor::ParallelExecutor(ParallelOptions options) : options_(options) {
  if (options_.threads < 1) options_.threads = 1;
  if (options_.threads > tbb::info::default_concurrency()) {
    // More workers than cores is allowed on purpose (tests shuffle schedules that way).
    parallelism_ = std::make_unique<tbb::global_control>(
        tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(options_.threads));
  }
  arena_ = std::make_unique<tbb::task_arena>(options_.threads);
}

ParallelExecutor::~ParallelExecutor() = default;

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
      group.run([&run, w] { run->work(w); });
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
    result.stats.execute_ns = elapsed_ns(start);
    result.stats.threads = threads;
    result.stats.fell_back = true;
    return result;
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
  return *this;
}

}  // namespace pel
