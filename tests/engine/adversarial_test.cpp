// Blocks built to hurt: the engine finishes (each test under a watchdog) and agrees with the
// sequential executor.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <atomic>
#include <stdexcept>
#include <thread>

#include "engine/executor_common.hpp"
#include "engine/parallel_executor.hpp"
#include "engine/sequential_executor.hpp"
#include "tests/engine/oracle.hpp"
#include "tests/engine/toy_vm.hpp"
#include "tests/support/watchdog.hpp"

namespace pel::testing {
namespace {

void check_all_thread_counts(const Vm& vm, std::size_t size, const BaseState& base, const std::string& what) {
  BlockResult seq = execute_sequential(vm, size, base);
  for (int threads : {1, 2, 3, 4, 8}) {
    Watchdog dog(std::chrono::seconds(60), what + " threads=" + std::to_string(threads));
    ParallelExecutor executor({.threads = threads, .min_parallel_txns = 2, .fallback_speedup = 0});
    expect_same(seq, executor.execute(vm, size, base), what + " threads=" + std::to_string(threads));
    if (::testing::Test::HasFatalFailure()) return;
  }
}

ToyTxn read_write(std::uint64_t read_key, std::uint64_t write_key) {
  return {{{ToyOp::Kind::kRead, read_key}, {ToyOp::Kind::kWrite, write_key}}};
}

TEST(Adversarial, EveryTransactionConflictsWithEveryOther) {
  std::vector<ToyTxn> txns(400, read_write(0, 0));
  MemoryState base;
  check_all_thread_counts(ToyVm(txns), txns.size(), base, "all conflict");
}

TEST(Adversarial, EveryTransactionFails) {
  std::vector<ToyTxn> txns(300);
  for (auto& t : txns) {
    t.ops = {{ToyOp::Kind::kRead, 1}, {ToyOp::Kind::kWrite, 1}, {ToyOp::Kind::kFailIf, 0, 0, 1}};
  }
  MemoryState base;
  check_all_thread_counts(ToyVm(txns), txns.size(), base, "all fail");
}

TEST(Adversarial, EveryTransactionThrows) {
  std::vector<ToyTxn> txns(300);
  for (auto& t : txns) t.ops = {{ToyOp::Kind::kRead, 1}, {ToyOp::Kind::kThrowIf, 0, 0, 1}, {ToyOp::Kind::kWrite, 1}};
  MemoryState base;
  ToyVm vm(txns);
  BlockResult seq = execute_sequential(vm, txns.size(), base);
  EXPECT_TRUE(seq.writes.empty());
  EXPECT_NE(seq.outputs[0].vm_error.find("toy vm refuses"), std::string::npos);
  check_all_thread_counts(vm, txns.size(), base, "all throw");
}

TEST(Adversarial, OneTransactionReadsEveryKey) {
  std::vector<ToyTxn> txns;
  for (std::uint64_t i = 0; i < 200; ++i) txns.push_back(read_write(i, i));
  ToyTxn reader;
  for (std::uint64_t k = 0; k < 5000; ++k) reader.ops.push_back({ToyOp::Kind::kRead, k});
  reader.ops.push_back({ToyOp::Kind::kWrite, 4999});
  txns.insert(txns.begin() + 150, reader);
  MemoryState base;
  for (std::uint64_t k = 0; k < 5000; k += 3) base.put(toy_key(k), "v");
  check_all_thread_counts(ToyVm(txns), txns.size(), base, "one reads all");
}

TEST(Adversarial, WriteSetsShrinkAndGrowBetweenIncarnations) {
  // Which key each transaction writes depends on what it read from a hot key.
  std::vector<ToyTxn> txns;
  for (std::uint64_t i = 0; i < 400; ++i) {
    txns.push_back({{{ToyOp::Kind::kRead, 0},
                     {ToyOp::Kind::kWriteIfEven, 0, 1 + i % 7},
                     {ToyOp::Kind::kWriteIfEven, 10 + i % 5, 20 + i % 3}}});
  }
  MemoryState base;
  check_all_thread_counts(ToyVm(txns), txns.size(), base, "shrink/grow");
}

TEST(Adversarial, DeletesAndRecreations) {
  std::vector<ToyTxn> txns;
  for (std::uint64_t i = 0; i < 300; ++i) {
    std::uint64_t k = i % 4;
    if (i % 3 == 0) {
      txns.push_back({{{ToyOp::Kind::kRead, k}, {ToyOp::Kind::kDelete, k}}});
    } else {
      txns.push_back(read_write(k, k));
    }
  }
  MemoryState base;
  base.put(toy_key(0), "genesis");
  check_all_thread_counts(ToyVm(txns), txns.size(), base, "delete/recreate");
}

TEST(Adversarial, EmptyBlock) {
  MemoryState base;
  ToyVm vm({});
  ParallelExecutor executor({.threads = 2, .min_parallel_txns = 0, .fallback_speedup = 0});
  Watchdog dog(std::chrono::seconds(10), "empty block");
  BlockResult r = executor.execute(vm, 0, base);
  EXPECT_TRUE(r.outputs.empty());
  EXPECT_TRUE(r.writes.empty());
}

TEST(Adversarial, OneTransactionBlock) {
  MemoryState base;
  std::vector<ToyTxn> txns{read_write(3, 4)};
  ToyVm vm(txns);
  ParallelExecutor executor({.threads = 2, .min_parallel_txns = 0, .fallback_speedup = 0});
  Watchdog dog(std::chrono::seconds(10), "one transaction");
  BlockResult par = executor.execute(vm, 1, base);
  EXPECT_EQ(par.outputs, execute_sequential(vm, 1, base).outputs);
  ASSERT_EQ(par.writes.size(), 1u);
  EXPECT_EQ(par.writes[0].key, toy_key(4));
}

// A VM that throws for some transactions and only on some incarnations' inputs.
class FlakyVm final : public Vm {
 public:
  TxnOutput execute(TxnIndex txn, StateReader& reader) const override {
    auto v = reader.read(toy_key(0));
    std::uint64_t n = v ? std::stoull(*v) : 0;
    if (txn % 7 == 3) throw std::logic_error("bad transaction");
    if (txn % 11 == 5) throw 42;  // not even a std::exception
    return {{{toy_key(0), std::to_string(n + 1)}}, "n=" + std::to_string(n), ""};
  }
};

TEST(Adversarial, VmThatThrows) {
  MemoryState base;
  FlakyVm vm;
  BlockResult seq = execute_sequential(vm, 500, base);
  EXPECT_EQ(seq.outputs[3].vm_error, "vm threw: bad transaction");
  EXPECT_EQ(seq.outputs[5].vm_error, "vm threw a non-standard exception");
  check_all_thread_counts(vm, 500, base, "flaky vm");
}

// finish_block writes land after every transaction, identically on both paths.
class CountingVm final : public Vm {
 public:
  TxnOutput execute(TxnIndex txn, StateReader& reader) const override {
    auto v = reader.read(toy_key(txn % 13));
    return {{{toy_key(txn % 13), (v ? *v : "") + "x"}}, std::to_string(txn), ""};
  }
  WriteSet finish_block(std::span<const TxnOutput> outputs, StateReader& state) const override {
    auto v = state.read(toy_key(0));
    return {{toy_key(0), std::nullopt}, {toy_key(999), std::to_string(outputs.size()) + (v ? *v : "")}};
  }
};

TEST(Adversarial, FinishBlockSeesTheFinalState) {
  MemoryState base;
  CountingVm vm;
  BlockResult seq = execute_sequential(vm, 260, base);
  ASSERT_EQ(seq.writes.back().key, toy_key(999));
  EXPECT_EQ(*seq.writes.back().value, "260" + std::string(20, 'x'));
  check_all_thread_counts(vm, 260, base, "finish block");
}

// A block hook that throws makes the block unfinishable, never a block with the hook's writes
// silently missing: both executors say so alike.
class ThrowingFinishVm final : public Vm {
 public:
  TxnOutput execute(TxnIndex txn, StateReader& reader) const override {
    auto v = reader.read(toy_key(txn % 7));
    return {{{toy_key(txn % 7), (v ? *v : "") + "y"}}, std::to_string(txn), ""};
  }
  WriteSet finish_block(std::span<const TxnOutput>, StateReader&) const override {
    throw std::runtime_error("fee account damaged");
  }
};

TEST(Adversarial, AThrowingFinishBlockIsAnErrorOnBothExecutors) {
  MemoryState base;
  ThrowingFinishVm vm;
  const BlockResult seq = execute_sequential(vm, 200, base);
  EXPECT_EQ(seq.finish_error, "vm finish_block threw: fee account damaged");
  for (int threads : {2, 4}) {
    ParallelExecutor executor(ParallelOptions{.threads = threads, .min_parallel_txns = 2, .always_block_stm = true, .fallback_speedup = 0});
    const BlockResult par = executor.execute(vm, 200, base);
    EXPECT_EQ(par.finish_error, seq.finish_error) << "threads=" << threads;
    EXPECT_EQ(par.writes, seq.writes) << "threads=" << threads;
  }
}

}  // namespace
}  // namespace pel::testing

