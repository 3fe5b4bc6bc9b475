// Block-STM's collaborative scheduler: workers pull the lowest-index pending task, executions
// and validations, from two shared indices; there is no central thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <optional>
#include <vector>

#include <oneapi/tbb/spin_mutex.h>

#include "state/mv_memory.hpp"

namespace pel {

struct SchedulerTask {
  enum class Kind { kExecution, kValidation };
  Kind kind;
  Version version;
};

/// Each transaction's incarnation moves through four statuses (the paper's), checked
/// (PEL_DEBUG_ASSERT) in debug and sanitizer builds:
///
///                   try_incarnate                 finish_execution
///   kReadyToExecute ─────────────▶ kExecuting ──────────────────────▶ kExecuted
///          ▲                           │                                  │
///          │ set_ready_status          │ add_dependency                   │ try_validation_abort
///          │ (incarnation + 1)         ▼ (parked on a lower transaction)  │ (one validator wins)
///          └──────────────────────── kAborting ◀─────────────────────────┘
///
/// kAborting goes back to kReadyToExecute when the dependency resolves (resume_dependencies)
/// or right after the failed validation (finish_validation). An incarnation is executed once;
/// validations only read the status. Status and incarnation share one atomic word: the two
/// contested changes (a claim, a validator's abort) are compare-exchanges, the others are made
/// by the one worker that holds the transaction then, and reading it takes no lock.
///
/// Thread-safety: every member may be called concurrently by the block's workers.
///
/// Memory order: the shared indices, the counters and the status words use seq_cst. The
/// termination check reads execution_idx, validation_idx, num_active_tasks and decrease_cnt and
/// concludes from their combination; that argument needs one total order over all of them. A
/// status change followed by a load of an index, against an index move followed by a load of
/// the status (a validator that made a transaction ready, then looked whether the execution
/// index had passed it; a claim that moved that index, then looked at the status), is the
/// store-buffer pattern: only one total order guarantees that one of the two sees the other,
/// so that someone runs the transaction. (With release/acquire, which the locks this word
/// replaced implied, x86 lets both miss, and a block could end with a transaction unexecuted:
/// the declarations test found it.)
///
/// Validation in order, by the executor where it can (issue 13's "validate once, cheaply"):
/// while conflicts are few, a claim moves the validation index only over transactions it saw
/// executed (a scan of their statuses, then a compare-exchange), and an execution that finishes
/// while the index waits on it takes its own validation, on the core that holds its keys. So a
/// first execution almost always finishes below the index, and its new keys need no
/// re-validation of the block's suffix: every higher transaction is validated after it anyway.
/// Every such claim is only a claim: what it validates is decided by the status when the
/// validation is taken (claim_validation), never by what the scan or the finishing execution saw
/// earlier, since the index can move on and come back meanwhile. With many conflicts, claims
/// are the paper's (one index, past executing transactions). Correctness is the paper's: the
/// index goes back on every abort and on every new key written behind it, an execution that
/// finds the index passed applies the paper's rule, and the block is done only once the index
/// passed every transaction with no worker active; the in-order claims merely stop where the
/// paper's would have skipped a transaction that its finishing execution then validates or
/// sends the index back for.
///
/// Hand-out in chunks: while the block has seen few conflicts, a claim takes several consecutive
/// indices at once, and the worker tries them in order before claiming again. Consecutive
/// transactions then run on one core and the shared indices move once per chunk, which matters
/// where a cache line takes hundreds of nanoseconds to cross between cores. Once conflicts
/// appear, claims go back to one index, the paper's order. Claimed indices are only tried: a
/// transaction not ready, or validated twice, is handled exactly as in the paper.
///
/// num_active_tasks counts workers, not tasks: a worker joins it before claiming and leaves it
/// only when it holds no claimed index and a claim finds nothing. It stays counted at least as
/// long as the paper's task would, which only delays the done check, never lets it pass early.
class Scheduler {
 public:
  /// What one worker holds: whether it is counted active, and the indices it claimed and has
  /// not tried yet. Owned by the worker; start from a default-constructed one.
  struct WorkerClaims {
    /// Which worker claims (any number, told apart modulo 256): while other work is left, the
    /// validations of transactions another worker executed are left to that one.
    std::uint8_t worker = 0;
    bool counted = false;
    std::size_t validate_next = 0, validate_end = 0;
    std::size_t execute_next = 0, execute_end = 0;
  };

  /// `already_executed`: transactions 0 .. already_executed-1 ran elsewhere (the executor's
  /// measured prefix, see AdaptivePolicy) and their writes are recorded with no reads: they
  /// start executed, are never validated (nothing they read can change) and never re-run.
  /// `workers`: how many run the block; the more run at once, the more an undetected conflict
  /// costs, so the fewer conflicts in-order validation tolerates (see next_task).
  explicit Scheduler(std::size_t num_txns, std::size_t already_executed = 0, std::size_t workers = 2);

  /// The next task for a worker without one, or nullopt when none is available right now.
  std::optional<SchedulerTask> next_task(WorkerClaims& claims);
  bool done() const { return done_marker_.load(); }

