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

Scheduler::Scheduler(std::size_t num_txns, std::size_t already_executed)
    : num_txns_(num_txns), txns_(num_txns), execution_idx_(already_executed), validation_idx_(already_executed) {
  PEL_ASSERT(already_executed <= num_txns, "more transactions executed than the block has");
  for (std::size_t txn = 0; txn < already_executed; ++txn) txns_[txn].status = IncarnationStatus::kExecuted;
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
  TxnState& s = txns_[txn];
  tbb::spin_mutex::scoped_lock lock(s.mutex);
  if (s.status != IncarnationStatus::kReadyToExecute) return std::nullopt;
  s.status = IncarnationStatus::kExecuting;
  return Version{txn, s.incarnation};
}

std::optional<SchedulerTask> Scheduler::claim_execution(std::size_t idx) {
  if (auto v = try_incarnate(static_cast<TxnIndex>(idx))) {
    return SchedulerTask{SchedulerTask::Kind::kExecution, *v};
  }
  return std::nullopt;
}

std::optional<SchedulerTask> Scheduler::claim_validation(std::size_t idx) {
  TxnState& s = txns_[idx];
  tbb::spin_mutex::scoped_lock lock(s.mutex);
  if (s.status != IncarnationStatus::kExecuted) return std::nullopt;
  return SchedulerTask{SchedulerTask::Kind::kValidation, Version{static_cast<TxnIndex>(idx), s.incarnation}};
}

std::optional<SchedulerTask> Scheduler::next_task(WorkerClaims& w) {
  for (;;) {
    while (w.validate_next < w.validate_end) {
      if (auto task = claim_validation(w.validate_next++)) return task;
    }
    while (w.execute_next < w.execute_end) {
      if (auto task = claim_execution(w.execute_next++)) return task;
    }
    const bool validate = validation_idx_.load() < execution_idx_.load();
    std::atomic<std::size_t>& index = validate ? validation_idx_ : execution_idx_;
    if (index.load() >= num_txns_) break;
    // Join before claiming: a done check that sees the index past the end must also see us.
    if (!w.counted) {
      num_active_tasks_.fetch_add(1);
      w.counted = true;
    }
    // A stale count is harmless: it only tunes the chunk size.
    const std::size_t chunk = conflicts() < kChunkedUntil ? kChunk : 1;
    const std::size_t idx = index.fetch_add(chunk);
    if (idx >= num_txns_) break;
    const std::size_t end = std::min(idx + chunk, num_txns_);
    if (validate) {
      w.validate_next = idx;
      w.validate_end = end;
    } else {
      w.execute_next = idx;
      w.execute_end = end;
    }
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
  {
    // finish_execution sets kExecuted before it takes dependents_mutex, so reading the status
    // under dependents_mutex either sees kExecuted or is seen by that finish_execution.
    tbb::spin_mutex::scoped_lock lock(blocking.mutex);
    if (blocking.status == IncarnationStatus::kExecuted) return false;
  }
  {
    TxnState& s = txns_[txn];
    tbb::spin_mutex::scoped_lock lock(s.mutex);
    PEL_DEBUG_ASSERT(s.status == IncarnationStatus::kExecuting, "only an executing incarnation waits on a dependency");
    s.status = IncarnationStatus::kAborting;
  }
  blocking.dependents.push_back(txn);
  if (!predicted) note_conflict();
  return true;
}

void Scheduler::set_ready_status(TxnIndex txn) {
  TxnState& s = txns_[txn];
  tbb::spin_mutex::scoped_lock lock(s.mutex);
  PEL_DEBUG_ASSERT(s.status == IncarnationStatus::kAborting, "only an aborted incarnation is made ready again");
  ++s.incarnation;
  s.status = IncarnationStatus::kReadyToExecute;
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

std::optional<SchedulerTask> Scheduler::finish_execution(Version version, bool wrote_new_path) {
  TxnState& s = txns_[version.txn];
  {
    tbb::spin_mutex::scoped_lock lock(s.mutex);
    PEL_DEBUG_ASSERT(s.status == IncarnationStatus::kExecuting && s.incarnation == version.incarnation,
                     "an execution finishes the incarnation it started");
    s.status = IncarnationStatus::kExecuted;
  }
  std::vector<TxnIndex> dependents;
  {
    tbb::spin_mutex::scoped_lock lock(s.dependents_mutex);
    dependents.swap(s.dependents);
  }
  // One load, after the status became kExecuted: if the validation index had not passed this
  // transaction then, a later claim of that index validates it.
  const bool validation_passed = validation_idx_.load() > version.txn;
  const bool validate_now = validation_passed && !wrote_new_path;
  std::optional<SchedulerTask> next = resume_dependencies(dependents, !validate_now);
  // The validation index already passed this transaction: it must be validated explicitly.
  if (validate_now) return SchedulerTask{SchedulerTask::Kind::kValidation, version};
  // A new key may invalidate higher transactions' reads: revalidate the whole suffix.
  if (validation_passed) decrease_validation_idx(version.txn);
  return next;
}

bool Scheduler::executed(TxnIndex txn) const {
  const TxnState& s = txns_[txn];
  tbb::spin_mutex::scoped_lock lock(s.mutex);
  return s.status == IncarnationStatus::kExecuted;
}

bool Scheduler::try_validation_abort(Version version) {
  TxnState& s = txns_[version.txn];
  tbb::spin_mutex::scoped_lock lock(s.mutex);
  if (s.incarnation == version.incarnation && s.status == IncarnationStatus::kExecuted) {
    s.status = IncarnationStatus::kAborting;
    note_conflict();
    return true;
  }
  return false;
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
