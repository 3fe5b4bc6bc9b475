#include "engine/executor_common.hpp"

#include <algorithm>
#include <exception>
#include <new>
#include <optional>
#include <vector>

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

}  // namespace

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
    }
  }
  if (!out.vm_error.empty()) {
    out.writes.clear();
    out.receipt.clear();
  }
  return out;
}

void finish_block(const Vm& vm, const BaseState& base, BlockResult& result) {
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

}  // namespace pel