  /// `txn` met an ESTIMATE of `blocking_txn`. Returns false when that dependency was resolved
  /// meanwhile (the caller re-executes at once); true when `txn` is parked until it resolves.
  /// `predicted`: the ESTIMATE came from a declaration, so the wait was planned and is not
  /// counted as a conflict.
  bool add_dependency(TxnIndex txn, TxnIndex blocking_txn, bool predicted = false);

  /// An execution finished and its writes are recorded; `worker` ran it (WorkerClaims::worker).
  /// May hand back a validation of it, or else the execution of the lowest transaction that was
  /// parked on it: the finishing worker goes on with the dependent it just made ready, so a
  /// chain of dependent transactions stays on one core, with its keys in that core's cache.
  std::optional<SchedulerTask> finish_execution(Version version, bool wrote_new_path, std::uint8_t worker);

  /// Claims the right to abort `version` after a failed validation; only one validator wins.
  bool try_validation_abort(Version version);

  /// A validation finished. After an abort, may hand back the re-execution.
  std::optional<SchedulerTask> finish_validation(TxnIndex txn, bool aborted);

  /// Whether `txn`'s latest incarnation has executed and not been aborted since. Meaningful
  /// once the workers stopped (the executor's fallback reads it to keep a final prefix).
  bool executed(TxnIndex txn) const;

  /// Conflicts so far: executions parked on a dependency, validations that aborted, and those
  /// the executor reports. Tunes the hand-out.
  std::size_t conflicts() const { return conflicts_.load(std::memory_order_relaxed); }
  /// The executor discarded an execution (its reads were overwritten while it ran).
  void note_conflict() { conflicts_.fetch_add(1, std::memory_order_relaxed); }

 private:
  enum class IncarnationStatus : std::uint8_t { kReadyToExecute, kExecuting, kExecuted, kAborting };

  /// Incarnation, status and, once executed, the worker that ran it, in one word (see the
  /// class comment).
  struct Status {
    Incarnation incarnation;
    IncarnationStatus status;
    std::uint8_t worker;
    static std::uint64_t pack(Incarnation i, IncarnationStatus s, std::uint8_t worker = 0) {
      return (static_cast<std::uint64_t>(i) << 16) | (static_cast<std::uint64_t>(worker) << 8) |
             static_cast<std::uint64_t>(s);
    }
    static Status unpack(std::uint64_t word) {
      return {static_cast<Incarnation>(word >> 16), static_cast<IncarnationStatus>(word & 0xff),
              static_cast<std::uint8_t>(word >> 8)};
    }
  };

  struct alignas(64) TxnState {
    std::atomic<std::uint64_t> status{Status::pack(0, IncarnationStatus::kReadyToExecute)};
    tbb::spin_mutex dependents_mutex;
    std::vector<TxnIndex> dependents;  // parked on this transaction's next execution
  };

  std::optional<SchedulerTask> claim_execution(std::size_t idx);
  std::optional<SchedulerTask> claim_validation(std::size_t idx);
  /// Moves the validation index from `from` over the executed transactions there (at most
  /// `chunk`; only `w`'s own while `others_left`) into `w`; false when there are none or the
  /// index moved meanwhile.
  bool claim_validations(WorkerClaims& w, std::size_t from, std::size_t chunk, bool others_left);
  Status status(TxnIndex txn) const { return Status::unpack(txns_[txn].status.load()); }
  /// A change made by the one worker that holds `txn` now (see the class comment).
  void set_status(TxnIndex txn, Incarnation incarnation, IncarnationStatus status, std::uint8_t worker = 0) {
    txns_[txn].status.store(Status::pack(incarnation, status, worker));
  }
  std::optional<Version> try_incarnate(TxnIndex txn);
  void set_ready_status(TxnIndex txn);
  /// Makes every dependent ready; returns the execution of the lowest when `take_one` and this
  /// worker got it, and lets the execution index reach the others.
  std::optional<SchedulerTask> resume_dependencies(const std::vector<TxnIndex>& dependents, bool take_one);
  void decrease_execution_idx(TxnIndex target);
  void decrease_validation_idx(TxnIndex target);
  void check_done();

  const std::size_t num_txns_;
  std::vector<TxnState> txns_;
  alignas(64) std::atomic<std::size_t> execution_idx_{0};
  alignas(64) std::atomic<std::size_t> validation_idx_{0};
  alignas(64) std::atomic<std::size_t> decrease_cnt_{0};
  alignas(64) std::atomic<std::ptrdiff_t> num_active_tasks_{0};
  alignas(64) std::atomic<bool> done_marker_{false};
  // Conflicts so far (see conflicts()); chunked claims stop once it reaches kChunkedUntil.
  // relaxed everywhere: a count that tunes and judges, never synchronises.
  alignas(64) std::atomic<std::size_t> conflicts_{0};
  static constexpr std::size_t kChunk = 8;
  static constexpr std::size_t kChunkedUntil = 4;
  static constexpr std::size_t kTxnsPerConflict = 64;  // per two workers
  const std::size_t txns_per_conflict_;
};

}  // namespace pel
