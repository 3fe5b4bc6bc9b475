#include "engine/sequential_executor.hpp"

#include <algorithm>
#include <unordered_map>

#include "engine/executor_common.hpp"

namespace pel {
namespace {

using Overlay = std::unordered_map<StateKey, std::optional<Value>, StateKeyHash>;

class OverlayReader final : public StateReader {
 public:
  OverlayReader(const Overlay& overlay, const BaseState& base) : overlay_(overlay), base_(base) {}
  std::optional<Value> read(const StateKey& key) override {
    auto it = overlay_.find(key);
    if (it != overlay_.end()) return it->second;
    return base_.get(key);
  }

 private:
  const Overlay& overlay_;
  const BaseState& base_;
};

}  // namespace

BlockResult execute_sequential(const Vm& vm, std::size_t num_txns, const BaseState& base) {
  auto start = std::chrono::steady_clock::now();
  BlockResult result;
  result.outputs.reserve(num_txns);
  Overlay overlay;
  overlay.reserve(num_txns * 2);
  OverlayReader reader(overlay, base);
  for (std::size_t i = 0; i < num_txns; ++i) {
    TxnOutput out = call_vm(vm, static_cast<TxnIndex>(i), reader);
    for (const Write& w : out.writes) overlay[w.key] = w.value;
    result.outputs.push_back(std::move(out));
  }
  result.stats.execute_ns = elapsed_ns(start);

  auto finalize_start = std::chrono::steady_clock::now();
  result.writes.reserve(overlay.size());
  for (auto& [key, value] : overlay) result.writes.push_back({key, std::move(value)});
  std::sort(result.writes.begin(), result.writes.end(),
            [](const Write& a, const Write& b) { return a.key < b.key; });
  finish_block(vm, base, result);
  result.stats.finalize_ns = elapsed_ns(finalize_start);

  result.stats.transactions = num_txns;
  result.stats.executions = num_txns;
  result.stats.sequential = true;
  return result;
}

}  // namespace pel
