// Block-STM: optimistic execution on a pool's workers against multi-version memory, read-set
// validation, re-execution on conflict; the result equals execute_sequential's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/adaptive_policy.hpp"
#include "engine/block_result.hpp"
#include "engine/declarations.hpp"
#include "engine/sequential_executor.hpp"
#include "engine/worker_pool.hpp"
#include "state/base_state.hpp"

namespace pel {

/// Which of the VM's declared writes (Vm::declare_writes) become ESTIMATE markers before a
/// block runs, so that readers wait for the writer instead of running early and aborting.
enum class DeclarationMode : std::uint8_t {
  kOff,      // ignore them: plain Block-STM
  kHotKeys,  // only keys that caused conflicts in the previous block (learned)
  kAll,      // every declared key
};

/// Runs blocks with Block-STM on the workers of a pool it borrows. It remembers, from block to
/// block, the keys that caused conflicts (hot spots such as a pool or a mint counter stay hot)
/// and, with DeclarationMode::kHotKeys, declares only those (declaring costs a pass over the
/// block, paid only where it may prevent aborts). So one executor should run one chain's blocks
/// in order. Thread-safety: execute() from one thread at a time; the pool must outlive it.
class BlockStmExecutor {
 public:
  BlockStmExecutor(WorkerPool& pool, DeclarationMode declarations) : pool_(pool), declarations_(declarations) {}

  /// Where a run starts and when it stops early.
  struct Start {
    /// When given: the plain loop already ran the block's first loop->next() transactions (the
    /// fallback's timed prefix). Their outputs are the block's (the loop saw its true state), so
    /// Block-STM records them as final and starts after them. Untouched if the run ends with
    /// kTooSerial; moved from otherwise.
    SequentialRun* loop = nullptr;
    /// Judged every 64 executions of a worker; a run it stops is finished on the plain loop from
    /// the transactions the run had made final.
    FallbackJudge judge;
    /// A block whose declared writes chain more transactions than this does not run (0: no
    /// limit; only meaningful with declarations).
    std::size_t max_declared_chain = 0;
    /// The block's declarations when the caller has them (the node does, for the access-list
    /// codec); null: the VM is asked, when the declaration mode needs them.
    const BlockDeclarations* declarations = nullptr;
  };

  struct Outcome {
    enum class Kind : std::uint8_t {
      kFinished,   // Block-STM ran the block to the end: `result` is the block's
      kStopped,    // the judge stopped it; the plain loop finished the block: `result` is the block's
      kTooSerial,  // the declared chain was too long; nothing ran: `result` holds only the stats
    };
    Kind kind = Kind::kFinished;
    BlockResult result;
  };

  /// Executes the block on every worker of the pool. Throws std::bad_alloc when a final
  /// execution ran out of memory, and rethrows the engine's own failures once the workers stopped.
  Outcome execute(const Vm& vm, std::size_t num_txns, const BaseState& base, Start start);

 private:
  void learn_hot_keys(const std::vector<KeyConflicts>& conflicted, std::vector<StateKey> contended_declared);

  /// Conflicts (aborts plus waits) in one block that make a key hot for the next.
  static constexpr std::uint64_t kHotKeyConflicts = 3;

  WorkerPool& pool_;
  DeclarationMode declarations_;
  std::vector<StateKey> hot_keys_;  // sorted: the last block's conflicted keys
};

}  // namespace pel
