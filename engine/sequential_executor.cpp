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
  return continue_sequential(vm, num_txns, base, {}, {});
}

BlockResult continue_sequential(const Vm& vm, std::size_t num_txns, const BaseState& base,
                                std::vector<TxnOutput> done, const WriteSet& done_writes) {
  auto start = std::chrono::steady_clock::now();
  BlockResult result;
  const std::size_t first = done.size();
  result.outputs = std::move(done);
  result.outputs.reserve(num_txns);
  Overlay overlay;
  overlay.reserve(num_txns * 2);
  for (const Write& w : done_writes) overlay.emplace(w.key, w.value);
  OverlayReader reader(overlay, base);
  for (std::size_t i = first; i < num_txns; ++i) {
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
  result.stats.executions = num_txns - first;
  result.stats.sequential = first == 0;
  return result;
}

}  // namespace pel
