#include "engine/executor_common.hpp"

#include <algorithm>
#include <exception>
#include <new>
#include <optional>
#include <vector>

#include "crypto/parallel_for.hpp"

namespace pel {
namespace {

bool key_less(const Write& w, const StateKey& key) { return w.key < key; }

// The state after the block: the block's sorted writes, then the base state. A binary search
// instead of a hash map built for one or two reads.
class AfterBlockReader final : public StateReader {
 public:
  AfterBlockReader(const BaseState& base, const WriteSet& writes) : base_(base), writes_(writes) {}
  std::optional<Value> read(const StateKey& key) override {
    auto it = std::lower_bound(writes_.begin(), writes_.end(), key, key_less);
    if (it != writes_.end() && it->key == key) return it->value;
    return base_.get(key);
  }

 private:
  const BaseState& base_;
  const WriteSet& writes_;
};

// A key `writes` names more than once, if any. Both executors must agree on what such an
// output means, and the multi-version memory would publish the first, transient value for a
// moment, which validation (by version) cannot tell apart. Write sets are usually 1-6 keys:
// compare pairs; above kPairwise, sort a copy of the keys.
std::optional<StateKey> repeated_key(const WriteSet& writes) {
  constexpr std::size_t kPairwise = 16;
  if (writes.size() <= kPairwise) {
    for (std::size_t i = 1; i < writes.size(); ++i) {
      for (std::size_t j = 0; j < i; ++j) {
        if (writes[i].key == writes[j].key) return writes[i].key;
      }
    }
    return std::nullopt;
  }
  std::vector<StateKey> keys;
  keys.reserve(writes.size());
  for (const Write& w : writes) keys.push_back(w.key);
  std::sort(keys.begin(), keys.end());
  auto it = std::adjacent_find(keys.begin(), keys.end());
  if (it == keys.end()) return std::nullopt;
  return *it;
}

// A key `deltas` names twice, or one `writes` names too, if any; the deltas are sorted first.
std::optional<StateKey> misplaced_delta(DeltaSet& deltas, const WriteSet& writes) {
  std::sort(deltas.begin(), deltas.end(), [](const Delta& a, const Delta& b) { return a.key < b.key; });
  for (std::size_t i = 1; i < deltas.size(); ++i) {
    if (deltas[i].key == deltas[i - 1].key) return deltas[i].key;
  }
  for (const Write& w : writes) {
    auto it = std::lower_bound(deltas.begin(), deltas.end(), w.key,
                               [](const Delta& d, const StateKey& key) { return d.key < key; });
    if (it != deltas.end() && it->key == w.key) return w.key;
  }
  return std::nullopt;
}

// Applies the pending deltas of `state` into its writes (on `pool`'s threads when given); or
// the error of the lowest key whose deltas cannot be applied.
Status apply_final_deltas(const Vm& vm, const BaseState& base, FinalWrites& state, WorkerPool* pool) {
  if (state.deltas.empty()) return Status::ok();
  std::mutex failure_mutex;  // taken only where deltas cannot be applied; guards the two below
  std::size_t first_failed = state.deltas.size();
  Status failure;
  auto apply = [&](std::size_t begin, std::size_t end) {
    for (std::size_t i = begin; i < end; ++i) {
      const PendingDeltas& d = state.deltas[i].deltas;
      Result<Value> applied = apply_delta(vm, d.key, d.on_storage ? base.get(d.key) : d.base, d.total);
      if (applied) {
        state.writes[state.deltas[i].index].value = std::move(applied).value();
        continue;
      }
      std::lock_guard lock(failure_mutex);
      if (i < first_failed) {  // the lowest key's: deltas are in key order
        first_failed = i;
        failure = applied.status();
      }
    }
  };
  if (pool != nullptr) {
    pool->in_arena([&] { parallel_ranges(state.deltas.size(), 64, apply); });
  } else {
    apply(0, state.deltas.size());
  }
  return failure;
}

// Runs the VM's finish_block on the state after every transaction and merges its writes into
// result.writes; an exception becomes result.finish_error. A block that already has a
// finish_error skips the VM. Then takes the base state's read error.
void finish_block(const Vm& vm, const BaseState& base, BlockResult& result) {
  if (!result.finish_error.empty()) {  // deltas that could not be applied: the block is lost
    result.read_error = base.take_read_error();
    return;
  }
  AfterBlockReader reader(base, result.writes);
  WriteSet extra;
  try {
    extra = vm.finish_block(result.outputs, reader);
  } catch (const std::bad_alloc&) {
    throw;  // this node ran out of memory
  } catch (const std::exception& e) {
    result.finish_error = std::string("vm finish_block threw: ") + e.what();
  } catch (...) {
    result.finish_error = "vm finish_block threw a non-standard exception";
  }
  result.read_error = base.take_read_error();
  if (!result.finish_error.empty()) return;
  // Usually one or two writes (the fee credit): update in place or insert at the sorted spot.
  for (Write& w : extra) {
    auto it = std::lower_bound(result.writes.begin(), result.writes.end(), w.key, key_less);
    if (it != result.writes.end() && it->key == w.key) {
      it->value = std::move(w.value);
    } else {
      result.writes.insert(it, std::move(w));
    }
  }
}

}  // namespace

Result<Value> apply_delta(const Vm& vm, const StateKey& key, const std::optional<Value>& base, DeltaSum total) {
  try {
    return vm.apply_delta(key, base, total);
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {
    return error(ErrorCode::kInvalidArgument, "deltas to key " + key.hex() + " cannot be applied: " + e.what());
  } catch (...) {
    return error(ErrorCode::kInvalidArgument, "deltas to key " + key.hex() + " cannot be applied: a non-standard exception");
  }
}

TxnOutput call_vm(const Vm& vm, TxnIndex txn, StateReader& reader) {
  TxnOutput out;
  try {
    out = vm.execute(txn, reader);
  } catch (const std::bad_alloc&) {
    throw;  // this node ran out of memory: not a property of the transaction, never a receipt
  } catch (const std::exception& e) {
    out = TxnOutput{};
    out.vm_error = std::string("vm threw: ") + e.what();
  } catch (...) {
    out = TxnOutput{};
    out.vm_error = "vm threw a non-standard exception";
  }
  if (out.vm_error.empty()) {
    if (std::optional<StateKey> key = repeated_key(out.writes)) {
      out.vm_error = "vm wrote key " + key->hex() + " twice";
    } else if (!out.deltas.empty()) {
      if (std::optional<StateKey> delta_key = misplaced_delta(out.deltas, out.writes)) {
        out.vm_error = "vm wrote key " + delta_key->hex() + " twice (as a delta)";
      }
    }
  }
  if (!out.vm_error.empty()) {
    out.writes.clear();
    out.deltas.clear();
    out.receipt.clear();
  }
  return out;
}

void end_block(const Vm& vm, const BaseState& base, const std::optional<std::string>& read_delta_failure,
               FinalWrites state, WorkerPool* pool, BlockResult& result) {
  if (read_delta_failure) {
    result.finish_error = *read_delta_failure;
  } else if (const Status applied = apply_final_deltas(vm, base, state, pool); applied.is_ok()) {
    result.writes = std::move(state.writes);
  } else {
    result.finish_error = applied.message();
  }
  finish_block(vm, base, result);
}

void keep_hottest(std::vector<KeyConflicts>& keys) {
  std::sort(keys.begin(), keys.end(), [](const KeyConflicts& a, const KeyConflicts& b) {
    return a.total() != b.total() ? a.total() > b.total() : a.key < b.key;
  });
  if (keys.size() > ExecutionStats::kHotKeys) keys.resize(ExecutionStats::kHotKeys);
}

const char* path_name(ExecutionPath path) {
  switch (path) {
    case ExecutionPath::kSequential: return "sequential";
    case ExecutionPath::kBlockStm: return "block-stm";
    case ExecutionPath::kFellBack: return "fell-back";
    case ExecutionPath::kLoopAfterLoss: return "loop-after-loss";
    case ExecutionPath::kLoopProbe: return "loop-probe";
    case ExecutionPath::kListed: return "listed";
  }
  return "unknown";
}

ExecutionStats& ExecutionStats::operator+=(const ExecutionStats& o) {
  transactions += o.transactions;
  executions += o.executions;
  validations += o.validations;
  aborts += o.aborts;
  suspensions += o.suspensions;
  predicted_waits += o.predicted_waits;
  declared_dependencies += o.declared_dependencies;
  listed_dependencies += o.listed_dependencies;
  longest_chain = std::max(longest_chain, o.longest_chain);
  kept_on_fallback += o.kept_on_fallback;
  loop_prefix += o.loop_prefix;
  execute_ns += o.execute_ns;
  finalize_ns += o.finalize_ns;
  for (const KeyConflicts& theirs : o.hot_keys) {
    auto mine = std::find_if(hot_keys.begin(), hot_keys.end(), [&](const KeyConflicts& k) { return k.key == theirs.key; });
    if (mine == hot_keys.end()) {
      hot_keys.push_back(theirs);
    } else {
      mine->aborts += theirs.aborts;
      mine->waits += theirs.waits;
    }
  }
  keep_hottest(hot_keys);
  return *this;
}

}  // namespace pel
