#include "engine/executor_common.hpp"

#include <algorithm>
#include <exception>
#include <map>

namespace pel {
namespace {

class BaseStateReader final : public StateReader {
 public:
  explicit BaseStateReader(const BaseState& state) : state_(state) {}
  std::optional<Value> read(const StateKey& key) override { return state_.get(key); }

 private:
  const BaseState& state_;
};

}  // namespace

TxnOutput call_vm(const Vm& vm, TxnIndex txn, StateReader& reader) {
  TxnOutput out;
  try {
    out = vm.execute(txn, reader);
  } catch (const std::exception& e) {
    out = TxnOutput{};
    out.vm_error = std::string("vm threw: ") + e.what();
  } catch (...) {
    out = TxnOutput{};
    out.vm_error = "vm threw a non-standard exception";
  }
  if (!out.vm_error.empty()) {
    out.writes.clear();
    out.receipt.clear();
  }
  return out;
}

void finish_block(const Vm& vm, const BaseState& base, BlockResult& result) {
  OverlayState after(base, result.writes);
  BaseStateReader reader(after);
  WriteSet extra;
  try {
    extra = vm.finish_block(result.outputs, reader);
  } catch (...) {
    extra.clear();  // a VM whose block hook throws adds nothing, on both executors alike
  }
  if (extra.empty()) return;
  std::map<StateKey, std::optional<Value>> last;
  for (Write& w : extra) last[w.key] = std::move(w.value);
  for (Write& w : result.writes) {
    auto it = last.find(w.key);
    if (it == last.end()) continue;
    w.value = std::move(it->second);
    last.erase(it);
  }
  for (auto& [key, value] : last) result.writes.push_back({key, std::move(value)});
  std::sort(result.writes.begin(), result.writes.end(),
            [](const Write& a, const Write& b) { return a.key < b.key; });
}

}  // namespace pel
