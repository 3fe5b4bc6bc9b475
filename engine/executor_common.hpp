// Pieces every executor shares (internal to the engine): calling the VM and holding its output
// to the contract, and finishing a block, identically.
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "engine/block_result.hpp"
#include "engine/worker_pool.hpp"
#include "state/base_state.hpp"

namespace pel {

/// Runs vm.execute: an exception becomes a vm_error output, and so does a write set that names
/// a key twice or a delta set that names a key twice or a key it also writes, identically on
/// every executor; the deltas are sorted by key. std::bad_alloc is rethrown (this node's failure).
TxnOutput call_vm(const Vm& vm, TxnIndex txn, StateReader& reader);

/// What a reader throws to the VM when a read needs a key's deltas applied and that fails (see
/// Vm::apply_delta). Not a std::exception: a VM that catches those cannot take it for its own.
/// The reader also keeps the failure, which ends the block whatever the VM does with the throw.
struct DeltaReadFailed {};

/// vm.apply_delta(key, base, total), a failure as an error naming the key (std::bad_alloc is
/// rethrown). The one place every executor applies deltas, so their messages agree.
Result<Value> apply_delta(const Vm& vm, const StateKey& key, const std::optional<Value>& base, DeltaSum total);

/// The end of a block, the same on every executor. `read_delta_failure` (the error of the
/// lowest transaction whose read met deltas it could not apply) ends the block; else the pending
/// deltas of `state` are applied (data-parallel on `pool` when given), and its writes become
/// result.writes, unless the lowest key whose deltas cannot be applied ends the block. Then the
/// VM's finish_block runs on the state after every transaction, and its writes are merged in
/// (sorted, one per key); an exception there ends the block too. A block that ends this way has
/// result.finish_error set (see BlockResult). Last, the base state's read error, if any, goes to
/// result.read_error. result.outputs must be the block's.
void end_block(const Vm& vm, const BaseState& base, const std::optional<std::string>& read_delta_failure,
               FinalWrites state, WorkerPool* pool, BlockResult& result);

/// Sorts by conflicts, most first (ties by key, so the order is reproducible), and keeps the top
/// ExecutionStats::kHotKeys.
void keep_hottest(std::vector<KeyConflicts>& keys);

/// The first exception any of a block's workers hit, kept to be rethrown once they joined.
/// Thread-safety: capture() and get() may be called concurrently (a mutex: only on failure).
class FirstFailure {
 public:
  /// Call inside a catch block: keeps the exception being handled unless one is kept already.
  void capture() {
    std::lock_guard lock(mutex_);
    if (!failure_) failure_ = std::current_exception();
  }
  /// The kept exception, or null.
  std::exception_ptr get() {
    std::lock_guard lock(mutex_);
    return failure_;
  }

 private:
  std::mutex mutex_;
  std::exception_ptr failure_;
};

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

inline std::uint64_t elapsed_ns(std::chrono::steady_clock::time_point since) {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now() - since)
                                        .count());
}

}  // namespace pel
