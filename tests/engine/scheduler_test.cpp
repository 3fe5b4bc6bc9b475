// The Block-STM scheduler alone, driven by hand on one thread: the tasks it hands out, its
// status transitions, the one-winner abort, dependencies and the done check.
#include <gtest/gtest.h>

#include <optional>

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

TEST(Scheduler, AnEmptyBlockIsDoneAtOnce) {
  Scheduler s(0);
  EXPECT_TRUE(s.done());
  Scheduler::WorkerClaims w;
  EXPECT_FALSE(s.next_task(w).has_value());
}

TEST(Scheduler, ExecutesEveryTransactionThenValidatesEachThenIsDone) {
  Scheduler s(3);
  Scheduler::WorkerClaims w;
  for (TxnIndex t = 0; t < 3; ++t) {
    auto task = s.next_task(w);
    expect_task(task, Kind::kExecution, t, 0);
    EXPECT_FALSE(s.finish_execution(task->version, /*wrote_new_path=*/true).has_value());
    EXPECT_FALSE(s.done());
  }
  for (TxnIndex t = 0; t < 3; ++t) {
    auto task = s.next_task(w);
    expect_task(task, Kind::kValidation, t, 0);
    EXPECT_FALSE(s.finish_validation(t, /*aborted=*/false).has_value());
  }
  EXPECT_FALSE(s.next_task(w).has_value());
  EXPECT_TRUE(s.done());
  EXPECT_EQ(s.conflicts(), 0u);
}

// Transactions the executor's plain loop ran first start executed: the scheduler hands out
// neither their execution nor their validation, and never lets a later abort reach them.
TEST(Scheduler, TransactionsAlreadyExecutedAreNeitherRunNorValidated) {
  Scheduler s(5, 3);
  EXPECT_TRUE(s.executed(0) && s.executed(1) && s.executed(2));
  EXPECT_FALSE(s.executed(3));
  Scheduler::WorkerClaims w;
  for (TxnIndex t = 3; t < 5; ++t) {
    auto task = s.next_task(w);
    expect_task(task, Kind::kExecution, t, 0);
    s.finish_execution(task->version, true);
  }
  // Transaction 4 waits on 3 after an abort of 3: the indices go back to 3, not below.
  expect_task(s.next_task(w), Kind::kValidation, 3, 0);
  ASSERT_TRUE(s.try_validation_abort({3, 0}));
  expect_task(s.finish_validation(3, true), Kind::kExecution, 3, 1);
  s.finish_execution({3, 1}, false);
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
  for (TxnIndex t = 0; t < 2; ++t) s.finish_execution(s.next_task(w)->version, true);
  expect_task(s.next_task(w), Kind::kValidation, 0, 0);
  s.finish_validation(0, false);
  expect_task(s.next_task(w), Kind::kValidation, 1, 0);
  EXPECT_TRUE(s.try_validation_abort({1, 0}));
  EXPECT_FALSE(s.try_validation_abort({1, 0})) << "a second validator of the same incarnation must lose";
  EXPECT_EQ(s.conflicts(), 1u);
  // The failed validation hands back the next incarnation at once.
  auto again = s.finish_validation(1, /*aborted=*/true);
  expect_task(again, Kind::kExecution, 1, 1);
  EXPECT_FALSE(s.try_validation_abort({1, 0})) << "a stale incarnation cannot be aborted";
  // The validation index had passed it, and it wrote nothing new: validate it explicitly.
  auto validation = s.finish_execution(again->version, /*wrote_new_path=*/false);
  expect_task(validation, Kind::kValidation, 1, 1);
  s.finish_validation(1, false);
  validate_the_rest(s, w);
}

TEST(Scheduler, ADependencyParksTheTransactionUntilItsBlockerFinishes) {
  Scheduler s(2);
  Scheduler::WorkerClaims w;
  auto first = s.next_task(w);
  auto second = s.next_task(w);
  expect_task(first, Kind::kExecution, 0, 0);
  expect_task(second, Kind::kExecution, 1, 0);
  // 1 met an ESTIMATE of 0 while 0 is still executing: parked.
  EXPECT_TRUE(s.add_dependency(1, 0));
  EXPECT_EQ(s.conflicts(), 1u);
  // Finishing 0 resumes 1 with its next incarnation and hands it to the same worker.
  std::optional<SchedulerTask> resumed = s.finish_execution(first->version, true);
  expect_task(resumed, Kind::kExecution, 1, 1);
  // 0 has executed now: a dependency on it is resolved, the caller simply runs again.
  EXPECT_FALSE(s.add_dependency(1, 0));
  s.finish_execution(resumed->version, true);
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
  EXPECT_FALSE(s.finish_execution(t0->version, true).has_value());  // nobody waits on 0
  auto resumed = s.finish_execution(t1->version, true);
  expect_task(resumed, Kind::kExecution, 2, 1);
  s.finish_execution(resumed->version, true);
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