namespace pel::testing {
namespace {

// The engine's own failures (here: out of memory, as a VM allocation would report it) are not
// turned into receipts; they stop every worker and reach the caller, never a hang.
class OutOfMemoryVm final : public Vm {
 public:
  TxnOutput execute(TxnIndex txn, StateReader& reader) const override {
    auto v = reader.read(toy_key(txn % 5));
    if (txn == 700) throw std::bad_alloc();
    return {{{toy_key(txn % 5), (v ? *v : "") + "+"}}, "ok", ""};
  }
};

TEST(EngineFailure, OutOfMemoryPropagatesWithoutHanging) {
  MemoryState base;
  OutOfMemoryVm vm;
  EXPECT_THROW((void)execute_sequential(vm, 1000, base), std::bad_alloc);
  for (int threads : {2, 4}) {
    Watchdog dog(std::chrono::seconds(60), "out of memory, threads=" + std::to_string(threads));
    ParallelExecutor executor({.threads = threads, .fallback_speedup = 0});
    EXPECT_THROW((void)executor.execute(vm, 1000, base), std::bad_alloc);
    // The executor stays usable afterwards.
    ToyVm ok(make_toy_block(threads, 300, ToyWorkload{}));
    EXPECT_EQ(executor.execute(ok, 300, base).writes, execute_sequential(ok, 300, base).writes);
  }
}

}  // namespace
}  // namespace pel::testing
