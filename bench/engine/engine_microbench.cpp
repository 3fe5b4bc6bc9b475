// Micro-benchmarks of the engine's building blocks: multi-version memory reads, writes and
// validation (hot and cold keys), the scheduler's task hand-out, the ledger VM per workload, and
// whole blocks (p2p on Block-STM, mix from its access list) against the plain loop.
#include <benchmark/benchmark.h>

#include "engine/access_list.hpp"
#include "engine/ledger/genesis.hpp"
#include "engine/ledger/ledger_vm.hpp"
#include "engine/ledger/workload.hpp"
#include "engine/parallel_executor.hpp"
#include "engine/scheduler.hpp"
#include "engine/sequential_executor.hpp"
#include "state/base_state.hpp"
#include "state/mv_memory.hpp"

namespace pel {
namespace {

StateKey key(std::uint64_t n) {
  StateKey k;
  k.bytes[0] = 1;
  for (int i = 0; i < 8; ++i) k.bytes[1 + i] = static_cast<std::uint8_t>(n >> (8 * i));
  return k;
}

// A hot key written by `writers` transactions; reads come from the last transaction.
void BM_MVMemoryReadHot(benchmark::State& state) {
  const auto writers = static_cast<TxnIndex>(state.range(0));
  MVMemory mv(writers + 1);
  const WriteSet writes{{key(0), "value"}};  // the memory points into it: it outlives the memory
  for (TxnIndex t = 0; t < writers; ++t) (void)mv.record({t, 0}, {}, writes);
  const KeyCell* cell = mv.cell(key(0));
  for (auto _ : state) benchmark::DoNotOptimize(MVMemory::read(*cell, writers));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MVMemoryReadHot)->Arg(1)->Arg(1000);

// Cell lookup plus read over many distinct keys (cold: one entry each, or storage).
void BM_MVMemoryReadCold(benchmark::State& state) {
  constexpr std::uint64_t kKeys = 100000;
  std::vector<WriteSet> writes(kKeys);  // outlives the memory, which points into it
  MVMemory mv(kKeys);
  for (std::uint64_t k = 0; k < kKeys; k += 2) {
    writes[k] = {{key(k), "v"}};
    (void)mv.record({static_cast<TxnIndex>(k), 0}, {}, writes[k]);
  }
  std::uint64_t i = 0;
  for (auto _ : state) {
    const KeyCell* c = mv.cell(key(i++ % kKeys));
    benchmark::DoNotOptimize(MVMemory::read(*c, kKeys - 1));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MVMemoryReadCold);

// Recording one execution that writes two keys (a transfer), re-recorded as new incarnations.
void BM_MVMemoryRecord(benchmark::State& state) {
  constexpr TxnIndex kTxns = 10000;
  std::vector<WriteSet> writes(kTxns);  // outlives the memory, which points into it
  for (TxnIndex t = 0; t < kTxns; ++t) writes[t] = {{key(2 * t), "from"}, {key(2 * t + 1), "to"}};
  MVMemory mv(kTxns);
  Incarnation inc = 0;
  TxnIndex t = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(mv.record({t, inc}, {}, writes[t]));
    if (++t == kTxns) {
      t = 0;
      ++inc;
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MVMemoryRecord);

// Validating a four-key read set (hot: every key written by many lower transactions).
void BM_MVMemoryValidate(benchmark::State& state) {
  const bool hot = state.range(0) != 0;
  constexpr TxnIndex kTxns = 2000;
  std::vector<WriteSet> writes(kTxns);  // outlives the memory, which points into it
  MVMemory mv(kTxns + 1);
  for (TxnIndex t = 0; t < kTxns; ++t) {
    writes[t] = {{key(hot ? t % 4 : t), "v"}};
    (void)mv.record({t, 0}, {}, writes[t]);
  }
  ReadSet reads;
  for (std::uint64_t k = 0; k < 4; ++k) {
    const KeyCell* c = mv.cell(key(k));
    MVRead r = MVMemory::read(*c, kTxns);
    reads.push_back({c, r.kind == MVRead::Kind::kStorage, false, r.version});
  }
  (void)mv.record({kTxns, 0}, reads, {});
  for (auto _ : state) benchmark::DoNotOptimize(mv.validate_read_set(kTxns));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MVMemoryValidate)->Arg(0)->Arg(1);

// The scheduler's cost per transaction on one thread with no conflicts: hand out an execution,
// finish it, hand out and finish its validation.
void BM_SchedulerHandOut(benchmark::State& state) {
  constexpr std::size_t kTxns = 10000;
  for (auto _ : state) {
    Scheduler s(kTxns);
    std::size_t handed = 0;
    Scheduler::WorkerClaims claims;
    while (!s.done()) {
      auto task = s.next_task(claims);
      while (task) {
        ++handed;
        if (task->kind == SchedulerTask::Kind::kExecution) {
          task = s.finish_execution(task->version, /*wrote_new_path=*/false, claims.worker);
        } else {
          task = s.finish_validation(task->version.txn, /*aborted=*/false);
        }
      }
    }
    benchmark::DoNotOptimize(handed);
  }
  state.SetItemsProcessed(state.iterations() * kTxns);
}
BENCHMARK(BM_SchedulerHandOut);

// The ledger VM executing one transaction of a workload against the genesis state.
class GenesisReader final : public StateReader {
 public:
  explicit GenesisReader(const BaseState& s) : s_(s) {}
  std::optional<Value> read(const StateKey& k) override { return s_.get(k); }

 private:
  const BaseState& s_;
};

void BM_LedgerVm(benchmark::State& state, const std::string& workload) {
  ledger::GenesisParams genesis;
  genesis.accounts = 1000;
  MemoryState base;
  base.apply(ledger::build_genesis(genesis));
  ledger::WorkloadParams wp;
  wp.name = workload;
  wp.accounts = 1000;
  wp.block_size = 256;
  ledger::WorkloadGenerator generator(genesis, wp);
  std::vector<ledger::Transaction> txns = generator.next_block();
  std::vector<std::uint8_t> ok(txns.size(), 1);
  ledger::LedgerVm vm({.height = 1, .timestamp = 1, .beneficiary = {}, .chain_id = genesis.chain_id}, txns, ok);
  GenesisReader reader(base);
  TxnIndex i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(vm.execute(i, reader));
    i = (i + 1) % static_cast<TxnIndex>(txns.size());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_LedgerVm, p2p, std::string("p2p"));
BENCHMARK_CAPTURE(BM_LedgerVm, token, std::string("token"));
BENCHMARK_CAPTURE(BM_LedgerVm, swap, std::string("swap"));
BENCHMARK_CAPTURE(BM_LedgerVm, nft, std::string("nft"));
BENCHMARK_CAPTURE(BM_LedgerVm, staking, std::string("staking"));
BENCHMARK_CAPTURE(BM_LedgerVm, dao, std::string("dao"));
BENCHMARK_CAPTURE(BM_LedgerVm, airdrop, std::string("airdrop"));

// A whole 10,000-transaction block of a workload over 10,000 accounts, with its access list
// recorded on the plain loop (what a producer puts in the block).
struct LedgerBlock {
  explicit LedgerBlock(const std::string& workload) {
    ledger::GenesisParams genesis;
    genesis.accounts = 10000;
    base.apply(ledger::build_genesis(genesis));
    ledger::WorkloadParams wp;
    wp.name = workload;
    wp.accounts = 10000;
    wp.block_size = 10000;
    txns = ledger::WorkloadGenerator(genesis, wp).next_block();
    ok.assign(txns.size(), 1);
    vm = std::make_unique<ledger::LedgerVm>(
        ledger::BlockContext{.height = 1, .timestamp = 1, .beneficiary = {}, .chain_id = genesis.chain_id}, txns, ok);
    AccessRecorder recorder(*vm, txns.size());
    list = recorder.take(execute_sequential(recorder, txns.size(), base).outputs);
  }
  MemoryState base;
  std::vector<ledger::Transaction> txns;
  std::vector<std::uint8_t> ok;
  std::unique_ptr<ledger::LedgerVm> vm;
  AccessList list;
};

// p2p: the plain loop against Block-STM on one worker (the engine's own cost per transaction,
// item by item under perf) and on two. Arg: 0 = sequential, n = Block-STM on n workers.
void BM_P2pBlock(benchmark::State& state) {
  static const LedgerBlock block("p2p");  // made once for every argument
  const int threads = static_cast<int>(state.range(0));
  // The fallback off: this measures Block-STM itself, never the loop it would hand a block to.
  ParallelExecutor executor({.threads = std::max(threads, 1), .always_block_stm = true, .fallback_speedup = 0});
  for (auto _ : state) {
    BlockResult result = threads == 0 ? execute_sequential(*block.vm, block.txns.size(), block.base)
                                      : executor.execute(*block.vm, block.txns.size(), block.base);
    benchmark::DoNotOptimize(result.writes.data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(block.txns.size()));
}
BENCHMARK(BM_P2pBlock)->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// mix executed from its access list, as import and replay do, on n workers (0: the plain loop).
void BM_MixListed(benchmark::State& state) {
  static const LedgerBlock block("mix");
  const int threads = static_cast<int>(state.range(0));
  ParallelExecutor executor({.threads = std::max(threads, 1)});
  for (auto _ : state) {
    if (threads == 0) {
      benchmark::DoNotOptimize(execute_sequential(*block.vm, block.txns.size(), block.base).writes.data());
    } else {
      benchmark::DoNotOptimize(executor.execute_listed(*block.vm, block.txns.size(), block.base, block.list).is_ok());
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(block.txns.size()));
}
BENCHMARK(BM_MixListed)->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace pel

BENCHMARK_MAIN();
