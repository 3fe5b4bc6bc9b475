#include "engine/scheduler.hpp"

#include <algorithm>

#include "crypto/result.hpp"

namespace pel {
namespace {

void fetch_min(std::atomic<std::size_t>& a, std::size_t target) {
  std::size_t cur = a.load();
  while (target < cur && !a.compare_exchange_weak(cur, target)) {
  }
}

}  // namespace

Scheduler::Scheduler(std::size_t num_txns, std::size_t already_executed, std::size_t workers)
    : num_txns_(num_txns),
      txns_(num_txns),
      execution_idx_(already_executed),
      validation_idx_(already_executed),
      txns_per_conflict_(kTxnsPerConflict * std::max<std::size_t>(1, workers / 2)) {
  PEL_ASSERT(already_executed <= num_txns, "more transactions executed than the block has");
  for (std::size_t txn = 0; txn < already_executed; ++txn) {
    // relaxed: the workers start after construction, through the thread start's ordering.
    txns_[txn].status.store(Status::pack(0, IncarnationStatus::kExecuted), std::memory_order_relaxed);
  }
  if (already_executed == num_txns) done_marker_.store(true);
}

void Scheduler::decrease_execution_idx(TxnIndex target) {
  fetch_min(execution_idx_, target);
  decrease_cnt_.fetch_add(1);
}

void Scheduler::decrease_validation_idx(TxnIndex target) {
  fetch_min(validation_idx_, target);
  decrease_cnt_.fetch_add(1);
}

void Scheduler::check_done() {
  std::size_t observed = decrease_cnt_.load();
  if (std::min(execution_idx_.load(), validation_idx_.load()) >= num_txns_ &&
      num_active_tasks_.load() == 0 && observed == decrease_cnt_.load()) {
    done_marker_.store(true);
  }
}

std::optional<Version> Scheduler::try_incarnate(TxnIndex txn) {
  if (txn >= num_txns_) return std::nullopt;
  std::atomic<std::uint64_t>& word = txns_[txn].status;
  std::uint64_t seen = word.load();
  const Status s = Status::unpack(seen);
  if (s.status != IncarnationStatus::kReadyToExecute) return std::nullopt;
  // Only a claim leaves kReadyToExecute, so losing the exchange means another worker claimed it.
  if (!word.compare_exchange_strong(seen, Status::pack(s.incarnation, IncarnationStatus::kExecuting))) {
    return std::nullopt;
  }
  return Version{txn, s.incarnation};
}

std::optional<SchedulerTask> Scheduler::claim_execution(std::size_t idx) {
  if (auto v = try_incarnate(static_cast<TxnIndex>(idx))) {
    return SchedulerTask{SchedulerTask::Kind::kExecution, *v};
  }
  return std::nullopt;
}

std::optional<SchedulerTask> Scheduler::claim_validation(std::size_t idx) {
  const Status s = status(static_cast<TxnIndex>(idx));
  if (s.status != IncarnationStatus::kExecuted) return std::nullopt;
  return SchedulerTask{SchedulerTask::Kind::kValidation, Version{static_cast<TxnIndex>(idx), s.incarnation}};
}

bool Scheduler::claim_validations(WorkerClaims& w, std::size_t from, std::size_t chunk, bool others_left) {
  const std::size_t limit = std::min(from + chunk, num_txns_);
  std::size_t end = from;
  for (; end < limit; ++end) {
    const Status s = status(static_cast<TxnIndex>(end));
    if (s.status != IncarnationStatus::kExecuted) break;
    // Its executor validates it, with the keys in its cache, when it next looks for work.
    if (others_left && s.worker != w.worker) break;
  }
  if (end == from) return false;
  // A transaction seen executed here and aborted before its claim is skipped by claim_validation,
  // as in the paper: the abort sent the index back to just above it.
  if (!validation_idx_.compare_exchange_strong(from, end)) return false;
  w.validate_next = from;
  w.validate_end = end;
  return true;
}

std::optional<SchedulerTask> Scheduler::next_task(WorkerClaims& w) {
  for (;;) {
    while (w.validate_next < w.validate_end) {
      if (auto task = claim_validation(w.validate_next++)) return task;
    }
    while (w.execute_next < w.execute_end) {
      if (auto task = claim_execution(w.execute_next++)) return task;
    }
    const std::size_t validating_at = validation_idx_.load();
    const std::size_t executing_at = execution_idx_.load();
    if (std::min(validating_at, executing_at) >= num_txns_) break;
    // Join before claiming: a done check that sees the index past the end must also see us.
    if (!w.counted) {
      num_active_tasks_.fetch_add(1);
      w.counted = true;
    }
    // A stale count is harmless: it only picks between two correct ways to claim.
    const bool few_conflicts = conflicts() < kChunkedUntil + executing_at / txns_per_conflict_;
    if (validating_at < executing_at) {
      if (!few_conflicts) {
        // The paper's claim: one index, past a transaction still executing too (that execution,
        // when it finishes, sees the index passed and validates itself or sends the index back).
        const std::size_t idx = validation_idx_.fetch_add(1);
        if (idx >= num_txns_) break;
        w.validate_next = idx;
        w.validate_end = idx + 1;
        continue;
      }
      if (claim_validations(w, validating_at, kChunk, executing_at < num_txns_)) continue;
    }
    const std::size_t chunk = conflicts() < kChunkedUntil ? kChunk : 1;
    // Nothing to execute: the validation index waits on executions elsewhere (they validate
    // their own transaction when it reaches them), so come back later.
    if (executing_at >= num_txns_) break;
    const std::size_t idx = execution_idx_.fetch_add(chunk);
    if (idx >= num_txns_) break;
    w.execute_next = idx;
    w.execute_end = std::min(idx + chunk, num_txns_);
  }
  if (w.counted) {
    num_active_tasks_.fetch_sub(1);
    w.counted = false;
  }
  check_done();
  return std::nullopt;
}

bool Scheduler::add_dependency(TxnIndex txn, TxnIndex blocking_txn, bool predicted) {
  TxnState& blocking = txns_[blocking_txn];
  tbb::spin_mutex::scoped_lock dep_lock(blocking.dependents_mutex);
  // finish_execution sets kExecuted before it takes dependents_mutex, so reading the status
  // under dependents_mutex either sees kExecuted or is seen by that finish_execution.
  if (status(blocking_txn).status == IncarnationStatus::kExecuted) return false;
  const Status own = status(txn);
  PEL_DEBUG_ASSERT(own.status == IncarnationStatus::kExecuting, "only an executing incarnation waits on a dependency");
  set_status(txn, own.incarnation, IncarnationStatus::kAborting);
  blocking.dependents.push_back(txn);
  if (!predicted) note_conflict();
  return true;
}

void Scheduler::set_ready_status(TxnIndex txn) {
  const Status s = status(txn);
  PEL_DEBUG_ASSERT(s.status == IncarnationStatus::kAborting, "only an aborted incarnation is made ready again");
  set_status(txn, s.incarnation + 1, IncarnationStatus::kReadyToExecute);
}

std::optional<SchedulerTask> Scheduler::resume_dependencies(const std::vector<TxnIndex>& dependents, bool take_one) {
  if (dependents.empty()) return std::nullopt;
  for (TxnIndex d : dependents) set_ready_status(d);
  const TxnIndex lowest = *std::min_element(dependents.begin(), dependents.end());
  std::optional<Version> taken;
  // Another worker may claim it first (its claimed chunk covers it): then it runs there.
  if (take_one) taken = try_incarnate(lowest);
  if (!taken) {
    decrease_execution_idx(lowest);
    return std::nullopt;
  }
  // The others still need the execution index to come back to them. The taken one does not:
  // this worker holds it and stays counted active, so the done check cannot pass meanwhile.
  TxnIndex next_lowest = static_cast<TxnIndex>(num_txns_);
  for (TxnIndex d : dependents) {
    if (d != lowest) next_lowest = std::min(next_lowest, d);
  }
  if (next_lowest < num_txns_) decrease_execution_idx(next_lowest);
  return SchedulerTask{SchedulerTask::Kind::kExecution, *taken};
}

std::optional<SchedulerTask> Scheduler::finish_execution(Version version, bool wrote_new_path, std::uint8_t worker) {
  TxnState& s = txns_[version.txn];
  PEL_DEBUG_ASSERT(status(version.txn).status == IncarnationStatus::kExecuting &&
                       status(version.txn).incarnation == version.incarnation,
                   "an execution finishes the incarnation it started");
  // The status store, then the validation index's load here; a claim's index move, then its
  // status load there: in the one total order of seq_cst operations at least one of the two
  // sees the other's write, so no claim passes this transaction unseen by both.
  set_status(version.txn, version.incarnation, IncarnationStatus::kExecuted, worker);
  std::vector<TxnIndex> dependents;
  {
    tbb::spin_mutex::scoped_lock lock(s.dependents_mutex);
    dependents.swap(s.dependents);
  }
  // One load, after the status became kExecuted: if the validation index had not passed this
  // transaction then, a later claim of that index sees it executed and validates it.
  std::size_t validating_at = validation_idx_.load();
  if (validating_at == version.txn) {
    // The index waits on this transaction: validate it here, where its keys are in cache.
    if (validation_idx_.compare_exchange_strong(validating_at, version.txn + 1)) {
      // Claimed like any claim, by the status now: between the load and the exchange the index
      // may have moved on and come back (another worker validated, aborted and re-ran this
      // transaction, then a lower abort sent the index back here), and the validation owed is
      // then the current incarnation's. Not executed now: its own finish finds the index past it.
      if (std::optional<SchedulerTask> validation = claim_validation(version.txn)) {
        resume_dependencies(dependents, false);
        return validation;
      }
      return resume_dependencies(dependents, true);
    }
    // Lost: a claim that saw this transaction executed moved the index over it and validates
    // it, or an abort sent the index back and it comes here again.
    return resume_dependencies(dependents, true);
  }
  // Passed: by an abort of this transaction (a re-execution), or by a claim that did not wait
  // for it (the paper's claims under many conflicts, or an in-order claim that scanned the
  // statuses before an abort and a re-execution). Either way the paper's rule: validate it
  // explicitly, or, when it wrote a key its previous incarnation did not, every transaction above
  // it too (the new key may change their reads).
  const bool validation_passed = validating_at > version.txn;
  const bool validate_now = validation_passed && !wrote_new_path;
  std::optional<SchedulerTask> next = resume_dependencies(dependents, !validate_now);
  if (validate_now) return SchedulerTask{SchedulerTask::Kind::kValidation, version};
  if (validation_passed) decrease_validation_idx(version.txn);
  return next;
}

bool Scheduler::executed(TxnIndex txn) const { return status(txn).status == IncarnationStatus::kExecuted; }

bool Scheduler::try_validation_abort(Version version) {
  std::atomic<std::uint64_t>& word = txns_[version.txn].status;
  std::uint64_t seen = word.load();
  const Status s = Status::unpack(seen);
  if (s.incarnation != version.incarnation || s.status != IncarnationStatus::kExecuted) return false;
  // Only an abort leaves kExecuted, so losing the exchange means another validator won.
  if (!word.compare_exchange_strong(seen, Status::pack(s.incarnation, IncarnationStatus::kAborting))) {
    return false;
  }
  note_conflict();
  return true;
}

std::optional<SchedulerTask> Scheduler::finish_validation(TxnIndex txn, bool aborted) {
  if (aborted) {
    set_ready_status(txn);
    decrease_validation_idx(txn + 1);
    if (execution_idx_.load() > txn) {
      if (auto v = try_incarnate(txn)) return SchedulerTask{SchedulerTask::Kind::kExecution, *v};
    }
  }
  return std::nullopt;
}

}  // namespace pel
