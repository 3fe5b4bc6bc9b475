// The Block-STM scheduler alone, driven by hand on one thread: the tasks it hands out, its
// status transitions, the one-winner abort, dependencies and the done check.
#include <gtest/gtest.h>

#include <optional>
#include <vector>

#include "engine/scheduler.hpp"

namespace pel {
namespace {

using Kind = SchedulerTask::Kind;

void expect_task(const std::optional<SchedulerTask>& task, Kind kind, TxnIndex txn, Incarnation incarnation) {
  ASSERT_TRUE(task.has_value());
  EXPECT_EQ(task->kind, kind);
  EXPECT_EQ(task->version.txn, txn);
  EXPECT_EQ(task->version.incarnation, incarnation);
}

// Everything executed: the remaining tasks are validations that pass, then the block is done.
void validate_the_rest(Scheduler& s, Scheduler::WorkerClaims& w) {
  while (auto task = s.next_task(w)) {
    ASSERT_EQ(task->kind, Kind::kValidation);
    s.finish_validation(task->version.txn, false);
  }
  EXPECT_TRUE(s.done());
}

// Finishes the execution `v` where the validation index waits on it: the worker validates its
// own transaction at once, and the validation passes.
void finish_and_validate_at_once(Scheduler& s, const Scheduler::WorkerClaims& w, Version v) {
  expect_task(s.finish_execution(v, /*wrote_new_path=*/true, w.worker), Kind::kValidation, v.txn, v.incarnation);
  s.finish_validation(v.txn, /*aborted=*/false);
}

TEST(Scheduler, AnEmptyBlockIsDoneAtOnce) {
  Scheduler s(0);
  EXPECT_TRUE(s.done());
  Scheduler::WorkerClaims w;
  EXPECT_FALSE(s.next_task(w).has_value());
}

// Scheduler::WorkerClaims for worker `id`.
Scheduler::WorkerClaims worker(std::uint8_t id) {
  Scheduler::WorkerClaims w;
  w.worker = id;
  return w;
}

// One worker, no conflicts: each execution finishes where the validation index waits, so it
// validates its own transaction at once; nothing is validated twice.
TEST(Scheduler, EachExecutionValidatesItsOwnTransactionWhenTheIndexWaitsOnIt) {
  Scheduler s(3);
  Scheduler::WorkerClaims w;
  for (TxnIndex t = 0; t < 3; ++t) {
    auto task = s.next_task(w);
    expect_task(task, Kind::kExecution, t, 0);
    expect_task(s.finish_execution(task->version, /*wrote_new_path=*/true, w.worker), Kind::kValidation, t, 0);
    EXPECT_FALSE(s.done());
    EXPECT_FALSE(s.finish_validation(t, /*aborted=*/false).has_value());
  }
  EXPECT_FALSE(s.next_task(w).has_value());
  EXPECT_TRUE(s.done());
  EXPECT_EQ(s.conflicts(), 0u);
}

// While conflicts are few, the validation index stops at a transaction still executing: the
// transactions above it that finished wait, and are validated once, after it.
TEST(Scheduler, TheValidationIndexNeverPassesATransactionStillExecuting) {
  Scheduler s(3);
  Scheduler::WorkerClaims a = worker(0), b = worker(1);
  auto t0 = s.next_task(a);
  auto t1 = s.next_task(a);
  auto t2 = s.next_task(a);
  expect_task(t2, Kind::kExecution, 2, 0);
  EXPECT_FALSE(s.finish_execution(t1->version, true, a.worker).has_value());
  EXPECT_FALSE(s.finish_execution(t2->version, true, a.worker).has_value());
  EXPECT_FALSE(s.next_task(b).has_value()) << "nothing to validate before transaction 0 has executed";
  EXPECT_FALSE(s.done());
  finish_and_validate_at_once(s, a, t0->version);
  for (TxnIndex t = 1; t < 3; ++t) {
    expect_task(s.next_task(a), Kind::kValidation, t, 0);
    s.finish_validation(t, false);
  }
  EXPECT_FALSE(s.next_task(a).has_value());
  EXPECT_TRUE(s.done());
}

// The validations of transactions another worker executed are left to it, where their keys
// are in cache, while there is other work; once every execution is claimed, anyone takes them.
TEST(Scheduler, AnotherWorkersValidationsAreLeftToItWhileThereIsOtherWork) {
  for (const std::size_t txns : {20u, 16u}) {
    SCOPED_TRACE(txns);
    Scheduler s(txns);
    Scheduler::WorkerClaims a = worker(0), b = worker(1);
    std::vector<SchedulerTask> a_runs, b_runs;
    for (int i = 0; i < 8; ++i) a_runs.push_back(*s.next_task(a));
    for (int i = 0; i < 8; ++i) b_runs.push_back(*s.next_task(b));
    expect_task(b_runs.front(), Kind::kExecution, 8, 0);
    for (const SchedulerTask& t : b_runs) EXPECT_FALSE(s.finish_execution(t.version, true, b.worker).has_value());
    for (const SchedulerTask& t : a_runs) {
      finish_and_validate_at_once(s, a, t.version);
    }
    if (txns == 20) {
      expect_task(s.next_task(a), Kind::kExecution, 16, 0);  // b validates 8-15
      expect_task(s.next_task(b), Kind::kValidation, 8, 0);
    } else {
      expect_task(s.next_task(a), Kind::kValidation, 8, 0);  // nothing else is left to do
    }
  }
}

// Transactions the executor's plain loop ran first start executed: the scheduler hands out
// neither their execution nor their validation, and never lets a later abort reach them.
TEST(Scheduler, TransactionsAlreadyExecutedAreNeitherRunNorValidated) {
  Scheduler s(5, 3);
  EXPECT_TRUE(s.executed(0) && s.executed(1) && s.executed(2));
  EXPECT_FALSE(s.executed(3));
  Scheduler::WorkerClaims w;
  auto t3 = s.next_task(w);
  expect_task(t3, Kind::kExecution, 3, 0);
  expect_task(s.finish_execution(t3->version, true, w.worker), Kind::kValidation, 3, 0);
  ASSERT_TRUE(s.try_validation_abort({3, 0}));
  expect_task(s.finish_validation(3, true), Kind::kExecution, 3, 1);
  expect_task(s.finish_execution({3, 1}, false, w.worker), Kind::kValidation, 3, 1);
  s.finish_validation(3, false);
  auto t4 = s.next_task(w);
  expect_task(t4, Kind::kExecution, 4, 0);
  finish_and_validate_at_once(s, w, t4->version);
  validate_the_rest(s, w);
  EXPECT_TRUE(s.executed(0));
}

TEST(Scheduler, ABlockAllExecutedAlreadyIsDoneAtOnce) {
  Scheduler s(4, 4);
  EXPECT_TRUE(s.done());
  Scheduler::WorkerClaims w;
  EXPECT_FALSE(s.next_task(w).has_value());
}

TEST(Scheduler, OneValidatorWinsTheAbortAndTheTransactionRunsAgain) {
  Scheduler s(2);
  Scheduler::WorkerClaims w;
  for (TxnIndex t = 0; t < 2; ++t) {
    expect_task(s.finish_execution(s.next_task(w)->version, true, w.worker), Kind::kValidation, t, 0);
    if (t == 0) s.finish_validation(0, false);
  }
  EXPECT_TRUE(s.try_validation_abort({1, 0}));
  EXPECT_FALSE(s.try_validation_abort({1, 0})) << "a second validator of the same incarnation must lose";
  EXPECT_EQ(s.conflicts(), 1u);
  // The failed validation hands back the next incarnation at once.
  auto again = s.finish_validation(1, /*aborted=*/true);
  expect_task(again, Kind::kExecution, 1, 1);
  EXPECT_FALSE(s.try_validation_abort({1, 0})) << "a stale incarnation cannot be aborted";
  // The validation index had passed it, and it wrote nothing new: validate it explicitly.
  auto validation = s.finish_execution(again->version, /*wrote_new_path=*/false, w.worker);
  expect_task(validation, Kind::kValidation, 1, 1);
  s.finish_validation(1, false);
  validate_the_rest(s, w);
}

// A re-execution that writes a key its aborted incarnation did not sends the index back to it:
// the transactions above are validated again.
TEST(Scheduler, ANewKeyBehindTheIndexRevalidatesEverythingAbove) {
  Scheduler s(3);
  Scheduler::WorkerClaims w;
  for (TxnIndex t = 0; t < 3; ++t) {
    s.finish_execution(s.next_task(w)->version, true, w.worker);
    s.finish_validation(t, false);
  }
  ASSERT_TRUE(s.try_validation_abort({1, 0}));
  auto again = s.finish_validation(1, true);
  expect_task(again, Kind::kExecution, 1, 1);
  EXPECT_FALSE(s.finish_execution(again->version, /*wrote_new_path=*/true, w.worker).has_value());
  expect_task(s.next_task(w), Kind::kValidation, 1, 1);
  s.finish_validation(1, false);
  expect_task(s.next_task(w), Kind::kValidation, 2, 0);
  s.finish_validation(2, false);
  EXPECT_FALSE(s.next_task(w).has_value());
  EXPECT_TRUE(s.done());
}

// Once conflicts are many, claims follow the paper: one index at a time, past a transaction
// still executing; its execution then finds the index passed and, having written new keys,
// sends it back.
TEST(Scheduler, ManyConflictsClaimValidationsAsThePaperDoes) {
  Scheduler s(3);
  for (int i = 0; i < 4; ++i) s.note_conflict();
  Scheduler::WorkerClaims w;
  auto t0 = s.next_task(w);
  // This claim first moves the validation index past transaction 0, still executing.
  auto t1 = s.next_task(w);
  expect_task(t1, Kind::kExecution, 1, 0);
  finish_and_validate_at_once(s, w, t1->version);
  EXPECT_FALSE(s.finish_execution(t0->version, true, w.worker).has_value());
  expect_task(s.next_task(w), Kind::kValidation, 0, 0);
  s.finish_validation(0, false);
  expect_task(s.next_task(w), Kind::kValidation, 1, 0);
  s.finish_validation(1, false);
  auto t2 = s.next_task(w);
  expect_task(t2, Kind::kExecution, 2, 0);
  finish_and_validate_at_once(s, w, t2->version);
  validate_the_rest(s, w);
}

TEST(Scheduler, ADependencyParksTheTransactionUntilItsBlockerFinishes) {
  Scheduler s(3);
  Scheduler::WorkerClaims w;
  auto first = s.next_task(w);
  auto second = s.next_task(w);
  auto third = s.next_task(w);
  expect_task(third, Kind::kExecution, 2, 0);
  // 2 met an ESTIMATE of 1 while 1 is still executing: parked.
  EXPECT_TRUE(s.add_dependency(2, 1));
  EXPECT_EQ(s.conflicts(), 1u);
  finish_and_validate_at_once(s, w, first->version);
  // Finishing 1 resumes 2 with its next incarnation. The validation index waits on 1, so the
  // worker validates 1 first and 2 goes back to the execution index.
  finish_and_validate_at_once(s, w, second->version);
  // 1 has executed now: a dependency on it is resolved, the caller simply runs again.
  EXPECT_FALSE(s.add_dependency(2, 1));
  auto resumed = s.next_task(w);
  expect_task(resumed, Kind::kExecution, 2, 1);
  finish_and_validate_at_once(s, w, resumed->version);
  validate_the_rest(s, w);
}

// A finishing execution that is not validated at once goes on with the dependent it just made
// ready, on the same core.
TEST(Scheduler, TheFinishingWorkerGoesOnWithItsDependent) {
  Scheduler s(3);
  Scheduler::WorkerClaims w;
  auto t0 = s.next_task(w);
  auto t1 = s.next_task(w);
  expect_task(s.next_task(w), Kind::kExecution, 2, 0);
  EXPECT_TRUE(s.add_dependency(2, 1));
  // The index waits on 0, so finishing 1 hands over its dependent.
  expect_task(s.finish_execution(t1->version, true, w.worker), Kind::kExecution, 2, 1);
  finish_and_validate_at_once(s, w, t0->version);
  EXPECT_FALSE(s.finish_execution({2, 1}, true, w.worker).has_value());
  validate_the_rest(s, w);
}

// A wait the VM's declarations predicted is planned: it parks like any other, but is no
// conflict (the contention fallback and the chunked hand-out read the count).
TEST(Scheduler, APredictedWaitIsNoConflict) {
  Scheduler s(3);
  Scheduler::WorkerClaims w;
  auto t0 = s.next_task(w);
  auto t1 = s.next_task(w);
  auto t2 = s.next_task(w);
  expect_task(t2, Kind::kExecution, 2, 0);
  EXPECT_TRUE(s.add_dependency(2, 1, true));
  EXPECT_EQ(s.conflicts(), 0u);
  auto resumed = s.finish_execution(t1->version, true, w.worker);  // the index waits on 0
  expect_task(resumed, Kind::kExecution, 2, 1);
  EXPECT_FALSE(s.finish_execution(resumed->version, true, w.worker).has_value());
  finish_and_validate_at_once(s, w, t0->version);
  validate_the_rest(s, w);
}

TEST(Scheduler, TheExecutorsConflictsCountToo) {
  Scheduler s(1);
  s.note_conflict();
  s.note_conflict();
  EXPECT_EQ(s.conflicts(), 2u);
}

}  // namespace
}  // namespace pel
